package elfdeps

import (
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/initkit/initkit/internal/machine"
)

func closure(t *testing.T, root string, paths ...string) (map[string]Entry, error) {
	t.Helper()
	r, err := NewResolver(root)
	if err != nil {
		t.Fatal(err)
	}
	return added(r, paths...)
}

// added adds paths to r and returns its entries by path.
func added(r *Resolver, paths ...string) (map[string]Entry, error) {
	for _, p := range paths {
		if err := r.Add(p, "test"); err != nil {
			return nil, err
		}
	}
	out := map[string]Entry{}
	for _, e := range r.Entries() {
		out[e.Path] = e
	}
	return out, nil
}

func want(t *testing.T, got map[string]Entry, path string, kind Kind, link string) {
	t.Helper()
	e, ok := got[path]
	if !ok {
		t.Errorf("%s missing from the closure", path)
		return
	}
	if e.Kind != kind || e.Linkname != link {
		t.Errorf("%s: kind %d link %q, want kind %d link %q", path, e.Kind, e.Linkname, kind, link)
	}
}

func TestSysrootClosure(t *testing.T) {
	got, err := closure(t, "testdata/sysroot", "/usr/bin/app")
	if err != nil {
		t.Fatal(err)
	}
	want(t, got, "/usr/bin/app", File, "")
	want(t, got, "/lib64/ld-linux-x86-64.so.2", Symlink, "../usr/lib/ld-stub.so")
	want(t, got, "/usr/lib/ld-stub.so", File, "")
	// ld.so.conf's /opt/extra/lib is searched first, then the defaults, in
	// which /lib comes before /usr/lib: libfoo.so.1 is found through the
	// usrmerge link, which the closure keeps.
	want(t, got, "/lib", Symlink, "usr/lib")
	want(t, got, "/usr/lib/libfoo.so.1", Symlink, "libfoo.so.1.0")
	want(t, got, "/usr/lib/libfoo.so.1.0", File, "")
	want(t, got, "/opt/extra/lib/libextra.so.1", File, "")
	want(t, got, "/usr/lib/libc.so.6", File, "")
	for p, e := range got {
		if e.Kind == File && !strings.HasPrefix(e.Source, "testdata/sysroot/") {
			t.Errorf("%s read from %s, outside the sysroot", p, e.Source)
		}
	}
}

func TestRunpathOrigin(t *testing.T) {
	got, err := closure(t, "testdata/sysroot", "/opt/app/bin/app-origin")
	if err != nil {
		t.Fatal(err)
	}
	want(t, got, "/opt/app/lib/libbar.so.1", File, "")
}

func TestRpath(t *testing.T) {
	got, err := closure(t, "testdata/sysroot", "/opt/rp/bin/app-rpath")
	if err != nil {
		t.Fatal(err)
	}
	want(t, got, "/opt/rp/lib/libbaz.so.1", File, "")
}

func TestScriptInterpreter(t *testing.T) {
	got, err := closure(t, "testdata/sysroot", "/usr/bin/app-script")
	if err != nil {
		t.Fatal(err)
	}
	want(t, got, "/usr/bin/app", File, "")
	want(t, got, "/usr/lib/libfoo.so.1.0", File, "")
}

func TestMissingLibrary(t *testing.T) {
	_, err := closure(t, "testdata/sysroot", "/usr/bin/app-missing")
	var me *MissingError
	if !errors.As(err, &me) {
		t.Fatalf("error %v, want *MissingError", err)
	}
	msg := err.Error()
	for _, s := range []string{"libmissing.so.1", "/usr/bin/app-missing", "/opt/extra/lib", "/usr/lib"} {
		if !strings.Contains(msg, s) {
			t.Errorf("error %q does not name %s", msg, s)
		}
	}
}

// lddPaths returns the real paths of what ldd says bin loads.
func lddPaths(t *testing.T, bin string) []string {
	t.Helper()
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", bin, err)
	}
	re := regexp.MustCompile(`(?m)(?:=> )?(/\S+) \(0x`)
	var paths []string
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		real, err := filepath.EvalSymlinks(m[1])
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, real)
	}
	sort.Strings(paths)
	return paths
}

