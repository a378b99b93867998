package qemu

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func args(t *testing.T, c Config) string {
	t.Helper()
	a, err := c.Args()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(a, " ")
}

func TestArgs(t *testing.T) {
	got := args(t, Config{Kernel: "vmlinuz", Initrd: "initrd.img", Append: "quiet", Extra: []string{"-cpu", "max"}})
	want := "-machine q35 -accel tcg -m 512M -smp 1 -nodefaults -display none -serial stdio -no-reboot " +
		"-kernel vmlinuz -initrd initrd.img -append console=ttyS0 panic=-1 no_timer_check quiet -cpu max"
	if got != want {
		t.Errorf("Args:\n got %s\nwant %s", got, want)
	}
	noInitrd := args(t, Config{Kernel: "k", Memory: "2G", SMP: 4, Accel: "kvm"})
	if strings.Contains(noInitrd, "-initrd") || !strings.Contains(noInitrd, "-m 2G -smp 4") || !strings.Contains(noInitrd, "-accel kvm") {
		t.Errorf("Args without initrd: %s", noInitrd)
	}
}

// portsDevice takes two serial ports and says which it got on the
// command line, as exec's and gdb's devices do.
// serialDevice adds one serial port of the backend it is.
type serialDevice string

func (s serialDevice) Add(m *Machine) { m.Serial(string(s)) }

type portsDevice struct{ dir string }

func (p portsDevice) Add(m *Machine) {
	a := m.Serial("pipe:" + p.dir + "/a")
	b := m.SerialSocket(p.dir + "/b.sock")
	m.KernelArgs("ports=" + a + "," + b)
}

