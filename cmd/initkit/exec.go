package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/initkit/initkit/internal/interrupt"
	"github.com/initkit/initkit/qemu"
	"github.com/initkit/initkit/vmexec"
)

// execFlags are exec's flags: the machine's, and the command's.
type execFlags struct {
	machine
	lava                lavaFlags
	o                   vmexec.Options
	dirLimit, user, net string
	disks, env, copyOut []string
	backing, stdin      bool
}

func newExec() *cobra.Command {
	var e execFlags
	cmd := &cobra.Command{
		Use:   "exec [flags] [--] CMD [ARGS...]",
		Short: "Run one command in a fresh VM, like a local command",
		Long:  help("exec"),
		Args:  nArgs(1, -1),
		RunE:  func(cmd *cobra.Command, args []string) error { return runExec(cmd, &e, args) },
	}
	f := cmd.Flags()
	// What follows CMD is CMD's, as for env(1) or sudo: initkit exec ls -l.
	f.SetInterspersed(false)
	e.flags(f)
	e.lava.flags(f)
	f.Lookup("log").Usage = "save the kernel console to `FILE` (a crash's report is shown either way)"
	f.StringVar(&e.dirLimit, "workdir-limit", "64M", "copy the working directory into the guest, where CMD runs, up to this `SIZE` of files (0: run in / with nothing copied)")
	f.StringVar(&e.o.Busybox, "busybox", "/bin/busybox", "static busybox `PATH` for the guest (\"\": none)")
	f.StringSliceVar(&e.o.Applets, "applets", nil, "link only these busybox `APPLETS` (comma-separated; default: all)")
	f.StringVar(&e.boot.Initrd, "initrd", "", "append to this initramfs `IMAGE` instead of starting empty")
	f.StringArrayVar(&e.o.Add, "add", nil, "also add a host file with its libraries, or a directory whole, `SRC[:DST]` (repeatable)")
	f.StringArrayVar(&e.disks, "disk", nil, "attach disk image `FILE[:ro]` as /dev/vda, vdb, ... in order, written back unless :ro (repeatable)")
	f.StringVar(&e.boot.Root, "root", "", "run CMD in the first --disk's partition `PART` (PARTLABEL, number, or a root= value), mounted read-write, with /dev, /proc and /sys")
	f.BoolVar(&e.backing, "disk-backing", false, "let qcow2 disks open the backing and data files they name (host files: refused by default)")
	envFlag(f, &e.env)
	f.StringVar(&e.net, "net", "", "networking: user (QEMU's user network: the host's 127.0.0.1 is 10.0.2.2; none by default)")
	f.BoolVarP(&e.stdin, "stdin", "i", false, "give CMD initkit's stdin, read to its end before the VM starts (up to 64 MiB; default /dev/null)")
	f.StringVar(&e.user, "user", "", "run CMD as `USER[:GROUP]`, numbers or the host's names (default root); its directory and --copy-out's become its own")
	f.StringArrayVar(&e.copyOut, "copy-out", nil, "once CMD has exited, copy `PATH` back to the host: a file, or a directory's files (PATH/ or an existing directory); made empty in the guest first (repeatable)")
	f.StringSliceVar(&e.o.Modules, "module", nil, "load kernel module `NAME` (with its dependencies) before CMD starts (repeatable, comma-separated)")
	return cmd
}

func runExec(cmd *cobra.Command, e *execFlags, args []string) error {
	interrupt.Graceful(interrupt.Stops...)
	o, err := e.options(cmd, args)
	if err != nil {
		return err
	}
	if e.lava.url != "" {
		return e.onFarm(cmd, o, args)
	}
	o.Stdout, o.Stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
	res, err := vmexec.Run(cmd.Context(), args, o)
	if err != nil && !errors.Is(err, vmexec.ErrNoStatus) {
		return err
	}
	return execEnd(cmd, res)
}

// options are the run's: the flags', over the spec file's [boot].
func (e *execFlags) options(cmd *cobra.Command, args []string) (vmexec.Options, error) {
	o := e.o
	if e.lava.url != "" && (e.user != "" || e.stdin || e.net != "") {
		return o, errors.New("--user, --stdin and --net: not on a LAVA job, whose command runs as the farm's test shell runs it")
	}
	if e.net != "" {
		if _, err := qemu.Network(e.net, 0); err != nil {
			return o, err
		}
		o.Net = true
	}
	b, _, err := e.load(cmd)
	if err != nil {
		return o, err
	}
	o.Boot, o.Boot.Image = b, nil // exec's image is its own: only [boot] counts
	for _, d := range e.disks {
		disk := qemu.ParseDisk(d)
		disk.Backing = e.backing
		o.Boot.Disks = append(o.Boot.Disks, disk)
	}
	if err := o.SetWorkdir(e.dirLimit); err != nil {
		return o, err
	}
	if err := o.SetEnvAndOutputs(args, e.env, e.copyOut); err != nil {
		return o, err
	}
	if e.user != "" {
		u, err := vmexec.LookupUser(e.user)
		if err != nil {
			return o, err
		}
		o.User = &u
	}
	if e.stdin {
		if _, ok := qemu.Terminal(cmd.InOrStdin()); ok {
			fmt.Fprintln(cmd.ErrOrStderr(), "initkit exec: reading stdin to its end (Ctrl-D) before the VM starts")
		}
		if o.Stdin, err = vmexec.ReadStdin(cmd.InOrStdin()); err != nil {
			return o, err
		}
	}
	if _, err := os.Stat(o.Busybox); err != nil && !cmd.Flags().Changed("busybox") {
		o.Busybox = "" // busybox is for the command's convenience only
	}
	return o, nil
}

// onFarm runs the command as a LAVA job, which brings no file back.
func (e *execFlags) onFarm(cmd *cobra.Command, o vmexec.Options, args []string) error {
	if len(o.Outputs) > 0 {
		return fmt.Errorf("%s: no file comes back from a LAVA job (--copy-out, go test's -test.gocoverdir and profiles)", o.Outputs[0].Path)
	}
	e.lava.job.Env = o.Env
	return e.lava.exec(cmd, o.Boot, args, o.Add, o.Busybox)
}

// envFlag adds --env, the variables CMD gets (vmexec.Environ).
func envFlag(f *pflag.FlagSet, env *[]string) {
	f.StringArrayVar(env, "env", nil, "set `NAME=VALUE` in CMD's environment, or NAME to pass the host's value (repeatable)")
}

// execEnd exits as the command did, here or on a farm; a run that ended
// without its status is reported first (a crash: 3, a timeout: 4).
func execEnd(cmd *cobra.Command, res vmexec.Result) error {
	if !res.HasStatus() {
		res.Report(cmd.ErrOrStderr(), "exec")
	}
	return exitCode(res.ExitCode())
}
