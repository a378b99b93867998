// Package procgroup runs a host tool in a process group of its own, so
// that stopping it stops whatever it started too: make's compilers,
// gcc's cc1, crash's shell commands, dpkg-deb's decompressors.
package procgroup

import (
	"os/exec"
	"syscall"
	"time"
)

// Own puts cmd, made by exec.CommandContext and not yet started, in a
// process group of its own: when its context ends the whole group is
// killed, and cmd itself when initkit dies (PR_SET_PDEATHSIG). Wait gives
// up on output a survivor still holds open after 5 s.
func Own(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
}
