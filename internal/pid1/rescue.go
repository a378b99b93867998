package pid1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/initkit/initkit/guest"

	"golang.org/x/sys/unix"
)

// shellPaths are the shells a rescue can run, busybox's first.
var shellPaths = []string{"/bin/sh", "/usr/bin/sh", "/bin/busybox"}

// rescue says what failed, what was tried and which block devices exist,
// and runs a shell on the console. It returns when the shell exits.
func (in *initProc) rescue(reason error) {
	in.logf("%v", reason)
	for _, t := range in.tried {
		in.logf("tried: %s", t)
	}
	in.tried = nil
	if in.devs != nil {
		devs := in.devs.scan()
		in.logf("block devices: %s", deviceNames(devs))
		for _, d := range devs {
			in.logf("  %s", d)
		}
		for _, d := range driverless() {
			in.logf("no driver for PCI device %s: the image has no module for it (a disk behind it is not seen)", d)
		}
	}
	if in.cmd.Rescue == "telnet" {
		in.startTelnet()
	}
	for _, sh := range shellPaths {
		if _, err := os.Stat(sh); err == nil {
			in.logf("starting a rescue shell (%s; exit it to try the boot again)", sh)
			if err := runShell(sh); err != nil {
				in.logf("rescue shell %s: %v", sh, err)
				break
			}
			return
		}
	}
	in.logf("starting the built-in rescue prompt (no shell in the image; type help)")
	in.prompt()
}

// runShell runs sh as a session leader with the console as its
// controlling terminal (so that job control and Ctrl-C work), and reaps
// every child until it exits: as PID 1 the init inherits all orphans.
func runShell(sh string) error {
	argv := []string{sh}
	if strings.HasSuffix(sh, "busybox") {
		argv = []string{sh, "sh"}
	}
	p, err := os.StartProcess(sh, argv, &os.ProcAttr{
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Env:   append(os.Environ(), "PS1=initkit rescue# ", "PATH=/sbin:/bin:/usr/sbin:/usr/bin"),
		Sys:   &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0},
	})
	if err != nil {
		return err
	}
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if pid == p.Pid || err == unix.ECHILD {
			return nil
		}
	}
}

