package qemu

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// A Device is a part of a guest that brings what it needs with it: QEMU
// arguments, kernel command-line arguments and serial ports. Config.Args
// adds each device once, in order, after the console; so the order of
// serial ports, which QEMU numbers by the order of its -serial options,
// is decided here and nowhere else, and each device learns which port it
// got from Machine.Serial.
type Device interface {
	Add(m *Machine)
}

// Machine collects what the devices of one command line add.
type Machine struct {
	Arch    string // x86_64 or aarch64, for a device whose arguments differ
	args    []string
	kargs   []string
	serials int // serial ports given out, the console included
	// consoles are the virtio consoles given out (an aarch64 guest's
	// ports beyond its console).
	consoles int
	ids      map[string]int
	limits   []fileLimit
	err      error
}

// fileLimit is a host file the guest writes through QEMU, and the most
// it may hold.
type fileLimit struct {
	path, what string
	max        int64
}

// LimitFile bounds a host file that the guest writes through QEMU (a
// chardev's file): a running guest whose file grows past max bytes is
// stopped, and the file emptied. QEMU itself writes whatever the guest
// sends, so without it a guest fills the host's disk. what names the
// file for the error.
func (m *Machine) LimitFile(path, what string, max int64) {
	m.limits = append(m.limits, fileLimit{path, what, max})
}

// Args adds QEMU arguments.
func (m *Machine) Args(a ...string) { m.args = append(m.args, a...) }

// KernelArgs adds kernel command-line arguments. They come before the
// user's own (Config.Append), so that the user's value of a key wins.
func (m *Machine) KernelArgs(a ...string) { m.kargs = append(m.kargs, a...) }

// Serial adds a serial port whose host side is backend (a -serial value:
// "pipe:PATH", "chardev:ID", "file:PATH") and returns the name the guest
// knows it by (ttyS1 for the first after the console).
//
// The virt machine of an aarch64 guest has one PL011 UART, the console:
// its other ports are virtio consoles (hvc0 for the first), on a
// virtio-serial-pci bus of their own. The guest needs virtio_pci and
// virtio_console for them (VirtioConsoleModules; both are modules in
// Debian's arm64 kernel), and they appear once those are loaded.
func (m *Machine) Serial(backend string) string {
	if m.Arch != "aarch64" {
		m.args = append(m.args, "-serial", backend)
		m.serials++
		return "ttyS" + strconv.Itoa(m.serials-1)
	}
	kind, target, _ := strings.Cut(backend, ":")
	id := target
	switch kind {
	case "chardev":
	case "pipe", "file":
		id = m.ID("hvc")
		m.Args("-chardev", kind+",id="+id+",path="+Escape(target))
	default:
		m.Fail(fmt.Errorf("serial port %s: an aarch64 guest's ports are virtio consoles, which take a pipe, a file or a chardev", backend))
		return ""
	}
	if m.consoles == 0 {
		m.Args("-device", "virtio-serial-pci,id=hvcbus")
	}
	m.Args("-device", "virtconsole,bus=hvcbus.0,chardev="+id)
	m.consoles++
	return "hvc" + strconv.Itoa(m.consoles-1)
}

// VirtioConsoleModules are the modules an aarch64 guest's ports beyond
// its console need (Machine.Serial), in load order.
var VirtioConsoleModules = []string{"virtio_pci", "virtio_console"}

// ID returns an id unique on this command line, kind followed by a number
// (disk0, disk1), for -drive, -netdev and -chardev.
func (m *Machine) ID(kind string) string {
	if m.ids == nil {
		m.ids = map[string]int{}
	}
	n := m.ids[kind]
	m.ids[kind] = n + 1
	return kind + strconv.Itoa(n)
}

// Fail records that a device cannot be added as asked; Config.Args
// returns the first such error.
func (m *Machine) Fail(err error) {
	if m.err == nil {
		m.err = err
	}
}

