package pid1

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/initkit/initkit/guest"
)

// Cmdline is what the init takes from /proc/cmdline. Keys use the names
// dracut and systemd use, so that users' command lines carry over; keys of
// our own are initkit.*.
type Cmdline struct {
	Root       string // root=: /dev/..., UUID=, LABEL=, PARTUUID=, PARTLABEL=
	RootFSType string // rootfstype=
	RootFlags  string // rootflags=
	RW         bool   // rw (ro is the default, as for the kernel)
	Init       string // init=, default /sbin/init
	RootWait   bool   // rootwait: wait for the root device indefinitely
	RootDelay  time.Duration
	// Break lists the stages rd.break=STAGE stops at with a shell
	// (rd.break and rd.shell alone: pre-pivot).
	Break []string
	// EarlyRoot is initkit.root=: the real root when the init runs from
	// a disk's early filesystem (root= is that filesystem).
	EarlyRoot string
	EarlyInit string // initkit.init=: then the real root's init

	LUKS    []LUKS // rd.luks.uuid= and rd.luks.name=
	LUKSKey string // rd.luks.key=PATH (in the image)

	Modules []string // modules_load=, rd.modules_load=, rd.modules=, rd.driver.pre=
	Quiet   bool

	Debug       bool          // initkit.debug: every stage and decision
	RootTimeout time.Duration // initkit.timeout=SECONDS without rootwait; default 10 s
	Rescue      string        // initkit.rescue=telnet: a network rescue shell
	IP          string        // ip=: the network, up before the root is looked for
	NeedNet     bool          // rd.neednet=1: keep it up for the real init

	NoMD, NoLVM, NoLUKS bool      // rd.md=0, rd.lvm=0, rd.luks=0
	MDUUIDs             []string  // rd.md.uuid=: only these arrays
	LVMVGs, LVMLVs      []string  // rd.lvm.vg=, rd.lvm.lv=VG/LV: only these
	GDB                 string    // initkit.gdb=ttyS1: run the real init under gdbserver
	Trace               bool      // initkit.trace: run the real init, a script, under sh -x
	Disks               int       // initkit.disks=N: an exec run waits for N virtio disks
	ExecPorts           [3]string // initkit.exec=OUT,ERR,STATUS: an exec run's serial ports
	SSH                 string    // initkit.ssh=[ADDR:]PORT or off: dropbear's listener for the remote unlock
	Capture             bool      // initkit.kdump=capture: write /proc/vmcore to the host and power off
}

// LUKS is one volume to unlock: its LUKS UUID and the device-mapper name.
type LUKS struct {
	UUID string
	Name string
}

// DefaultRootTimeout is how long the init waits for root= without rootwait.
const DefaultRootTimeout = 10 * time.Second

// ParseCmdline parses a kernel command line. Values may be double-quoted
// as the kernel allows (init/main.c: next_arg). Unknown keys are ignored:
// they belong to the kernel or to the real init. A bad value is reported
// and its key keeps its default; every other key is still taken, so that
// one typo does not lose root=.
func ParseCmdline(s string) (Cmdline, error) {
	c := Cmdline{Init: "/sbin/init", RootTimeout: DefaultRootTimeout}
	var errs []error
	for _, arg := range splitCmdline(s) {
		if arg == "--" {
			break // the rest is for init's argv
		}
		key, val, hasVal := strings.Cut(arg, "=")
		if err := c.set(key, val, hasVal); err != nil {
			errs = append(errs, fmt.Errorf("kernel command line: %s: %w (ignored)", arg, err))
		}
	}
	return c, errors.Join(errs...)
}

