// Package lava runs initkit's guests as jobs of a LAVA instance, the
// scheduler the kernel community's farms use: a job definition in LAVA's
// v2 schema (deploy to tmpfs, boot with QEMU, a test shell), a client of
// its REST API (api/v0.2) that submits, follows and cancels jobs, and the
// artifacts a job downloads, copied where the farm serves them.
//
// The guest is the one LAVA expects: a shell on the console, driven by
// LAVA's test runner, whose scripts LAVA adds to the ramdisk (its
// "overlay"); the command's exit status comes back as a test case's
// measurement, read from the results, not from the job's health, which
// is Complete whatever a test case says.
package lava

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/initkit/initkit/guest"
	"github.com/initkit/initkit/internal/shell"
)

// StatusCase is the test case whose measurement is the command's exit
// status.
const StatusCase = "initkit-status"

// Job is what one job runs: a kernel and a ramdisk (URLs the worker can
// fetch), the guest's size and command line, and the command the test
// shell runs (none: the job boots, and the shell's prompt is the end).
type Job struct {
	Name       string
	DeviceType string   // default "qemu"
	Tags       []string // the device tags the job needs
	Priority   string   // high, medium (default) or low
	// Timeout bounds the whole job (default 10 min); the boot and the
	// test each get it too, LAVA's actions being bounded separately.
	Timeout time.Duration
	Kernel  string // URL
	Ramdisk string // URL of an uncompressed newc archive: LAVA unpacks it to add its overlay
	Memory  int    // MiB (default: the device's)
	SMP     int    // CPUs (default 1)
	Append  string // kernel command line after console=ttyS0
	// Disks are attached as virtio disks, /dev/vda, vdb, ... in order:
	// copies the worker downloads, so the guest's writes stay there.
	Disks   []Disk
	Command []string
	// Env are variables, NAME=VALUE (guest.CheckEnv), set for Command.
	Env []string
	// Limit kills the command after so long (busybox timeout); 0: none.
	Limit time.Duration
	// UserImage says the ramdisk is the user's own image, with its own
	// init, passed to QEMU as it is: no overlay, no test shell, and the
	// job ends when the kernel powers off (PowerOff), crashes, or at its
	// timeout. Without it the ramdisk is Image's, a shell LAVA drives.
	UserImage bool
}

// Disk is a disk image a job attaches.
type Disk struct {
	URL      string
	Format   string // raw or qcow2 (without a backing file)
	ReadOnly bool
}

// PowerOff is what the kernel prints as it powers the machine off
// (kernel/reboot.c's kernel_power_off, under pr_fmt "reboot: "): the end
// of a boot of the user's image.
const PowerOff = "reboot: Power down"

// timeout is Timeout, or its default.
func (j Job) timeout() time.Duration {
	if j.Timeout <= 0 {
		return 10 * time.Minute
	}
	return j.Timeout
}

// Definition is the job's definition, YAML in LAVA's v2 schema.
func (j Job) Definition() ([]byte, error) {
	if j.Kernel == "" || j.Ramdisk == "" {
		return nil, fmt.Errorf("a job needs a kernel and a ramdisk URL")
	}
	if j.UserImage && len(j.Command) > 0 {
		return nil, fmt.Errorf("a job of the user's own image runs its init, not a command")
	}
	if err := j.checkPriority(); err != nil {
		return nil, err
	}
	check := append([]string{j.Kernel, j.Ramdisk, j.Append}, j.Tags...)
	for _, d := range j.Disks {
		if d.Format != "raw" && d.Format != "qcow2" {
			return nil, fmt.Errorf("disk %s: format %q: want raw or qcow2", d.URL, d.Format)
		}
		check = append(check, d.URL)
	}
	for _, s := range check {
		if strings.ContainsAny(s, "\"\n\r{}") {
			return nil, fmt.Errorf("%q: quotes, braces and line breaks cannot reach QEMU's command line", s)
		}
	}
	timeout := j.timeout()
	extra := []string{"-no-reboot", "-smp", strconv.Itoa(max(j.SMP, 1))}
	if j.Memory > 0 {
		extra = append(extra, "-m", strconv.Itoa(j.Memory))
	}
	def := definition{
		JobName:    cmp.Or(j.Name, "initkit"),
		DeviceType: cmp.Or(j.DeviceType, "qemu"),
		Visibility: "public",
		Priority:   cmp.Or(j.Priority, "medium"),
		Tags:       j.Tags,
		Timeouts:   timeouts{Job: minutes(timeout), Action: minutes(timeout), Connection: minutes(2 * time.Minute)},
		// -no-reboot: a panicking kernel otherwise reboots, and the
		// job loops until its boot timeout.
		Context: map[string]any{"arch": "amd64", "extra_options": extra},
	}
	ramdisk := map[string]any{"url": j.Ramdisk, "image_arg": "-initrd {ramdisk}"}
	prompt := PowerOff
	if !j.UserImage {
		ramdisk["format"], ramdisk["overlays"], prompt = "cpio.newc", map[string]any{"lava": true}, Prompt
	}
	images := map[string]any{
		"kernel": map[string]any{"url": j.Kernel,
			"image_arg": `-kernel {kernel} -append "console=ttyS0,115200 panic=-1 ` + j.Append + `"`},
		"ramdisk": ramdisk,
	}
	for i, d := range j.Disks {
		// The label is LAVA's name for the downloaded file in image_arg;
		// file.driver=file keeps a name from being read as a protocol.
		label := "disk" + strconv.Itoa(i)
		drive := "if=none,id=" + label + ",format=" + d.Format + ",file.driver=file,file.filename={" + label + "}"
		if d.ReadOnly {
			drive += ",readonly=on"
		}
		images[label] = map[string]any{"url": d.URL, "image_arg": "-drive " + drive + " -device virtio-blk-pci,drive=" + label}
	}
	deploy := map[string]any{"to": "tmpfs", "timeout": minutes(2 * time.Minute), "images": images}
	boot := map[string]any{"method": "qemu", "media": "tmpfs", "timeout": minutes(timeout), "prompts": []string{prompt}}
	def.Actions = []map[string]any{{"deploy": deploy}, {"boot": boot}}
	if len(j.Command) > 0 && !j.UserImage {
		step, err := j.step()
		if err != nil {
			return nil, err
		}
		def.Actions = append(def.Actions, map[string]any{"test": test(step, timeout)})
	}
	return yaml.Marshal(def)
}

