package lava

import (
	"context"
	"strings"
	"time"

	"github.com/initkit/initkit/boot"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/repro"
)

// Farm does initkit repro's tries as jobs on a LAVA server
// (repro.Farm): the job Exec prepared, with the reproducer as its
// command, submitted once per try, and its console judged as a local
// run's.
type Farm struct {
	Client *Client
	Job    Job
	Kernel *kernel.Choice // whose vmlinux decodes a crash
	Boot   boot.Options   // NoDecode and ModuleDirs: how a crash is decoded
	// Options are each try's; Log is the try's own, and a try the farm
	// failed is repro's to retry.
	Options RunOptions
}

// BootAllowance is what a job gets beyond the program's limit: the
// download, a boot under TCG, LAVA's overlay.
const BootAllowance = 5 * time.Minute

// Try implements repro.Farm.
func (f *Farm) Try(ctx context.Context, limit time.Duration, log string) (repro.FarmTry, error) {
	j := f.Job
	j.Limit, j.Timeout = limit, limit+BootAllowance
	o := f.Options
	o.Log, o.Retries = log, 0
	res, err := f.Client.Run(ctx, j, o)
	return repro.FarmTry{Result: boot.Judge(res.Outcome(), f.Kernel, f.Boot), Status: res.Status,
		Started: strings.Contains(res.Console, Started)}, err
}
