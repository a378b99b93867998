// Package vmexec runs one command inside a freshly booted VM and reports it
// like a local command: its stdout and stderr stream to the caller and its
// exit status comes back, 128+N for a death by signal N.
//
// The guest has four serial ports (package guest names them): the kernel
// console, the command's stdout, its stderr, and the exit status. Each is
// a FIFO on the host, so output streams as it is written and the status
// never depends on scraping the console.
package vmexec

import (
	"cmp"
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/initkit/initkit/boot"
	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/guest"
	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/initramfs"
	"github.com/initkit/initkit/internal/atomicfile"
	"github.com/initkit/initkit/internal/hosttool"
	"github.com/initkit/initkit/internal/machine"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/probe"
	"github.com/initkit/initkit/qemu"
)

// Options describe one run.
type Options struct {
	// Boot is the guest: the kernel, the initramfs the command's
	// segment is appended to (Initrd), the disks (attached as virtio
	// disks, /dev/vda on, in order, written back unless ReadOnly; the
	// command starts once all of them are there), memory, CPUs, the
	// accelerator, more command line (Append, after exec's own), the
	// timeout, the console (discarded when nil) and its log (nowhere
	// when ""). Run sets the rest.
	Boot    boot.Options
	Busybox string   // a static busybox for the command's use, optional
	Applets []string // busybox's links (default: all of its applets)
	// InitBinary is initkit-init, which runs the command (default: where
	// initkit build finds it).
	InitBinary string
	Add        []string // more host files, "SRC[:DST]", with their closures, or directories, whole
	// Dir is the host directory the command runs in, copied into the
	// guest at the same path with everything below it (go test runs a
	// test binary in its package's directory, whose testdata the tests
	// open); "" runs it in /.
	Dir string
	// DirLimit bounds the bytes of Dir's files (default DefaultDirLimit).
	DirLimit int64
	// Modules are more modules to load, with their dependencies, from
	// the kernel's modules, before the command starts (md and dm for
	// disk create's volumes).
	Modules []string
	// Env are variables, NAME=VALUE (guest.CheckEnv), the command gets
	// besides PATH, HOME=/tmp and PWD, which they may replace (Environ
	// reads them as docker's -e does).
	Env []string
	// Outputs are what the command writes that comes back to the host
	// once it has exited (GoTestOutputs: go test -cover's counters, the
	// profiles): a directory's regular files, or a file, at the same
	// path on both sides. A directory is there, empty, when the command
	// starts, and so is a file's directory. What the guest sends back is
	// bounded (MaxReturned, MaxReturnedFiles) and lands nowhere else.
	Outputs []guest.Output
	// User is who the command runs as (LookupUser; nil: root). Its
	// working directory and the outputs' directories become its own.
	User *guest.User
	// Net gives the guest QEMU's user-mode network (qemu.UserNet), eth0
	// up at NetIP before the command starts: the host's 127.0.0.1 is
	// 10.0.2.2 there, and names resolve through the host. It needs
	// busybox (ifconfig, route).
	Net bool
	// Stdin is what the command reads on its standard input, whole
	// (nil: /dev/null). It travels in the image: a serial line has no
	// end of file. ReadStdin bounds it.
	Stdin    []byte
	Compress string // compression of the command's segment (default none)
	Stdout   io.Writer
	Stderr   io.Writer
}

// InDisk makes the command run in the root of disk image path: the disk
// attached first, as a snapshot (the run's writes vanish with it), and
// root (a partition's PARTLABEL or number, or a root= value; "": the
// first Linux root filesystem, boot.LinuxRoot) mounted read-write, the
// command chrooted into it with /dev, /proc and /sys (guest.ExecImage).
func (o *Options) InDisk(path, root string) error {
	if root == "" {
		var err error
		if root, err = boot.LinuxRoot(path); err != nil {
			return err
		}
	}
	o.Boot.Disks = append([]qemu.Disk{{Path: path, Snapshot: true}}, o.Boot.Disks...)
	o.Boot.Root = root
	return nil
}

