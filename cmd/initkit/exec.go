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

func newExec() *cobra.Command {
	var o vmexec.Options
	var m machine
	var l lavaFlags
	var dirLimit string
	var disks []string
	var backing bool
	var env, copyOut []string
	var user string
	var stdin bool
	cmd := &cobra.Command{
		Use:   "exec [flags] [--] CMD [ARGS...]",
		Short: "Run one command in a fresh VM, like a local command",
		Long:  help("exec"),
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			interrupt.Graceful(interrupt.Stops...)
			b, _, err := m.load(cmd)
			if err != nil {
				return err
			}
			o.Boot, o.Boot.Image = b, nil // exec's image is its own: only [boot] counts
			for _, d := range disks {
				disk := qemu.ParseDisk(d)
				disk.Backing = backing
				o.Boot.Disks = append(o.Boot.Disks, disk)
			}
			if err := o.SetWorkdir(dirLimit); err != nil {
				return err
			}
			if err := o.SetEnvAndOutputs(args, env, copyOut); err != nil {
				return err
			}
			if user != "" {
				u, err := vmexec.LookupUser(user)
				if err != nil {
					return err
				}
				o.User = &u
			}
			if stdin {
				if _, ok := qemu.Terminal(cmd.InOrStdin()); ok {
					fmt.Fprintln(cmd.ErrOrStderr(), "initkit exec: reading stdin to its end (Ctrl-D) before the VM starts")
				}
				if o.Stdin, err = vmexec.ReadStdin(cmd.InOrStdin()); err != nil {
					return err
				}
			}
			if _, err := os.Stat(o.Busybox); err != nil && !cmd.Flags().Changed("busybox") {
				o.Busybox = "" // busybox is for the command's convenience only
			}
			if l.url != "" {
				if len(o.Outputs) > 0 {
					return fmt.Errorf("%s: no file comes back from a LAVA job (--copy-out, go test's -test.gocoverdir and profiles)", o.Outputs[0].Path)
				}
				if o.User != nil || stdin {
					return errors.New("--user and --stdin: not on a LAVA job, whose command runs as the farm's test shell runs it")
				}
				l.job.Env = o.Env
				return l.exec(cmd, o.Boot, args, o.Add, o.Busybox)
			}
			o.Stdout, o.Stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
			res, err := vmexec.Run(cmd.Context(), args, o)
			if err != nil && !errors.Is(err, vmexec.ErrNoStatus) {
				return err
			}
			return execEnd(cmd, res)
		},
	}
	f := cmd.Flags()
	// What follows CMD is CMD's, as for env(1) or sudo: initkit exec ls -l.
	f.SetInterspersed(false)
	m.flags(f)
	l.flags(f)
	f.Lookup("log").Usage = "save the kernel console to `FILE` (a crash's report is shown either way)"
	f.StringVar(&dirLimit, "workdir-limit", "64M", "copy the working directory into the guest, where CMD runs, up to this `SIZE` of files (0: run in / with nothing copied)")
	f.StringVar(&o.Busybox, "busybox", "/bin/busybox", "static busybox `PATH` for the guest (\"\": none)")
	f.StringSliceVar(&o.Applets, "applets", nil, "link only these busybox `APPLETS` (comma-separated; default: all)")
	f.StringVar(&m.boot.Initrd, "initrd", "", "append to this initramfs `IMAGE` instead of starting empty")
	f.StringArrayVar(&o.Add, "add", nil, "also add a host file `SRC[:DST]` with its libraries (repeatable)")
	f.StringArrayVar(&disks, "disk", nil, "attach disk image `FILE[:ro]` as /dev/vda, vdb, ... in order, written back unless :ro (repeatable)")
	f.StringVar(&m.boot.Root, "root", "", "run CMD in the first --disk's partition `PART` (PARTLABEL, number, or a root= value), mounted read-write, with /dev, /proc and /sys")
	f.BoolVar(&backing, "disk-backing", false, "let qcow2 disks open the backing and data files they name (host files: refused by default)")
	envFlag(f, &env)
	f.BoolVarP(&stdin, "stdin", "i", false, "give CMD initkit's stdin, read to its end before the VM starts (up to 64 MiB; default /dev/null)")
	f.StringVar(&user, "user", "", "run CMD as `USER[:GROUP]`, numbers or the host's names (default root); its directory and --copy-out's become its own")
	f.StringArrayVar(&copyOut, "copy-out", nil, "once CMD has exited, copy `PATH` back to the host: a file, or a directory's files (PATH/ or an existing directory); made empty in the guest first (repeatable)")
	f.StringSliceVar(&o.Modules, "module", nil, "load kernel module `NAME` (with its dependencies) before CMD starts (repeatable, comma-separated)")
	return cmd
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
