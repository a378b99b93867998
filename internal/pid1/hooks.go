package pid1

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"syscall"

	"github.com/initkit/initkit/guest"
)

func validStage(name string) bool {
	for _, s := range guest.Stages {
		if s.Name == name {
			return true
		}
	}
	return false
}

// hookStage is the stage a hook named NN-name runs at, "" for a name
// that is not a hook's.
func hookStage(name string) string {
	if len(name) < 4 || name[2] != '-' {
		return ""
	}
	n, err := strconv.Atoi(name[:2])
	if err != nil || n < 0 {
		return ""
	}
	stage := ""
	for _, s := range guest.Stages {
		if n >= s.First {
			stage = s.Name
		}
	}
	return stage
}

// stage runs the hooks of stage name, in order of name, then rd.break's
// shell when the command line asks to stop there. A hook that fails
// stops the boot: the error names it.
func (in *initProc) stage(name string) error {
	ents, _ := readDir(guest.HookDir)
	var hooks []string
	for _, e := range ents {
		if !e.dir && hookStage(e.name) == name {
			hooks = append(hooks, e.name)
		}
	}
	sortStrings(hooks)
	for _, h := range hooks {
		p := guest.HookDir + "/" + h
		in.debugf("stage %s: hook %s", name, p)
		if code, err := in.runHook(p, name); err != nil || code != 0 {
			if err == nil {
				err = fmt.Errorf("exit %d", code)
			}
			return errors.New("hook " + p + " (stage " + name + ") failed: " + err.Error())
		}
	}
	if slices.Contains(in.cmd.Break, name) && !slices.Contains(in.broke, name) {
		in.broke = append(in.broke, name)
		in.rescue(fmt.Errorf("rd.break=%s: stopped as asked (%s); exit the shell to go on", name, stageWhat(name)))
	}
	return nil
}

func stageWhat(name string) string {
	for _, s := range guest.Stages {
		if s.Name == name {
			return s.What
		}
	}
	return ""
}

// runHook runs one hook on the console with the stage, the root and
// where it is mounted in its environment, and reaps every process until
// it has exited (PID 1 inherits the hook's orphans).
func (in *initProc) runHook(path, stage string) (int, error) {
	env := append(os.Environ(), "PATH=/sbin:/bin:/usr/sbin:/usr/bin", "INITKIT_STAGE="+stage,
		"INITKIT_ROOT="+in.cmd.Root, "NEWROOT="+NewRoot)
	if in.root != nil {
		env = append(env, "INITKIT_ROOT_DEVICE="+in.root.Path)
	}
	if in.net != nil {
		env = append(env, "INITKIT_IP="+in.net.addr, "INITKIT_IFACE="+in.net.dev)
	}
	p, err := os.StartProcess(path, []string{path}, &os.ProcAttr{Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}, Env: env})
	if err != nil {
		return -1, err
	}
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err != nil && err != syscall.EINTR {
			return -1, err
		}
		if pid == p.Pid {
			if ws.Signaled() {
				return 128 + int(ws.Signal()), nil
			}
			return ws.ExitStatus(), nil
		}
	}
}

// wantsStage reports whether stage name has hooks or an rd.break.
func (in *initProc) wantsStage(name string) bool {
	if slices.Contains(in.cmd.Break, name) {
		return true
	}
	ents, _ := readDir(guest.HookDir)
	for _, e := range ents {
		if !e.dir && hookStage(e.name) == name {
			return true
		}
	}
	return false
}
