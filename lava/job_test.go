package lava

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/initkit/initkit/boot"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/qemu"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestDefinitionGolden keeps the job definition's shape: deploy to tmpfs
// (the ramdisk a newc archive LAVA adds its overlay to), QEMU with
// -no-reboot, the test's one step reporting the status. TestLAVA submits
// the same definitions to a real server.
func TestDefinitionGolden(t *testing.T) {
	for golden, j := range map[string]Job{
		"testdata/exec.yaml": {Name: "initkit exec", Kernel: "file:///a/k-bzImage", Ramdisk: "file:///a/r-initrd.cpio", Memory: 1024, SMP: 2,
			Append: "quiet", Command: []string{"/bin/busybox", "sh", "-c", "exit 3"}, Env: []string{"A=1", "B=x y"}, Limit: 90 * time.Second, Timeout: 5 * time.Minute, Tags: []string{"fast"},
			Disks: []Disk{{URL: "file:///a/d-disk.img", Format: "raw", ReadOnly: true}, {URL: "file:///a/e-disk.qcow2", Format: "qcow2"}}},
		// The user's own image: no overlay, no test, the power-off is the end.
		"testdata/boot.yaml": {Name: "initkit boot", Kernel: "file:///a/k-bzImage", Ramdisk: "file:///a/r-initrd.img", UserImage: true},
	} {
		def, err := j.Definition()
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			os.WriteFile(golden, def, 0o644)
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if string(def) != string(want) {
			t.Errorf("definition:\n%s\nwant (%s):\n%s", def, golden, want)
		}
	}
}

// TestStepEnv: the test step's variables reach the command as they were,
// whatever their values hold, and a name a shell could not read is
// refused.
func TestStepEnv(t *testing.T) {
	j := Job{Command: []string{"/usr/bin/sh", "-c", `printf '%s|%s|%s' "$A" "$B" "$C"`}, Env: []string{"A=1", "B=it's $x `y`\nz", "C="}, Limit: time.Minute}
	step, err := j.step()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sh", "-c", step).Output()
	if want := "1|it's $x `y`\nz|"; err != nil || string(out) != want {
		t.Errorf("%s: %q, %v; want %q", step, out, err, want)
	}
	j.Env = []string{"A B=1"}
	if _, err := j.Definition(); err == nil {
		t.Error("a name with a blank was accepted")
	}
}

// A value that would end the -append string or the image argument is
// refused, not passed to QEMU's command line.
func TestDefinitionRefuses(t *testing.T) {
	for _, j := range []Job{
		{Kernel: "file:///k", Ramdisk: "file:///r", Append: `x" -device foo "`},
		{Kernel: "file:///k{ramdisk}", Ramdisk: "file:///r"},
		{Kernel: "file:///k", Ramdisk: "file:///r\n-x"},
		{Kernel: "", Ramdisk: "file:///r"},
		{Kernel: "file:///k", Ramdisk: "file:///r", UserImage: true, Command: []string{"true"}},
		{Kernel: "file:///k", Ramdisk: "file:///r", Disks: []Disk{{URL: "file:///d", Format: "vmdk"}}},
		{Kernel: "file:///k", Ramdisk: "file:///r", Disks: []Disk{{URL: "file:///d},x", Format: "raw"}}},
		{Kernel: "file:///k", Ramdisk: "file:///r", Priority: "urgent"},
		{Kernel: "file:///k", Ramdisk: "file:///r", Priority: "101"},
		{Kernel: "file:///k", Ramdisk: "file:///r", Priority: "+5"},
	} {
		if _, err := j.Definition(); err == nil {
			t.Errorf("%+v: no error", j)
		}
	}
}

func TestPriority(t *testing.T) {
	for _, p := range []string{"", "high", "medium", "low", "0", "42", "100"} {
		if _, err := (Job{Kernel: "file:///k", Ramdisk: "file:///r", Priority: p}).Definition(); err != nil {
			t.Errorf("%q: %v", p, err)
		}
	}
}

