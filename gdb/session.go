package gdb

import (
	"cmp"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/initkit/initkit/boot"
	"github.com/initkit/initkit/guest"
	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/initramfs"
	"github.com/initkit/initkit/internal/atomicfile"
	"github.com/initkit/initkit/internal/syncbuf"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/qemu"
)

// Options are what both debug sessions take.
type Options struct {
	// Boot is the guest: the kernel, the initramfs (Initrd, or an Image
	// spec to build), Append, Timeout, the Console and its LogPath
	// (nowhere when ""), and the rest as for any boot. The session adds
	// its own devices.
	Boot boot.Options
	GDB  string // the gdb program (default: Program's for the guest)
	// Break is the function to stop at.
	Break string
	// Batch, when not nil, is run after the stop and then gdb ends: a
	// scripted session with no prompt.
	Batch []string
	// Print shows the gdb command and script on Stderr for a frontend to
	// run, instead of running gdb; the guest waits for it.
	Print bool
	// Grace is how long the guest may go on once gdb has ended before it
	// is stopped (default DefaultGrace): long enough for a crash or a
	// power-off right after the detach to be the outcome.
	Grace  time.Duration
	Stdin  io.Reader // gdb's
	Stdout io.Writer // gdb's
	Stderr io.Writer // gdb's, and the session's own messages
}

// DefaultGrace is Options.Grace's default.
const DefaultGrace = 3 * time.Second

// Result is how a session ended.
type Result struct {
	boot.Result        // the guest's
	Script      string // the gdb command file that was run
}

// session is what DebugInit and DebugKernel share: a temporary directory
// (short, for unix socket paths), the guest, and gdb.
type session struct {
	o      Options
	dir    string
	run    *boot.Run
	script string
	ready  *regexp.Regexp // the console line after which gdb may connect
	dial   string         // or a TCP address to poll until it answers
	link   string         // where the image's /init symlink leads, if it is one
	// gdbRunning is set while gdb runs in the foreground, when SIGINT
	// belongs to it.
	gdbRunning atomic.Bool
}

func newSession(o Options) (*session, error) {
	if o.Grace < 0 {
		return nil, fmt.Errorf("grace %v: cannot be negative (0: %v)", o.Grace, DefaultGrace)
	}
	if strings.ContainsAny(o.Break, "\n\r") {
		// It is a line of gdb's script: a newline would start a command.
		return nil, fmt.Errorf("break %q: a location is one line", o.Break)
	}
	dir, err := atomicfile.TempDir("debug")
	if err != nil {
		return nil, err
	}
	return &session{o: o, dir: dir}, nil
}

// boot is the session's boot: its files in the session's directory, the
// console saved only where asked.
func (s *session) boot() boot.Options {
	b := s.o.Boot
	b.Dir, b.LogPath = s.dir, cmp.Or(b.LogPath, "-")
	b.Notes = cmp.Or[io.Writer](b.Notes, s.o.Stderr)
	return b
}

func (s *session) close() { os.RemoveAll(s.dir) }

// InitOptions describe a session of PID 1 under gdbserver.
type InitOptions struct {
	Options
	// Init is a host path of the init to debug: a minimal image is built
	// around it when there is no initramfs. "" debugs the image's /init.
	Init      string
	Gdbserver string // the gdbserver to add to the image, a host path (default /usr/bin/gdbserver)
	// Transport is serial (the default: a second serial port, a unix
	// socket on the host) or tcp (the guest's network, forwarded from
	// 127.0.0.1).
	Transport string
	// Trace runs the image's /init, a #! script, under its interpreter
	// with -x instead of under gdb: each command it runs is printed on
	// the console.
	Trace bool
}

