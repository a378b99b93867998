package kconfig

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/initkit/initkit/compress"
)

// Need is one option a purpose needs.
type Need struct {
	Name  string // without CONFIG_
	Value string // "y", or alternatives: "y|m"
	// Why says what goes wrong without it.
	Why  string
	Arch string // "x86_64" or "arm64" when only that architecture needs it
	// Set marks an option Apply sets but Missing does not ask for: one
	// way among others to meet a need (a choice's member, or the
	// sibling it must turn off), which another config meets its own way.
	Set bool
	// Exact marks a value taken as it is, with no alternatives: an
	// option a user sets (Setting, Fragment).
	Exact bool
}

// Purposes are what initkit does with a kernel, each with what it needs.
// boot is what any QEMU boot with an initkit initramfs needs; the others
// add to it.
var Purposes = map[string][]Need{
	"boot": {
		{Name: "64BIT", Value: "y", Arch: "x86_64", Why: "a 32-bit kernel runs no x86_64 program: the init fails with 'Exec format error'"},
		{Name: "PRINTK", Value: "y", Why: "the kernel prints nothing at all: no boot messages, no panic"},
		{Name: "TTY", Value: "y", Why: "there is no console: the kernel cannot open /dev/console for the init"},
		{Name: "SERIAL_8250", Value: "y", Arch: "x86_64", Why: "no driver for QEMU's serial port: nothing on the console"},
		{Name: "SERIAL_8250_CONSOLE", Value: "y", Arch: "x86_64", Why: "console=ttyS0 names no console: nothing on the console"},
		{Name: "SERIAL_AMBA_PL011", Value: "y", Arch: "arm64", Why: "no driver for the virt machine's PL011 UART: nothing on the console"},
		{Name: "SERIAL_AMBA_PL011_CONSOLE", Value: "y", Arch: "arm64", Why: "console=ttyAMA0 names no console: nothing on the console"},
		{Name: "BLK_DEV_INITRD", Value: "y", Why: "the initramfs is ignored: 'VFS: Unable to mount root fs' and a panic"},
		{Name: "RD_GZIP", Value: "y", Why: "a gzip initramfs is junk to the kernel: 'Initramfs unpacking failed: junk in compressed archive', then the panic"},
		{Name: "RD_ZSTD", Value: "y", Why: "a zstd initramfs (initkit build's default) is junk to the kernel: 'Initramfs unpacking failed: junk in compressed archive', then the panic"},
		{Name: "DEVTMPFS", Value: "y", Why: "the init cannot mount /dev: no /dev/console, no disks"},
		{Name: "PROC_FS", Value: "y", Why: "no /proc: the init cannot read the kernel command line"},
		{Name: "SYSFS", Value: "y", Why: "no /sys: the init cannot find block devices or modules' devices"},
		{Name: "SHMEM", Value: "y", Why: "tmpfs cannot be enabled (it depends on shmem)"},
		{Name: "TMPFS", Value: "y", Why: "no tmpfs for /run and /dev when devtmpfs fails"},
		{Name: "BINFMT_ELF", Value: "y", Why: "the kernel cannot run the init: 'No working init found'"},
		{Name: "BINFMT_SCRIPT", Value: "y", Why: "a #! script (the shell init, /init of most images) cannot run: 'Exec format error'"},
		{Name: "MULTIUSER", Value: "y", Why: "no setuid or setgid: busybox and most programs fail early"},
		{Name: "FUTEX", Value: "y", Why: "no futexes: Go programs (the initkit init) and threaded C programs hang or abort"},
		{Name: "EPOLL", Value: "y", Why: "no epoll: the Go runtime cannot wait on files and aborts"},
		{Name: "EVENTFD", Value: "y", Why: "no eventfd: the Go runtime of the initkit init dies ('fatal error: runtime: eventfd failed') the first time it waits on a file"},
		{Name: "BLOCK", Value: "y", Why: "no block layer: no disk of any kind"},
		{Name: "PCI", Value: "y", Why: "no PCI: QEMU's virtio and NVMe devices are not seen"},
		{Name: "PCI_HOST_GENERIC", Value: "y", Arch: "arm64", Why: "the virt machine's PCI host bridge is not driven: no virtio or NVMe device"},
		{Name: "VIRTIO_MENU", Value: "y", Why: "the virtio drivers cannot be enabled (virtio-pci depends on it)"},
		{Name: "VIRTIO_PCI", Value: "y|m", Why: "QEMU's virtio devices (virtio-blk, virtio-net) are not seen"},
		{Name: "VIRTIO_BLK", Value: "y|m", Why: "a --disk on virtio is not seen: 'Waiting for root device /dev/vda'"},
		{Name: "BLK_DEV_NVME", Value: "y|m", Why: "a --disk-if nvme disk is not seen: 'Waiting for root device /dev/nvme0n1'"},
		{Name: "EXT4_FS", Value: "y|m", Why: "an ext4 root cannot be mounted: 'unknown filesystem type ext4'"},
		{Name: "ACPI", Value: "y", Arch: "x86_64", Why: "poweroff halts instead of powering off ('reboot: System halted'): QEMU never exits"},
		{Name: "MAGIC_SYSRQ", Value: "y", Why: "echo c > /proc/sysrq-trigger does nothing: no way to crash on purpose"},
		{Name: "MODULES", Value: "y", Why: "no module can be loaded: every driver must be built in"},
	},
	"debug": append(dwarf,
		Need{Name: "GDB_SCRIPTS", Value: "y", Why: "no vmlinux-gdb.py: gdb lacks lx-dmesg, lx-ps and the other lx- commands"},
		Need{Name: "IKCONFIG", Value: "y", Why: "the image carries no copy of its config: a bare image cannot be checked, and lx-configdump has nothing to show"},
		Need{Name: "KALLSYMS", Value: "y", Why: "an oops shows bare addresses (RIP: 0010:0xffffffff811f7c95) instead of function names"},
		// Frame pointers: gdb's backtraces need no unwind tables (ORC, a
		// distribution's choice, serves the kernel's own traces as well).
		Need{Name: "UNWINDER_ORC", Value: "n", Arch: "x86_64", Set: true, Why: "the unwinder is ORC, which gdb cannot use: turned off for the frame pointers"},
		Need{Name: "UNWINDER_FRAME_POINTER", Value: "y", Arch: "x86_64", Set: true, Why: "gdb's backtraces through the kernel stop at the first frame"},
		Need{Name: "UNWINDER_GUESS", Value: "n", Arch: "x86_64", Why: "stack traces are guessed from the stack: '?' frames and missing callers"},
	),
	// dwarf is debug without the symbol table in the kernel: an oops
	// shows bare addresses, as tinyconfig's kernels print them, and
	// initkit decode still finds their lines in the vmlinux.
	"dwarf": dwarf,
	"exec": {
		{Name: "SERIAL_8250_NR_UARTS", Value: ">=4", Arch: "x86_64", Why: "initkit exec's stdout, stderr and status ports (ttyS1-3) do not exist: exec hangs with no status"},
		{Name: "SERIAL_8250_RUNTIME_UARTS", Value: ">=4", Arch: "x86_64", Why: "initkit exec's stdout, stderr and status ports (ttyS1-3) are not registered"},
		{Name: "NET", Value: "y", Why: "no loopback: tests that listen on 127.0.0.1 fail ('network is unreachable')"},
		{Name: "INET", Value: "y", Why: "no IPv4: tests that listen on 127.0.0.1 fail"},
		{Name: "UNIX", Value: "y", Why: "no unix sockets: many programs under test fail"},
	},
	"kdump": {
		// KEXEC_FILE depends on these (arch/x86/Kconfig): kexec_file_load
		// checks the image's digest.
		{Name: "CRYPTO", Value: "y", Why: "KEXEC_FILE cannot be enabled (it depends on CRYPTO=y)"},
		{Name: "CRYPTO_SHA256", Value: "y", Why: "KEXEC_FILE cannot be enabled (it depends on CRYPTO_SHA256=y)"},
		{Name: "KEXEC_FILE", Value: "y", Why: "the crash kernel cannot be loaded (kexec_file_load): no dump on a panic"},
		{Name: "CRASH_DUMP", Value: "y", Why: "the kernel cannot be the capture kernel: no /proc/vmcore"},
		{Name: "PROC_VMCORE", Value: "y", Why: "the capture kernel has no /proc/vmcore to save"},
		{Name: "RELOCATABLE", Value: "y", Why: "the same kernel cannot run as the capture kernel at the reserved address"},
		{Name: "PROC_KCORE", Value: "y", Why: "the vmcore lacks what makedumpfile filters by"},
		{Name: "VIRTIO_CONSOLE", Value: "y|m", Why: "the capture kernel has no virtio-serial port: initkit boot --kdump's dump cannot reach the host"},
		{Name: "FW_CFG_SYSFS", Value: "y|m", Why: "QEMU's dumps (--dump-on-timeout, --dump-on-crash) carry no VMCOREINFO note: crash cannot read them (initkit vmcore finds it in memory)"},
	},
	"luks": {
		{Name: "NET", Value: "y", Why: "the kernel's crypto API for programs (AF_ALG sockets, which cryptsetup uses) cannot be enabled"},
		{Name: "FILE_LOCKING", Value: "y", Why: "cryptsetup cannot lock the device: 'Failed to acquire read lock on device' and 'not a valid LUKS device'"},
		{Name: "MD", Value: "y", Why: "the device-mapper cannot be enabled"},
		{Name: "BLK_DEV_DM", Value: "y|m", Why: "cryptsetup open fails: 'Cannot initialize device-mapper'"},
		{Name: "DM_CRYPT", Value: "y|m", Why: "cryptsetup open fails: no crypt target"},
		{Name: "CRYPTO_XTS", Value: "y|m", Why: "the LUKS2 default cipher aes-xts-plain64 cannot be set up: 'Error allocating crypto tfm'"},
		{Name: "CRYPTO_AES", Value: "y|m", Why: "no AES: the LUKS2 default cipher cannot be set up"},
		{Name: "CRYPTO_USER_API_SKCIPHER", Value: "y|m", Why: "cryptsetup cannot use the kernel's ciphers for the keyslots"},
		{Name: "CRYPTO_USER_API_HASH", Value: "y|m", Why: "cryptsetup cannot use the kernel's hashes"},
	},
	"lvm": {
		{Name: "MD", Value: "y", Why: "the device-mapper cannot be enabled"},
		{Name: "BLK_DEV_DM", Value: "y|m", Why: "vgchange -ay fails: no device-mapper"},
		{Name: "FILE_LOCKING", Value: "y", Why: "every lvm command fails: '/run/lock/lvm/P_global:aux: flock failed: Function not implemented'"},
		{Name: "DM_SNAPSHOT", Value: "y|m", Why: "LVM snapshots cannot be activated"},
		{Name: "DM_THIN_PROVISIONING", Value: "y|m", Why: "thin volumes cannot be activated"},
	},
	"raid": {
		{Name: "MD", Value: "y", Why: "software RAID cannot be enabled"},
		{Name: "BLK_DEV_MD", Value: "y|m", Why: "mdadm --assemble fails: no md driver"},
		{Name: "FILE_LOCKING", Value: "y", Why: "mdadm cannot take the lock of its map file (flock of /run/mdadm/map.lock fails)"},
		{Name: "MD_RAID0", Value: "y|m", Why: "a RAID0 array cannot be started"},
		{Name: "MD_RAID1", Value: "y|m", Why: "a RAID1 array cannot be started"},
		{Name: "MD_RAID456", Value: "y|m", Why: "a RAID5 array cannot be started"},
	},
	"net": {
		{Name: "NET", Value: "y", Why: "no networking at all"},
		{Name: "INET", Value: "y", Why: "no IPv4: ip= and DHCP do nothing"},
		{Name: "PACKET", Value: "y|m", Why: "DHCP clients cannot send before the interface has an address"},
		{Name: "UNIX", Value: "y", Why: "no unix sockets: sshd and most daemons fail"},
		{Name: "NETDEVICES", Value: "y", Why: "no network devices can be enabled"},
		{Name: "NET_CORE", Value: "y", Why: "virtio-net cannot be enabled"},
		{Name: "VIRTIO_NET", Value: "y|m", Why: "--net user has no interface in the guest: no eth0"},
	},
	"kasan": {
		{Name: "DEBUG_KERNEL", Value: "y", Why: "KASAN cannot be chosen"},
		// KASAN depends on SLUB or SLAB (lib/Kconfig.kasan); tinyconfig
		// chooses SLOB.
		{Name: "SLOB", Value: "n", Set: true, Why: "the allocator is SLOB, which KASAN cannot watch: turned off for SLUB"},
		{Name: "SLUB", Value: "y", Set: true, Why: "KASAN cannot be enabled: it watches the SLUB or SLAB allocator"},
		{Name: "KASAN", Value: "y", Why: "out-of-bounds and use-after-free accesses go unreported"},
		{Name: "KASAN_GENERIC", Value: "y", Why: "no KASAN mode is chosen"},
		{Name: "STACKTRACE", Value: "y", Why: "KASAN reports have no allocation and free stacks"},
	},
}

