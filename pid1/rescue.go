package pid1

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"syscall"

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
			return fmt.Errorf("usage: mount DEV DIR [TYPE]")
		}
		typ := ""
		if len(f) > 3 {
			typ = f[3]
		}
		os.MkdirAll(f[2], 0o755)
		return unix.Mount(f[1], f[2], typ, 0, "")
	case "umount":
		if len(f) < 2 {
			return fmt.Errorf("usage: umount DIR")
		}
		return unix.Unmount(f[1], 0)
	case "modprobe":
		for _, n := range f[1:] {
			in.mods.loadName(strings.ReplaceAll(n, "-", "_"))
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
		return fmt.Errorf("unknown command (type help)")
	}
	return nil
}

// startTelnet is the network rescue shell, off unless initkit.rescue=telnet.
func (in *initProc) startTelnet() {
	in.logf("initkit.rescue=telnet: not available in this init yet")
}