// Result is how a run ended.
type Result struct {
	Status int // the command's exit status, 128+N for signal N; -1 when none came
	boot.Result
}

// ExitNoStatus is initkit exec's exit code for a guest that powered off
// without reporting the command's status: initkit's own error's code.
const ExitNoStatus = 2

// HasStatus says whether the run ended with the command's status: it
// reported one, and the kernel did not crash after it.
func (r Result) HasStatus() bool { return r.Status >= 0 && r.Kind != qemu.Crashed }

// ExitCode is initkit exec's exit code, wherever the command ran: the
// command's status; else the run's (boot.ExitCrash, ExitTimeout,
// ExitQEMU), or ExitNoStatus when the guest simply powered off.
func (r Result) ExitCode() int {
	switch {
	case r.HasStatus():
		return r.Status
	case r.Result.ExitCode() != boot.ExitOK:
		return r.Result.ExitCode()
	}
	return ExitNoStatus
}

// SetWorkdir sets Dir and DirLimit as initkit exec's --workdir-limit
// says: the working directory, up to size (as image.ParseSize reads it),
// or with "0" no directory at all.
func (o *Options) SetWorkdir(size string) error {
	n, err := image.ParseSize(size)
	if err != nil {
		return fmt.Errorf("--workdir-limit: %w", err)
	}
	o.Dir, o.DirLimit = "", n
	if n > 0 {
		o.Dir = "."
	}
	return nil
}

// Environ reads variables as initkit exec's --env takes them: NAME=VALUE,
// or NAME alone for the value lookup gives it (os.LookupEnv: the host's),
// left out when it has none, as docker run -e does. Each must pass
// guest.CheckEnv.
func Environ(specs []string, lookup func(string) (string, bool)) ([]string, error) {
	var env []string
	for _, s := range specs {
		if !strings.Contains(s, "=") {
			v, ok := lookup(s)
			if !ok {
				if err := guest.CheckEnv(s + "="); err != nil {
					return nil, fmt.Errorf("--env %s: %w", s, err)
				}
				continue
			}
			s += "=" + v
		}
		if err := guest.CheckEnv(s); err != nil {
			return nil, fmt.Errorf("--env %s: %w", s, err)
		}
		env = append(env, s)
	}
	return env, nil
}

// DefaultDirLimit is Options.DirLimit's default: a package's testdata,
// not a whole source tree.
const DefaultDirLimit = 64 << 20

// Cmdline is what exec adds to the kernel command line, before
// Options.Append (where a later value wins: cryptomgr.notests=0 or
// init_on_alloc=1 undoes one). quiet and loglevel=1 keep the console
// (discarded) from costing serial output. Under TCG, measured
// (docs/benchmarks.md): cryptomgr.notests skips the self-tests the kernel
// runs on every crypto algorithm it registers, 0.3-0.4 s of a 2 s boot;
// init_on_alloc=0 stops zeroing every page as it is allocated, which
// halves the unpacking of exec's image (about 55 ms to 30 ms). Both check
// or harden the kernel, not the command being run.
const Cmdline = "quiet loglevel=1 cryptomgr.notests init_on_alloc=0"

// DiskModules are the modules exec loads for its disks. A name the
// kernel has built in is skipped.
var DiskModules = []string{"virtio_pci", "virtio_blk"}

// NetIP is the ip= of an exec run with Net (the kernel's syntax,
// Documentation/admin-guide/nfs/nfsroot.rst): QEMU's user network gives
// the guest 10.0.2.15, its gateway (the host) 10.0.2.2 and its DNS
// server 10.0.2.3, set as they are without a DHCP exchange.
const NetIP = "10.0.2.15::10.0.2.2:255.255.255.0::eth0:off:10.0.2.3"

// NetModules are the modules the guest's network card needs.
var NetModules = []string{"virtio_pci", "virtio_net"}

// Hosts is the guest's /etc/hosts: the loopback names, as Debian's
// netbase has them.
const Hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"