// dwarf is what a vmlinux with source lines needs.
var dwarf = []Need{
	{Name: "DEBUG_KERNEL", Value: "y", Why: "the debugging options below cannot be chosen"},
	{Name: "DEBUG_INFO_NONE", Value: "n", Set: true, Why: "the choice of debug information stays on none: no DWARF"},
	{Name: "DEBUG_INFO_DWARF5", Value: "y", Set: true, Why: "no DWARF version is chosen: no DWARF"},
	{Name: "DEBUG_INFO", Value: "y", Why: "vmlinux has no DWARF: gdb and initkit decode show no file:line"},
	{Name: "BUG", Value: "y", Why: "BUG() and WARN() report nothing"},
	{Name: "DEBUG_BUGVERBOSE", Value: "y", Why: "a panic prints no call trace, and a BUG() no file:line"},
}

// compressionNeeds are the RD_ options for the initramfs compressions.
var compressionNeeds = map[compress.Format]Need{
	compress.Gzip:  {Name: "RD_GZIP", Value: "y"},
	compress.Zstd:  {Name: "RD_ZSTD", Value: "y"},
	compress.XZ:    {Name: "RD_XZ", Value: "y"},
	compress.LZ4:   {Name: "RD_LZ4", Value: "y"},
	compress.Bzip2: {Name: "RD_BZIP2", Value: "y"},
	compress.LZMA:  {Name: "RD_LZMA", Value: "y"},
}

