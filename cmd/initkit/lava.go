package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/initkit/initkit/boot"
	"github.com/initkit/initkit/lava"
)

// lavaFlags are what a run on a LAVA instance takes.
type lavaFlags struct {
	url, artifacts string
	public         bool
	job            lava.Job
	queue          time.Duration
}

func (l *lavaFlags) flags(f *pflag.FlagSet) {
	f.StringVar(&l.url, "lava", "", "run on the LAVA server at `URL` (token: $LAVA_TOKEN or lavacli's identity)")
	f.StringVar(&l.artifacts, "lava-artifacts", "", "copy the kernel and ramdisk into `DIR=URL`, a directory the farm serves at URL (file:// when the workers share the filesystem)")
	f.BoolVar(&l.public, "lava-public", false, "make the copied artifacts readable by everyone (default: the owner only)")
	f.StringVar(&l.job.DeviceType, "lava-device-type", "qemu", "the LAVA device type")
	f.StringSliceVar(&l.job.Tags, "lava-tag", nil, "device `TAGS` the job needs")
	f.StringVar(&l.job.Priority, "lava-priority", "medium", "high, medium or low")
	f.DurationVar(&l.queue, "queue-timeout", 10*time.Minute, "cancel a job no device took within this long (an infrastructure failure)")
}

// prepare fills in the job: the kernel, the ramdisk with argv, copied
// to --lava-artifacts.
func (l *lavaFlags) prepare(cmd *cobra.Command, b boot.Options, argv, add []string, busybox string) (lava.Job, error) {
	a, err := lava.ParseArtifacts(l.artifacts)
	if err != nil {
		return l.job, err
	}
	a.Public = l.public
	l.job.Name = "initkit " + cmd.Name()
	return lava.Exec(cmd.Context(), l.job, b, argv, add, busybox, a)
}

// run runs the job on the server and exits as exec would.
func (l *lavaFlags) run(cmd *cobra.Command, j lava.Job) error {
	c, err := lava.NewClient(l.url)
	if err != nil {
		return err
	}
	submitted := func(id int) {
		fmt.Fprintf(cmd.ErrOrStderr(), "initkit: LAVA job %d: %sscheduler/job/%d\n", id, c.URL, id)
	}
	res, err := c.Run(cmd.Context(), j, lava.RunOptions{Console: cmd.ErrOrStderr(), QueueTimeout: l.queue, Submitted: submitted})
	if errors.Is(err, lava.ErrQueued) {
		fmt.Fprintf(cmd.ErrOrStderr(), "initkit: %v\n", err)
		return exitCode(lava.ExitInfra)
	}
	if err != nil {
		return err
	}
	code, why := res.Verdict()
	if why != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "initkit: LAVA job %d: %s\n", res.ID, why)
	}
	return exitCode(code)
}

func newLava() *cobra.Command {
	cmd := &cobra.Command{Use: "lava", Short: "Run initkit's guests as jobs of a LAVA instance"}
	var m machine
	var l lavaFlags
	var add []string
	var busybox string
	job := &cobra.Command{
		Use:   "job [flags] [-- CMD ARGS...]",
		Short: "Print the LAVA job definition of a boot (or of one command's run), its kernel and ramdisk copied to --lava-artifacts",
		RunE: func(cmd *cobra.Command, args []string) error {
			b, _, err := m.load(cmd)
			if err != nil {
				return err
			}
			j, err := l.prepare(cmd, b, args, add, busybox)
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
	f.StringArrayVar(&add, "add", nil, "also add a host file `SRC[:DST]` with its libraries (repeatable)")
	f.StringVar(&busybox, "busybox", "/bin/busybox", "static busybox `PATH`: the guest's shell and tools")
	cmd.AddCommand(job)
	return cmd
}
