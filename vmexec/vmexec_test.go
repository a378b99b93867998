package vmexec

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/initkit/initkit/boot"
	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/guest"
	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/internal/testenv"
	"github.com/initkit/initkit/qemu"
)

// The status is the last line with the run's token: a line a command
// wrote to the port itself, with no token or another, does not count.
func TestParseStatus(t *testing.T) {
	const tok = "0a1b2c"
	for in, want := range map[string]int{
		string(guest.StatusLine(tok, 0)):                                            0,
		"\r\n" + string(guest.StatusLine(tok, 137)) + "\r\n":                        137,
		"initkit-exit:0\ninitkit-exit:other:0\n" + string(guest.StatusLine(tok, 7)): 7,
	} {
		if got, ok := guest.ParseStatus(in, tok); !ok || got != want {
			t.Errorf("ParseStatus(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "initkit-exit:", "initkit-exit:0a1b2c:x", "initkit-exit:5", "initkit-exit:other:5", "exit:3"} {
		if _, ok := guest.ParseStatus(in, tok); ok {
			t.Errorf("ParseStatus(%q) found a status", in)
		}
	}
	if _, ok := guest.ParseStatus("initkit-exit::5", ""); ok {
		t.Error("a status without a token")
	}
}

// The exit code of exec, here or on a farm: the command's status, the
// run's code when the kernel crashed (even after the status) or the run
// ended otherwise, and ExitNoStatus for a guest that powered off without
// a status.
func TestExitCode(t *testing.T) {
	for _, c := range []struct {
		status int
		kind   qemu.Kind
		want   int
	}{
		{0, qemu.PoweredOff, 0},
		{7, qemu.PoweredOff, 7},
		{137, qemu.PoweredOff, 137},
		{0, qemu.Crashed, boot.ExitCrash},
		{-1, qemu.Crashed, boot.ExitCrash},
		{-1, qemu.TimedOut, boot.ExitTimeout},
		{-1, qemu.Failed, boot.ExitQEMU},
		{-1, qemu.PoweredOff, ExitNoStatus},
	} {
		r := Result{Status: c.status, Result: boot.Result{Outcome: qemu.Outcome{Kind: c.kind}}}
		if got := r.ExitCode(); got != c.want || r.HasStatus() != (c.status >= 0 && c.kind != qemu.Crashed) {
			t.Errorf("status %d, %v: exit %d (want %d), has status %v", c.status, c.kind, got, c.want, r.HasStatus())
		}
	}
}

// TestEnviron: --env NAME=VALUE as it is, NAME alone with the host's
// value or left out when the host has none; a name a shell cannot read
// is refused, naming it.
func TestEnviron(t *testing.T) {
	host := map[string]string{"HOSTVAR": "from host", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := host[k]; return v, ok }
	got, err := Environ([]string{"A=1", "HOSTVAR", "UNSET", "EMPTY", "B=x=y", "C="}, lookup)
	want := []string{"A=1", "HOSTVAR=from host", "EMPTY=", "B=x=y", "C="}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{"A-B=1", "-i", "9=1", "=1"} {
		if _, err := Environ([]string{bad}, lookup); err == nil || !strings.Contains(err.Error(), "--env "+bad) {
			t.Errorf("%q: %v, want an error naming it", bad, err)
		}
	}
}

// TestModulesForDevices: the modules a run loads are its devices'
// drivers (the disks', the network card's), then the ones asked for.
func TestModulesForDevices(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{}, ""},
		{Options{Modules: []string{"loop"}}, "loop"},
		{Options{Net: true, Modules: []string{"loop"}}, "virtio_pci virtio_net loop"},
		{Options{Boot: boot.Options{Disks: []qemu.Disk{{Path: "/nonexistent"}}}, Net: true}, "virtio_pci virtio_blk virtio_pci virtio_net"},
	} {
		if got := strings.Join(c.o.modules(), " "); got != c.want {
			t.Errorf("%+v: %q, want %q", c.o, got, c.want)
		}
	}
}

// The exec image: a file to copy out at the top of the root needs no
// directory made for it (the root was one: "cannot add the root
// directory itself"), and a directory given as the command is refused as
// one, and one that is not there as such, not as a spec's files.
func TestBuildImageEdges(t *testing.T) {
	initBin, err := testenv.BuildInitOnce()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("INITKIT_CACHE", t.TempDir())
	out := filepath.Join(t.TempDir(), "exec.img")
	o := Options{InitBinary: initBin, Outputs: []guest.Output{{Path: "/result.txt"}, {Path: "/deep/dir/log"}}}
	if err := buildImage(out, "", []string{"/bin/true"}, "tok", o, "", ""); err != nil {
		t.Fatalf("an output at the root: %v", err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tree, _, err := image.Tree(f)
	if err != nil {
		t.Fatal(err)
	}
	if n := tree["/deep/dir"]; n == nil || n.Type() != cpio.TypeDir {
		t.Errorf("no directory for /deep/dir/log: %+v", n)
	}
	if err := buildImage(out, "", []string{"/etc"}, "tok", o, "", ""); err == nil || err.Error() != "/etc: a directory, not a program" {
		t.Errorf("a directory as the command: %v", err)
	}
	if err := buildImage(out, "", []string{"./nope"}, "tok", o, "", ""); err == nil || err.Error() != "./nope: no such file or directory" {
		t.Errorf("a command that is not there: %v", err)
	}
}