// Started is what the test step prints before it runs the command: a
// crash after it is the command's, not the boot's.
const Started = "initkit-command-starts"

// Prompt is the shell's prompt on the console, which LAVA waits for
// before it drives the shell: busybox sh's as root in /.
const Prompt = "/ #"

// step is the shell command that runs Command: with Env's variables
// assigned before it (each name plain, each value quoted apart, so that
// the shell reads an assignment), and killed after Limit when there is
// one.
func (j Job) step() (string, error) {
	cmd := shell.Quote(j.Command)
	if j.Limit > 0 {
		cmd = "timeout -s KILL " + strconv.Itoa(int((j.Limit+time.Second-1)/time.Second)) + " " + cmd
	}
	for i := len(j.Env) - 1; i >= 0; i-- {
		if err := guest.CheckEnv(j.Env[i]); err != nil {
			return "", fmt.Errorf("variable %q: %w", j.Env[i], err)
		}
		name, value, _ := strings.Cut(j.Env[i], "=")
		cmd = name + "=" + shell.Quote([]string{value}) + " " + cmd
	}
	return cmd, nil
}

// test is the test action: one inline definition whose one step runs the
// command (errexit would end the step at a failing command, hence the
// ||) and reports its status as StatusCase's measurement.
func test(cmd string, timeout time.Duration) map[string]any {
	step := "echo " + Started + "; s=0; " + cmd + " || s=$?; lava-test-case " + StatusCase + " --result pass --measurement $s --units status"
	return map[string]any{"timeout": minutes(timeout), "definitions": []map[string]any{{
		"from": "inline", "name": "initkit", "path": "inline/initkit.yaml",
		"repository": map[string]any{
			"metadata": map[string]any{"format": "Lava-Test Test Definition 1.0", "name": "initkit", "description": "an initkit run"},
			"run":      map[string]any{"steps": []string{step}},
		},
	}}}
}

type definition struct {
	JobName    string           `yaml:"job_name"`
	DeviceType string           `yaml:"device_type"`
	Visibility string           `yaml:"visibility"`
	Priority   string           `yaml:"priority"`
	Tags       []string         `yaml:"tags,omitempty"`
	Timeouts   timeouts         `yaml:"timeouts"`
	Context    map[string]any   `yaml:"context"`
	Actions    []map[string]any `yaml:"actions"`
}

type timeouts struct {
	Job        duration `yaml:"job"`
	Action     duration `yaml:"action"`
	Connection duration `yaml:"connection"`
}

// duration is a LAVA timeout: whole minutes, or seconds below one.
type duration struct {
	Minutes int `yaml:"minutes,omitempty"`
	Seconds int `yaml:"seconds,omitempty"`
}

func minutes(d time.Duration) duration {
	if d%time.Minute == 0 {
		return duration{Minutes: int(d / time.Minute)}
	}
	return duration{Seconds: int((d + time.Second - 1) / time.Second)}
}

// checkPriority refuses a priority LAVA refuses, before any artifact is
// copied for the job.
func (j Job) checkPriority() error {
	if p := j.Priority; p != "" && p != "high" && p != "medium" && p != "low" && !percent(p) {
		return fmt.Errorf("priority %q: want high, medium, low or 0-100, as LAVA takes it", p)
	}
	return nil
}

// percent says whether s is a number from 0 to 100, a priority LAVA
// takes as it is.
func percent(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n <= 100 && strconv.Itoa(n) == s
}
