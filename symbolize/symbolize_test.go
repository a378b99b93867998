package symbolize

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// build compiles testdata/prog.c with gcc -O2 and the given debug flags.
func build(t *testing.T, flags ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "prog")
	args := append([]string{"-O2", "-o", out, "testdata/prog.c"}, flags...)
	if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %v: %v\n%s", flags, err, b)
	}
	return out
}

type ref struct {
	fn, file string
	line     int
}

// llvm asks one llvm-symbolizer process about every address, inline
// frames included.
func llvm(t *testing.T, obj string, addrs []uint64) [][]ref {
	var in strings.Builder
	for _, a := range addrs {
		fmt.Fprintf(&in, "%#x\n", a)
	}
	cmd := exec.Command("llvm-symbolizer", "--obj="+obj, "--inlining")
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("llvm-symbolizer: %v", err)
	}
	var all [][]ref
	for _, block := range strings.Split(strings.TrimSpace(string(out)), "\n\n") {
		lines := strings.Split(block, "\n")
		var r []ref
		for i := 0; i+1 < len(lines); i += 2 {
			parts := strings.Split(lines[i+1], ":")
			var l int
			fmt.Sscan(parts[1], &l)
			r = append(r, ref{lines[i], parts[0], l})
		}
		all = append(all, r)
	}
	if len(all) != len(addrs) {
		t.Fatalf("llvm-symbolizer answered %d of %d addresses", len(all), len(addrs))
	}
	return all
}

// TestMatchesLLVM: every instruction address of compute and main, in
// builds at DWARF 4 and 5, with zlib-compressed debug sections and
// without, resolves as llvm-symbolizer resolves it, inline chains and
// all.
func TestMatchesLLVM(t *testing.T) {
	for _, flags := range [][]string{{"-gdwarf-4"}, {"-gdwarf-5"}, {"-gdwarf-5", "-gz=zlib"}, {"-gdwarf-4", "-gz=zlib"}} {
		t.Run(strings.Join(flags, " "), func(t *testing.T) {
			prog := build(t, flags...)
			f, err := Open(prog)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			type at struct {
				name string
				off  uint64
			}
			var where []at
			var addrs []uint64
			for _, name := range []string{"compute", "main"} {
				sym := f.symbols(name)
				if len(sym) != 1 {
					t.Fatalf("%s: %d symbols", name, len(sym))
				}
				for off := uint64(0); off < sym[0].Size; off++ {
					addr, err := f.Lookup(name, off, 0)
					if err != nil {
						t.Fatal(err)
					}
					where = append(where, at{name, off})
					addrs = append(addrs, addr)
				}
			}
			wants := llvm(t, prog, addrs)
			inlined := 0
			for k, addr := range addrs {
				name, off, want := where[k].name, where[k].off, wants[k]
				got, err := f.PC(addr, "")
				if err != nil {
					t.Fatalf("%s+%#x: %v", name, off, err)
				}
				if len(got) != len(want) {
					t.Fatalf("%s+%#x: %d frames %+v, llvm-symbolizer %+v", name, off, len(got), got, want)
				}
				for i := range got {
					if got[i].Function != want[i].fn || got[i].Line != want[i].line || filepath.Base(got[i].File) != filepath.Base(want[i].file) {
						t.Fatalf("%s+%#x frame %d: %+v, llvm-symbolizer %+v", name, off, i, got[i], want[i])
					}
				}
				if len(got) > 1 {
					inlined++
				}
			}
			if inlined == 0 {
				t.Error("no inlined frames: the test program does not test inline chains")
			}
			if strings.Contains(strings.Join(flags, " "), "-gz") && !compressed(t, prog) {
				t.Error("the build has no compressed debug sections")
			}
		})
	}
}

func compressed(t *testing.T, prog string) bool {
	ef, err := elf.Open(prog)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	s := ef.Section(".debug_info")
	return s != nil && s.Flags&elf.SHF_COMPRESSED != 0
}

func TestNoDWARF(t *testing.T) {
	prog := build(t, "-g0")
	if _, err := Open(prog); err == nil || !strings.Contains(err.Error(), ErrNoDWARF.Error()) {
		t.Errorf("Open without DWARF: %v", err)
	}
}

// A kernel image given as the vmlinux (the common mistake: the vmlinux
// is beside it) is named as one, by Open and Identify, not as ELF's "bad
// magic number"; any other file is no ELF file.
func TestNotELF(t *testing.T) {
	dir := t.TempDir()
	bz := make([]byte, 0x400)
	copy(bz, "MZ")
	copy(bz[0x202:], "HdrS")
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"bzImage": {bz, "a kernel image, not its vmlinux: give the vmlinux with DWARF"},
		"text":    {[]byte("hello\n"), "not an ELF file (a vmlinux with DWARF, or a module)"},
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, c.data, 0o644)
		if _, err := Open(p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open %s: %v, want %q", name, err, c.want)
		}
		if _, err := Identify(p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Identify %s: %v, want %q", name, err, c.want)
		}
	}
}

