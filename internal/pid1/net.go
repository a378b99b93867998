package pid1

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// netUp configures the network ip= asks for (the kernel's syntax,
// Documentation/admin-guide/nfs/nfsroot.rst: dhcp, or
// CLIENT::GW:NETMASK::DEVICE:off:DNS0:DNS1) with busybox, before the
// root is looked for: hooks and the telnet rescue find it up, the
// address in $INITKIT_IP. The DNS servers go to /run/resolv.conf.
func (in *initProc) netUp() error {
	if in.cmd.IP == "" || in.cmd.IP == "off" || in.cmd.IP == "none" {
		return nil
	}
	cfg, err := parseIP(in.cmd.IP)
	if err != nil {
		return err
	}
	if err := in.configureNet("/bin/busybox", &cfg); err != nil {
		return err
	}
	if len(cfg.dns) > 0 {
		var b strings.Builder
		for _, d := range cfg.dns {
			b.WriteString("nameserver " + d + "\n")
		}
		os.WriteFile("/run/resolv.conf", []byte(b.String()), 0o644)
	}
	in.net = &cfg
	in.logf("network: %s on %s", cfg.addr, cfg.dev)
	return nil
}

// netDown takes the address away and the interface down before the
// switch, so that the real init's own network setup starts from a clean
// interface, unless rd.neednet=1 asks to keep it (dracut's key).
func (in *initProc) netDown() {
	if in.net == nil || in.cmd.NeedNet {
		return
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	if ifr, err := unix.NewIfreq(in.net.dev); err == nil {
		ifr.SetInet4Addr([]byte{0, 0, 0, 0})
		unix.IoctlIfreq(fd, unix.SIOCSIFADDR, ifr)
	}
	if ifr, err := unix.NewIfreq(in.net.dev); err == nil && unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr) == nil {
		ifr.SetUint16(ifr.Uint16() &^ unix.IFF_UP)
		unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
	}
	in.net = nil
}
