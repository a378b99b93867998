package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/initkit/initkit/internal/printable"
	"github.com/initkit/initkit/probe"
)

// File is one entry of a directory in a partition, as disk ls lists it.
type File struct {
	Name string `json:"name"`
	// Type is file, dir, link, char, block, fifo or socket.
	Type string `json:"type"`
	Mode uint32 `json:"mode"` // the permission bits, setuid, setgid and sticky, as in st_mode
	UID  uint32 `json:"uid"`
	GID  uint32 `json:"gid"`
	Size int64  `json:"size"`
	Link string `json:"link,omitempty"` // a link's target
	// Inode is the entry's inode number in ext2/3/4 (FAT has none).
	Inode uint64 `json:"inode,omitempty"`
}

// ReadDir lists the directory at name in the ext2/3/4 or vfat partition
// part of img, sorted by name, without root or a VM: debugfs's ls for
// ext, mdir for FAT. Links on the way to name, and name itself, are
// followed inside the partition, as Cat follows them, when they lead to
// a directory; a name that does not lists itself, as ls -l does.
func ReadDir(ctx context.Context, img, part, name string) ([]File, error) {
	e, err := open(img, part)
	if err != nil {
		return nil, err
	}
	var files []File
	if e.Type == "vfat" {
		files, err = vfatReadDir(ctx, img, e, name)
	} else {
		files, err = extReadDir(ctx, img, e.Start, name)
	}
	if err != nil {
		if hint := partHint(img, part, name, err); hint != nil {
			return nil, hint
		}
		return nil, fmt.Errorf("%s:%s: %w", img, name, err)
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	return files, nil
}

// extTypes are the file types of an ext inode's mode (S_IFMT), as
// include/uapi/linux/stat.h numbers them.
var extTypes = map[uint32]string{
	0o140000: "socket", 0o120000: "link", 0o100000: "file", 0o060000: "block",
	0o040000: "dir", 0o020000: "char", 0o010000: "fifo",
}

func extReadDir(ctx context.Context, img string, off int64, name string) ([]File, error) {
	if err := plainName(name, name); err != nil {
		return nil, err
	}
	dir, st, err := extResolve(ctx, img, off, name)
	if err != nil {
		return nil, err
	}
	isDir := st.kind == "directory"
	list := dir
	if !isDir {
		// As ls -l: the entry itself, a link not followed. debugfs
		// lists directories only: it is found in its own.
		dir = path.Clean("/" + name)
		if list, _, err = extResolve(ctx, img, off, path.Dir(dir)); err != nil {
			return nil, err
		}
	}
	lists, err := extListDirs(ctx, img, off, []string{list})
	if err != nil {
		return nil, err
	}
	var files []File
	for _, f := range lists[0] {
		if isDir || f.Name == path.Base(dir) {
			files = append(files, f)
		}
	}
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = dir
		if isDir {
			paths[i] = path.Join(dir, f.Name)
		}
	}
	return files, extLinks(ctx, img, off, paths, files)
}

// extListDirs lists directories, but their "." and "..", with one debugfs:
// each listing follows its request's echo. A name with a newline could
// forge an echo; every line between the echoes must then be an entry of
// its own, and if one is not, each directory is listed by a debugfs of
// its own, where a name's lines are joined.
func extListDirs(ctx context.Context, img string, off int64, dirs []string) ([][]File, error) {
	if len(dirs) > 1 {
		if lists, ok, err := extListBatch(ctx, img, off, dirs); err != nil || ok {
			return lists, err
		}
	}
	lists := make([][]File, len(dirs))
	for i, d := range dirs {
		out, err := debugfs(ctx, img, off, false, "ls -p "+quote(d))
		if err != nil {
			return nil, err
		}
		if lists[i], err = parseListing(out); err != nil {
			return nil, err
		}
	}
	return lists, nil
}

// extListBatch is extListDirs in one debugfs, or false.
func extListBatch(ctx context.Context, img string, off int64, dirs []string) ([][]File, bool, error) {
	var script strings.Builder
	echo := make([]string, len(dirs))
	for i, d := range dirs {
		fmt.Fprintf(&script, "ls -p %s\n", quote(d))
		echo[i] = "debugfs: ls -p " + quote(d) + "\n"
	}
	out, err := debugfsScript(ctx, img, off, script.String())
	if err != nil {
		return nil, false, err
	}
	lists := make([][]File, len(dirs))
	pos := 0
	for i := range dirs {
		j := strings.Index(out[pos:], echo[i])
		if j < 0 {
			return nil, false, nil
		}
		pos += j + len(echo[i])
		end := len(out)
		if i+1 < len(dirs) {
			if k := strings.Index(out[pos:], echo[i+1]); k >= 0 {
				end = pos + k
			}
		}
		for _, l := range strings.Split(strings.TrimSuffix(out[pos:end], "\n"), "\n") {
			if l == "" {
				continue
			}
			f, err := parseLsP(l)
			if err != nil {
				return nil, false, nil
			}
			if f.Inode != 0 && f.Name != "." && f.Name != ".." {
				lists[i] = append(lists[i], f)
			}
		}
		pos = end
	}
	return lists, true, nil
}