func TestIndexKeyedByBuildID(t *testing.T) {
	dir := t.TempDir()
	ix, _ := OpenIndex(dir, "aaaa")
	ix.put("k", []Frame{{Function: "f", File: "a.c", Line: 3}})
	if err := ix.Save(); err != nil {
		t.Fatal(err)
	}
	again, _ := OpenIndex(dir, "aaaa")
	if fr, ok := again.get("k"); !ok || fr[0].Line != 3 {
		t.Errorf("reloaded index: %v %v", fr, ok)
	}
	other, _ := OpenIndex(dir, "bbbb")
	if _, ok := other.get("k"); ok {
		t.Error("an index answered for another build-id")
	}
	if _, err := OpenIndex(dir, ""); err == nil {
		t.Error("an index without a build-id")
	}
}

func FuzzAranges(f *testing.F) {
	f.Add([]byte{0x1c, 0, 0, 0, 2, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, a := range parseAranges(b) {
			if a.hi < a.lo {
				t.Fatalf("range %#x-%#x", a.lo, a.hi)
			}
		}
	})
}

// A frame that cannot be in the file's function (an offset past its end,
// a /LEN that is not its length) is a mismatch, never a line of the next
// function; an offset at the very end is a return address and fits.
func TestLookupMismatch(t *testing.T) {
	f, err := Open(build(t, "-gdwarf-5"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := f.length(f.symbols("compute")[0])
	for _, c := range []struct {
		off, size uint64
		ok        bool
	}{
		{0, 0, true}, {n, 0, true}, {n, n, true}, {1, n, true},
		{n + 1, 0, false}, {0x5000, n, false}, {1, n + 8, false}, {^uint64(0), 0, false},
	} {
		_, err := f.LookupAll("compute", c.off, c.size)
		var me *MismatchError
		if c.ok != (err == nil) || (!c.ok && !errors.As(err, &me)) {
			t.Errorf("compute+%#x/%#x (length %#x): %v", c.off, c.size, n, err)
		}
	}
}

// FuzzFile: a vmlinux or a module is untrusted (a kernel downloaded for
// a bug): whatever its ELF and DWARF claim, opening it and resolving
// symbols and addresses returns frames or an error, never a panic.
func FuzzFile(f *testing.F) {
	prog := build(&testing.T{}, "-g", "-gz=none")
	obj := filepath.Join(f.TempDir(), "prog.o") // relocatable, as a module
	if b, err := exec.Command("gcc", "-O2", "-g", "-gz=none", "-c", "-o", obj, "testdata/prog.c").CombinedOutput(); err != nil {
		f.Fatalf("gcc -c: %v\n%s", err, b)
	}
	for _, p := range []string{prog, obj} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "vmlinux")
		os.WriteFile(p, data, 0o644)
		file, err := Open(p)
		if err != nil {
			return
		}
		defer file.Close()
		file.BuildID()
		file.Release()
		for _, name := range []string{"main", "square", "sum_squares"} {
			addrs, err := file.LookupAll(name, 0, 0)
			if err != nil {
				continue
			}
			for _, a := range addrs {
				file.PC(a, name)
			}
		}
		for _, r := range file.unitRanges() {
			file.PC(r.lo, "")
		}
	})
}

// TestSectionBounds: a section header whose offset and size add past 64
// bits, or that lies past the file, is an error, not a slice of the map.
func TestSectionBounds(t *testing.T) {
	f := &File{mm: make([]byte, 100)}
	for _, h := range []elf.SectionHeader{
		{Name: "wraps", Type: elf.SHT_PROGBITS, Offset: 1 << 63, FileSize: 1<<63 + 10},
		{Name: "past", Type: elf.SHT_PROGBITS, Offset: 90, FileSize: 11},
	} {
		if _, err := f.data(&elf.Section{SectionHeader: h}); err == nil {
			t.Errorf("%s: no error", h.Name)
		}
	}
	if b, err := f.data(&elf.Section{SectionHeader: elf.SectionHeader{Type: elf.SHT_PROGBITS, Offset: 90, FileSize: 10}}); err != nil || len(b) != 10 {
		t.Errorf("the last 10 bytes: %d, %v", len(b), err)
	}
	if b, err := f.data(nil); err != nil || b != nil {
		t.Errorf("no section: %v, %v", b, err)
	}
	note := &elf.Section{SectionHeader: elf.SectionHeader{Name: ".note", Type: elf.SHT_NOTE, Offset: 1 << 63, FileSize: 1<<63 + 10}}
	if id := readBuildID(&elf.File{Sections: []*elf.Section{note}}, f.mm); id != "" {
		t.Errorf("a wrapping note section gave build-id %q", id)
	}
}

