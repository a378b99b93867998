package initramfs

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/initkit/initkit/cpio"
)

// ImportGenInitCpio adds the entries of a file in the format of the
// kernel's usr/gen_init_cpio.c, as CONFIG_INITRAMFS_SOURCE lists them:
//
//	file <name> <location> <mode> <uid> <gid> [<hard links>]
//	dir <name> <mode> <uid> <gid>
//	nod <name> <mode> <uid> <gid> <dev_type> <maj> <min>
//	slink <name> <target> <mode> <uid> <gid>
//	pipe <name> <mode> <uid> <gid>
//	sock <name> <mode> <uid> <gid>
func (t *Tree) ImportGenInitCpio(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if err := t.genInitLine(fields, fmt.Sprintf("%s:%d", name, n)); err != nil {
			col := strings.Index(line, fields[0]) + 1
			return &SpecError{File: name, Line: n, Col: col, Msg: err.Error()}
		}
	}
	return sc.Err()
}

var genInitArgs = map[string]int{"file": 6, "dir": 5, "nod": 8, "slink": 6, "pipe": 5, "sock": 5}

func (t *Tree) genInitLine(f []string, where string) error {
	want, ok := genInitArgs[f[0]]
	if !ok {
		return fmt.Errorf("unknown type %q (want file, dir, nod, slink, pipe or sock)", f[0])
	}
	if len(f) < want {
		return fmt.Errorf("%s needs %d fields, has %d", f[0], want-1, len(f)-1)
	}
	modeAt := map[string]int{"file": 3, "slink": 3}[f[0]]
	if modeAt == 0 {
		modeAt = 2
	}
	num := func(s string, base int, what string) (uint32, error) {
		v, err := strconv.ParseUint(s, base, 32)
		if err != nil {
			return 0, fmt.Errorf("bad %s %q", what, s)
		}
		return uint32(v), nil
	}
	perm, err := num(f[modeAt], 8, "mode")
	if err != nil {
		return err
	}
	uid, err := num(f[modeAt+1], 10, "uid")
	if err != nil {
		return err
	}
	gid, err := num(f[modeAt+2], 10, "gid")
	if err != nil {
		return err
	}
	why := "gen_init_cpio " + where
	switch f[0] {
	case "file":
		if err := t.HostFile(f[1], f[2], why); err != nil {
			return err
		}
		for _, link := range f[6:] {
			if err := t.HostFile(link, f[2], why+" (hard link)"); err != nil {
				return err
			}
		}
		return t.setOwner(f[1], perm, uid, gid)
	case "dir":
		if err := t.Dir(f[1], perm, why); err != nil {
			return err
		}
		return t.setOwner(f[1], perm, uid, gid)
	case "slink":
		if err := t.Symlink(f[1], f[2], why); err != nil {
			return err
		}
		return t.setOwner(f[1], perm, uid, gid)
	case "pipe":
		return t.Node(f[1], cpio.TypeFIFO, 0, 0, perm, uid, gid, why)
	case "sock":
		return t.Node(f[1], cpio.TypeSocket, 0, 0, perm, uid, gid, why)
	}
	typ := map[string]uint32{"c": cpio.TypeChar, "b": cpio.TypeBlock}[f[5]]
	if typ == 0 {
		return fmt.Errorf("device type %q: want c or b", f[5])
	}
	major, err := num(f[6], 10, "major")
	if err != nil {
		return err
	}
	minor, err := num(f[7], 10, "minor")
	if err != nil {
		return err
	}
	return t.Node(f[1], typ, major, minor, perm, uid, gid, why)
}

// setOwner applies an explicit mode and owner to an entry already added.
func (t *Tree) setOwner(p string, perm, uid, gid uint32) error {
	p, err := t.place(p)
	if err != nil {
		return err
	}
	n := t.nodes[p]
	if n.file.Type() != cpio.TypeLink {
		n.file.Mode = n.file.Type() | perm
	}
	n.file.UID, n.file.GID = uid, gid
	return nil
}
