// Package guest names what the host side of initkit and the initkit init
// inside the guest agree on: the files initkit puts into an image for the
// init to find, the kernel command line keys the init reads, the serial
// ports each side opens, and the lines the init prints for the host to
// read. Both sides import it, so that a name changes in one place.
//
// It has no dependencies beyond the standard library's strings, strconv and bytes:
// the init is small and starts fast, and every importer can afford it.
// The generated shell init (initramfs/shellinit.sh) and
// bench/floor-init.c cannot import Go; they cite the names here.
package guest

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// Files initkit puts into an image for the init.
const (
	// ExecFile makes the init the runner of initkit exec: it holds the
	// command's argv, each argument ended by a NUL byte, and the init
	// runs that command instead of looking for a root.
	ExecFile = "/.initkit/exec"
	// ExecPath holds the program the init runs for ExecFile, an
	// absolute path in the image: argv[0] stays the word the user typed
	// ("ls", "./t"), as a shell passes it, and the program its error
	// messages name is the one found on the host. When it is absent,
	// argv[0] is the program.
	ExecPath = "/.initkit/exec.path"
	// ExecDir holds the directory, a path in the image, that the
	// command of ExecFile runs in: the host's working directory, copied
	// to the same path.
	ExecDir = "/.initkit/exec.dir"
	// ExecEnv holds variables the command of ExecFile gets, NAME=VALUE
	// each ended by a NUL byte (CheckEnv), after PATH, HOME and PWD,
	// which they may replace.
	ExecEnv = "/.initkit/exec.env"
	// ExecUser holds the user the command of ExecFile runs as, "UID:GID"
	// (FormatUser); absent, it runs as root. The init gives that user
	// the command's directory, with what is in it, and the outputs'
	// directories (ExecOutputs), the places it is meant to write.
	ExecUser = "/.initkit/exec.user"
	// ExecStdin holds what the command of ExecFile reads on its
	// standard input (absent: /dev/null). The init opens it for the
	// command and removes its name: the command's tree does not show it.
	ExecStdin = "/.initkit/exec.stdin"
	// ExecImage is where an exec run with root= (a disk's root: exec
	// --root, repro on a bug's disk image) binds its image inside that
	// root: the command runs chrooted there as ExecImage+argv[0], in
	// ExecImage+its directory.
	ExecImage = "/.initkit-exec"
	// RealInit is where initkit debug init puts the init to debug; /init
	// is then the initkit init acting as the debug hook.
	RealInit = "/.initkit/init.real"
	// LoadList, in /lib/modules/RELEASE beside modules.dep, lists the
	// modules to load at boot, one path relative to that directory a
	// line, in an order they can be loaded in.
	LoadList = "initkit.load"
	// SSHHostKey is dropbear's ed25519 host key, in dropbear's format,
	// and SSHAuthorizedKeys the keys that may unlock the root over SSH
	// (root's, dropbear reads them as OpenSSH's sshd does).
	SSHHostKey        = "/etc/dropbear/dropbear_ed25519_host_key"
	SSHAuthorizedKeys = "/root/.ssh/authorized_keys"
	// SSHHostKeyFingerprint holds the host key's SHA256 fingerprint, as
	// ssh-keygen -l prints it, for the console to show.
	SSHHostKeyFingerprint = SSHHostKey + ".fingerprint"
	// Dropbear is where an image holds dropbear.
	Dropbear = "/usr/sbin/dropbear"
)

// The crash kernel initkit boot --kdump puts into the first image: the
// kernel, the capture initramfs, and the capture kernel's command line.
// The initkit init loads them with kexec_file_load(KEXEC_FILE_ON_CRASH).
const (
	KdumpKernel  = "/.initkit/kdump/vmlinuz"
	KdumpInitrd  = "/.initkit/kdump/initrd"
	KdumpCmdline = "/.initkit/kdump/cmdline"
	// KeyKdump=capture makes the init of the capture kernel write
	// /proc/vmcore to the virtio-serial port named KdumpPort and power
	// off.
	KeyKdump  = "initkit.kdump"
	KdumpPort = "org.initkit.vmcore"
)

// UnlockArg, as the only argument of the initkit init run as any process
// but PID 1 ("/init unlock"), makes it the client of the passphrase
// prompt: dropbear runs it as the one command of every SSH session. It
// talks to the init over UnlockSocket.
const (
	UnlockArg    = "unlock"
	UnlockSocket = "/run/initkit/unlock.sock"
)