// ErrNoStatus means the guest stopped without reporting the command's
// status: it crashed, the timeout ended it, or QEMU failed (the Outcome
// says which, and Result.ExitCode gives its exit code).
var ErrNoStatus = errors.New("the guest stopped without reporting an exit status")

// Run runs argv[0] (a host program: a path, or a bare name found in PATH,
// then in /usr/sbin and /sbin, as root's shell would) with argv[1:] in a VM and returns its exit
// status. The image lives in a temporary directory removed on return.
// When the guest stopped without a status the error is ErrNoStatus, and
// the Outcome says why (a crash, decoded when the kernel's vmlinux is
// found; the timeout).
func Run(ctx context.Context, argv []string, o Options) (Result, error) {
	res := Result{Status: -1}
	for _, kv := range o.Env {
		if err := guest.CheckEnv(kv); err != nil {
			return res, fmt.Errorf("variable %q: %w", kv, err)
		}
	}
	for _, out := range o.Outputs {
		if !filepath.IsAbs(out.Path) {
			return res, fmt.Errorf("output %s: not an absolute path", out.Path)
		}
		if o.Boot.Root != "" {
			return res, fmt.Errorf("output %s: files come back from exec's own root, not from a disk's (--root)", out.Path)
		}
	}
	arch, err := programArch(argv[0])
	if err != nil {
		return res, err
	}
	if arch != "" {
		// A program for another machine (GOARCH=arm64 go test -exec):
		// a guest of that machine, its kernel the fetched one unless
		// named, and a busybox it can run.
		if o.Boot.Arch != "" && o.Boot.Arch != arch {
			return res, fmt.Errorf("%s is a program for %s, not %s", argv[0], arch, o.Boot.Arch)
		}
		o.Boot.Arch = arch
		if o.Busybox != "" {
			s := initramfs.Spec{Busybox: o.Busybox, Arch: arch}
			if err := boot.GuestBusybox(ctx, &s); err != nil {
				return res, err
			}
			o.Busybox = s.Busybox
		}
	}
	if o.Net && o.Busybox == "" {
		return res, errors.New("the network needs busybox in the guest (its ifconfig and route)")
	}
	dir, err := atomicfile.TempDir("exec")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	token, err := newToken()
	if err != nil {
		return res, err
	}
	p, err := openPorts(dir, o.Stdout, o.Stderr, newStatusPort(token, o.Outputs))
	if err != nil {
		return res, err
	}
	defer p.close()
	b := o.Boot
	b.Dir, b.LogPath = dir, cmp.Or(b.LogPath, "-")
	b.Wrap = func(r *boot.Run, base string) (string, error) {
		if host := kernel.HostArch(); arch == "" && r.Arch() != host {
			return "", fmt.Errorf("exec runs host programs, built for %s, and the kernel %s is for %s", host, r.Kernel.Image, r.Arch())
		}
		out := filepath.Join(dir, "initrd.img")
		return out, buildImage(out, base, argv, token, o, r.Kernel.ModulesDir, arch)
	}
	if b.Root != "" {
		// The command's root is written to, as a booted system's is.
		b.Append = strings.TrimSpace(b.Append + " rw")
	}
	cmdline := qemu.Cmdline(strings.Fields(Cmdline))
	if n := len(o.Boot.Disks); n > 0 {
		cmdline = append(cmdline, guest.KeyDisks+"="+strconv.Itoa(n))
	}
	b.Devices = append([]qemu.Device{cmdline, p}, b.Devices...)
	if o.Net {
		b.Devices = append(b.Devices, qemu.UserNet{}, qemu.Cmdline{"ip=" + NetIP})
	}
	res.Result, err = boot.Boot(ctx, b)
	if err != nil {
		return res, err
	}
	text, err := p.wait()
	if code, ok := guest.ParseStatus(text, token); ok {
		res.Status = code
		return res, err
	}
	if err != nil {
		return res, errors.Join(ErrNoStatus, err)
	}
	return res, ErrNoStatus
}

