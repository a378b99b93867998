package disk

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unicode"
)

// protoFile writes the prototype file with which mkfs.xfs -p fills a new
// filesystem from dir without mounting it (xfsprogs mkfs/proto.c): a
// boot-image line, a blocks-and-inodes line, then each entry as
// "NAME MODE UID GID [SOURCE|TARGET|MAJOR MINOR]", a directory's entries
// after it and "$" after them. MODE is the type (- d l b c p), u or -
// for setuid, g or - for setgid, and three octal digits. Owners are
// root's, as in every initkit volume.
func (c *creator) protoFile(dir string) (string, error) {
	var b strings.Builder
	b.WriteString("/dev/null\n0 0\n")
	if err := protoDir(&b, dir, "d--755 0 0\n"); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(c.tmp, "proto-")
	if err != nil {
		return "", err
	}
	defer f.Close()
	_, err = f.WriteString(b.String())
	return f.Name(), err
}

func protoDir(b *strings.Builder, dir, head string) error {
	b.WriteString(head)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if err := protoWord(p, "its name", e.Name()); err != nil {
			return err
		}
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		mode := protoMode(st.Mode())
		line := e.Name() + " " + mode + " 0 0"
		switch {
		case st.IsDir():
			if err := protoDir(b, p, line+"\n"); err != nil {
				return err
			}
			continue
		case st.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := protoWord(p, "its target", t); err != nil {
				return err
			}
			line += " " + t
		case st.Mode()&fs.ModeDevice != 0:
			rdev := st.Sys().(*syscall.Stat_t).Rdev
			line += fmt.Sprintf(" %d %d", (rdev>>8)&0xfff|(rdev>>32)&^0xfff, rdev&0xff|(rdev>>12)&^0xff)
		case st.Mode().IsRegular():
			if err := protoWord(p, "its path", p); err != nil {
				return err
			}
			line += " " + p
		}
		b.WriteString(line + "\n")
	}
	b.WriteString("$\n")
	return nil
}

func protoMode(m fs.FileMode) string {
	t := "-"
	switch {
	case m.IsDir():
		t = "d"
	case m&fs.ModeSymlink != 0:
		t = "l"
	case m&fs.ModeCharDevice != 0:
		t = "c"
	case m&fs.ModeDevice != 0:
		t = "b"
	case m&fs.ModeNamedPipe != 0:
		t = "p"
	}
	u, g := "-", "-"
	if m&fs.ModeSetuid != 0 {
		u = "u"
	}
	if m&fs.ModeSetgid != 0 {
		g = "g"
	}
	return fmt.Sprintf("%s%s%s%03o", t, u, g, m.Perm())
}

// protoWord refuses what the prototype file cannot carry: its fields are
// split on white space, and a name, a link target or a host path with a
// blank in it would become more fields (a target "x leak ---644 0 0
// /etc/shadow" adds a file holding the host's /etc/shadow).
func protoWord(p, what, w string) error {
	if w == "" || strings.IndexFunc(w, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return fmt.Errorf("%s: %s %q has a blank or a control character, which mkfs.xfs's prototype file cannot carry", p, what, w)
	}
	if w == "$" { // ends a directory's entries
		return fmt.Errorf("%s: %s is \"$\", which ends a directory in mkfs.xfs's prototype file", p, what)
	}
	return nil
}