// Devices bring their arguments, their kernel arguments (before the
// user's, who wins) and their serial ports, numbered after the console in
// the order the devices come.
func TestDevices(t *testing.T) {
	dir := t.TempDir()
	ab, c2 := filepath.Join(dir, "a,b.img"), filepath.Join(dir, "c.img")
	os.WriteFile(ab, nil, 0o644)
	qemuImg(t, "create", "-f", "qcow2", c2, "1M")
	c := Config{Kernel: "k", Append: "nokaslr=0", Devices: []Device{
		Disk{Path: ab, Snapshot: true},
		Disk{Path: c2, Interface: "nvme", ReadOnly: true},
		portsDevice{"/r"},
		UserNet{Forwards: []Forward{{2222, 22}}},
		GDBStub{Port: 1234, Wait: true},
		VMCoreInfo{},
		PortToFile{Name: "org.x", Path: "/r/dump", Max: 1 << 30},
		portsDevice{"/s"},
		CrashKernel{Size: "64M"},
		Cmdline{"oops=panic"},
	}}
	got := args(t, c)
	for _, want := range []string{
		// The NVMe disk's driver waits for QEMU as long as a busy host
		// makes it (nvmeTimeout).
		"-append console=ttyS0 panic=-1 no_timer_check nvme_core.io_timeout=600 ports=ttyS1,ttyS2 nokaslr ports=ttyS3,ttyS4 crashkernel=64M oops=panic nokaslr=0 ",
		"-drive if=none,id=disk0,format=raw,file.driver=file,file.filename=" + dir + "/a,,b.img,snapshot=on -device virtio-blk-pci,drive=disk0 ",
		"-drive if=none,id=disk1,format=qcow2,file.driver=file,file.filename=" + c2 + ",readonly=on -device nvme,drive=disk1,serial=disk1 ",
		"-serial pipe:/r/a -chardev socket,id=sock0,path=/r/b.sock,server=on,wait=off -serial chardev:sock0 ",
		"-netdev user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22 -device virtio-net-pci,netdev=net0 ",
		"-gdb tcp:127.0.0.1:1234 -S -device vmcoreinfo ",
		"-device virtio-serial-pci,id=virtio-serial0 -chardev file,id=port0,path=/r/dump -device virtserialport,bus=virtio-serial0.0,chardev=port0,name=org.x ",
		"-serial pipe:/s/a -chardev socket,id=sock1,path=/s/b.sock,server=on,wait=off -serial chardev:sock1",
	} {
		if !strings.Contains(got+" ", want) {
			t.Errorf("Args lacks %q:\n%s", want, got)
		}
	}
	// Once for two NVMe disks; never without one.
	two := args(t, Config{Kernel: "k", Devices: []Device{Disk{Path: ab, Interface: "nvme"}, Disk{Path: c2, Interface: "nvme"}}})
	if strings.Count(two, "nvme_core.io_timeout=") != 1 || strings.Contains(args(t, Config{Kernel: "k", Devices: []Device{Disk{Path: ab}}}), "nvme_core") {
		t.Errorf("nvme_core.io_timeout: %s", two)
	}
	// An aarch64 guest's ports are virtio consoles (its virt machine has
	// one UART, the console), on one bus, numbered hvc0 on.
	arm := args(t, Config{Kernel: "k", Arch: "aarch64", Devices: []Device{portsDevice{"/r,x"}}})
	for _, want := range []string{
		"-chardev pipe,id=hvc0,path=/r,,x/a -device virtio-serial-pci,id=hvcbus -device virtconsole,bus=hvcbus.0,chardev=hvc0 ",
		"-chardev socket,id=sock0,path=/r,,x/b.sock,server=on,wait=off -device virtconsole,bus=hvcbus.0,chardev=sock0 ",
		"ports=hvc0,hvc1",
	} {
		if !strings.Contains(arm+" ", want) || strings.Count(arm, "virtio-serial-pci") != 1 || strings.Contains(arm, "-serial pipe") {
			t.Errorf("aarch64 Args lacks %q:\n%s", want, arm)
		}
	}
	for _, bad := range []struct {
		c    Config
		want string
	}{
		{Config{Kernel: "k", Arch: "aarch64", Devices: []Device{serialDevice("tcp:127.0.0.1:1")}}, "virtio consoles, which take a pipe, a file or a chardev"},
		{Config{Kernel: "k", Devices: []Device{Disk{Path: ab, Interface: "scsi"}}}, `interface "scsi"`},
		{Config{Kernel: "k", Devices: []Device{Disk{Path: filepath.Join(dir, "gone.img")}}}, "gone.img: no such file"},
		{Config{Kernel: "k", Devices: []Device{Disk{}}}, "no file"},
	} {
		if _, err := bad.c.Args(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Args: %v, want an error with %q", err, bad.want)
		}
		if g, err := Start(context.Background(), bad.c, Watch{}); err == nil {
			g.Kill()
			t.Errorf("Start of a bad config started")
		}
	}
}

func TestConsole(t *testing.T) {
	var c Console
	for _, chunk := range []string{"[    1.0] Run /init as init process\r\n\x1b[1;31mhel", "lo\x1b[0m\r\n", "[    2.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\r\n", "Oops: second\n", "tail"} {
		c.Write([]byte(chunk))
	}
	if got, want := c.Crash(), "[    2.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100"; got != want {
		t.Errorf("Crash() = %q, want the first report line %q", got, want)
	}
	log := c.Log()
	if strings.ContainsAny(log, "\r\x1b") || !strings.Contains(log, "\nhello\n") || !strings.HasSuffix(log, "tail") {
		t.Errorf("Log() = %q", log)
	}
	var quiet Console
	quiet.Write([]byte("all fine\nBUG_ON is a macro name, not a report\n"))
	if quiet.Crash() != "" {
		t.Errorf("crash found in a clean log: %q", quiet.Crash())
	}
}

// TestBootMissingBinary: a QEMU that cannot start is an outcome, not a hang.
func TestBootMissingBinary(t *testing.T) {
	o := Boot(context.Background(), Config{Binary: "/nonexistent/qemu", Kernel: "k", Accel: "tcg"}, Watch{})
	if o.Kind != Failed || o.Err == nil || !strings.Contains(o.Err.Error(), "qemu") {
		t.Fatalf("Boot = %+v", o)
	}
}