// Escape quotes a value for QEMU's option syntax (key=value,key=value):
// a comma is doubled. A value that must not be read as anything but a
// plain file name is checked by the device that takes it.
func Escape(v string) string { return strings.ReplaceAll(v, ",", ",,") }

// Disk is a disk image attached to the guest.
type Disk struct {
	Path      string
	Interface string // virtio (default), nvme or ide
	ReadOnly  bool   // the guest sees a read-only disk
	// Snapshot drops the guest's writes when QEMU exits, leaving the
	// file as it was.
	Snapshot bool
	// Backing lets a qcow2 image open the backing file and the external
	// data file it names. Those are host files, opened with the user's
	// rights: an image from someone else can name any of them (a secret
	// for the guest to read, a file for its writes to land in), so
	// without Backing such an image is refused.
	Backing bool
}

// ParseDisk reads FILE or FILE:ro, as --disk takes it.
func ParseDisk(s string) Disk {
	if p, ok := strings.CutSuffix(s, ":ro"); ok {
		return Disk{Path: p, ReadOnly: true}
	}
	return Disk{Path: s}
}

// Add implements Device. The image's format is read from the file, not
// its name, and the file is named to QEMU as a plain file
// (file.driver=file): a name is never read as a protocol ("nbd:...",
// "json:{...}") or as more options.
func (d Disk) Add(m *Machine) {
	if d.Path == "" {
		m.Fail(errors.New("a disk with no file"))
		return
	}
	info, err := InspectImage(d.Path)
	if err != nil {
		m.Fail(fmt.Errorf("disk %s: %w", d.Path, err))
		return
	}
	if !d.Backing && (info.Backing != "" || info.DataFile != "") {
		what, file := "backing file", info.Backing
		if file == "" {
			what, file = "external data file", info.DataFile
		}
		m.Fail(fmt.Errorf("disk %s is a qcow2 image that names the host file %q as its %s: refused, since an image from elsewhere can name any file (--disk-backing opens it)", d.Path, file, what))
		return
	}
	id := m.ID("disk")
	drive := "if=none,id=" + id + ",format=" + info.Format + ",file.driver=file,file.filename=" + Escape(d.Path)
	switch {
	case d.ReadOnly:
		drive += ",readonly=on"
	case d.Snapshot:
		drive += ",snapshot=on"
	}
	var dev string
	switch d.Interface {
	case "nvme":
		dev = "nvme,drive=" + id + ",serial=" + id
		if !slices.Contains(m.kargs, nvmeTimeout) {
			m.KernelArgs(nvmeTimeout)
		}
	case "ide":
		dev = "ide-hd,drive=" + id
	case "virtio", "":
		dev = "virtio-blk-pci,drive=" + id
	default:
		m.Fail(fmt.Errorf("disk %s: interface %q: want virtio, nvme or ide", d.Path, d.Interface))
		return
	}
	m.Args("-drive", drive, "-device", dev)
}

// nvmeTimeout gives an emulated NVMe disk's commands 10 minutes, not
// the driver's 30 s (drivers/nvme/host/core.c, io_timeout): QEMU never
// loses one, and under TCG on a busy host a read can wait for the host's
// disk that long; the driver then aborts and resets the controller, and
// the boot stalls for minutes. A later --append nvme_core.io_timeout=
// wins, for a test of the driver's own timeout handling.
const nvmeTimeout = "nvme_core.io_timeout=600"

// Forward is a TCP port forwarded from the host's loopback to the guest.
type Forward struct {
	Host, Guest int
}

// UserNet is a network card on QEMU's user networking (NAT, no root
// needed), the guest at 10.0.2.15, with ports forwarded from 127.0.0.1:
// QEMU's default for hostfwd is every interface.
type UserNet struct {
	Forwards []Forward
}

// Add implements Device.
func (n UserNet) Add(m *Machine) {
	id := m.ID("net")
	netdev := "user,id=" + id
	for _, f := range n.Forwards {
		netdev += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", f.Host, f.Guest)
	}
	m.Args("-netdev", netdev, "-device", "virtio-net-pci,netdev="+id)
}