// programArch is the machine of the program argv0 names, in QEMU's
// names, when it is not the host's: "" for the host's, and for a file
// that is no ELF program (a script: its interpreter is the host's). A
// program for another machine must be static: exec ships its closure
// from the host, whose libraries are the host's machine's.
func programArch(argv0 string) (string, error) {
	abs, err := hosttool.Program(argv0)
	if err != nil {
		return "", nil // buildImage says what is wrong with it
	}
	f, err := elf.Open(abs)
	if err != nil {
		return "", nil
	}
	defer f.Close()
	if f.Machine == machine.Host().ELF {
		return "", nil
	}
	m, ok := machine.ByELF(f.Machine)
	if !ok {
		return "", fmt.Errorf("%s is a program for %s: initkit boots x86_64 and aarch64 guests", argv0, f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", fmt.Errorf("%s is a dynamically linked %s program, and exec has no %s libraries to ship: build it static (Go: CGO_ENABLED=0)", argv0, m.Name, m.Name)
		}
	}
	return m.Name, nil
}

// ports are the command's serial ports: FIFOs on the host, read as QEMU
// writes them.
type ports struct {
	dir    string
	status *statusPort
	wg     sync.WaitGroup
	files  []*os.File // our ends: the readers, and a writer each
	holds  []*os.File // the writers, closed once QEMU is gone
}

var portNames = []string{"out", "err", "status"}

func openPorts(dir string, stdout, stderr io.Writer, status *statusPort) (*ports, error) {
	p := &ports{dir: dir, status: status}
	for i, name := range portNames {
		path := filepath.Join(dir, name)
		for _, suffix := range []string{".in", ".out"} {
			if err := unix.Mkfifo(path+suffix, 0o600); err != nil {
				p.close()
				return nil, err
			}
		}
		// Non-blocking, so that the open does not wait for QEMU; and a
		// write end of our own, so that no EOF comes before QEMU has
		// opened the FIFO. Once QEMU is gone, closing it gives the EOF
		// that ends the copy exactly when the pipe is empty.
		r, err := os.OpenFile(path+".out", os.O_RDONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			p.close()
			return nil, err
		}
		p.files = append(p.files, r)
		hold, err := os.OpenFile(path+".out", os.O_WRONLY, 0)
		if err != nil {
			p.close()
			return nil, err
		}
		p.files, p.holds = append(p.files, hold), append(p.holds, hold)
		w := []io.Writer{stdout, stderr, p.status}[i]
		if w == nil {
			w = io.Discard
		}
		p.wg.Add(1)
		go func() { defer p.wg.Done(); io.Copy(w, r) }()
	}
	return p, nil
}

// Add implements qemu.Device: three serial ports, and the command line
// that tells the init which is which.
func (p *ports) Add(m *qemu.Machine) {
	var ttys []string
	for _, name := range portNames {
		ttys = append(ttys, m.Serial("pipe:"+filepath.Join(p.dir, name)))
	}
	m.KernelArgs(guest.KeyExec + "=" + strings.Join(ttys, ","))
}

// wait returns the status port's text once QEMU is gone and every port
// is read to its end, and what went wrong with the files that came back.
func (p *ports) wait() (string, error) {
	for _, f := range p.holds {
		f.Close()
	}
	p.wg.Wait()
	err := p.status.finish()
	return p.status.text.String(), err
}

func (p *ports) close() {
	for _, f := range p.files {
		f.Close()
	}
}

