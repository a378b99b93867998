package pid1

import (
	"bytes"

	"golang.org/x/sys/unix"
)

// uevent is one kernel object event (lib/kobject_uevent.c): ACTION,
// SUBSYSTEM, DEVNAME, MODALIAS and the rest, as KEY=VALUE pairs.
type uevent map[string]string

// listenUevents subscribes to the kernel's uevent netlink group and sends
// each event on the returned channel. The socket is opened before the
// coldplug walk, so that no device appears unseen between the two.
func listenUevents() (<-chan uevent, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 1<<20)
	ch := make(chan uevent, 64)
	go func() {
		buf := make([]byte, 16<<10)
		for {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				close(ch)
				return
			}
			if ev := parseUevent(buf[:n]); ev != nil {
				ch <- ev
			}
		}
	}()
	return ch, nil
}

// parseUevent reads "ACTION@DEVPATH\0KEY=VALUE\0...". Messages from udev
// (prefixed "libudev") are not the kernel's and are ignored.
func parseUevent(b []byte) uevent {
	parts := bytes.Split(b, []byte{0})
	if len(parts) < 2 || !bytes.Contains(parts[0], []byte("@")) {
		return nil
	}
	ev := uevent{}
	for _, p := range parts[1:] {
		if k, v, ok := bytes.Cut(p, []byte("=")); ok {
			ev[string(k)] = string(v)
		}
	}
	return ev
}