// prompt is the built-in rescue loop for images without a shell: list
// devices, mount, load modules, read files, try the boot again.
func (in *initProc) prompt() {
	r := bufio.NewReader(os.Stdin)
	for {
		fmt.Fprint(os.Stdout, "initkit rescue> ")
		line, err := r.ReadString('\n')
		if err != nil && line == "" {
			select {} // no console to read: stay alive, never exit
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if f[0] == "boot" || f[0] == "exit" {
			return
		}
		if err := in.command(f); err != nil {
			in.logf("%s: %v", f[0], err)
		}
	}
}

func (in *initProc) command(f []string) error {
	switch f[0] {
	case "help":
		fmt.Println("commands: devices | mount DEV DIR [TYPE] | umount DIR | modprobe NAME | cat FILE | ls DIR | cmdline | boot | reboot | poweroff")
	case "devices":
		for _, d := range in.devs.scan() {
			fmt.Println(d)
		}
	case "mount":
		if len(f) < 3 {
			return errors.New("usage: mount DEV DIR [TYPE]")
		}
		typ := ""
		if len(f) > 3 {
			typ = f[3]
		}
		os.MkdirAll(f[2], 0o755)
		return unix.Mount(f[1], f[2], typ, 0, "")
	case "umount":
		if len(f) < 2 {
			return errors.New("usage: umount DIR")
		}
		return unix.Unmount(f[1], 0)
	case "modprobe":
		for _, n := range f[1:] {
			in.mods.loadName(guest.ModuleName(n))
		}
	case "cat":
		for _, n := range f[1:] {
			b, err := os.ReadFile(n)
			if err != nil {
				return err
			}
			os.Stdout.Write(b)
		}
	case "ls":
		dir := "."
		if len(f) > 1 {
			dir = f[1]
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			fmt.Println(e.Name())
		}
	case "cmdline":
		fmt.Printf("%+v\n", in.cmd)
	case "reboot":
		unix.Sync()
		return unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	case "poweroff":
		unix.Sync()
		return unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	default:
		return errors.New("unknown command (type help)")
	}
	return nil
}

// startTelnet starts the network rescue shell asked for with
// initkit.rescue=telnet: busybox telnetd with an unauthenticated root
// shell on port 23, the interface configured from ip= (the kernel's
// CLIENT::GW:NETMASK::DEVICE form, or dhcp). It is off unless asked for
// and says so loudly; it starts once.
func (in *initProc) startTelnet() {
	if in.telnet {
		return
	}
	in.telnet = true
	bb := "/bin/busybox"
	if _, err := os.Stat(bb); err != nil {
		in.logf("initkit.rescue=telnet needs busybox in the image (telnetd, ifconfig, route, udhcpc)")
		return
	}
	cfg, err := parseIP(in.cmd.IP)
	if err != nil {
		in.logf("initkit.rescue=telnet: %v", err)
		return
	}
	if in.net != nil {
		cfg = *in.net // up already (netUp)
	}
	// telnetd gives each client a pseudo-terminal.
	if err := mountPTS(); err != nil {
		in.logf("initkit.rescue=telnet: %v", err)
		return
	}
	if in.net == nil {
		if err := in.configureNet(bb, &cfg); err != nil {
			in.logf("initkit.rescue=telnet: %v", err)
			return
		}
	}
	p, err := os.StartProcess(bb, []string{"telnetd", "-F", "-l", "/bin/sh", "-p", "23"}, &os.ProcAttr{
		Files: []*os.File{nil, os.Stdout, os.Stderr},
		Env:   append(os.Environ(), "PATH=/sbin:/bin:/usr/sbin:/usr/bin"),
	})
	if err != nil {
		in.logf("initkit.rescue=telnet: %v", err)
		return
	}
	p.Release()
	// Announce it only once it accepts connections.
	for i := 0; i < 100 && !listening(23); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	in.logf("WARNING: initkit.rescue=telnet: an UNAUTHENTICATED root shell listens on %s port 23 (%s)", cfg.addr, cfg.dev)
}

// netConfig is the part of the kernel's ip= option the rescue uses
// (Documentation/admin-guide/nfs/nfsroot.rst).
type netConfig struct {
	dhcp                bool
	addr, gw, mask, dev string
	dns                 []string
}

func parseIP(v string) (netConfig, error) {
	c := netConfig{dev: "eth0", mask: "255.255.255.0"}
	switch v {
	case "":
		return c, errors.New("no ip= on the command line (ip=dhcp or ip=CLIENT::GW:NETMASK::DEVICE)")
	case "dhcp", "on", "any":
		c.dhcp = true
		return c, nil
	}
	f := strings.Split(v, ":")
	for len(f) < 9 {
		f = append(f, "")
	}
	c.addr, c.gw = f[0], f[2]
	if f[3] != "" {
		c.mask = f[3]
	}
	if f[5] != "" {
		c.dev = f[5]
	}
	for _, d := range f[7:9] {
		if d != "" {
			c.dns = append(c.dns, d)
		}
	}
	if c.addr == "" {
		return c, errors.New("ip=" + v + ": no client address")
	}
	return c, nil
}

// configureNet waits for the interface (its driver module may still be
// loading) and configures it with busybox.
func (in *initProc) configureNet(bb string, c *netConfig) error {
	present := func() bool { _, err := os.Stat("/sys/class/net/" + c.dev); return err == nil }
	if !in.waitUntil(in.cmd.RootTimeout, present) {
		return fmt.Errorf("no network interface %s after %v (ship its driver, e.g. --module-auto virtio_net)", c.dev, in.cmd.RootTimeout)
	}
	// A deadline: udhcpc retries forever on some errors, and PID 1 must
	// go on to the root (and its rescue) whatever the network does.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run := func(args ...string) error {
		out, err := toolOutput(ctx, bb, args, nil)
		if err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if c.dhcp {
		// udhcpc leaves the link as it finds it: down, for a new one.
		if err := run("ifconfig", c.dev, "0.0.0.0", "up"); err != nil {
			return err
		}
		script := "#!/bin/busybox sh\n[ \"$1\" = bound ] || exit 0\n" +
			"/bin/busybox ifconfig \"$interface\" \"$ip\" netmask \"$subnet\" up\n" +
			"[ -z \"$router\" ] || /bin/busybox route add default gw \"${router%% *}\"\n" +
			"echo \"$ip\" >/run/initkit-ip\necho \"$dns\" >/run/initkit-dns\n"
		if err := os.WriteFile("/run/udhcpc.sh", []byte(script), 0o755); err != nil {
			return err
		}
		if err := run("udhcpc", "-i", c.dev, "-n", "-q", "-f", "-t", "5", "-T", "2", "-s", "/run/udhcpc.sh"); err != nil {
			return err
		}
		ip, _ := os.ReadFile("/run/initkit-ip")
		c.addr = strings.TrimSpace(string(ip))
		dns, _ := os.ReadFile("/run/initkit-dns")
		c.dns = strings.Fields(string(dns))
		return nil
	}
	if err := run("ifconfig", c.dev, c.addr, "netmask", c.mask, "up"); err != nil {
		return err
	}
	if c.gw != "" {
		return run("route", "add", "default", "gw", c.gw)
	}
	return nil
}

// listening reports whether a TCP socket listens on port, from
// /proc/net/tcp (local address column "ADDR:PORT" in hex, state 0A).
func listening(port int) bool {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false
	}
	want := fmt.Sprintf(":%04X", port)
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 3 && strings.HasSuffix(f[1], want) && f[3] == "0A" {
			return true
		}
	}
	return false
}

// driverless lists the PCI devices no driver took, with what they are
// (their modalias): a disk controller among them is why no disk shows.
func driverless() []string {
	const bus = "/sys/bus/pci/devices/"
	devs, _ := readDir(bus)
	var out []string
	for _, d := range devs {
		if _, err := os.Lstat(bus + d.name + "/driver"); err == nil || d.name[0] == '.' {
			continue
		}
		class := readTrimmed(bus + d.name + "/class")
		// Storage controllers (class 0x01) and network ones (0x02): the
		// rest (bridges, the VGA) rarely has or needs a driver here.
		if strings.HasPrefix(class, "0x01") || strings.HasPrefix(class, "0x02") {
			out = append(out, d.name+" ("+readTrimmed(bus+d.name+"/modalias")+")")
		}
	}
	return out
}
