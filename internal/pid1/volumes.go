package pid1

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/initkit/initkit/guest"
)

// The volume managers a root may sit on: md RAID arrays and LVM logical
// volumes, brought up with the image's mdadm and lvm (what [image]
// storage ships). Both are run again whenever new block devices appear
// while the root is waited for, so that stacks come up in any order (LVM
// on RAID1: the array, then the group on it; LUKS on an LV: the LV, then
// root= unlocks it).

var (
	mdadmPaths = []string{"/sbin/mdadm", "/usr/sbin/mdadm"}
	lvmPaths   = []string{"/sbin/lvm", "/usr/sbin/lvm"}
)

func firstPresent(paths []string) string {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// assemble starts the md arrays and activates the LVM volume groups that
// the block devices present allow. Each md member goes to mdadm
// --incremental once, which starts an array when all its members are
// there; degraded then starts those still short of members (mdadm
// --incremental --run --scan), said on the console: the init asks for
// it once half the root timeout has passed without the root.
func (in *initProc) assemble(devs []*blockDev, degraded bool) {
	if md := firstPresent(mdadmPaths); md != "" && !in.cmd.NoMD {
		mkdir("/run/mdadm", 0o700) // incremental mode's map
		if in.mdSeen == nil {
			in.mdSeen = map[string]bool{}
		}
		for _, d := range devs {
			if d.FS.Type == "linux_raid_member" && !in.mdSeen[d.Path] && in.mdWanted(d) {
				in.mdSeen[d.Path] = true
				in.tool(md, "--incremental", "--quiet", d.Path)
			}
		}
		if degraded && len(in.mdSeen) > 0 {
			if !in.saidDegraded {
				in.saidDegraded = true
				in.logf("md: starting arrays with members missing, if any (half of initkit.timeout without the root)")
			}
			in.tool(md, "--incremental", "--run", "--scan")
		}
	}
	if lvm := firstPresent(lvmPaths); lvm != "" && !in.cmd.NoLVM {
		args := []string{"vgchange", "--config", guest.LVMConfig, "-ay", "--sysinit"}
		args = append(args, in.cmd.LVMVGs...)
		in.tool(lvm, args...)
		for _, lv := range in.cmd.LVMLVs {
			in.tool(lvm, "lvchange", "--config", guest.LVMConfig, "-ay", "--sysinit", lv)
		}
	}
}

// mdWanted reports whether rd.md.uuid= names d's array (or names none).
func (in *initProc) mdWanted(d *blockDev) bool {
	if len(in.cmd.MDUUIDs) == 0 {
		return true
	}
	for _, u := range in.cmd.MDUUIDs {
		if strings.EqualFold(strings.NewReplacer(":", "", "-", "").Replace(u), strings.ReplaceAll(d.FS.UUID, "-", "")) {
			return true
		}
	}
	return false
}

// tool runs a volume tool with a deadline and returns its output, shown
// under initkit.debug.
func (in *initProc) tool(path string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// lvm writes its archive, backups and cache under its system
	// directory, /etc/lvm: on an early filesystem mounted read-only that
	// fails ("Failed to create LVM2 system dir"). /run is the init's own
	// tmpfs; the configuration comes on the command line anyway.
	mkdir(lvmSystemDir, 0o700)
	out, err := toolOutput(ctx, path, args, []string{"LVM_SYSTEM_DIR=" + lvmSystemDir})
	msg := strings.TrimSpace(string(out))
	in.debugf("%s %s: %v: %s", path, strings.Join(args, " "), err, msg)
	if err != nil && !in.toolSaid[msg] {
		// Said at once, and once: a tool that fails while the root is
		// awaited is why the root never comes.
		if in.toolSaid == nil {
			in.toolSaid = map[string]bool{}
		}
		in.toolSaid[msg] = true
		in.logf("%s %s failed (%v): %s", path, args[0], err, lastLine(msg))
	}
	return string(out)
}

// lvmSystemDir is where lvm keeps what it writes, in the init's /run.
const lvmSystemDir = "/run/initkit/lvm"

// lastLine is the last line of a tool's output.
func lastLine(s string) string { return s[strings.LastIndexByte(s, '\n')+1:] }