// Kernel command line keys the init reads, beyond the kernel's and
// dracut's own.
const (
	// KeyGDB=TTY (a serial port, "ttyS1") or KeyGDB=tcp:PORT makes the
	// init start gdbserver attached to itself and exec RealInit once it
	// is traced.
	KeyGDB = "initkit.gdb"
	// KeyTrace makes the init run RealInit, a #! script, under its
	// interpreter with -x: every command it runs shown on the console.
	KeyTrace   = "initkit.trace"
	KeyDebug   = "initkit.debug"   // every step with its time
	KeyTimeout = "initkit.timeout" // seconds to wait for the root
	KeyRescue  = "initkit.rescue"  // telnet: also serve the rescue shell on the network
	// KeyRoot names the real root when the init runs from a filesystem
	// on a disk (root= is then that early filesystem): the syntax of
	// root=. The init pivot_roots into it.
	KeyRoot = "initkit.root"
	// KeyInit is then the real root's init (default /sbin/init): init=
	// is the early filesystem's, which the kernel ran.
	KeyInit = "initkit.init"
	// KeyExec=OUT,ERR,STATUS names the serial ports of an exec run: the
	// command's stdout, its stderr, and the status line (default
	// ExecStdout, ExecStderr, ExecStatus). The host decides the ports'
	// order (package qemu) and says which is which here.
	KeyExec = "initkit.exec"
	// KeyDisks=N makes an exec run wait until N virtio disks are there
	// before it starts the command (initkit exec --disk).
	KeyDisks = "initkit.disks"
	// KeySSH=[ADDR:]PORT is where dropbear listens for the remote unlock
	// (default the address ip= gave, port 22); KeySSH=off keeps it off.
	KeySSH = "initkit.ssh"
)

// NewRoot is where the init mounts the root before the switch; hooks
// find it in $NEWROOT. An image for the initkit init has the directory.
const NewRoot = "/newroot"

// HookDir holds the hooks the init runs: executables named NN-name,
// run in order of name, each at the stage its number falls in (Stages).
const HookDir = "/init.d"

// Stages are the init's stages, by dracut's names (rd.break=NAME stops
// at one with a shell, after its hooks), and the hook numbers each runs:
// a hook NN runs at the stage whose First is the greatest at most NN.
var Stages = []struct {
	Name  string
	First int
	What  string
}{
	{"cmdline", 0, "the command line is read; no module loaded yet"},
	{"pre-udev", 20, "just before the modules load"},
	{"pre-mount", 40, "the modules are loaded; the root is not looked for yet"},
	{"mount", 60, "the root is mounted at " + NewRoot + " ($NEWROOT)"},
	{"pre-pivot", 80, "just before the switch to the root's init; the root is mounted at " + NewRoot},
}

// LVMConfig is the --config with which lvm runs where no udev does (the
// initkit init, disk create's VM): lvm makes its own /dev nodes and waits
// for no one.
const LVMConfig = "devices { obtain_device_list_from_udev=0 } activation { udev_sync=0 udev_rules=0 monitoring=0 } global { locking_type=1 }"

// Serial ports. QEMU numbers them in the order of its -serial options:
// the first is always the console.
const (
	Console = "ttyS0"
	// An initkit exec run has three more: the command's stdout, its
	// stderr, and the status line; KeyExec says which is which, these
	// are the defaults.
	ExecStdout = "ttyS1"
	ExecStderr = "ttyS2"
	ExecStatus = "ttyS3"
	// GDBSerial is the port gdbserver uses under initkit debug init's
	// serial transport.
	GDBSerial = "ttyS1"
)

// GDBPort is the guest's TCP port for gdbserver under the tcp transport.
const GDBPort = 1234

// ExitPrefix starts the line the init writes on ExecStatus: then the
// run's token (ExecToken), a colon, and the command's exit status in
// decimal, 128+N when signal N ended it. The token is the host's secret
// for the run, which the init reads and removes before the command
// starts: a command that writes a status line of its own to the port
// (it runs as root) cannot know it.
const ExitPrefix = "initkit-exit:"

// ExecToken holds the run's token (see ExitPrefix).
const ExecToken = "/.initkit/exec.token"

// ExecOutputs lists what the command of ExecFile writes that goes back to
// the host once it has exited, each entry ended by a NUL byte: "dir:"
// and a directory, whose regular files go back (not its subdirectories),
// or "file:" and a file. Paths are absolute, the same in the guest and
// on the host (go test's -test.gocoverdir and -test.coverprofile).
const ExecOutputs = "/.initkit/exec.out"

// Output is an entry of ExecOutputs.
type Output struct {
	Path string
	Dir  bool
}

// FormatOutputs is the content of ExecOutputs.
func FormatOutputs(outs []Output) []byte {
	var list []string
	for _, o := range outs {
		kind := "file:"
		if o.Dir {
			kind = "dir:"
		}
		list = append(list, kind+o.Path)
	}
	return FormatExecFile(list)
}

// ParseOutputs reads ExecOutputs.
func ParseOutputs(b []byte) ([]Output, error) {
	list, err := ParseList(b)
	if err != nil {
		return nil, err
	}
	var outs []Output
	for _, e := range list {
		o := Output{Path: strings.TrimPrefix(e, "file:")}
		if p, ok := strings.CutPrefix(e, "dir:"); ok {
			o = Output{Path: p, Dir: true}
		} else if o.Path == e {
			return nil, errors.New("an output that is neither dir:PATH nor file:PATH")
		}
		if !strings.HasPrefix(o.Path, "/") {
			return nil, errors.New("an output path that is not absolute")
		}
		outs = append(outs, o)
	}
	return outs, nil
}