// parseListing reads the output of one "ls -p": its entries but "." and
// "..", the lines of a name with a newline joined.
func parseListing(out string) ([]File, error) {
	var files []File
	var line string
	for _, l := range strings.Split(out, "\n") {
		if line += l; !strings.HasPrefix(line, "/") {
			line = "" // debugfs's banner
			continue
		}
		f, err := parseLsP(line)
		if err != nil {
			line += "\n"
			continue
		}
		line = ""
		if f.Inode == 0 {
			continue // a deleted entry's room: lost+found is made of them
		}
		if f.Name != "." && f.Name != ".." {
			files = append(files, f)
		}
	}
	if line != "" && line != "\n" {
		_, err := parseLsP(strings.TrimSuffix(line, "\n"))
		return nil, err
	}
	return files, nil
}

// parseLsP reads a line of debugfs's "ls -p": /INODE/MODE/UID/GID/NAME/SIZE/,
// the mode in octal. A name holds no slash, in a sound filesystem; in
// another the fields are read from both ends.
func parseLsP(l string) (File, error) {
	f := strings.Split(strings.TrimSuffix(l, "/"), "/")
	if len(f) < 7 || f[0] != "" {
		return File{}, fmt.Errorf("debugfs ls: %q: not /INODE/MODE/UID/GID/NAME/SIZE/", l)
	}
	ino, err0 := strconv.ParseUint(f[1], 10, 64)
	mode, err1 := strconv.ParseUint(f[2], 8, 32)
	uid, err2 := strconv.ParseUint(f[3], 10, 32)
	gid, err3 := strconv.ParseUint(f[4], 10, 32)
	size, err4 := int64(0), error(nil)
	if f[len(f)-1] != "" { // a directory's is
		size, err4 = strconv.ParseInt(f[len(f)-1], 10, 64)
	}
	if err := errors.Join(err0, err1, err2, err3, err4); err != nil {
		return File{}, fmt.Errorf("debugfs ls: %q: %w", l, err)
	}
	kind := extTypes[uint32(mode)&0o170000]
	if kind == "" {
		kind = "unknown"
	}
	return File{Name: strings.Join(f[5:len(f)-1], "/"), Type: kind, Mode: uint32(mode & 0o7777),
		UID: uint32(uid), GID: uint32(gid), Size: size, Inode: ino}, nil
}

// extLinks fills in the targets of the links among files, at paths,
// with one debugfs for all of the fast ones and one for the slow: a fast
// link's target is in stat's output, its Size bytes whatever they hold,
// after a header that holds nothing of the filesystem's names; a slow
// one's is its data, Size bytes after cat's echo. Each is consumed by its
// size, so that no target can forge the next request's echo.
func extLinks(ctx context.Context, img string, off int64, paths []string, files []File) error {
	var links []int
	for i, f := range files {
		if f.Type == "link" && plainName("", paths[i]) == nil {
			links = append(links, i)
		}
	}
	slow, err := extTargets(ctx, img, off, "stat", "Fast link dest: \"", paths, files, links)
	if err != nil || len(slow) == 0 {
		return err
	}
	_, err = extTargets(ctx, img, off, "cat", "", paths, files, slow)
	return err // a target past 4096 bytes, no path's, stays unread
}

// extTargets runs request on the links (indexes of files) in one
// debugfs and takes each target, Size bytes after marker; it returns the
// links whose output has no marker before the next request's echo.
func extTargets(ctx context.Context, img string, off int64, request, marker string, paths []string, files []File, links []int) ([]int, error) {
	var script strings.Builder
	for _, i := range links {
		fmt.Fprintf(&script, "%s %s\n", request, quote(paths[i]))
	}
	if len(links) == 0 {
		return nil, nil
	}
	out, err := debugfsScript(ctx, img, off, script.String())
	if err != nil {
		return nil, err
	}
	var missed []int
	pos := 0
	for n, i := range links {
		echo := "debugfs: " + request + " " + quote(paths[i]) + "\n"
		j := strings.Index(out[pos:], echo)
		if j < 0 {
			return nil, fmt.Errorf("debugfs %s %s: no output", request, paths[i])
		}
		pos += j + len(echo)
		next := len(out)
		if n+1 < len(links) {
			if k := strings.Index(out[pos:], "debugfs: "+request+" "+quote(paths[links[n+1]])+"\n"); k >= 0 {
				next = pos + k
			}
		}
		size := int(files[i].Size)
		k := strings.Index(out[pos:next], marker)
		if k < 0 || size > 4096 || pos+k+len(marker)+size > len(out) {
			missed = append(missed, i)
			continue
		}
		pos += k + len(marker)
		files[i].Link = out[pos : pos+size]
		pos += size
	}
	return missed, nil
}