// DebugInit boots with gdbserver attached to PID 1 and stops gdb in the
// real init. The initkit init is the hook: it starts gdbserver and execs
// the real init only once every thread of PID 1 is traced, so gdb
// catches that exec with no sleep and no race. gdb reads files from a
// local copy of the image (set sysroot), not over the wire.
func DebugInit(ctx context.Context, o InitOptions) (*Result, error) {
	switch o.Transport {
	case "":
		o.Transport = "serial"
	case "serial", "tcp":
	default:
		return nil, fmt.Errorf("transport %s: want serial or tcp", o.Transport)
	}
	if o.Gdbserver == "" && !o.Trace {
		o.Gdbserver = "/usr/bin/gdbserver"
	}
	s, err := newSession(o.Options)
	if err != nil {
		return nil, err
	}
	defer s.close()
	b := s.boot()
	var real string
	b.Wrap = func(r *boot.Run, initrd string) (string, error) {
		if host := kernel.HostArch(); r.Arch() != host {
			// The image-wide check would suggest an init for the guest's
			// machine, which the hook cannot be.
			return "", fmt.Errorf("debug init runs the host's gdbserver and initkit init (%s programs) in the guest, and the guest is %s: debug kernel debugs its kernel", host, r.Arch())
		}
		if real, err = s.realInit(o.Init, initrd); err != nil {
			return "", err
		}
		if o.Trace && !isScript(real) {
			return "", fmt.Errorf("--trace runs a #! script under its interpreter's -x, and the init is not a script")
		}
		return s.addHook(o, real, initrd, r.Kernel.ModulesDir)
	}
	if o.Trace {
		b.Devices = append(b.Devices, qemu.Cmdline{guest.KeyTrace})
		res, err := boot.Boot(ctx, b)
		return &Result{Result: res}, cmp.Or(err, res.Err)
	}
	target, err := s.transport(o, &b)
	if err != nil {
		return nil, err
	}
	b.Ready, b.NoStop = s.ready, true
	if s.run, err = boot.Prepare(ctx, b); err != nil {
		return nil, err
	}
	stage := filepath.Join(s.dir, "stage")
	if err := extractAll(s.run.Initrd, stage); err != nil {
		return nil, err
	}
	brk := o.Break
	switch {
	case brk != "":
	case isScript(real):
		fmt.Fprintf(o.Stderr, "initkit debug: the init is a #! script: gdb stops in its interpreter right after the exec "+
			"(--break FUNC stops in the interpreter); --trace shows every command the script runs instead (sh -x)\n")
	case hasSymbol(real, "main"):
		brk = "main"
	default:
		fmt.Fprintf(o.Stderr, "initkit debug: the init has no symbol main (stripped): gdb stops right after the exec, in the dynamic loader; "+
			"give --break an exported function (nm -D lists them), or install its debug symbols\n")
	}
	s.script = InitSession{Sysroot: stage, Target: target, Break: brk, Extra: o.Batch}.Script()
	return s.runGuest(ctx)
}

// gdbserver's lines that say it is ready for gdb: on a serial port,
// bytes that arrive before gdbserver has the port open and raw are
// echoed back by the guest's tty and desynchronize the session; over
// TCP, user networking resets a connection to a port nothing listens on
// yet.
var (
	readySerial = regexp.MustCompile(`Remote debugging using /dev/ttyS[0-9]+`)
	readyTCP    = regexp.MustCompile(`Listening on port ` + strconv.Itoa(guest.GDBPort))
)

// serialTransport is gdbserver's serial port: a unix socket on the host,
// and the init told which port it is.
type serialTransport struct{ sock string }

// Add implements qemu.Device.
func (t serialTransport) Add(m *qemu.Machine) {
	m.KernelArgs(guest.KeyGDB + "=" + m.SerialSocket(t.sock))
}