// buildImage writes the image: the base if any, then a segment with the
// initkit init, the command and its closure, busybox when there is one,
// and the command line in guest.ExecFile, which makes the init run it.
func buildImage(out, base string, argv []string, token string, o Options, modulesDir, arch string) error {
	abs, err := hosttool.Program(argv[0])
	if err != nil {
		return err
	}
	switch st, err := os.Stat(abs); {
	case err != nil:
		return fmt.Errorf("%s: %w", argv[0], errors.Unwrap(err)) // not the spec's "files: stat ..."
	case st.IsDir():
		return fmt.Errorf("%s: a directory, not a program", argv[0])
	}
	initBin, err := initramfs.FindInitFor(o.InitBinary, arch)
	if err != nil {
		return fmt.Errorf("initkit exec runs the command with the initkit init, and %w", err)
	}
	spec := &initramfs.Spec{Output: out, Compress: o.compression(), Init: "initkit", InitBinary: initBin, Arch: arch,
		Busybox: o.Busybox, Applets: o.Applets, Dirs: []string{"/tmp 1777"}}
	spec.AddFiles(abs)
	// "localhost" resolves as on any host: a test listening on
	// localhost:0 asked a DNS server on ::1:53 without it.
	// An /etc/hosts of the user's (--add) wins.
	spec.Entries = append(spec.Entries, contractFile("/etc/hosts", 0o644, []byte(Hosts)))
	spec.Replace = append(spec.Replace, "/etc/hosts")
	if o.Net {
		// The init writes the DNS server it is given there.
		spec.Symlinks = append(spec.Symlinks, "/etc/resolv.conf -> /run/resolv.conf")
	}
	for _, out := range o.Outputs {
		// There for the command to write into: go test made them on
		// the host, and the command fails where they are not.
		if out.Dir {
			spec.Dirs = append(spec.Dirs, out.Path)
		} else if d := filepath.Dir(out.Path); d != "/" {
			spec.Dirs = append(spec.Dirs, d)
		}
	}
	switch {
	case len(o.Modules) > 0 && modulesDir == "":
		return fmt.Errorf("modules %v: the kernel has no modules directory (give --modules-dir)", o.Modules)
	case modulesDir != "":
		// The disks' drivers are skipped when the kernel has no modules:
		// they are built in, or the disks will not show.
		if mods := o.modules(); len(mods) > 0 {
			spec.Modules = initramfs.Modules{Dir: modulesDir, Names: mods}
		}
	}
	if err := o.addHostPaths(spec); err != nil {
		return err
	}
	// The image lives for one run in a directory removed afterwards: no
	// need to sync it to disk. What changes at each run goes last, in a
	// small segment of its own: the pieces before it, and the closure and
	// module resolutions, come from the cache at the next run.
	dir := image.File{Header: cpio.Header{Name: strings.TrimPrefix(path.Dir(guest.ExecFile), "/"), Mode: cpio.TypeDir | 0o755}}
	spec.Tail, spec.Scratch, spec.CacheScope = []image.File{dir,
		contractFile(guest.ExecFile, 0o644, guest.FormatExecFile(argv)),
		contractFile(guest.ExecPath, 0o644, []byte(abs)),
		contractFile(guest.ExecToken, 0o400, []byte(token))}, true, "exec"
	if len(o.Outputs) > 0 {
		spec.Tail = append(spec.Tail, contractFile(guest.ExecOutputs, 0o644, guest.FormatOutputs(o.Outputs)))
	}
	if len(o.Env) > 0 {
		spec.Tail = append(spec.Tail, contractFile(guest.ExecEnv, 0o644, guest.FormatExecFile(o.Env)))
	}
	if o.User != nil {
		spec.Tail = append(spec.Tail, contractFile(guest.ExecUser, 0o644, guest.FormatUser(*o.User)))
	}
	if o.Stdin != nil {
		spec.Tail = append(spec.Tail, contractFile(guest.ExecStdin, 0o400, o.Stdin))
	}
	_, err = spec.Build(base, 0)
	return err
}

// contractFile is the regular file name (a guest contract path) of the
// exec image, holding data.
func contractFile(name string, perm uint32, data []byte) image.File {
	return image.File{Header: cpio.Header{Name: strings.TrimPrefix(name, "/"), Mode: cpio.TypeReg | perm}, Data: data}
}