// TestRelocationWraps: a module's relocation whose offset is near 2^64
// is skipped, not written out of range; the module still resolves.
func TestRelocationWraps(t *testing.T) {
	obj := filepath.Join(t.TempDir(), "prog.o")
	if b, err := exec.Command("gcc", "-O2", "-g", "-gz=none", "-c", "-o", obj, "testdata/prog.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc -c: %v\n%s", err, b)
	}
	ef, err := elf.Open(obj)
	if err != nil {
		t.Fatal(err)
	}
	rela := ef.Section(".rela.debug_info")
	if rela == nil || rela.Size < 24 {
		t.Fatal("no .rela.debug_info to edit")
	}
	at := int64(rela.Offset)
	ef.Close()
	data, _ := os.ReadFile(obj)
	for i := int64(0); i+24 <= int64(rela.Size); i += 24 {
		binary.LittleEndian.PutUint64(data[at+i:], 1<<64-4) // every offset
	}
	os.WriteFile(obj, data, 0o644)
	f, err := Open(obj)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	addrs, err := f.LookupAll("main", 0, 0)
	if err != nil || len(addrs) == 0 {
		t.Fatalf("main: %v, %v", addrs, err)
	}
	f.PC(addrs[0], "main") // frames or an error: the DWARF lost its relocations
}

// TestSourceRelative: an assembler unit's absolute file name becomes
// relative to the source tree when the build directory is inside it (as
// Debian builds: O=debian/build/...), as its C units' names are; a name
// elsewhere, or one whose rest is no kernel tree's, stays as it is.
func TestSourceRelative(t *testing.T) {
	const build = "/build/reproducible-path/linux-6.1.192/debian/build/build_amd64_none_cloud-amd64/"
	for _, c := range []struct{ file, build, want string }{
		{"/build/reproducible-path/linux-6.1.192/arch/x86/entry/entry_64.S", build, "arch/x86/entry/entry_64.S"},
		{"/home/u/linux/lib/memcpy.S", "/home/u/linux/obj/", "lib/memcpy.S"},
		{"/home/u/linux/arch/x86/lib/memcpy_64.S", "/home/u/obj/", "/home/u/linux/arch/x86/lib/memcpy_64.S"},
		{"/usr/include/stdio.h", build, "/usr/include/stdio.h"},
		{"init/main.c", "debian/build/x/", "init/main.c"},
		{"/build/reproducible-path/linux-6.1.192/debian/notes.S", build, "/build/reproducible-path/linux-6.1.192/debian/notes.S"},
	} {
		if got := sourceRelative(c.file, c.build); got != c.want {
			t.Errorf("sourceRelative(%q, %q) = %q, want %q", c.file, c.build, got, c.want)
		}
	}
}

// A vmlinux built away from its source tree (make O= elsewhere) names its
// files by the tree's absolute path; init/main.c's unit says where the
// tree is, and every file under it is named from there: "kernel/k.c",
// not the build host's path. (A workspace's copy of a vmlinux, away from
// its build directory, showed /root/.cache/.../kernel/panic.c.)
func TestSourceRoot(t *testing.T) {
	root := t.TempDir()
	src, obj := filepath.Join(root, "src"), filepath.Join(root, "obj")
	for name, text := range map[string]string{
		"init/main.c": "int k(int);\nint main(int argc, char **argv) { return k(argc); }\n",
		"kernel/k.c":  "__attribute__((noinline)) int k(int x)\n{\n\treturn x * 3 + 1;\n}\n",
	} {
		os.MkdirAll(filepath.Join(src, filepath.Dir(name)), 0o755)
		os.WriteFile(filepath.Join(src, name), []byte(text), 0o644)
	}
	os.MkdirAll(obj, 0o755)
	for _, args := range [][]string{
		{"-g", "-O1", "-c", filepath.Join(src, "init/main.c"), "-o", "main.o"},
		{"-g", "-O1", "-c", filepath.Join(src, "kernel/k.c"), "-o", "k.o"},
		{"-o", "vmlinux", "main.o", "k.o"},
	} {
		cmd := exec.Command("gcc", args...)
		cmd.Dir = obj
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gcc %v: %v\n%s", args, err, b)
		}
	}
	f, err := Open(filepath.Join(obj, "vmlinux"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.sourceRoot(); got != src+"/" {
		t.Errorf("sourceRoot = %q, want %q", got, src+"/")
	}
	syms, _ := f.ef.Symbols()
	for _, s := range syms {
		if s.Name != "k" {
			continue
		}
		fr, err := f.PC(s.Value, "k")
		if err != nil || len(fr) == 0 || fr[0].File != "kernel/k.c" {
			t.Errorf("k: %+v, %v; want kernel/k.c", fr, err)
		}
		return
	}
	t.Fatal("no symbol k")
}