// Network returns the device for a network mode ("user", or "" for
// none) with the guest's SSH port forwarded from 127.0.0.1:sshPort when it
// is not 0 (which implies user networking, as rq's -p does). A nil device
// is no network.
func Network(mode string, sshPort int) (Device, error) {
	if sshPort != 0 {
		if err := CheckPort("--ssh-port", sshPort); err != nil {
			return nil, err
		}
	}
	if sshPort > 0 && mode == "" {
		mode = "user"
	}
	switch {
	case mode == "user" && sshPort > 0:
		return UserNet{Forwards: []Forward{{Host: sshPort, Guest: 22}}}, nil
	case mode == "user":
		return UserNet{}, nil
	case mode == "":
		return nil, nil
	case sshPort > 0:
		return nil, fmt.Errorf("--ssh-port forwards through --net user, not --net %s", mode)
	}
	return nil, fmt.Errorf("--net %s: want user", mode)
}

// CheckPort refuses a TCP port that is none: QEMU would fail on it
// after everything else was made.
func CheckPort(what string, port int) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("%s %d: want a TCP port, 1-65535", what, port)
	}
	return nil
}

// GDBStub is QEMU's gdb stub on 127.0.0.1:Port. The kernel boots without
// KASLR, so that the vmlinux's addresses are the running kernel's.
type GDBStub struct {
	Port int
	Wait bool // start halted until gdb continues (-S)
}

// Add implements Device.
func (g GDBStub) Add(m *Machine) {
	m.KernelArgs("nokaslr")
	m.Args("-gdb", "tcp:127.0.0.1:"+strconv.Itoa(g.Port))
	if g.Wait {
		m.Args("-S")
	}
}

// CrashKernel reserves memory for a crash kernel (crashkernel=SIZE).
type CrashKernel struct {
	Size string // 256M
}

// Add implements Device.
func (c CrashKernel) Add(m *Machine) { m.KernelArgs("crashkernel=" + c.Size) }

// VMCoreInfo is the device the guest's kernel hands its VMCOREINFO to
// (through its qemu_fw_cfg driver), for QEMU to put into the dumps it
// writes (DumpMemory).
type VMCoreInfo struct{}

// Add implements Device.
func (VMCoreInfo) Add(m *Machine) { m.Args("-device", "vmcoreinfo") }

// PortToFile is a virtio-serial port named Name in the guest
// (/dev/virtio-ports/NAME) whose output QEMU writes to the host file Path,
// up to Max bytes (see Machine.LimitFile).
type PortToFile struct {
	Name, Path string
	Max        int64
}

// Add implements Device.
func (p PortToFile) Add(m *Machine) {
	if p.Max <= 0 {
		m.Fail(fmt.Errorf("virtio-serial port %s: no bound on what the guest writes to %s", p.Name, p.Path))
		return
	}
	m.LimitFile(p.Path, "virtio-serial port "+p.Name, p.Max)
	bus, dev := m.ID("virtio-serial"), m.ID("port")
	m.Args("-device", "virtio-serial-pci,id="+bus,
		"-chardev", "file,id="+dev+",path="+Escape(p.Path),
		"-device", "virtserialport,bus="+bus+".0,chardev="+dev+",name="+Escape(p.Name))
}

// SerialSocket adds a serial port whose host side is a unix socket QEMU
// listens on at path (without waiting for a client: a guest that waits
// for one never boots), and returns the guest's name of the port.
func (m *Machine) SerialSocket(path string) string {
	// Not "serialN": QEMU names the chardev of each -serial that way.
	id := m.ID("sock")
	m.Args("-chardev", "socket,id="+id+",path="+Escape(path)+",server=on,wait=off")
	return m.Serial("chardev:" + id)
}

// Cmdline is a device of kernel command-line arguments alone.
type Cmdline []string

// Add implements Device.
func (c Cmdline) Add(m *Machine) { m.KernelArgs(c...) }