// addHostPaths adds the --add files and directories, relative to the
// host's working directory, and the command's directory.
func (o Options) addHostPaths(spec *initramfs.Spec) error {
	if err := spec.AddPaths(o.Add...); err != nil {
		return err
	}
	if o.Dir == "" {
		return nil
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	for _, d := range o.Boot.Disks {
		if p, err := filepath.Abs(d.Path); err == nil {
			spec.TreeSkip = append(spec.TreeSkip, p)
		}
	}
	if err := checkTree(dir, cmp.Or(o.DirLimit, DefaultDirLimit), MaxDirEntries, spec.TreeSkip); err != nil {
		return err
	}
	spec.Trees = append(spec.Trees, dir+":"+dir)
	spec.Dirs = append(spec.Dirs, dir) // there even when every file in it is skipped
	spec.Entries = append(spec.Entries, image.File{Header: cpio.Header{Name: guest.ExecDir, Mode: cpio.TypeReg | 0o644}, Data: []byte(dir)})
	return nil
}

// MaxDirEntries bounds the entries of the working directory exec copies:
// the guest unpacks them into a tmpfs whose inodes are bounded by its
// memory (some 130,000 for 1 GiB), and one that runs out stops the
// unpacking silently, the command then missing.
const MaxDirEntries = 50000

// checkTree walks dir, but skip, and refuses it when its files hold more
// than limit bytes or it has more than entries entries, saying which
// bound it passed and its largest file.
func checkTree(dir string, limit int64, entries int, skip []string) error {
	var n int64
	var count int
	var big string
	var bigSize int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if slices.Contains(skip, p) {
			return nil
		}
		if count++; count > entries {
			return fs.SkipAll
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			if info.Size() > bigSize {
				big, bigSize = p, info.Size()
			}
			if n += info.Size(); n > limit {
				return fs.SkipAll
			}
		}
		return nil
	})
	switch {
	case err != nil:
		return err
	case count > entries:
		return fmt.Errorf("the working directory %s holds more than %d files and directories, more than exec copies into the guest (its tmpfs runs out of inodes): run from a smaller directory, or --workdir-limit 0 to copy nothing", dir, entries)
	case n > limit:
		return fmt.Errorf("the working directory %s holds more than %s of files (--workdir-limit %s; the largest, %s, has %s, its apparent size if it is sparse): run from a smaller directory, raise --workdir-limit, or --workdir-limit 0 to copy nothing",
			dir, image.FormatSize(limit), image.FormatSize(limit), big, image.FormatSize(bigSize))
	}
	return nil
}

// compression of the command's segment: none by default, because under
// TCG the kernel decompresses slowly (measured: gzip costs more than it
// saves) while QEMU loads an uncompressed image with a plain copy.
func (o Options) compression() string {
	if o.Compress != "" {
		return o.Compress
	}
	return "none"
}

// modules are the modules the run loads: the disks', the root's
// filesystem's, and Modules.
func (o Options) modules() []string {
	var mods []string
	if o.Boot.Arch == "aarch64" {
		// Its stdout, stderr and status ports are virtio consoles.
		mods = append(mods, qemu.VirtioConsoleModules...)
	}
	if len(o.Boot.Disks) > 0 {
		mods = slices.Concat(DiskModules, rootModules(o.Boot))
	}
	if o.Net {
		mods = append(mods, NetModules...)
	}
	return append(mods, o.Modules...)
}

// rootModules are the modules that mount b.Root, a partition of the
// first disk: its filesystem's. A root that is not found needs none
// (the boot says why it cannot be).
func rootModules(b boot.Options) []string {
	if b.Root == "" {
		return nil
	}
	l, err := probe.List(b.Disks[0].Path)
	if err != nil {
		return nil
	}
	e, err := l.Find(b.Root)
	switch {
	case err != nil:
		return nil
	case strings.HasPrefix(e.Type, "ext"):
		return []string{"ext4"} // mounts ext2 and ext3 too
	case e.Type == "xfs" || e.Type == "btrfs" || e.Type == "vfat" || e.Type == "squashfs":
		return []string{e.Type}
	}
	return nil
}

// newToken is a run's secret for its status line (guest.ExitPrefix).
func newToken() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