// transport adds the gdb connection's devices to b and returns gdb's
// target.
func (s *session) transport(o InitOptions, b *boot.Options) (string, error) {
	if o.Transport == "serial" {
		sock := filepath.Join(s.dir, "gdb.sock")
		b.Devices = append(b.Devices, serialTransport{sock})
		s.ready = readySerial
		return sock, nil
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	b.Devices = append(b.Devices, qemu.UserNet{Forwards: []qemu.Forward{{Host: port, Guest: guest.GDBPort}}},
		qemu.Cmdline{fmt.Sprintf("%s=tcp:%d", guest.KeyGDB, guest.GDBPort), "ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off"})
	s.ready = readyTCP
	return fmt.Sprintf("127.0.0.1:%d", port), nil
}

// realInit returns a host path of the init to debug: init, or a copy of
// the /init of initrd. An /init that is a symlink (every dracut and
// systemd image: /init -> usr/lib/systemd/systemd) is followed, and
// s.link is set to where it leads, for the hook to exec the program at
// its own path.
func (s *session) realInit(init, initrd string) (string, error) {
	if init != "" {
		return filepath.Abs(init)
	}
	if initrd == "" {
		return "", errors.New("give the init to debug (a host path), or an initramfs whose /init to debug")
	}
	real, link, err := initramfs.ExtractInit(initrd, s.dir)
	s.link = link
	return real, err
}

// addHook appends a segment to initrd (or, for an init alone, builds the
// image) with gdbserver and its libraries, the initkit init as /init,
// and the real init at guest.RealInit, and returns the image.
func (s *session) addHook(o InitOptions, real, initrd, modulesDir string) (string, error) {
	out := filepath.Join(s.dir, "debug.img")
	sp := &initramfs.Spec{Output: out, Compress: "none", Init: "initkit"}
	if o.Gdbserver != "" && !o.Trace {
		sp.Files = []string{o.Gdbserver}
	}
	if o.Transport == "tcp" && !o.Trace {
		if modulesDir == "" {
			return "", errors.New("the tcp transport needs the kernel's network driver: give the kernel's modules directory (a /lib/modules/RELEASE tree)")
		}
		sp.Modules.Dir, sp.Modules.Names = modulesDir, []string{"virtio_pci", "virtio_net"}
	}
	if o.Init != "" {
		sp.Files = append(sp.Files, real+":"+guest.RealInit)
		if initrd == "" {
			sp.Busybox = "/bin/busybox"
		}
	} else {
		e, err := initramfs.RealInitEntry(real, s.link)
		if err != nil {
			return "", err
		}
		sp.Entries = []image.File{e}
	}
	if _, err := sp.Build(initrd, 0); err != nil {
		return "", err
	}
	return out, nil
}

func isScript(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 2)
	n, _ := f.Read(b)
	return n == 2 && string(b) == "#!"
}

func extractAll(img, dir string) error {
	f, err := os.Open(img)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = image.Extract(f, dir, image.ExtractOptions{Segment: -1})
	return err
}

func hasSymbol(path, name string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	syms, _ := f.Symbols()
	for _, s := range syms {
		if s.Name == name && elf.ST_TYPE(s.Info) == elf.STT_FUNC {
			return true
		}
	}
	return false
}

