package main

import (
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/initkit/initkit/boot"
	"github.com/initkit/initkit/lava"
	"github.com/initkit/initkit/qemu"
	"github.com/initkit/initkit/vmexec"
)

// lavaFlags are what a run on a LAVA instance takes.
type lavaFlags struct {
	url, artifacts string
	public         bool
	job            lava.Job
	queue          time.Duration
	retries        int
}

func (l *lavaFlags) flags(f *pflag.FlagSet) {
	f.StringVar(&l.url, "lava", "", "run on the LAVA server at `URL` (token: $LAVA_TOKEN or lavacli's identity)")
	f.StringVar(&l.artifacts, "lava-artifacts", "", "copy the kernel and ramdisk into `DIR=URL`, a directory the farm serves at URL (file:// when the workers share the filesystem)")
	f.BoolVar(&l.public, "lava-public", false, "make the copied artifacts readable by everyone (default: the owner only)")
	f.StringVar(&l.job.DeviceType, "lava-device-type", "qemu", "the LAVA device type")
	f.StringSliceVar(&l.job.Tags, "lava-tag", nil, "device `TAGS` the job needs")
	f.StringVar(&l.job.Priority, "lava-priority", "medium", "high, medium or low")
	f.DurationVar(&l.queue, "queue-timeout", 10*time.Minute, "cancel a job no device took within this long (an infrastructure failure)")
	f.IntVar(&l.retries, "lava-retries", 2, "submit a job the farm failed (no status, crash or timeout) again, up to `N` times")
}

// remote is the farm the flags name, its progress on stderr.
func (l *lavaFlags) remote(cmd *cobra.Command) (lava.Remote, error) {
	l.job.Name = "initkit " + cmd.Name()
	o := lava.RunOptions{QueueTimeout: l.queue, Retries: l.retries}
	return lava.Dial(l.url, l.artifacts, l.public, l.job, o, cmd.ErrOrStderr())
}

// exec runs argv on the farm and exits as a local exec would.
func (l *lavaFlags) exec(cmd *cobra.Command, b boot.Options, argv, add []string, busybox string) error {
	r, err := l.remote(cmd)
	if err != nil {
		return err
	}
	r.Options.Console = cmd.ErrOrStderr()
	res, err := r.Exec(cmd.Context(), b, argv, add, busybox)
	if err != nil {
		return err
	}
	return execEnd(cmd, res)
}

// farmFlags are the flags of a command whose runs go to repro, which
// retries the farm's failures itself.
func (l *lavaFlags) farmFlags(f *pflag.FlagSet) {
	l.flags(f)
	f.Lookup("lava-retries").Hidden = true
}

func newLava() *cobra.Command {
	cmd := &cobra.Command{Use: "lava", Short: "Run initkit's guests as jobs of a LAVA instance"}
	var m machine
	var l lavaFlags
	var add []string
	var busybox string
	var disks, env []string
	job := &cobra.Command{
		Use:   "job [flags] [-- CMD ARGS...]",
		Short: "Print the LAVA job definition of a boot of the spec's image or --initrd (as boot --lava), of one command's run (as exec --lava), or of a boot to a shell; its kernel and ramdisk copied to --lava-artifacts",
		RunE: func(cmd *cobra.Command, args []string) error {
			b, _, err := m.load(cmd)
			if err != nil {
				return err
			}
			for _, d := range disks {
				b.Disks = append(b.Disks, qemu.ParseDisk(d))
			}
			a, err := lava.ParseArtifacts(l.artifacts)
			if err != nil {
				return err
			}
			a.Public = l.public
			j := l.job
			j.Name = "initkit job"
			if j.Env, err = vmexec.Environ(env, os.LookupEnv); err != nil {
				return err
			}
			if len(args) == 0 && b.Image != nil || b.Initrd != "" {
				j, _, err = lava.Boot(cmd.Context(), j, b, a)
			} else {
				j, _, err = lava.Exec(cmd.Context(), j, b, args, add, busybox, a)
			}
			if err != nil {
				return err
			}
			def, err := j.Definition()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(def)
			return err
		},
	}
	f := job.Flags()
	m.flags(f)
	l.flags(f)
	f.StringArrayVar(&add, "add", nil, "also add a host file with its libraries, or a directory whole, `SRC[:DST]` (repeatable)")
	f.StringVar(&busybox, "busybox", "/bin/busybox", "static busybox `PATH`: the guest's shell and tools")
	f.StringVar(&m.boot.Initrd, "initrd", "", "boot this initramfs `IMAGE`, its own init, as boot --lava does")
	f.DurationVar(&l.job.Limit, "limit", 0, "kill CMD after this long, as each of repro --lava's runs is at its --duration")
	f.StringArrayVar(&disks, "disk", nil, "attach disk image `FILE[:ro]` as /dev/vda, vdb, ... in order (repeatable)")
	envFlag(f, &env)
	cmd.AddCommand(job)
	return cmd
}
