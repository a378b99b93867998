package main

import (
	"context"
	"debug/elf"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/initkit/initkit/initramfs"
	"github.com/initkit/initkit/gdb"
	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/pid1"
	"github.com/initkit/initkit/qemu"
)

type debugFlags struct {
	kernel, initrd, spec, init string
	gdbserver, gdb, brk, batch string
	append, vmlinux, transport string
	modulesDir                 string
	print                      bool
	timeout                    time.Duration
}

func newDebug() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "debug",
		Short: "debug PID 1 under gdbserver, or the kernel under QEMU's gdb stub, with gdb",
	}
	cmd.AddCommand(newDebugInit(), newDebugKernel())
	return cmd
}

func debugCommon(cmd *cobra.Command, d *debugFlags) {
	f := cmd.Flags()
	f.StringVar(&d.kernel, "kernel", "", "kernel image (default: $INITKIT_KERNEL, then the fetched one)")
	f.StringVar(&d.initrd, "initrd", "", "initramfs `IMAGE`")
	f.StringVar(&d.spec, "spec", "", "build the initramfs from spec `FILE`")
	f.StringVar(&d.append, "append", "", "extra kernel command line")
	f.StringVar(&d.gdb, "gdb", "gdb", "the gdb to run")
	f.StringVar(&d.brk, "break", "", "stop at function `FUNC`")
	f.StringVar(&d.batch, "batch", "", "run the gdb commands in `FILE` after the stop, then end gdb (no prompt)")
	f.BoolVar(&d.print, "print", false, "print the gdb command and script for a frontend or an IDE instead of starting gdb")
	f.DurationVar(&d.timeout, "timeout", 0, "stop the guest after this long (0: never); after gdb ends the guest gets 60s to finish")
}

