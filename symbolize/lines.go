package symbolize

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
)

// Frame is one source location of an address: the innermost function
// first; every frame but the last is inlined into the next.
type Frame struct {
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column,omitempty"`
	Inlined  bool   `json:"inlined,omitempty"`
}

type arange struct {
	lo, hi uint64
	cu     uint64 // the unit's header offset in .debug_info
}

// parseAranges reads .debug_aranges (DWARF 2-5, 32- and 64-bit) into
// sorted address ranges, each naming its unit.
func parseAranges(b []byte) []arange {
	var out []arange
	for len(b) >= 16 {
		length := uint64(binary.LittleEndian.Uint32(b))
		hdr := 4
		if length == 0xffffffff {
			length = binary.LittleEndian.Uint64(b[4:])
			hdr = 12
		}
		if uint64(len(b)-hdr) < length || length < 8 {
			break
		}
		set := b[hdr : hdr+int(length)]
		b = b[hdr+int(length):]
		var cu uint64
		p := 2
		if hdr == 12 {
			cu, p = binary.LittleEndian.Uint64(set[p:]), p+8
		} else {
			cu, p = uint64(binary.LittleEndian.Uint32(set[p:])), p+4
		}
		asize := int(set[p])
		if asize != 8 && asize != 4 {
			continue
		}
		p += 2
		// Tuples start at a multiple of twice the address size from the
		// start of the set, counting its length field.
		for (p+hdr)%(2*asize) != 0 {
			p++
		}
		for ; p+2*asize <= len(set); p += 2 * asize {
			var lo, n uint64
			if asize == 8 {
				lo, n = binary.LittleEndian.Uint64(set[p:]), binary.LittleEndian.Uint64(set[p+8:])
			} else {
				lo, n = uint64(binary.LittleEndian.Uint32(set[p:])), uint64(binary.LittleEndian.Uint32(set[p+4:]))
			}
			if lo == 0 && n == 0 {
				break
			}
			if lo+n < lo {
				continue // a corrupt length that wraps around
			}
			out = append(out, arange{lo, lo + n, cu})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].lo < out[j].lo })
	return out
}

// unitFor finds the compilation unit covering pc: from .debug_aranges,
// or, in a file without them (modules often have none), by reading each
// unit's ranges once.
func (f *File) unitFor(pc uint64) (uint64, bool) {
	if f.aranges == nil {
		if b := f.secs[".debug_aranges"]; b != nil {
			f.aranges = parseAranges(b)
		} else {
			f.aranges = f.unitRanges()
		}
	}
	i := sort.Search(len(f.aranges), func(i int) bool { return f.aranges[i].lo > pc }) - 1
	// Ranges do not overlap in practice; look back a little in case.
	for j := i; j >= 0 && j > i-4; j-- {
		if a := f.aranges[j]; pc >= a.lo && pc < a.hi {
			return a.cu, true
		}
	}
	return 0, false
}

func (f *File) unitRanges() []arange {
	out := []arange{}
	for _, off := range f.unitOffsets() {
		u, err := f.unit(off)
		if err != nil {
			continue
		}
		rs, _ := u.dw.Ranges(u.entry)
		for _, rg := range rs {
			out = append(out, arange{rg[0], rg[1], off})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].lo < out[j].lo })
	return out
}

// unit is a compilation unit's line table, sorted for lookups.
type unit struct {
	dw    *dwarf.Data
	entry *dwarf.Entry
	names map[dwarf.Offset]string
	rows  []row
	seqs  []seq
	files []*dwarf.LineFile
}

type row struct {
	addr      uint64
	file      *dwarf.LineFile
	line, col int
}

type seq struct {
	lo, hi     uint64
	first, end int // rows[first:end]
}

func (f *File) unit(off uint64) (*unit, error) {
	if u := f.units[off]; u != nil {
		return u, nil
	}
	dw, err := f.unitData(off)
	if err != nil {
		return nil, err
	}
	e, err := dw.Reader().Next()
	if err != nil || e == nil {
		return nil, fmt.Errorf("no unit at %#x: %v", off, err)
	}
	u := &unit{dw: dw, entry: e, names: map[dwarf.Offset]string{}}
	lr, err := dw.LineReader(e)
	if err != nil {
		return nil, err
	}
	if lr != nil {
		var le dwarf.LineEntry
		start := 0
		for lr.Next(&le) == nil {
			if le.EndSequence {
				if len(u.rows) > start {
					u.seqs = append(u.seqs, seq{u.rows[start].addr, le.Address, start, len(u.rows)})
				}
				start = len(u.rows)
				continue
			}
			u.rows = append(u.rows, row{le.Address, le.File, le.Line, le.Column})
		}
		u.files = lr.Files()
	}
	sort.Slice(u.seqs, func(i, j int) bool { return u.seqs[i].lo < u.seqs[j].lo })
	f.units[off] = u
	return u, nil
}