// A kernel that halts (no ACPI to power off with) ends the run: the
// console's outcome is known without waiting for QEMU.
func TestConsoleHalted(t *testing.T) {
	var c Console
	c.Watch(nil, nil)
	c.Write([]byte("[    1.2] reboot: System halted\r\n"))
	select {
	case <-c.Done():
	default:
		t.Fatal("a halted kernel did not end the run")
	}
	if c.Crash() != "" {
		t.Errorf("a halt is no crash: %q", c.Crash())
	}
}

func qemuImg(t testing.TB, args ...string) {
	t.Helper()
	if b, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img %v: %v\n%s", args, err, b)
	}
}

// A qcow2 image from someone else names host files QEMU would open with
// the user's rights: a backing file (a secret for the guest to read) or
// an external data file (a file for the guest's writes to land in). They
// are refused unless the user asks (Disk.Backing), whatever the image's
// name; a raw file with a qcow2 name stays raw.
func TestDiskBackingFiles(t *testing.T) {
	dir := t.TempDir()
	secret, victim := filepath.Join(dir, "secret"), filepath.Join(dir, "victim")
	os.WriteFile(secret, []byte("host secret"), 0o600)
	os.WriteFile(victim, make([]byte, 1<<20), 0o600)
	backed, data := filepath.Join(dir, "b.img"), filepath.Join(dir, "d.qcow2")
	qemuImg(t, "create", "-f", "qcow2", "-b", secret, "-F", "raw", backed)
	qemuImg(t, "create", "-f", "qcow2", "-o", "data_file="+victim+",data_file_raw=on", data, "1M")
	for path, want := range map[string]string{backed: `names the host file "` + secret + `" as its backing file`,
		data: `names the host file "` + victim + `" as its external data file`} {
		info, err := InspectImage(path)
		if err != nil || info.Format != "qcow2" {
			t.Fatalf("%s: %+v %v", path, info, err)
		}
		_, err = Config{Kernel: "k", Devices: []Device{Disk{Path: path}}}.Args()
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--disk-backing") {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
		if _, err := (Config{Kernel: "k", Devices: []Device{Disk{Path: path, Backing: true}}}).Args(); err != nil {
			t.Errorf("%s with Backing: %v", path, err)
		}
	}
	raw := filepath.Join(dir, "raw.qcow2")
	os.WriteFile(raw, []byte("not qcow2"), 0o644)
	if info, err := InspectImage(raw); err != nil || info.Format != "raw" {
		t.Errorf("a raw file named .qcow2: %+v %v", info, err)
	}
	// A header whose backing name lies outside it.
	lie := filepath.Join(dir, "lie.img")
	h := make([]byte, 104)
	copy(h, "QFI\xfb")
	h[7] = 3
	binary.BigEndian.PutUint64(h[8:], 1<<40)
	binary.BigEndian.PutUint32(h[16:], 8)
	binary.BigEndian.PutUint32(h[100:], 104)
	os.WriteFile(lie, h, 0o644)
	if _, err := InspectImage(lie); err == nil || !strings.Contains(err.Error(), "qcow2 header offset 8") {
		t.Errorf("a lying header: %v", err)
	}
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// A guest that writes forever: the console in memory keeps its start and
// its newest part, the saved log stops at its bound, a line that never
// ends is cut, and a crash report is kept whole wherever it fell.
func TestConsoleBounded(t *testing.T) {
	var c Console
	var saved countWriter
	c.Save(&saved)
	c.Write([]byte("first line\n[    1.0] Kernel panic - not syncing: early\n"))
	line := []byte(strings.Repeat("x", 1023) + "\n")
	for i := 0; i < (MaxConsoleLog>>10)+4096; i++ {
		c.Write(line)
	}
	c.Write(bytes.Repeat([]byte("y"), 3*MaxConsoleLine))
	c.Write([]byte("\nlast line\n"))
	log := c.Log()
	if len(log) > MaxConsole+MaxConsoleLine || !strings.HasPrefix(log, "first line\n") || !strings.HasSuffix(log, "last line\n") ||
		!strings.Contains(log, "bytes of console dropped here]") {
		t.Errorf("log of %d bytes: %q ... %q", len(log), log[:40], log[len(log)-40:])
	}
	if saved.n > MaxConsoleLog+1024 {
		t.Errorf("saved %d bytes, bound %d", saved.n, MaxConsoleLog)
	}
	if ex := c.Excerpt(); !strings.HasPrefix(ex, "[    1.0] Kernel panic - not syncing: early\n") || strings.Count(ex, "\n") != maxBlock-1 {
		t.Errorf("excerpt: %d lines, %q", strings.Count(ex, "\n")+1, ex[:60])
	}
}

// A prompt ends no line: it is matched where it stands, and the rest of
// its line, when it comes, is matched against the next expectation only.
func TestConsolePrompt(t *testing.T) {
	var c Console
	c.Watch([]*regexp.Regexp{regexp.MustCompile(`Password: $`), regexp.MustCompile(`ok`), regexp.MustCompile(`# $`)}, nil)
	c.Write([]byte("boot\nPassword: "))
	if c.Pending() != "ok" {
		t.Fatalf("the prompt did not match: pending %q", c.Pending())
	}
	c.Write([]byte("Password: again\n")) // the prompt's line, completed: not "ok"
	if c.Pending() != "ok" {
		t.Fatalf("pending %q after the prompt's line", c.Pending())
	}
	c.Write([]byte("it is ok\n# "))
	select {
	case <-c.Done():
	default:
		t.Fatalf("every expectation met, yet not done: pending %q", c.Pending())
	}
}

func TestNetwork(t *testing.T) {
	for _, c := range []struct {
		mode string
		port int
		want Device
		err  string
	}{
		{"", 0, nil, ""},
		{"user", 0, UserNet{}, ""},
		{"", 2222, UserNet{Forwards: []Forward{{2222, 22}}}, ""},
		{"user", 2222, UserNet{Forwards: []Forward{{2222, 22}}}, ""},
		{"tap", 0, nil, "--net tap: want user"},
		{"tap", 2222, nil, "--ssh-port forwards through --net user"},
		{"", 99999, nil, "--ssh-port 99999: want a TCP port, 1-65535"},
		{"user", -1, nil, "--ssh-port -1: want a TCP port, 1-65535"},
	} {
		d, err := Network(c.mode, c.port)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Network(%q, %d): error %v, want %q", c.mode, c.port, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(d, c.want) {
			t.Errorf("Network(%q, %d) = %#v, %v; want %#v", c.mode, c.port, d, err, c.want)
		}
	}
}