func newDebugInit() *cobra.Command {
	d := &debugFlags{}
	cmd := &cobra.Command{
		Use:   "init",
		Short: "boot with gdbserver attached to PID 1 on ttyS1 and stop gdb in the real init",
		Long: `Adds gdbserver (with its libraries) and the debug hook to the image: /init
becomes the initkit init, which mounts /dev and /proc, starts gdbserver attached
to PID 1 on ttyS1, waits until PID 1 is traced (no sleep, no race), and execs
the real init: the image's own /init, or --init PATH (then a minimal image is
built around it: the program, its libraries and busybox). ttyS1 is a unix
socket; gdb reads files from a local copy of the image (set sysroot), catches
the execve into the real init and stops at --break (default main, when the
program has it).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return debugInit(cmd, d) },
	}
	debugCommon(cmd, d)
	cmd.Flags().StringVar(&d.init, "init", "", "the init to debug, a host `PATH` (default: the image's /init)")
	cmd.Flags().StringVar(&d.gdbserver, "gdbserver", "/usr/bin/gdbserver", "gdbserver to add to the image, a host `PATH`")
	cmd.Flags().StringVar(&d.transport, "transport", "serial", "serial (ttyS1 on a unix socket) or tcp (gdbserver on the guest's network, forwarded from 127.0.0.1)")
	cmd.Flags().StringVar(&d.modulesDir, "modules-dir", "", "the kernel's /lib/modules/RELEASE `DIR`, for the network driver of --transport tcp (default: beside the kernel)")
	return cmd
}

func newDebugKernel() *cobra.Command {
	d := &debugFlags{}
	cmd := &cobra.Command{
		Use:   "kernel",
		Short: "boot halted with QEMU's gdb stub on 127.0.0.1 (nokaslr) and attach gdb with the vmlinux",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return debugKernel(cmd, d) },
	}
	debugCommon(cmd, d)
	cmd.Flags().StringVar(&d.vmlinux, "vmlinux", "", "vmlinux with DWARF (default: the fetched kernel's, from initkit kernel fetch --debug-info)")
	return cmd
}

// debugSession is what both commands share: a temporary directory (short,
// for unix socket paths), the guest, and gdb.
type debugSession struct {
	cmd *cobra.Command
	d   *debugFlags
	dir string
	cfg qemu.Config
	ctx context.Context
	// marker, when set, is the console line after which gdb may connect.
	marker string
}

func newSession(cmd *cobra.Command, d *debugFlags) (*debugSession, func(), error) {
	dir, err := os.MkdirTemp("", "initkit-debug-")
	if err != nil {
		return nil, nil, err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	cleanup := func() { stop(); os.RemoveAll(dir) }
	s := &debugSession{cmd: cmd, d: d, dir: dir, ctx: ctx}
	if s.cfg.Kernel = d.kernel; s.cfg.Kernel == "" {
		s.cfg.Kernel = os.Getenv("INITKIT_KERNEL")
	}
	if s.cfg.Kernel == "" {
		if s.cfg.Kernel, err = defaultKernel(ctx); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	s.cfg.Initrd = d.initrd
	if d.spec != "" {
		sp, err := initramfs.Load(d.spec)
		if err != nil {
			cleanup()
			return nil, nil, err
		}
		sp.Output = filepath.Join(dir, "base.img")
		if _, _, _, err := sp.Build("", 0); err != nil {
			cleanup()
			return nil, nil, err
		}
		s.cfg.Initrd = sp.Output
	}
	s.cfg.Append = d.append
	return s, cleanup, nil
}

func debugInit(cmd *cobra.Command, d *debugFlags) error {
	if d.transport != "serial" && d.transport != "tcp" {
		return fmt.Errorf("--transport %s: want serial or tcp", d.transport)
	}
	s, cleanup, err := newSession(cmd, d)
	if err != nil {
		return err
	}
	defer cleanup()
	real, err := s.realInit()
	if err != nil {
		return err
	}
	if err := s.addHook(real); err != nil {
		return err
	}
	stage := filepath.Join(s.dir, "stage")
	if err := extractAll(s.cfg.Initrd, stage); err != nil {
		return err
	}
	target, err := s.transport()
	if err != nil {
		return err
	}
	brk := d.brk
	if brk == "" && hasSymbol(real, "main") {
		brk = "main"
	}
	extra, err := gdb.BatchLines(d.batch)
	if err != nil {
		return err
	}
	script := gdb.InitSession{Sysroot: stage, Target: target, Break: brk, Extra: extra}.Script()
	return s.run(script, nil)
}

// gdbPort is where gdbserver listens in the guest with --transport tcp.
const gdbPort = 1234

// transport sets up the guest side of the gdb connection and returns
// gdb's target. Either way gdb connects only once gdbserver says it is
// ready: on a serial port, bytes that arrive before gdbserver has the
// port open and raw are echoed back by the guest's tty and desynchronize
// the session; over TCP, user networking resets a connection to a port
// nothing listens on yet.
func (s *debugSession) transport() (string, error) {
	if s.d.transport == "serial" {
		sock := filepath.Join(s.dir, "ttyS1.sock")
		s.cfg.Append = strings.TrimSpace(s.cfg.Append + " initkit.gdb=ttyS1")
		s.cfg.Extra = []string{"-chardev", "socket,id=dbg,path=" + sock + ",server=on,wait=off", "-serial", "chardev:dbg"}
		s.marker = "Remote debugging using /dev/ttyS1"
		return sock, nil
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	s.cfg.Append = strings.TrimSpace(fmt.Sprintf("%s initkit.gdb=tcp:%d ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off", s.cfg.Append, gdbPort))
	s.cfg.Extra = []string{"-netdev", fmt.Sprintf("user,id=gdbnet,hostfwd=tcp:127.0.0.1:%d-:%d", port, gdbPort),
		"-device", "virtio-net-pci,netdev=gdbnet"}
	s.marker = fmt.Sprintf("Listening on port %d", gdbPort)
	return fmt.Sprintf("127.0.0.1:%d", port), nil
}

// modulesDir is --modules-dir, or the modules tree beside the kernel in
// the Debian package layout initkit kernel fetch keeps:
// DIR/boot/vmlinuz-RELEASE and DIR/lib/modules/RELEASE.
func (s *debugSession) modulesDir() (string, error) {
	if s.d.modulesDir != "" {
		return s.d.modulesDir, nil
	}
	base := filepath.Base(s.cfg.Kernel)
	if rel, ok := strings.CutPrefix(base, "vmlinuz-"); ok {
		dir := filepath.Join(filepath.Dir(filepath.Dir(s.cfg.Kernel)), "lib", "modules", rel)
		if _, err := os.Stat(dir); err == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("--transport tcp needs the kernel's network driver: give --modules-dir (a /lib/modules/RELEASE tree)")
}

// realInit returns a host path of the init to debug: --init, or the
// image's /init copied out.
func (s *debugSession) realInit() (string, error) {
	if s.d.init != "" {
		return filepath.Abs(s.d.init)
	}
	if s.cfg.Initrd == "" {
		return "", fmt.Errorf("give the init to debug: --init PATH, --initrd IMAGE or --spec FILE")
	}
	f, err := os.Open(s.cfg.Initrd)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := image.ReadFile(f, "init")
	if err != nil {
		return "", fmt.Errorf("%s: no /init to debug: %w", s.cfg.Initrd, err)
	}
	p := filepath.Join(s.dir, "init.real")
	return p, os.WriteFile(p, data, 0o755)
}

// addHook appends a segment (or, for --init alone, builds the image) with
// gdbserver and its libraries, the initkit init as /init, and the real
// init at pid1.RealInit.
func (s *debugSession) addHook(real string) error {
	out := filepath.Join(s.dir, "debug.img")
	sp := &initramfs.Spec{Output: out, Compress: "none", Init: "initkit", Files: []string{s.d.gdbserver}}
	if s.d.transport == "tcp" {
		dir, err := s.modulesDir()
		if err != nil {
			return err
		}
		sp.Modules.Dir, sp.Modules.Names = dir, []string{"virtio_pci", "virtio_net"}
	}
	if s.d.init != "" {
		sp.Files = append(sp.Files, real+":"+pid1.RealInit)
		if s.cfg.Initrd == "" {
			sp.Busybox = "/bin/busybox"
		}
	} else {
		// The image's own /init, as it is: its #! interpreter is in the
		// image already, so no closure from the host.
		list := filepath.Join(s.dir, "real.list")
		text := fmt.Sprintf("dir %s 0755 0 0\nfile %s %s 0755 0 0\n", filepath.Dir(pid1.RealInit), pid1.RealInit, real)
		if err := os.WriteFile(list, []byte(text), 0o644); err != nil {
			return err
		}
		sp.GenInit = []string{list}
	}
	if _, _, _, err := sp.Build(s.cfg.Initrd, 0); err != nil {
		return err
	}
	s.cfg.Initrd = out
	return nil
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

func debugKernel(cmd *cobra.Command, d *debugFlags) error {
	s, cleanup, err := newSession(cmd, d)
	if err != nil {
		return err
	}
	defer cleanup()
	vmlinux := d.vmlinux
	if vmlinux == "" {
		if vmlinux, err = cachedVmlinux(); err != nil {
			if vmlinux, err = fetchedVmlinux(s.ctx); err != nil {
				return err
			}
		}
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	s.cfg.GDBPort, s.cfg.WaitGDB = port, true
	extra, err := gdb.BatchLines(d.batch)
	if err != nil {
		return err
	}
	target := "127.0.0.1:" + strconv.Itoa(port)
	script := gdb.KernelSession{Vmlinux: vmlinux, Target: target, Break: d.brk, Extra: extra}.Script()
	return s.run(script, func() bool {
		c, err := net.Dial("tcp", target)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func fetchedVmlinux(ctx context.Context) (string, error) {
	dir, err := kernel.CacheDir()
	if err != nil {
		return "", err
	}
	k, err := kernel.Fetch(ctx, dir, "")
	if err != nil {
		return "", err
	}
	if p := k.DebugVmlinux(); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("no --vmlinux: run initkit kernel fetch --debug-info for the fetched kernel's, or give one")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// run starts the guest, waits until ready says gdb can connect, then runs
// gdb on script (or prints how to). When gdb ends, the guest gets a
// minute to finish; then it is stopped.
func (s *debugSession) run(script string, ready func() bool) error {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	if s.d.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, s.d.timeout)
		defer cancel()
	}
	done := make(chan error, 1)
	out := s.cmd.OutOrStdout()
	// The guest's console goes to stderr, gdb to stdout.
	console := &markerWriter{w: s.cmd.ErrOrStderr(), marker: s.marker, seen: make(chan struct{})}
	if s.marker == "" {
		close(console.seen)
	}
	if ready == nil {
		ready = console.ready
	}
	go func() { done <- qemu.Run(ctx, s.cfg, console) }()
	for !ready() {
		select {
		case err := <-done:
			return fmt.Errorf("qemu stopped before gdb could connect: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	path, err := gdb.WriteScript(s.dir, "session.gdb", script)
	if err != nil {
		return err
	}
	g := gdb.Command(ctx, s.d.gdb, path, s.d.batch != "")
	if s.d.print {
		fmt.Fprintf(s.cmd.ErrOrStderr(), "initkit debug: the guest waits; connect with:\n  %s\n# %s:\n%s", strings.Join(g.Args, " "), path, script)
		return <-done
	}
	var tail tailBuffer
	g.Stdin, g.Stdout, g.Stderr = os.Stdin, io.MultiWriter(out, &tail), io.MultiWriter(s.cmd.ErrOrStderr(), &tail)
	gdbErr := g.Run()
	if gdbErr != nil && s.d.batch != "" && gdb.DetachRace(tail.String(), script) {
		fmt.Fprintln(s.cmd.ErrOrStderr(), "initkit debug: the guest powered off as gdb detached (its reply was lost on the serial line): the detach went through")
		gdbErr = nil
	}
	select {
	case err := <-done:
		if err != nil && gdbErr == nil {
			fmt.Fprintf(s.cmd.ErrOrStderr(), "initkit debug: qemu: %v\n", err)
		}
	case <-time.After(time.Minute):
		fmt.Fprintln(s.cmd.ErrOrStderr(), "initkit debug: the guest did not finish within a minute of gdb; stopping it")
		cancel()
		<-done
	}
	if gdbErr != nil {
		return fmt.Errorf("gdb: %w", gdbErr)
	}
	return nil
}

// tailBuffer keeps the last 4 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4096 {
		t.buf = t.buf[len(t.buf)-4096:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// markerWriter passes the console on and notes when marker has appeared.
type markerWriter struct {
	w      io.Writer
	marker string
	mu     sync.Mutex
	tail   []byte
	seen   chan struct{}
	closed bool
}

func (m *markerWriter) Write(p []byte) (int, error) {
	m.mu.Lock()
	if !m.closed && m.marker != "" {
		m.tail = append(m.tail, p...)
		if strings.Contains(string(m.tail), m.marker) {
			m.closed = true
			close(m.seen)
		} else if len(m.tail) > len(m.marker) {
			m.tail = m.tail[len(m.tail)-len(m.marker):]
		}
	}
	m.mu.Unlock()
	return m.w.Write(p)
}

func (m *markerWriter) ready() bool {
	select {
	case <-m.seen:
		return true
	default:
		return false
	}
}