// DebugKernel boots halted with QEMU's gdb stub on 127.0.0.1 (the kernel
// without KASLR) and runs gdb with the kernel's vmlinux (the kernel
// policy's), sourcing the kernel's gdb helpers when its build tree has
// them.
func DebugKernel(ctx context.Context, o Options) (*Result, error) {
	s, err := newSession(o)
	if err != nil {
		return nil, err
	}
	defer s.close()
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	b := s.boot()
	b.Devices = append(b.Devices, qemu.GDBStub{Port: port, Wait: true})
	b.NoStop = true
	if s.run, err = boot.Prepare(ctx, b); err != nil {
		return nil, err
	}
	vmlinux, err := s.run.Kernel.NeedVmlinux()
	if err != nil {
		return nil, err
	}
	if s.o.GDB, err = Program(s.o.GDB, s.run.Arch()); err != nil {
		return nil, err
	}
	s.dial = "127.0.0.1:" + strconv.Itoa(port)
	if strings.ContainsAny(vmlinux, "\n\r") {
		return nil, fmt.Errorf("vmlinux %q: a name with a line break cannot go into gdb's script", vmlinux)
	}
	s.script = KernelSession{Vmlinux: vmlinux, Target: s.dial, Break: o.Break, Extra: o.Batch}.Script()
	return s.runGuest(ctx)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// runGuest starts the guest, waits until gdb can connect, then runs gdb
// on the script (or prints how to). When gdb ends, the guest gets the
// grace period to finish; then it is stopped.
func (s *session) runGuest(ctx context.Context) (*Result, error) {
	o := s.o
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := s.interruptOutsideGDB(cancel)
	defer stop()
	if err := s.run.Start(ctx); err != nil {
		return nil, err
	}
	g := s.run.Guest()
	defer g.Kill()
	res := &Result{Script: s.script}
	if err := s.waitReady(g); err != nil {
		res.Result = s.run.Wait()
		return res, err
	}
	path, err := WriteScript(s.dir, "session.gdb", s.script)
	if err != nil {
		return res, err
	}
	cmd := Command(ctx, o.GDB, path, o.Batch != nil)
	if o.Print {
		fmt.Fprintf(o.Stderr, "initkit debug: the guest waits; connect with:\n  %s\n# %s:\n%s", strings.Join(cmd.Args, " "), path, s.script)
		res.Result = s.run.Wait()
		return res, nil
	}
	gdbErr := s.runGDB(ctx, cmd)
	select {
	case <-g.Done():
	case <-time.After(cmp.Or(o.Grace, DefaultGrace)):
		g.Stop()
	}
	res.Result = s.run.Wait()
	switch res.Kind {
	case qemu.Crashed, qemu.TimedOut, qemu.Interrupted:
		// gdb lost its guest: the guest's end is the verdict.
		return res, nil
	}
	if gdbErr != nil {
		return res, fmt.Errorf("gdb: %w", gdbErr)
	}
	return res, nil
}

// interruptOutsideGDB ends the session (cancel) on SIGINT, except while
// gdb runs. It returns the function that stops listening.
func (s *session) interruptOutsideGDB(cancel func()) func() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				if !s.gdbRunning.Load() {
					cancel()
				}
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}

// waitReady waits until gdb can connect: the console's ready line, or
// the stub answering on its port.
func (s *session) waitReady(g *qemu.Guest) error {
	ready := g.Ready()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ready:
			return nil
		case <-g.Done():
			o := g.Wait()
			return fmt.Errorf("the guest stopped before gdb could connect: %s", o)
		case <-tick.C:
			if s.dial == "" {
				continue
			}
			if c, err := net.Dial("tcp", s.dial); err == nil {
				c.Close()
				return nil
			}
		}
	}
}

// runGDB runs gdb in the foreground. A scripted session whose guest
// powered off as gdb detached is a success (DetachRace).
//
// While gdb runs, Ctrl-C is gdb's: the terminal sends SIGINT to gdb and
// to this process alike, gdb stops its inferior with it, and the session
// must go on. The caller's context should not end on SIGINT (initkit
// debug stops on SIGTERM and SIGHUP); SIGINT ends the session here, but
// only before gdb starts or after it ends.
func (s *session) runGDB(ctx context.Context, cmd *exec.Cmd) error {
	o := s.o
	tail := &syncbuf.Buffer{Max: 4096}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = o.Stdin, io.MultiWriter(o.Stdout, tail), io.MultiWriter(o.Stderr, tail)
	// gdb must not outlive the session, even if the caller is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s.gdbRunning.Store(true)
	err := cmd.Run()
	s.gdbRunning.Store(false)
	if err != nil && o.Batch != nil && DetachRace(tail.String(), s.script) {
		fmt.Fprintln(o.Stderr, "initkit debug: the guest powered off as gdb detached (its reply was lost on the serial line): the detach went through")
		return nil
	}
	return err
}
