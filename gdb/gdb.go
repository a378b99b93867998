// Package gdb writes the gdb command files of initkit's debug sessions
// and runs gdb on them: one for PID 1 of an initramfs under gdbserver on
// a serial port, one for the kernel under QEMU's gdb stub.
package gdb

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/initkit/initkit/kernel"
)

// InitSession describes a debug session of an init.
type InitSession struct {
	Sysroot string // a local copy of the image: gdb reads files here, not over the wire
	Target  string // "/path/to/socket" (unix) or "127.0.0.1:PORT"
	Break   string // function to stop at in the real init; "" to stop right after the exec
	Extra   []string
}

// Script is the gdb command file: attach, catch the execve into the real
// init, then stop at Break. The exec is caught with a syscall catchpoint,
// which stops at its entry and again at its return, where the new program
// is loaded and Break can be resolved in it.
func (s InitSession) Script() string {
	var b strings.Builder
	fmt.Fprintf(&b, "set pagination off\nset confirm off\nset sysroot %s\n", s.Sysroot)
	// A serial line under TCG can take longer than gdb's default 2 s to
	// answer; a retransmitted packet then desynchronizes the session.
	b.WriteString("set remotetimeout 30\n")
	fmt.Fprintf(&b, "target remote %s\n", s.Target)
	b.WriteString("catch syscall execve\ncontinue\ncontinue\ndelete\n")
	if s.Break != "" {
		fmt.Fprintf(&b, "break %s\ncontinue\n", s.Break)
	}
	for _, l := range s.Extra {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// KernelSession describes a debug session of the kernel.
type KernelSession struct {
	Vmlinux string
	Target  string // 127.0.0.1:PORT of QEMU's stub
	Break   string
	Extra   []string
}

// Script loads the vmlinux (and the kernel's gdb helpers when its build
// tree has them), connects to the stub, and stops at Break.
func (s KernelSession) Script() string {
	var b strings.Builder
	b.WriteString("set pagination off\nset confirm off\n")
	// The helpers are allowed before the vmlinux is loaded, which loads
	// them: allowing them after made gdb decline them first, with its
	// whole warning about auto-loading on the screen.
	if py := helpers(s.Vmlinux); py != "" && !strings.Contains(filepath.Dir(py), ":") {
		// A list of directories, ':' between them: the rest of the line
		// as it is.
		fmt.Fprintf(&b, "add-auto-load-safe-path %s\n", filepath.Dir(py))
	}
	fmt.Fprintf(&b, "file %s\n", quote(s.Vmlinux))
	fmt.Fprintf(&b, "target remote %s\n", s.Target)
	if s.Break != "" {
		fmt.Fprintf(&b, "break %s\ncontinue\n", s.Break)
	}
	for _, l := range s.Extra {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// quote quotes a file name for gdb's commands that split their
// arguments as libiberty's buildargv does (file, symbol-file): in double
// quotes, a backslash escapes the next character. Names with a newline
// never get here (debug refuses them).
func quote(name string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `"`
}

// helpers finds vmlinux-gdb.py beside a vmlinux in a kernel build tree
// (scripts/gdb, made by CONFIG_GDB_SCRIPTS).
func helpers(vmlinux string) string {
	p := filepath.Join(filepath.Dir(vmlinux), "vmlinux-gdb.py")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// WriteScript writes script to dir/name and returns the path.
func WriteScript(dir, name, script string) (string, error) {
	p := filepath.Join(dir, name)
	return p, os.WriteFile(p, []byte(script), 0o644)
}

// Program is the gdb that debugs a guest of arch: gdb (or the one
// given) for the host's machine; for another, Debian's gdb-multiarch,
// since the host's gdb reads its own machine only (on an arm64 kernel it
// said "Truncated register 37 in remote 'g' packet").
func Program(given, arch string) (string, error) {
	if given != "" || arch == "" || arch == kernel.HostArch() {
		return cmp.Or(given, "gdb"), nil
	}
	if _, err := exec.LookPath("gdb-multiarch"); err != nil {
		return "", fmt.Errorf("an %s guest: the host's gdb reads %s only; install gdb-multiarch (apt-get install gdb-multiarch), or give --gdb", arch, kernel.HostArch())
	}
	return "gdb-multiarch", nil
}

// Command is the gdb invocation for a script: quiet, no ~/.gdbinit, and
// with -batch when the session is scripted to its end.
func Command(ctx context.Context, gdb, script string, batch bool) *exec.Cmd {
	if gdb == "" {
		gdb = "gdb"
	}
	args := []string{"-q", "-nx"}
	if batch {
		args = append(args, "-batch")
	}
	args = append(args, "-x", script)
	return exec.CommandContext(ctx, gdb, args...)
}

// BatchLines reads a --batch file: the commands to run after the stop.
func BatchLines(file string) ([]string, error) {
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n"), nil
}

// DetachRace reports whether gdb's output ends in the one benign failure
// of a scripted session: the guest powered off right after a detach, and
// the serial port's last bytes (gdbserver's reply to the detach) were
// never sent, as a UART is not drained at power-off. gdb then fails the
// script's detach line with "Remote connection closed".
func DetachRace(output, script string) bool {
	m := detachErr.FindAllStringSubmatch(output, -1)
	if m == nil {
		return false
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	lines := strings.Split(script, "\n")
	return n >= 1 && n <= len(lines) && strings.TrimSpace(lines[n-1]) == "detach"
}

var detachErr = regexp.MustCompile(`:(\d+): Error in sourced command file:\s*\nRemote connection closed`)