// line finds pc's row as a plain DWARF line-table lookup does (and
// llvm-symbolizer and eu-addr2line with it): in the sequence that covers
// pc, the last row at or below pc.
func (u *unit) line(pc uint64) (row, bool) {
	for _, s := range u.seqs {
		if pc < s.lo || pc >= s.hi {
			continue
		}
		rows := u.rows[s.first:s.end]
		i := sort.Search(len(rows), func(i int) bool { return rows[i].addr > pc }) - 1
		if i >= 0 {
			return rows[i], true
		}
	}
	return row{}, false
}

func (u *unit) file(idx int64) string {
	if idx < 0 || int(idx) >= len(u.files) || u.files[idx] == nil {
		return ""
	}
	return path.Clean(u.files[idx].Name)
}

// ErrNoUnit is PC's error for an address no compilation unit holds:
// padding between functions, or no code at all.
var ErrNoUnit = errors.New("no source line there")

// PC returns the source frames of pc, innermost first. fallback names the
// function when the DWARF has no subprogram for pc (assembly).
func (f *File) PC(pc uint64, fallback string) ([]Frame, error) {
	off, ok := f.unitFor(pc)
	if !ok {
		return nil, fmt.Errorf("address %#x is in no compilation unit of %s: %w", pc, f.Path, ErrNoUnit)
	}
	u, err := f.unit(off)
	if err != nil {
		return nil, err
	}
	chain, err := u.scopes(pc)
	if err != nil {
		return nil, err
	}
	var fr []Frame
	if r, ok := u.line(pc); ok && r.file != nil {
		fr = append(fr, Frame{File: path.Clean(r.file.Name), Line: r.line, Column: r.col})
	} else {
		fr = append(fr, Frame{})
	}
	if len(chain) == 0 {
		fr[0].Function = fallback
		return f.relative(u, fr), nil
	}
	// chain is outermost first; frame k is chain[len-1-k], located at the
	// call site recorded in the scope inlined into it.
	for k := len(chain) - 1; k >= 0; k-- {
		cur := &fr[len(fr)-1]
		cur.Function = u.name(chain[k])
		if k == 0 {
			break
		}
		cur.Inlined = true
		callFile, _ := chain[k].Val(dwarf.AttrCallFile).(int64)
		callLine, _ := chain[k].Val(dwarf.AttrCallLine).(int64)
		callCol, _ := chain[k].Val(dwarf.AttrCallColumn).(int64)
		fr = append(fr, Frame{File: u.file(callFile), Line: int(callLine), Column: int(callCol)})
	}
	// The outermost frame is named as the symbol table names the code,
	// as llvm-symbolizer does: a GCC clone (do_exit.cold, foo.isra.0) is
	// a part of its function's DIE but a symbol of its own, the name the
	// log shows.
	if fallback != "" {
		fr[len(fr)-1].Function = fallback
	}
	return f.relative(u, fr), nil
}

// relative makes file names under the unit's build directory
// (DW_AT_comp_dir) relative to it: "init/main.c", not the build host's
// absolute path; and those under the source tree the vmlinux was built
// from (sourceRoot), when the build directory was elsewhere (O=).
func (f *File) relative(u *unit, fr []Frame) []Frame {
	dir, _ := u.entry.Val(dwarf.AttrCompDir).(string)
	if dir == "" {
		return fr
	}
	dir = path.Clean(dir) + "/"
	for i := range fr {
		fr[i].File = sourceRelative(strings.TrimPrefix(fr[i].File, dir), dir)
		if root := ""; path.IsAbs(fr[i].File) {
			if root = f.sourceRoot(); root != "" {
				fr[i].File = strings.TrimPrefix(fr[i].File, root)
			}
		}
	}
	return fr
}

// sourceRoot is the source tree the vmlinux was built from, as its DWARF
// names it when the build directory was elsewhere (make O=, the tree not
// above it): the unit of init/main.c, which every kernel has, names its
// file "/TREE/init/main.c". Without it, a vmlinux away from its build
// directory (a bug workspace's copy) named every file by the build
// host's absolute path. The units are read in link order, where
// init/main.c comes among the first; "" when no unit names it so.
func (f *File) sourceRoot() string {
	f.rootOnce.Do(func() {
		for i, off := range f.unitOffsets() {
			if i == maxRootUnits {
				return
			}
			dw, err := f.unitData(off)
			if err != nil {
				return
			}
			e, err := dw.Reader().Next()
			if err != nil || e == nil {
				continue
			}
			if name, _ := e.Val(dwarf.AttrName).(string); path.IsAbs(name) && strings.HasSuffix(name, "/init/main.c") {
				f.root = strings.TrimSuffix(path.Clean(name), "init/main.c")
				return
			}
		}
	})
	return f.root
}