// FilePrefix starts the header the init writes on ExecStatus before the
// bytes of a file of ExecOutputs, ahead of the status line: then the
// token, the output's index in ExecOutputs, the file's size in bytes,
// and its name in that directory ("" for a file output), colon
// separated, and a newline; the size's bytes follow as they are.
const FilePrefix = "initkit-file:"

// FileHeader is the header of a file of output index.
func FileHeader(token string, index int, size int64, name string) []byte {
	return []byte(FilePrefix + token + ":" + strconv.Itoa(index) + ":" + strconv.FormatInt(size, 10) + ":" + name + "\n")
}

// ParseFileHeader reads a FileHeader line (without its newline) of the
// run with token.
func ParseFileHeader(line, token string) (index int, size int64, name string, ok bool) {
	rest, ok := strings.CutPrefix(line, FilePrefix+token+":")
	if !ok || token == "" {
		return 0, 0, "", false
	}
	f := strings.SplitN(rest, ":", 3)
	if len(f) != 3 {
		return 0, 0, "", false
	}
	index, err1 := strconv.Atoi(f[0])
	size, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil || index < 0 || size < 0 {
		return 0, 0, "", false
	}
	return index, size, f[2], true
}

// StatusLine is the line that reports code for the run with token.
func StatusLine(token string, code int) []byte {
	return []byte(ExitPrefix + token + ":" + strconv.Itoa(code) + "\n")
}

// ParseStatus finds the status line of the run with token in what the
// status port carried: the last one with that token.
func ParseStatus(s, token string) (int, bool) {
	code, found := 0, false
	for _, l := range strings.Split(s, "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(l), ExitPrefix+token+":")
		if n, err := strconv.Atoi(v); ok && err == nil && token != "" {
			code, found = n, true
		}
	}
	return code, found
}

// FormatExecFile is the content of ExecFile for argv (and of ExecEnv
// for variables).
func FormatExecFile(argv []string) []byte {
	var b bytes.Buffer
	for _, a := range argv {
		b.WriteString(a)
		b.WriteByte(0)
	}
	return b.Bytes()
}

// ParseExecFile reads the argv that ExecFile holds.
func ParseExecFile(b []byte) ([]string, error) {
	if len(b) == 0 || b[len(b)-1] != 0 {
		return nil, errors.New("not a NUL-terminated argument list")
	}
	args := strings.Split(string(b[:len(b)-1]), "\x00")
	if args[0] == "" {
		return nil, errors.New("the command is empty")
	}
	return args, nil
}

// CheckEnv says whether kv is a variable an exec run can pass:
// NAME=VALUE, NAME a shell's name (a letter or '_', then letters, digits
// and '_'; a shell could not read any other, and env(1) would take a
// NAME starting with '-' for an option), the VALUE without a NUL byte.
func CheckEnv(kv string) error {
	name, value, ok := strings.Cut(kv, "=")
	switch {
	case !ok:
		return errors.New("not NAME=VALUE")
	case !envName(name):
		return errors.New("the name " + strconv.Quote(name) + " is not a letter or _ followed by letters, digits and _")
	case strings.IndexByte(value, 0) >= 0:
		return errors.New("the value of " + name + " holds a NUL byte")
	}
	return nil
}

func envName(s string) bool {
	for i, c := range s {
		letter := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return s != ""
}

// ParseList reads a list in FormatExecFile's format; empty is none.
func ParseList(b []byte) ([]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if b[len(b)-1] != 0 {
		return nil, errors.New("not a NUL-terminated list")
	}
	return strings.Split(string(b[:len(b)-1]), "\x00"), nil
}

// ParseEnvFile reads the variables ExecEnv holds (FormatExecFile's
// format), each checked by CheckEnv.
func ParseEnvFile(b []byte) ([]string, error) {
	env, err := ParseList(b)
	if err != nil {
		return nil, err
	}
	for _, kv := range env {
		if err := CheckEnv(kv); err != nil {
			return nil, err
		}
	}
	return env, nil
}

// ModuleName returns the kernel's name for a module name or file: the
// base name without ".ko" and what follows it (a compression suffix),
// with '-' as '_'. The kernel treats '-' and '_' alike in module names
// (kernel/params.c, parameq) and shows '_' in /proc/modules.
func ModuleName(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	if i := strings.Index(name, ".ko"); i >= 0 {
		name = name[:i]
	}
	return strings.ReplaceAll(name, "-", "_")
}

// User is who the command of an exec run runs as (ExecUser).
type User struct {
	UID, GID uint32
}

// FormatUser is the content of ExecUser.
func FormatUser(u User) []byte {
	return []byte(strconv.FormatUint(uint64(u.UID), 10) + ":" + strconv.FormatUint(uint64(u.GID), 10))
}

// ParseUser reads "UID:GID", as ExecUser holds it.
func ParseUser(s string) (User, error) {
	uid, gid, ok := strings.Cut(s, ":")
	u, err1 := strconv.ParseUint(uid, 10, 32)
	g, err2 := strconv.ParseUint(gid, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return User{}, errors.New("not UID:GID: " + strconv.Quote(s))
	}
	return User{UID: uint32(u), GID: uint32(g)}, nil
}
