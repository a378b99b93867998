package pid1

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ipUp configures an IPv4 address on dev and brings it up, with the
// SIOCSIF* ioctls (no busybox needed). It waits up to 5 s for dev to
// appear: its driver module may still be binding.
func ipUp(dev, addr, mask string) error {
	for i := 0; ; i++ {
		if _, err := os.Stat("/sys/class/net/" + dev); err == nil {
			break
		}
		if i == 100 {
			return errors.New("no network interface " + dev + " (ship its driver module)")
		}
		time.Sleep(50 * time.Millisecond)
	}
	ip, nm := parseIPv4(addr), parseIPv4(mask)
	if ip == nil || nm == nil {
		return fmt.Errorf("address %q or netmask %q is not IPv4", addr, mask)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	set := func(req uint, v []byte) error {
		ifr, err := unix.NewIfreq(dev)
		if err != nil {
			return err
		}
		if err := ifr.SetInet4Addr(v); err != nil {
			return err
		}
		return unix.IoctlIfreq(fd, req, ifr)
	}
	if err := set(unix.SIOCSIFADDR, ip); err != nil {
		return fmt.Errorf("%s: setting %s: %w", dev, addr, err)
	}
	if err := set(unix.SIOCSIFNETMASK, nm); err != nil {
		return fmt.Errorf("%s: setting netmask %s: %w", dev, mask, err)
	}
	return linkUp(fd, dev)
}

// linkUp sets IFF_UP on dev through the socket fd.
func linkUp(fd int, dev string) error {
	ifr, err := unix.NewIfreq(dev)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("%s: %w", dev, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("%s up: %w", dev, err)
	}
	return nil
}

// loopbackUp brings lo up: the kernel gives it 127.0.0.1/8 (and ::1) as
// it comes up, and programs that talk to themselves over it (tests that
// listen on 127.0.0.1) need nothing else.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return linkUp(fd, "lo")
}

// parseIPv4 reads a dotted-quad address, nil when s is not one. It stands
// in for net.ParseIP: package net's initialisation alone costs the init
// about 10 ms at boot under TCG.
func parseIPv4(s string) []byte {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return nil
	}
	ip := make([]byte, 4)
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 8)
		if err != nil || p == "" || (len(p) > 1 && p[0] == '0') {
			return nil
		}
		ip[i] = byte(n)
	}
	return ip
}
