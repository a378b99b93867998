package lava

import (
	"context"
	"fmt"
	"io"

	"github.com/initkit/initkit/boot"
	"github.com/initkit/initkit/repro"
	"github.com/initkit/initkit/vmexec"
)

// Remote is a farm to run on, as initkit's commands use it: the server,
// where the artifacts go, the job every run starts from (device type,
// tags, priority), and how a run is followed.
type Remote struct {
	Client    *Client
	Artifacts Artifacts
	Job       Job
	Options   RunOptions
}

// Dial is the Remote of the LAVA server at url (its token from
// $LAVA_TOKEN, else lavacli's identity for the host), the job's files
// copied into artifacts, "DIR=URL". Each job's id and link, and each try
// the farm failed, are told to progress.
func Dial(url, artifacts string, public bool, job Job, o RunOptions, progress io.Writer) (Remote, error) {
	a, err := ParseArtifacts(artifacts)
	if err != nil {
		return Remote{}, err
	}
	a.Public = public
	c, err := NewClient(url)
	if err != nil {
		return Remote{}, err
	}
	o.Submitted = func(id int) { fmt.Fprintf(progress, "initkit: LAVA job %d: %sscheduler/job/%d\n", id, c.URL, id) }
	o.Retrying = func(r Result) {
		fmt.Fprintf(progress, "initkit: %v: an infrastructure failure, submitted again\n", r.Outcome().Err)
	}
	return Remote{Client: c, Artifacts: a, Job: job, Options: o}, nil
}

// Exec runs argv as initkit exec does locally (Exec's job): the
// command's exit status (-1 when none came) and the guest's end, judged
// as a local run's (boot.Judge: a crash titled and decoded). The console
// is saved to b.LogPath when set.
func (r Remote) Exec(ctx context.Context, b boot.Options, argv, add []string, busybox string) (vmexec.Result, error) {
	j, k, err := Exec(ctx, r.Job, b, argv, add, busybox, r.Artifacts)
	if err != nil {
		return vmexec.Result{Status: -1}, err
	}
	o := r.Options
	o.Log = b.LogPath
	res, err := r.Client.Run(ctx, j, o)
	return vmexec.Result{Status: res.Status, Result: boot.Judge(res.Outcome(), k, b)}, err
}

// Boot boots the user's image as initkit boot does locally (Boot's job)
// and returns the result a local boot would; the console goes to
// b.Console and is saved where the local run's would be.
func (r Remote) Boot(ctx context.Context, b boot.Options) (boot.Result, error) {
	j, run, err := Boot(ctx, r.Job, b, r.Artifacts)
	if err != nil {
		return boot.Result{}, err
	}
	o := r.Options
	o.Console, o.Log = b.Console, run.LogPath()
	res, err := r.Client.Run(ctx, j, o)
	return boot.Judge(res.Outcome(), run.Kernel, b), err
}

// Farm is repro's farm for argv on the guest b describes: one job per
// try, which repro retries itself when the farm fails it.
func (r Remote) Farm(ctx context.Context, b boot.Options, argv, add []string) (*Farm, error) {
	j, k, err := Exec(ctx, r.Job, b, argv, add, repro.Busybox, r.Artifacts)
	if err != nil {
		return nil, err
	}
	o := r.Options
	o.Console, o.Retrying = nil, nil
	return &Farm{Client: r.Client, Job: j, Kernel: k, Boot: b, Options: o}, nil
}

// FarmFor is Farm for a repro run's options: what repro.Options.Farm and
// a bisect's batches (bisect.Job.Farm) are given.
func (r Remote) FarmFor(ctx context.Context, o repro.Options) (repro.Farm, error) {
	return r.Farm(ctx, o.Exec.Boot, o.Argv, o.Exec.Add)
}
