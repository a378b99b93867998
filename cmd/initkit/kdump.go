package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/initkit/initkit/kdump"
	"github.com/initkit/initkit/kernel"
)

// kdumpPlan prepares --kdump and adds --panic-on's command line; nil
// without --kdump.
func (b *bootFlags) kdumpPlan(ctx context.Context, stderr io.Writer, k *kernel.Choice, run string) (*kdump.Plan, error) {
	c := &b.cfg
	panics, err := kdump.PanicArgs(b.panicOn)
	if err != nil {
		return nil, err
	}
	c.Append = strings.TrimSpace(c.Append + " " + panics)
	if !b.kdump && !b.kdumpSet {
		if b.kdump, err = kdump.Asked("initkit.toml"); err != nil {
			return nil, err
		}
	}
	if !b.kdump {
		return nil, nil
	}
	if b.crashKernel != "" {
		// The capture image's modules are the crash kernel's.
		if k, err = kernel.Choose(ctx, kernel.Request{Kernel: b.crashKernel}); err != nil {
			return nil, err
		}
	}
	mods, err := k.NeedModules()
	if err != nil {
		return nil, fmt.Errorf("--kdump: the capture image needs virtio_console: %w", err)
	}
	o := kdump.Options{Kernel: k.Image, ModulesDir: mods, NoMakedumpfile: b.noFilter, Dir: run}
	p, err := kdump.Prepare(c.Initrd, o)
	if err != nil {
		return nil, err
	}
	c.Initrd, c.Crash = p.Initrd, false
	c.Append = strings.TrimSpace(c.Append + " " + p.Append)
	c.Extra = append(c.Extra, p.QEMUArgs...)
	filter := "makedumpfile -d 31"
	if !p.Filtered {
		filter = "no makedumpfile: the ELF core as it is"
	}
	fmt.Fprintf(stderr, "initkit boot: kdump: capture image %s (%d KB unpacked; %s), crashkernel=%s\n", p.Capture, p.CaptureSize>>10, filter, p.Reserve)
	return p, nil
}