// maxRootUnits bounds sourceRoot's search: init/main.c is among a
// vmlinux's first hundred units, and a hostile file may hold millions.
const maxRootUnits = 2000

// sourceRelative makes an absolute file name relative to the source tree
// when the build directory is inside that tree: a distribution builds
// with O= below its source (Debian: debian/build/build_amd64_...), and
// maps that prefix away for the C units, but the assembler's units name
// their files by absolute path ("/build/.../linux-6.1/arch/x86/entry/
// entry_64.S"). The source tree is the deepest directory holding both the
// file and the build directory, when what is left of the name starts
// with a directory of a kernel tree's top.
func sourceRelative(file, buildDir string) string {
	if !path.IsAbs(file) || !path.IsAbs(buildDir) {
		return file
	}
	root := path.Dir(path.Clean(buildDir))
	for root != "/" && !strings.HasPrefix(file, root+"/") {
		root = path.Dir(root)
	}
	rest := strings.TrimPrefix(file, root+"/")
	top, _, _ := strings.Cut(rest, "/")
	if root == "/" || !kernelTop[top] {
		return file
	}
	return rest
}

// kernelTop are the directories at the top of a kernel source tree that
// hold code a frame can be in.
var kernelTop = map[string]bool{"arch": true, "block": true, "certs": true, "crypto": true, "drivers": true, "fs": true,
	"include": true, "init": true, "io_uring": true, "ipc": true, "kernel": true, "lib": true, "mm": true, "net": true,
	"rust": true, "samples": true, "security": true, "sound": true, "virt": true}

// scopes returns the subprogram containing pc and the inlined
// subroutines within it that contain pc, outermost first. Subtrees that
// do not contain pc are skipped unread.
func (u *unit) scopes(pc uint64) ([]*dwarf.Entry, error) {
	r := u.dw.Reader()
	if _, err := r.Next(); err != nil {
		return nil, err
	}
	var chain []*dwarf.Entry
	depth, sub := 0, -1 // sub: the depth of the subprogram that holds pc
	for {
		e, err := r.Next()
		if err != nil {
			return chain, err
		}
		if e == nil {
			return chain, nil
		}
		if e.Tag == 0 {
			if depth--; depth < 0 || (sub >= 0 && depth <= sub) {
				return chain, nil // left the unit, or the subprogram holding pc
			}
			continue
		}
		switch e.Tag {
		case dwarf.TagSubprogram, dwarf.TagInlinedSubroutine, dwarf.TagLexDwarfBlock:
			if u.contains(e, pc) {
				if e.Tag != dwarf.TagLexDwarfBlock {
					chain = append(chain, e)
				}
				if e.Tag == dwarf.TagSubprogram && sub < 0 {
					sub = depth
				}
				if e.Children {
					depth++
				} else if e.Tag != dwarf.TagLexDwarfBlock {
					return chain, nil // a leaf scope holding pc is the innermost
				}
				continue
			}
		}
		if e.Children {
			r.SkipChildren()
		}
	}
}

func (u *unit) contains(e *dwarf.Entry, pc uint64) bool {
	rs, err := u.dw.Ranges(e)
	if err != nil {
		return false
	}
	for _, rg := range rs {
		if pc >= rg[0] && pc < rg[1] {
			return true
		}
	}
	return false
}

// name is a scope's function name, following DW_AT_abstract_origin and
// DW_AT_specification to the declaration that carries it.
func (u *unit) name(e *dwarf.Entry) string {
	if n, ok := u.names[e.Offset]; ok {
		return n
	}
	n := u.lookupName(e)
	u.names[e.Offset] = n
	return n
}

func (u *unit) lookupName(e *dwarf.Entry) string {
	for hops := 0; hops < 8 && e != nil; hops++ {
		if n, ok := e.Val(dwarf.AttrLinkageName).(string); ok {
			return n
		}
		if n, ok := e.Val(dwarf.AttrName).(string); ok {
			return n
		}
		ref, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
		if !ok {
			if ref, ok = e.Val(dwarf.AttrSpecification).(dwarf.Offset); !ok {
				return ""
			}
		}
		r := u.dw.Reader()
		r.Seek(ref)
		next, err := r.Next()
		if err != nil {
			return ""
		}
		e = next
	}
	return ""
}