// debugfsScript runs a script of debugfs requests, one a line, and
// returns what they wrote on stdout, each after its request's echo;
// errors, on stderr, are left out.
func debugfsScript(ctx context.Context, img string, off int64, script string) (string, error) {
	f, err := os.Open(img)
	if err != nil {
		return "", err
	}
	defer f.Close()
	cmd := command(ctx, "debugfs", "-f", "-", "/dev/fd/3?offset="+strconv.FormatInt(off, 10))
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr, cmd.ExtraFiles = strings.NewReader(script), &out, &errb, []*os.File{f}
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("debugfs: %v: %s", err, bytes.TrimSpace(errb.Bytes()))
	}
	return out.String(), nil
}

// vfatReadDir lists a FAT directory with mdir, whose lines are the short
// name in 12 columns, the size or <DIR>, the date, the time and, when it
// differs, the long name. FAT has no owners, links or permissions.
func vfatReadDir(ctx context.Context, img string, e probe.Entry, name string) ([]File, error) {
	if err := fatName(name, name); err != nil {
		return nil, err
	}
	isDir := vfatIsDir(ctx, img, e, name)
	var out bytes.Buffer
	if err := mtools(ctx, img, e.Start, false, nil, &out, "mdir", "-a", "::"+path.Clean("/"+name)); err != nil {
		if strings.Contains(err.Error(), "not found") {
			return nil, syscall.ENOENT
		}
		return nil, err
	}
	var files []File
	for _, l := range strings.Split(out.String(), "\n") {
		f, ok := parseMdir(l)
		if !ok || f.Name == "." || f.Name == ".." {
			continue
		}
		if !isDir {
			f.Name = path.Base(name)
		}
		files = append(files, f)
	}
	return files, nil
}

// parseMdir reads one entry line of mdir's listing; the header and the
// totals are not entries.
func parseMdir(l string) (File, bool) {
	if len(l) < 13 || l[0] == ' ' {
		return File{}, false
	}
	fields := strings.Fields(l[12:])
	if len(fields) < 3 || !strings.Contains(fields[1], "-") || !strings.Contains(fields[2], ":") {
		return File{}, false
	}
	f := File{Type: "file", Mode: 0o644}
	if fields[0] == "<DIR>" {
		f.Type, f.Mode = "dir", 0o755
	} else if n, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
		f.Size = n
	} else {
		return File{}, false
	}
	_, long, _ := strings.Cut(l[12:], fields[2])
	f.Name = strings.TrimPrefix(long, "  ")
	if strings.TrimSpace(f.Name) == "" {
		// No long name: the short one, NAME and EXT in their columns.
		base, ext := strings.TrimSpace(l[:8]), strings.TrimSpace(l[9:12])
		f.Name = base
		if ext != "" {
			f.Name += "." + ext
		}
	}
	return f, true
}

// WriteFiles writes a listing as ls -l does: type and permissions,
// owner, group, size, name and a link's target, names escaped for the
// terminal (they come from the image).
func WriteFiles(w io.Writer, files []File) error {
	var width [3]int
	for _, f := range files {
		for i, n := range []int64{int64(f.UID), int64(f.GID), f.Size} {
			width[i] = max(width[i], len(strconv.FormatInt(n, 10)))
		}
	}
	for _, f := range files {
		name := printable.String(f.Name)
		if f.Type == "link" {
			name += " -> " + printable.String(f.Link)
		}
		if _, err := fmt.Fprintf(w, "%s %*d %*d %*d %s\n", modeString(f), width[0], f.UID, width[1], f.GID, width[2], f.Size, name); err != nil {
			return err
		}
	}
	return nil
}

// modeString is ls -l's first column: the type, then rwx three times,
// with setuid, setgid and sticky as s and t.
func modeString(f File) string {
	types := map[string]byte{"dir": 'd', "link": 'l', "char": 'c', "block": 'b', "fifo": 'p', "socket": 's', "unknown": '?'}
	b := []byte("-rwxrwxrwx")
	if t, ok := types[f.Type]; ok {
		b[0] = t
	}
	for i := range 9 {
		if f.Mode&(1<<(8-i)) == 0 {
			b[i+1] = '-'
		}
	}
	special := []struct {
		bit     uint32
		at      int
		on, off byte
	}{{0o4000, 3, 's', 'S'}, {0o2000, 6, 's', 'S'}, {0o1000, 9, 't', 'T'}}
	for _, s := range special {
		if f.Mode&s.bit != 0 {
			if b[s.at] == '-' {
				b[s.at] = s.off
			} else {
				b[s.at] = s.on
			}
		}
	}
	return string(b)
}

// partHint says how to list a partition, when name, not found as a path
// of the partition listed by default, names one (disk ls IMG 2, for
// IMG:2); nil otherwise.
func partHint(img, part, name string, err error) error {
	if !errors.Is(err, fs.ErrNotExist) || part != "" || strings.Contains(name, "/") {
		return nil
	}
	if _, perr := open(img, name); perr != nil {
		return nil
	}
	return fmt.Errorf("%s: no file %s in the partition listed by default: partition %s is %s:%s (initkit disk ls %s:%s)", img, name, name, img, name, img, name)
}