func (c *Cmdline) set(key, val string, hasVal bool) error {
	switch key {
	case "root":
		c.Root = val
	case "rootfstype":
		c.RootFSType = val
	case "rootflags":
		c.RootFlags = val
	case "ro":
		c.RW = false
	case "rw":
		c.RW = true
	case "init", "rd.init":
		if !strings.HasPrefix(val, "/") {
			return errors.New("init must be an absolute path")
		}
		c.Init = val
	case "rootwait":
		c.RootWait = true
	case "rootdelay":
		d, err := seconds(val)
		if err == nil {
			c.RootDelay = d
		}
		return err
	case "rd.break", "rd.shell":
		stage := val
		if !hasVal || val == "1" || val == "pivot" {
			stage = "pre-pivot"
		}
		if !validStage(stage) {
			return fmt.Errorf("no stage %q (want cmdline, pre-udev, pre-mount, mount or pre-pivot)", val)
		}
		c.Break = append(c.Break, stage)
	case "rd.luks.uuid":
		u := strings.TrimPrefix(val, "luks-")
		if !plainName(u) {
			return fmt.Errorf("%q is not a UUID", u)
		}
		c.addLUKS(u, "luks-"+u)
	case "rd.luks.name":
		u, name, ok := strings.Cut(val, "=")
		if !ok || name == "" {
			return errors.New("want rd.luks.name=UUID=NAME")
		}
		if !plainName(name) {
			return fmt.Errorf("the device-mapper name %q must be a plain name (no /, not . or ..)", name)
		}
		c.addLUKS(strings.TrimPrefix(u, "luks-"), name)
	case "rd.luks.key":
		c.LUKSKey = lukskeyPath(val)
	case "modules_load", "rd.modules_load", "rd.modules", "rd.driver.pre":
		for _, m := range strings.Split(val, ",") {
			if m != "" {
				c.Modules = append(c.Modules, m)
			}
		}
	case "quiet":
		c.Quiet = true
	case guest.KeyDebug:
		c.Debug = !hasVal || val == "1"
	case guest.KeyTimeout:
		d, err := seconds(val)
		if err == nil {
			c.RootTimeout = d
		}
		return err
	case guest.KeyRescue:
		if val != "telnet" && val != "console" {
			return errors.New("want initkit.rescue=telnet or console")
		}
		c.Rescue = val
	case "ip":
		c.IP = val
	case "rd.neednet":
		c.NeedNet = val == "1"
	case "rd.md":
		c.NoMD = val == "0"
	case "rd.lvm":
		c.NoLVM = val == "0"
	case "rd.luks":
		c.NoLUKS = val == "0"
	case "rd.md.uuid":
		c.MDUUIDs = append(c.MDUUIDs, val)
	case "rd.lvm.vg":
		c.LVMVGs = append(c.LVMVGs, val)
	case "rd.lvm.lv":
		if !strings.Contains(val, "/") {
			return errors.New("want rd.lvm.lv=VG/LV")
		}
		c.LVMLVs = append(c.LVMLVs, val)
	case guest.KeyGDB:
		c.GDB = val
	case guest.KeyRoot:
		c.EarlyRoot = val
	case guest.KeyInit:
		c.EarlyInit = val
	case guest.KeyExec:
		p := strings.Split(val, ",")
		if len(p) != 3 || !ttyName(p[0]) || !ttyName(p[1]) || !ttyName(p[2]) {
			return errors.New("want " + guest.KeyExec + "=OUT,ERR,STATUS, three serial ports (ttyS1,ttyS2,ttyS3)")
		}
		c.ExecPorts = [3]string(p)
	case guest.KeyDisks:
		n, err := strconv.Atoi(val)
		if err != nil || n < 0 {
			return errors.New("want a number of disks")
		}
		c.Disks = n
	case guest.KeyTrace:
		c.Trace = !hasVal || val == "1"
	case guest.KeyKdump:
		if val != "capture" {
			return errors.New("want " + guest.KeyKdump + "=capture")
		}
		c.Capture = true
	case guest.KeySSH:
		if val != "off" {
			if _, err := sshListen(val, ""); err != nil {
				return err
			}
		}
		c.SSH = val
	}
	return nil
}

// addLUKS records a volume, letting rd.luks.name rename one that
// rd.luks.uuid named first.
func (c *Cmdline) addLUKS(uuid, name string) {
	for i := range c.LUKS {
		if strings.EqualFold(c.LUKS[i].UUID, uuid) {
			if !strings.HasPrefix(name, "luks-") {
				c.LUKS[i].Name = name
			}
			return
		}
	}
	c.LUKS = append(c.LUKS, LUKS{UUID: uuid, Name: name})
}

// lukskeyPath takes the key path out of systemd's rd.luks.key=[UUID=]PATH
// and dracut's rd.luks.key=PATH[:KEYDEV[:LUKSDEV]] forms.
func lukskeyPath(v string) string {
	if i := strings.Index(v, "="); i >= 0 && !strings.Contains(v[:i], "/") {
		v = v[i+1:]
	}
	if i := strings.Index(v, ":"); i >= 0 {
		v = v[:i]
	}
	return v
}

// maxSeconds bounds the waits the command line sets: a day is longer than
// any boot should wait, and far inside time.Duration.
const maxSeconds = 24 * 60 * 60

func seconds(v string) (time.Duration, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxSeconds {
		return 0, fmt.Errorf("want a number of seconds from 0 to %d", maxSeconds)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// plainName reports whether s can name a file in one directory
// (/dev/mapper): not empty, no slash, not . or .., no NUL.
func plainName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\x00")
}

// splitCmdline splits on spaces outside double quotes and drops the
// quotes, as the kernel's next_arg does.
func splitCmdline(s string) []string {
	var args []string
	var cur strings.Builder
	quoted, any := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			any = true
		case (r == ' ' || r == '\t' || r == '\n') && !quoted:
			if any {
				args = append(args, cur.String())
			}
			cur.Reset()
			any = false
		default:
			cur.WriteRune(r)
			any = true
		}
	}
	if any {
		args = append(args, cur.String())
	}
	return args
}

// ttyName reports whether s names a serial port in /dev (ttyS1, hvc0):
// letters then digits, nothing that leads out of /dev.
func ttyName(s string) bool {
	i := strings.IndexAny(s, "0123456789")
	if i <= 0 || i > 8 {
		return false
	}
	for _, r := range s[:i] {
		if r < 'a' || r > 'z' {
			if r < 'A' || r > 'Z' {
				return false
			}
		}
	}
	_, err := strconv.Atoi(s[i:])
	return err == nil && len(s)-i <= 3
}