// A file's name reaches QEMU's options and URLs: commas, spaces and the
// like become underscores.
func TestSafeName(t *testing.T) {
	if got := safeName("my disk,format=qcow2{x}.img"); got != "my_disk_format_qcow2_x_.img" {
		t.Errorf("safeName: %q", got)
	}
}

func TestArtifacts(t *testing.T) {
	dir := t.TempDir()
	a, err := ParseArtifacts(dir + "/art=file://" + dir + "/art")
	if err != nil {
		t.Fatal(err)
	}
	src := dir + "/bzImage"
	os.WriteFile(src, []byte("a kernel"), 0o644)
	u1, err := a.Put(src)
	if err != nil {
		t.Fatal(err)
	}
	u2, _ := a.Put(src)
	if u1 != u2 || !strings.HasPrefix(u1, "file://"+dir+"/art/") || !strings.HasSuffix(u1, "-bzImage") {
		t.Errorf("URLs %s, %s", u1, u2)
	}
	st, err := os.Stat(strings.TrimPrefix(u1, "file://"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("the copy: %v, mode %v; want 0600 unless public", err, st.Mode())
	}
	os.WriteFile(src, []byte("another kernel"), 0o644)
	if u3, _ := a.Put(src); u3 == u1 {
		t.Errorf("another content, the same URL %s", u3)
	}
	if _, err := ParseArtifacts("no-url"); err == nil {
		t.Error("DIR without =URL: no error")
	}
}

func TestNewClient(t *testing.T) {
	t.Setenv(TokenEnv, "")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	if _, err := NewClient("http://127.0.0.1:8000/"); err == nil || !strings.Contains(err.Error(), "no token") {
		t.Errorf("no token: %v", err)
	}
	os.WriteFile(os.Getenv("XDG_CONFIG_HOME")+"/lavacli.yaml", []byte("lab:\n  uri: http://127.0.0.1:8000/RPC2\n  username: me\n  token: from-lavacli\n"), 0o600)
	c, err := NewClient("http://127.0.0.1:8000")
	if err != nil || c.token != "from-lavacli" || c.URL != "http://127.0.0.1:8000/" {
		t.Errorf("lavacli's identity: %+v, %v", c, err)
	}
	t.Setenv(TokenEnv, "from-env")
	if c, _ := NewClient("http://127.0.0.1:8000/"); c.token != "from-env" {
		t.Errorf("$LAVA_TOKEN not first: %q", c.token)
	}
	for _, bad := range []string{"127.0.0.1:8000", "ftp://x/", "http://"} {
		if _, err := NewClient(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestOutcome: a fatal crash on the console first (a real report, read
// by the same console watcher as a local run's), then the command's
// status or the kernel's power-off, LAVA's timeout, and anything else
// the farm's failure, retried.
func TestOutcome(t *testing.T) {
	crash, err := os.ReadFile("../oops/testdata/real/lkdtm-bug.log")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		console string
		r       Result
		kind    qemu.Kind
		why     string
	}{
		{"", Result{Status: 0}, qemu.PoweredOff, ""},
		{"hello\n", Result{Status: 3}, qemu.PoweredOff, ""},
		{string(crash), Result{Status: -1, Health: "Incomplete"}, qemu.Crashed, "kernel BUG at drivers/misc/lkdtm/bugs.c"},
		{"Run /init as init process\n" + PowerOff + "\n", Result{Status: -1, Health: "Incomplete"}, qemu.PoweredOff, ""},
		{"booting\n", Result{ID: 7, Status: -1, Health: "Incomplete", Failure: "lava-test-shell timed out after 300 seconds"}, qemu.TimedOut, ""},
		{"booting\n", Result{ID: 7, Status: -1, Health: "Incomplete", Failure: "Infrastructure error"}, qemu.Failed, "LAVA job 7 ended Incomplete: Infrastructure error"},
		{"booting\n", Result{ID: 8, Status: -1, Failure: "the worker of d went offline"}, qemu.Failed, "LAVA job 8 the worker of d went offline"},
	} {
		con := &qemu.Console{}
		con.Write([]byte(c.console))
		r := c.r
		r.Console, r.Crash, r.Excerpt = con.Log(), con.Crash(), con.Excerpt()
		o := r.Outcome()
		if o.Kind != c.kind || !strings.Contains(o.Line+fmt.Sprint(o.Err), c.why) || r.Infra() != (c.kind == qemu.Failed) {
			t.Errorf("%+v: %v %q %v, want %v %q", c.r, o.Kind, o.Line, o.Err, c.kind, c.why)
		}
	}
}

// TestDial: the flags' values make a Remote whose progress names each
// job by its link; a bad URL or artifacts place is an error.
func TestDial(t *testing.T) {
	t.Setenv(TokenEnv, "tok")
	var progress strings.Builder
	r, err := Dial("http://lava.example:8000", "/srv/files=http://files.example/a", true, Job{DeviceType: "qemu"}, RunOptions{Retries: 3}, &progress)
	if err != nil {
		t.Fatal(err)
	}
	r.Options.Submitted(7)
	if want := "LAVA job 7: http://lava.example:8000/scheduler/job/7"; !strings.Contains(progress.String(), want) {
		t.Errorf("progress %q, want %q", progress.String(), want)
	}
	if r.Options.Retries != 3 || !r.Artifacts.Public || r.Artifacts.URL != "http://files.example/a/" || r.Job.DeviceType != "qemu" {
		t.Errorf("remote %+v", r)
	}
	if _, err := Dial("ftp://lava.example", "/srv=http://f/", false, Job{}, RunOptions{}, &progress); err == nil {
		t.Error("an ftp URL: no error")
	}
	if _, err := Dial("http://lava.example", "/srv", false, Job{}, RunOptions{}, &progress); err == nil || !strings.Contains(err.Error(), "DIR=URL") {
		t.Errorf("artifacts without a URL: %v", err)
	}
}

// TestJobMemory: --mem means what it means to a local run: QEMU's -m,
// where a plain number is MiB.
func TestJobMemory(t *testing.T) {
	dir := t.TempDir()
	k, r := dir+"/bzImage", dir+"/initrd.img"
	for _, f := range []string{k, r} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a := Artifacts{Dir: t.TempDir(), URL: "file:///a/"}
	for mem, want := range map[string]int{"": 1024, "2048": 2048, "2G": 2048, "512M": 512} {
		var j Job
		if err := j.fill(boot.Options{Memory: mem}, k, r, a); err != nil || j.Memory != want {
			t.Errorf("--mem %q: the job's memory is %d MiB (%v), want %d", mem, j.Memory, err, want)
		}
	}
	var j Job
	if err := j.fill(boot.Options{Memory: "1G,maxmem=8G"}, k, r, a); err == nil {
		t.Error("--mem 1G,maxmem=8G: no error")
	}
}

// TestForeignKernel: a job of the qemu device type is x86_64; a kernel
// for another architecture is refused by the architecture its own image
// names, not by a flag.
func TestForeignKernel(t *testing.T) {
	arm := boot.Options{Chosen: &kernel.Choice{Image: "Image", Arch: "aarch64"}, Dir: t.TempDir(), Notes: io.Discard}
	a := Artifacts{Dir: t.TempDir(), URL: "file:///a/"}
	const want = "a LAVA job cannot take another architecture than x86_64 (the kernel is for aarch64)"
	if _, _, err := Exec(context.Background(), Job{}, arm, []string{"/bin/true"}, nil, "", a); err == nil || err.Error() != want {
		t.Errorf("exec: %v, want %q", err, want)
	}
	arm.Initrd = filepath.Join(t.TempDir(), "initrd.img")
	os.WriteFile(arm.Initrd, []byte("x"), 0o644)
	if _, _, err := Boot(context.Background(), Job{}, arm, a); err == nil || err.Error() != want {
		t.Errorf("boot: %v, want %q", err, want)
	}
}