// TestMatchesLdd: for real system programs, the closure holds the same
// libraries as ldd reports (compared by real path, so that usrmerge and
// symlink spellings do not matter).
func TestMatchesLdd(t *testing.T) {
	for _, bin := range []string{"/usr/bin/gdbserver", "/usr/sbin/cryptsetup", "/usr/bin/qemu-system-x86_64"} {
		t.Run(filepath.Base(bin), func(t *testing.T) {
			got, err := closure(t, "/", bin)
			if err != nil {
				t.Fatal(err)
			}
			var ours []string
			for p, e := range got {
				if e.Kind == File && p != bin {
					ours = append(ours, e.Source)
				}
			}
			sort.Strings(ours)
			theirs := lddPaths(t, bin)
			if strings.Join(ours, "\n") != strings.Join(theirs, "\n") {
				t.Errorf("closure differs from ldd:\n ours:\n  %s\n ldd:\n  %s", strings.Join(ours, "\n  "), strings.Join(theirs, "\n  "))
			}
			if _, err := os.Stat(bin); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestLoadedSonameSatisfies builds systemd's shape with gcc: a program
// whose RUNPATH names the private directory of two libraries, one of
// which needs the other with no RUNPATH of its own. ld.so runs it (the
// library is found because the program loaded it first), and the
// closure must agree.
func TestLoadedSonameSatisfies(t *testing.T) {
	dir := t.TempDir()
	priv := filepath.Join(dir, "lib", "private")
	os.MkdirAll(priv, 0o755)
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(src), 0o644)
		return p
	}
	gcc := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
			t.Fatalf("gcc %q: %v\n%s", args, err, out)
		}
	}
	gcc("-shared", "-fPIC", "-Wl,-soname,libshared.so.1", "-o", filepath.Join(priv, "libshared.so.1"), write("shared.c", "int shared(void) { return 7; }\n"))
	gcc("-shared", "-fPIC", "-Wl,-soname,libcore.so.1", "-o", filepath.Join(priv, "libcore.so.1"), write("core.c", "int shared(void);\nint core(void) { return shared(); }\n"),
		"-L"+priv, "-l:libshared.so.1")
	prog := filepath.Join(dir, "prog")
	gcc("-o", prog, write("prog.c", "int core(void);\nint shared(void);\nint main(void) { return core() + shared() == 14 ? 0 : 1; }\n"),
		"-L"+priv, "-l:libshared.so.1", "-l:libcore.so.1", "-Wl,--enable-new-dtags,-rpath,"+priv)
	if out, err := exec.Command(prog).CombinedOutput(); err != nil {
		t.Fatalf("ld.so cannot run the program: %v\n%s", err, out)
	}
	got, err := closure(t, "/", prog)
	if err != nil {
		t.Fatalf("closure: %v", err)
	}
	want(t, got, filepath.Join(priv, "libshared.so.1"), File, "")
	want(t, got, filepath.Join(priv, "libcore.so.1"), File, "")
}

// TestLdSoConfConfined: a sysroot's ld.so.conf is read inside it. An
// absolute symlink to it resolves in the sysroot, not on the host; an
// include line that climbs with ".." stops at the sysroot's /, and one
// through a directory symlinked out of it lists nothing of the host.
func TestLdSoConfConfined(t *testing.T) {
	top := t.TempDir()
	root, out := filepath.Join(top, "root"), filepath.Join(top, "outside")
	for _, d := range []string{root + "/etc/conf.d", out} {
		os.MkdirAll(d, 0o755)
	}
	os.WriteFile(filepath.Join(out, "evil.conf"), []byte("/evil/lib\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/real.conf"), []byte("/opt/lib\ninclude /../../outside/*.conf\ninclude /etc/conf.d/*.conf\ninclude /etc/up/*.conf\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/conf.d/a.conf"), []byte("/opt/a\n"), 0o644)
	os.Symlink("/etc/real.conf", filepath.Join(root, "etc/ld.so.conf"))
	os.Symlink(out, filepath.Join(root, "etc/up"))
	r, err := NewResolver(root)
	if err != nil {
		t.Fatal(err)
	}
	dirs := strings.Join(r.searchDirs, ":")
	if !strings.HasPrefix(dirs, "/opt/lib:/opt/a:") || strings.Contains(dirs, "/evil") {
		t.Errorf("search dirs %s, want /opt/lib and /opt/a first and nothing from outside the sysroot", dirs)
	}
}