func TestParseMemory(t *testing.T) {
	for in, want := range map[string]int64{"512M": 512 << 20, "2G": 2 << 30, "1024": 1 << 30, "1g": 1 << 30, "0.5G": 512 << 20, "65536K": 64 << 20, "1T": 1 << 40} {
		if got, err := ParseMemory(in); err != nil || got != want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "G", "1G,maxmem=64G", "size=1G", "-1G", "1.2.3G", "1X", "0", "1 G", "9999999T"} {
		if got, err := ParseMemory(in); err == nil {
			t.Errorf("ParseMemory(%q) = %d, want an error", in, got)
		}
	}
}

// TestArgsRefuseOptions: a value that QEMU reads as a key=value list is
// refused, not passed on to set what nobody asked for.
func TestArgsRefuseOptions(t *testing.T) {
	for _, c := range []Config{
		{Kernel: "k", Memory: "1G,maxmem=64G"},
		{Kernel: "k", Memory: "1G,share=on"},
		{Kernel: "k", Accel: "tcg,thread=multi"},
		{Kernel: "k", Accel: "xen"},
		{Kernel: "k", Arch: "riscv64"},
		{Kernel: "k", SMP: -3},
	} {
		if a, err := c.Args(); err == nil {
			t.Errorf("Args(%+v) = %q, want an error", c, a)
		}
	}
}
