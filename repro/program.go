package repro

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/initkit/initkit/internal/procgroup"
)

// Program is what a run executes in the guest.
type Program struct {
	Argv []string // the program (a host path) and its arguments
	Add  []string // more host files the guest needs, "SRC:DST"
}

// m32 finds a C reproducer that asks for a 32-bit build: syzkaller writes
// the architecture it was generated for in its header comment, and people
// write the command they built it with.
var m32 = regexp.MustCompile(`(?m)^\s*(//|/?\*).*(\s-m32\b|\barch:\s*(386|i386)\b)`)

// Bounds of a reproducer's compile. A reproducer is from elsewhere (a
// syzbot bug, a URL), and gcc reads what its #include lines name: "/dev/zero"
// grows the compiler without end, a FIFO or /dev/tty blocks it. A real
// reproducer compiles in a second or two, in a hundred MB or so.
var (
	compileMemory = 4 << 30 // address space of gcc and each program it runs (RLIMIT_AS)
	compileTime   = 5 * time.Minute
)

// Compile builds a C reproducer as a static program into dir, with gcc
// (-static -pthread, and -m32 when the source asks for it). The compiler's
// own words are the error when it fails. gcc runs without a terminal, in
// a process group of its own, bounded in memory and time.
func Compile(ctx context.Context, src, dir string) (string, error) {
	code, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, strings.TrimSuffix(filepath.Base(src), ".c"))
	args := []string{"-static", "-pthread", "-O1", "-w", "-o", out, src}
	if m32.Match(code) {
		args = append([]string{"-m32"}, args...)
	}
	ctx, cancel := context.WithTimeout(ctx, compileTime)
	defer cancel()
	// prlimit (util-linux) sets the limit before gcc starts, so that cc1,
	// as and ld inherit it.
	cmd := exec.CommandContext(ctx, "prlimit", append([]string{"--as=" + strconv.Itoa(compileMemory), "--", "gcc"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	procgroup.Own(cmd)
	// A session of its own (and so a group): no terminal to block on.
	cmd.SysProcAttr.Setpgid, cmd.SysProcAttr.Setsid = false, true
	err = cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return "", fmt.Errorf("gcc %s: still compiling after %v: stopped (a reproducer compiles in seconds; does it #include a device or a FIFO?)", src, compileTime)
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 4000 {
			msg = msg[:4000] + "\n..."
		}
		return "", fmt.Errorf("gcc %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	return out, nil
}

// Syz returns the program that runs a syzkaller program: syz-execprog and
// syz-executor from syzDir (or its linux_amd64 directory, as syzkaller's
// build leaves them), looping the program as syzbot's reproducers do.
func Syz(prog, syzDir string) (Program, error) {
	if syzDir == "" {
		return Program{}, fmt.Errorf("%s is a syzkaller program: it runs with syz-execprog and syz-executor (--syz-dir DIR, a syzkaller build's bin directory)", prog)
	}
	var dir string
	for _, d := range []string{syzDir, filepath.Join(syzDir, "linux_amd64")} {
		if _, err := os.Stat(filepath.Join(d, "syz-execprog")); err == nil {
			dir = d
			break
		}
	}
	if dir == "" {
		return Program{}, fmt.Errorf("--syz-dir %s: no syz-execprog there, nor in its linux_amd64", syzDir)
	}
	executor := filepath.Join(dir, "syz-executor")
	if _, err := os.Stat(executor); err != nil {
		return Program{}, fmt.Errorf("--syz-dir %s: %w", syzDir, errors.Unwrap(err))
	}
	abs, err := filepath.Abs(prog)
	if err != nil {
		return Program{}, err
	}
	executor, _ = filepath.Abs(executor)
	return Program{
		Argv: []string{filepath.Join(dir, "syz-execprog"), "-executor=" + executor, "-repeat=0", "-procs=1", "-cover=0", abs},
		Add:  []string{executor + ":" + executor, abs + ":" + abs},
	}, nil
}

// ProgramFor is the program a reproducer file runs as: a C source
// compiled into dir, a .syz program through syz-execprog, or any other
// file run as it is.
func ProgramFor(ctx context.Context, path, dir, syzDir string) (Program, error) {
	switch filepath.Ext(path) {
	case ".c":
		bin, err := Compile(ctx, path, dir)
		return Program{Argv: []string{bin}}, err
	case ".syz":
		return Syz(path, syzDir)
	}
	abs, err := filepath.Abs(path)
	return Program{Argv: []string{abs}}, err
}