// TestEnvCommand: a script run by env(1) ("#!/usr/bin/env bash") needs
// the command env runs, found where the guest's PATH looks, as much as
// env itself; "/usr/bin/env: 'bash': No such file or directory" in the
// guest otherwise.
func TestEnvCommand(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"usr/bin/env", "usr/local/bin/bash", "usr/sbin/tool"} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte("stub\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("usr/bin", filepath.Join(root, "bin")); err != nil {
		t.Fatal(err)
	}
	for line, cmd := range map[string]string{
		"#!/usr/bin/env bash":                   "/usr/local/bin/bash",
		"#!/usr/bin/env -S bash -e":             "/usr/local/bin/bash",
		"#!/bin/env -Sbash -e":                  "/usr/local/bin/bash",
		"#!/usr/bin/env --split-string=bash":    "/usr/local/bin/bash",
		"#!/usr/bin/env -i -u HOME A=1 tool":    "/usr/sbin/tool",
		"#!/usr/bin/env -C /tmp /usr/sbin/tool": "/usr/sbin/tool",
	} {
		if err := os.WriteFile(filepath.Join(root, "script"), []byte(line+"\necho\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		got, err := closure(t, root, "/script")
		if err != nil {
			t.Errorf("%s: %v", line, err)
			continue
		}
		if _, ok := got[cmd]; !ok {
			t.Errorf("%s: %s missing from the closure", line, cmd)
		}
	}
	os.WriteFile(filepath.Join(root, "script"), []byte("#!/usr/bin/env nosuch\n"), 0o755)
	_, err := closure(t, root, "/script")
	if err == nil || !strings.Contains(err.Error(), "no nosuch in /usr/local/sbin:") || !strings.Contains(err.Error(), "/script") {
		t.Errorf("a command nowhere: %v", err)
	}
	os.WriteFile(filepath.Join(root, "script"), []byte("#!/usr/bin/env\n"), 0o755)
	if _, err := closure(t, root, "/script"); err != nil {
		t.Errorf("env alone: %v", err)
	}
}

// TestImageMachine: in an image for another machine than the host's, a
// host program is refused by name, not shipped to die with "exec format
// error"; a script's interpreter the image provides itself (busybox's sh)
// is left to it when the host has it only for the host's machine, or not
// at all. For the host's own machine, the host's interpreter is shipped,
// as the script asks.
func TestImageMachine(t *testing.T) {
	host := machine.Host()
	other := machine.Arches[0]
	if other == host {
		other = machine.Arches[1]
	}
	dir := t.TempDir()
	script := func(line string) string {
		p := filepath.Join(dir, "script")
		if err := os.WriteFile(p, []byte(line+"\necho hi\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	applets := func(p string) bool {
		return path.Base(p) == "sh" || path.Base(p) == "env" || path.Base(p) == "nosuchsh"
	}
	resolve := func(m elf.Machine, provided func(string) bool, p string) (map[string]Entry, error) {
		r, err := NewResolver("/")
		if err != nil {
			t.Fatal(err)
		}
		r.Machine, r.Provided = m, provided
		return added(r, p)
	}
	_, err := resolve(other.ELF, nil, "/usr/bin/dash")
	if want := "/usr/bin/dash is a program for " + host.Name + ", and the image is for " + other.Name; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a host program in an %s image: %v, want %q", other.Name, err, want)
	}
	if _, err := resolve(other.ELF, nil, script("#!/bin/sh")); err == nil || !strings.Contains(err.Error(), "#!/bin/sh") {
		t.Errorf("#!/bin/sh, nothing provided: %v", err)
	}
	for _, line := range []string{"#!/bin/sh", "#!/usr/bin/env sh", "#!/bin/nosuchsh -e"} {
		got, err := resolve(other.ELF, applets, script(line))
		if err != nil {
			t.Errorf("%s, busybox's applets provided: %v", line, err)
			continue
		}
		for p := range got {
			if path.Base(p) == "dash" || path.Base(p) == "env" {
				t.Errorf("%s: the host's %s shipped in an %s image", line, p, other.Name)
			}
		}
	}
	got, err := resolve(host.ELF, applets, script("#!/bin/sh"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["/usr/bin/dash"]; !ok {
		t.Errorf("#!/bin/sh in an image for the host's machine: the host's dash not shipped")
	}
	if _, err := resolve(host.ELF, nil, script("#!/bin/nosuchsh")); err == nil {
		t.Errorf("#!/bin/nosuchsh, nothing provided: no error")
	}
}