// ForCompression returns what a kernel needs to unpack an initramfs
// compressed with f (nothing for a stored one).
func ForCompression(f compress.Format) (Need, bool) {
	n, ok := compressionNeeds[f]
	if ok {
		n.Why = fmt.Sprintf("the %s initramfs is junk to the kernel: 'Initramfs unpacking failed: junk in compressed archive', then 'VFS: Unable to mount root fs' and a panic", f)
	}
	return n, ok
}

// Names returns the purposes' names, sorted.
func Names() []string {
	var out []string
	for n := range Purposes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Needs returns what the purposes need on arch (boot's needs always
// come first), once each, in the order they are listed.
func Needs(purposes []string, arch string) ([]Purposed, error) {
	if err := CheckArch(arch); err != nil {
		return nil, err
	}
	if !slices.Contains(purposes, "boot") {
		purposes = append([]string{"boot"}, purposes...)
	}
	seen := map[string]bool{}
	var out []Purposed
	for _, p := range purposes {
		needs, ok := Purposes[p]
		if !ok {
			return nil, fmt.Errorf("no purpose %q (known: %s)", p, strings.Join(Names(), ", "))
		}
		for _, n := range needs {
			if (n.Arch != "" && n.Arch != arch) || seen[n.Name+n.Value] {
				continue
			}
			seen[n.Name+n.Value] = true
			out = append(out, Purposed{Need: n, Purpose: p})
		}
	}
	return out, nil
}

// CheckArch refuses an architecture initkit does not configure, boot or
// check kernels for: Kbuild's names, x86_64 and arm64.
func CheckArch(arch string) error {
	if arch != "x86_64" && arch != "arm64" {
		return fmt.Errorf("architecture %q: want x86_64 or arm64", arch)
	}
	return nil
}

// Purposed is a need and the purpose that needs it.
type Purposed struct {
	Need
	Purpose string
}

// Missing returns the needs c does not meet.
func (c Config) Missing(needs []Purposed) []Purposed {
	var out []Purposed
	for _, n := range needs {
		if !n.Set && !c.Has(n.Need) {
			out = append(out, n)
		}
	}
	return out
}

// Apply sets every need in c (an Exact one's value as it is, else the
// first of its alternatives) and returns those it changed.
func (c Config) Apply(needs []Purposed) []Purposed {
	var changed []Purposed
	for _, n := range needs {
		if c.Has(n.Need) {
			continue
		}
		v, _, _ := strings.Cut(n.Value, "|")
		c[n.Name] = strings.TrimPrefix(v, ">=")
		if n.Exact {
			c[n.Name] = n.Value
		}
		changed = append(changed, n)
	}
	return changed
}

// Report writes what is missing, one option a line with the purpose that
// needs it and what goes wrong without it.
func Report(w io.Writer, missing []Purposed) {
	for _, m := range missing {
		fmt.Fprintf(w, "CONFIG_%s=%s missing (%s): %s\n", m.Name, m.Value, m.Purpose, m.Why)
	}
}
