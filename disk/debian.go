package disk

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/initkit/initkit/internal/atomicfile"
	"github.com/initkit/initkit/internal/shell"
)

// DebianOptions describe a Debian root disk.
type DebianOptions struct {
	Output   string
	Size     string   // default 2G
	Suite    string   // default bookworm
	Packages []string // beyond what it takes to boot and log in
	// Mirror is the Debian mirror; default the first Debian URI of the
	// host's apt sources, else deb.debian.org.
	Mirror string
	// SSHKey is a public key file: root's authorized_keys, and
	// openssh-server installed.
	SSHKey string
	// ModulesDir is the kernel's /lib/modules/RELEASE tree, copied in so
	// that udev loads the guest's drivers (virtio-net for --net user).
	ModulesDir string
	Stderr     io.Writer // mmdebstrap's progress; nil discards it
	Epoch      *int64
}

// check refuses a suite, a package or a mirror mmdebstrap would read as
// something else: they go to its argv, where "--customize-hook=..." is
// an option that runs a shell, and packages are joined with commas.
func (o DebianOptions) check() error {
	if o.Suite != "" && !debianSuite.MatchString(o.Suite) {
		return fmt.Errorf("--suite %q: not a Debian suite (bookworm, trixie, stable, ...)", o.Suite)
	}
	for _, p := range o.Packages {
		if !debianPackage.MatchString(p) {
			return fmt.Errorf("--packages %q: not a Debian package name (with an optional :ARCH or =VERSION)", p)
		}
	}
	if o.Mirror != "" {
		u, err := url.Parse(o.Mirror)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file") || u.Host == "" && u.Scheme != "file" || strings.ContainsAny(o.Mirror, " \t\n") {
			return fmt.Errorf("--mirror %q: want an http, https or file URL", o.Mirror)
		}
	}
	return nil
}

var (
	debianSuite = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	// A name as Debian policy 5.6.1 has it, then an architecture or a
	// version, as apt takes them.
	debianPackage = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+|=[A-Za-z0-9.+~:-]+)?$`)
)

// debianPackages are what a root disk needs to boot with systemd, log in
// on the serial console and come up on the network.
var debianPackages = []string{"systemd-sysv", "udev", "kmod", "iproute2"}

// Debian makes a bootable Debian root disk without root: mmdebstrap in its
// unshare mode builds the system in a user namespace, where, in a
// customize hook, mke2fs -d writes it into the image's partition "root"
// with the owners the namespace shows (root's, the system users'). The
// disk has a GPT with that one partition; root logs in on the serial
// console without a password (agetty --autologin), systemd-networkd
// takes DHCP on every Ethernet interface, and with SSHKey sshd admits
// that key for root. Boot it with initkit boot --disk OUT --root root.
func Debian(ctx context.Context, o DebianOptions) error {
	if err := o.check(); err != nil {
		return err
	}
	s := &Spec{Output: o.Output, Size: o.Size, Partitions: []Partition{{Name: "root", Fill: Fill{FS: "ext4", Label: "root"}}}}
	if s.Size == "" {
		s.Size = "2G"
	}
	total, slots, err := s.check()
	if err != nil {
		return err
	}
	c := &creator{ctx: ctx, spec: s, nodes: map[string][]byte{}}
	if c.epoch, c.clamp, err = epoch(o.Epoch); err != nil {
		return err
	}
	tmp, done, err := atomicfile.ScratchDir(o.Output)
	if err != nil {
		return err
	}
	defer done()
	c.tmp = tmp
	p, err := atomicfile.Create(o.Output, 0o644)
	if err != nil {
		return err
	}
	defer p.Abort()
	if err := p.File.Truncate(total); err != nil {
		return err
	}
	if err := c.runIn(strings.NewReader(s.sfdiskScript(slots)), "sfdisk", "-q", "--no-reread", "--no-tell-kernel", p.Name()); err != nil {
		return err
	}
	root := slots[0]
	h, doneHooks, err := stageHooks()
	if doneHooks != nil {
		defer doneHooks()
	}
	if err != nil {
		return err
	}
	args, err := c.mmdebstrapArgs(o, h, root)
	if err != nil {
		return err
	}
	// mmdebstrap's own temporary directory must be in the hooks' reach
	// too: in the user's private TMPDIR its namespace's root cannot
	// enter it.
	if err := c.runLogged(o.Stderr, []string{"TMPDIR=" + h.base}, "mmdebstrap", args...); err != nil {
		if strings.Contains(err.Error(), "subuid") || strings.Contains(err.Error(), "subgid") {
			return fmt.Errorf("mmdebstrap: %w: its unshare mode needs subordinate ids for this user in /etc/subuid and /etc/subgid (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER)", err)
		}
		return fmt.Errorf("mmdebstrap: %w", err)
	}
	if err := h.copyRoot(p.File, root.Start); err != nil {
		return err
	}
	if err := c.removeLeftovers(h, p.Name(), root.Start); err != nil {
		return err
	}
	// Owners stay as the namespace made them: a Debian system has files
	// of its system users.
	if err := fixTimes(p.Name(), root.Start, c.epoch, c.clamp); err != nil {
		return err
	}
	return p.Commit()
}

// hookDirs are where mmdebstrap's hooks read and write. In unshare mode
// they run as the namespace's root, which is a subordinate uid of the
// user's, not the user: they can read and write only what any user may.
// What they read (the scripts, the SSH key, the kernel's modules) is
// staged readable by all in stage; what they write (the root filesystem,
// the list of leftovers) goes to out, writable by all, under a random
// name in a directory others may cross but not list; the filesystem is
// copied into the image afterwards.
type hookDirs struct{ base, stage, out string }

// stageHooks makes the hook directories, in a temporary directory every
// user may cross (hookBase); done removes them.
func stageHooks() (h hookDirs, done func(), err error) {
	base, err := os.MkdirTemp(hookBase(), "initkit-debian-")
	if err != nil {
		return h, nil, err
	}
	done = func() { os.RemoveAll(base) }
	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return h, done, err
	}
	h = hookDirs{base: base, stage: filepath.Join(base, "stage"), out: filepath.Join(base, "out-"+hex.EncodeToString(rnd[:]))}
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{base, 0o711}, {h.stage, 0o755}, {h.out, 0o777}} {
		if err := os.MkdirAll(d.path, 0o700); err != nil {
			return h, done, err
		}
		if err := os.Chmod(d.path, d.mode); err != nil { // past the umask
			return h, done, err
		}
	}
	return h, done, nil
}

// hookBase is $TMPDIR when every user may cross it and its name needs no
// quoting (mmdebstrap splits copy-in's arguments at blanks), else
// /var/tmp: a user's own TMPDIR under a home of mode 0700 is out of the
// hooks' reach.
func hookBase() string {
	base := os.TempDir()
	if !plainPath.MatchString(base) {
		return "/var/tmp"
	}
	for d := base; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil || st.Mode().Perm()&0o001 == 0 {
			return "/var/tmp"
		}
		if d == "/" {
			return base
		}
	}
}

var plainPath = regexp.MustCompile(`^/[A-Za-z0-9._/+-]*$`)

// rootFS is the filesystem the last hook writes.
func (h hookDirs) rootFS() string { return filepath.Join(h.out, "root.ext4") }

// copyRoot copies the filesystem the hook made into the image at off.
func (h hookDirs) copyRoot(img *os.File, off int64) error {
	f, err := os.Open(h.rootFS())
	if err != nil {
		return fmt.Errorf("the root filesystem mmdebstrap's hook wrote: %w", err)
	}
	defer f.Close()
	return sparseCopy(img, off, f)
}

// stageCopy copies src (a file or a tree) into the stage, as dst, with
// hard links where it can: what the hooks read must be readable by all.
func (c *creator) stageCopy(h hookDirs, src, dst string) (string, error) {
	out := filepath.Join(h.stage, dst)
	if err := exec.CommandContext(c.ctx, "cp", "-al", src, out).Run(); err == nil {
		return out, nil
	}
	os.RemoveAll(out)
	if b, err := exec.CommandContext(c.ctx, "cp", "-a", "--no-preserve=ownership", src, out).CombinedOutput(); err != nil {
		return "", fmt.Errorf("copy %s for mmdebstrap: %v: %s", src, err, bytes.TrimSpace(b))
	}
	return out, exec.CommandContext(c.ctx, "chmod", "-R", "a+rX", out).Run()
}

// mmdebstrapArgs: the system is built in mmdebstrap's temporary
// directory and, in the last customize hook, written to a filesystem
// image of the root partition's size; the output itself is discarded
// (format null).
func (c *creator) mmdebstrapArgs(o DebianOptions, h hookDirs, root slot) ([]string, error) {
	pkgs := append(append([]string{}, debianPackages...), o.Packages...)
	suite := o.Suite
	if suite == "" {
		suite = "bookworm"
	}
	config := filepath.Join(h.stage, "configure.sh")
	if err := os.WriteFile(config, []byte(debianConfigure(root.partUUID(c.spec))), 0o755); err != nil {
		return nil, err
	}
	hooks := []string{"--customize-hook=" + shell.Quote([]string{config}) + ` "$1"`}
	if o.SSHKey != "" {
		pkgs = append(pkgs, "openssh-server")
		key, err := os.ReadFile(o.SSHKey)
		if err != nil {
			return nil, fmt.Errorf("--ssh-key: %w", err)
		}
		if !strings.HasPrefix(string(key), "ssh-") && !strings.HasPrefix(string(key), "ecdsa-") {
			return nil, fmt.Errorf("--ssh-key %s: not a public key (want the .pub file)", o.SSHKey)
		}
		if err := os.WriteFile(filepath.Join(h.stage, "authorized_keys"), key, 0o644); err != nil {
			return nil, err
		}
		// copy-in keeps the user's uid (as the namespace maps it): sshd's
		// StrictModes refuses a root's key file another user owns.
		hooks = append(hooks, `--customize-hook=mkdir -p -m 700 "$1/root/.ssh"`,
			"--customize-hook=copy-in "+filepath.Join(h.stage, "authorized_keys")+" /root/.ssh",
			`--customize-hook=chown 0:0 "$1/root/.ssh/authorized_keys" && chmod 600 "$1/root/.ssh/authorized_keys"`)
	}
	if o.ModulesDir != "" {
		release := filepath.Base(o.ModulesDir)
		mods, err := c.stageCopy(h, o.ModulesDir, release)
		if err != nil {
			return nil, err
		}
		hooks = append(hooks, `--customize-hook=mkdir -p "$1/lib/modules"`, "--customize-hook=copy-in "+mods+" /lib/modules",
			`--customize-hook=chown -R 0:0 "$1/lib/modules"`, `--customize-hook=chroot "$1" depmod `+shell.Quote([]string{release}))
	}
	write := filepath.Join(h.stage, "write.sh")
	mke2fs := fmt.Sprintf("E2FSPROGS_FAKE_TIME=%d mke2fs -q -F -t ext4 -L root -U %s -E hash_seed=%s,%s -d \"$d\" %s %dk",
		c.epoch, c.uuid("partition/root", "fs"), c.uuid("partition/root", "hash"), lazyInit, shell.Quote([]string{h.rootFS()}), root.Bytes>>10)
	if err := os.WriteFile(write, []byte(debianWrite(mke2fs)), 0o755); err != nil {
		return nil, err
	}
	hooks = append(hooks, "--customize-hook="+shell.Quote([]string{write})+` "$1" `+shell.Quote([]string{h.leftovers(), h.out}))
	args := []string{"--mode=unshare", "--variant=minbase", "--format=null", "--include=" + strings.Join(pkgs, ",")}
	if o.Stderr == nil {
		args = append(args, "--quiet")
	}
	mirror := o.Mirror
	if mirror == "" {
		mirror = HostMirror()
	}
	return append(append(args, hooks...), suite, "/dev/null", mirror), nil
}

// debianConfigure is the hook that makes the system bootable on its
// own: fstab, hostname, root on the console, DHCP.
func debianConfigure(partUUID string) string {
	return `#!/bin/sh
set -e
r="$1"
echo "PARTUUID=` + partUUID + ` / ext4 errors=remount-ro 0 1" > "$r/etc/fstab"
echo initkit > "$r/etc/hostname"
chroot "$r" passwd -d root >/dev/null
mkdir -p "$r/etc/systemd/system/serial-getty@ttyS0.service.d"
cat > "$r/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<EOF
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %I \$TERM
EOF
mkdir -p "$r/etc/systemd/network"
cat > "$r/etc/systemd/network/80-dhcp.network" <<EOF
[Match]
Name=en* eth*
[Network]
DHCP=yes
EOF
chroot "$r" systemctl enable systemd-networkd >/dev/null 2>&1
`
}

// debianWrite is the last hook: it removes what mmdebstrap's cleanup
// would remove after the hooks (the apt lists and downloaded packages,
// the logs that make no two runs alike, a
// machine-id: systemd makes one at the first boot), lists in $2 what
// must go but only after mmdebstrap's cleanup, and runs mke2fs, which
// writes the filesystem to a file in $3, a directory the hook may write. The
// hooks see /proc, /sys and /dev mounted in the tree: mke2fs reads a bind
// mount of the tree alone, without them.
func debianWrite(mke2fs string) string {
	return `#!/bin/sh
r="$1"
rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/apt/*.bin "$r"/var/lib/apt/lists/* \
  "$r"/var/log/dpkg.log "$r"/var/log/apt/history.log \
  "$r"/var/log/apt/term.log "$r"/var/log/alternatives.log "$r"/var/cache/ldconfig/aux-cache \
  "$r"/var/log/apt/eipp.log.xz "$r"/var/lib/dbus/machine-id "$r"/var/tmp/*
: > "$r/etc/machine-id"
# /tmp holds mmdebstrap's apt.conf (its Dir is the tree: without it the
# cleanup's apt-get would empty the host's lists), and 00mmdebstrap
# stays for that cleanup too: both are removed from the image afterwards.
(cd "$r" && ls -d tmp/* etc/apt/apt.conf.d/00mmdebstrap 2>/dev/null) > "$2"
d=$(mktemp -d -p "$3") && mount --bind "$r" "$d" || exit 1
` + mke2fs + `
s=$?
umount "$d"
rmdir "$d"
exit $s
`
}

// leftovers is the file where the last hook lists what mmdebstrap needs
// until its own cleanup, which comes after the hooks.
func (h hookDirs) leftovers() string { return filepath.Join(h.out, "leftovers") }

// removeLeftovers removes them from the image's filesystem at off.
func (c *creator) removeLeftovers(h hookDirs, img string, off int64) error {
	b, err := os.ReadFile(h.leftovers())
	if err != nil {
		return err
	}
	var script strings.Builder
	for _, name := range strings.Fields(string(b)) {
		script.WriteString("rm " + quote("/"+name) + "\n")
	}
	if script.Len() == 0 {
		return nil
	}
	_, err = debugfs(c.ctx, img, off, true, "-f", "-", script.String())
	return err
}

// runLogged runs a tool with its output to w (nil: kept for the error).
func (c *creator) runLogged(w io.Writer, env []string, name string, args ...string) error {
	if w == nil {
		return c.run(env, name, args...)
	}
	return c.runTo(w, env, name, args...)
}

// HostMirror is the first Debian mirror of the host's apt sources (the
// one.list format and deb822 .sources), else deb.debian.org.
func HostMirror() string {
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	files = append([]string{"/etc/apt/sources.list"}, files...)
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			var uri string
			switch {
			case len(fields) >= 3 && fields[0] == "deb":
				uri = fields[1]
				if strings.HasPrefix(uri, "[") {
					uri = fields[2]
				}
			case len(fields) >= 2 && fields[0] == "URIs:":
				uri = fields[1]
			}
			if strings.Contains(uri, "debian") && !strings.Contains(uri, "security") && strings.HasPrefix(uri, "http") {
				f.Close()
				return uri
			}
		}
		f.Close()
	}
	return "http://deb.debian.org/debian"
}

// fixTimes is fixInodes keeping the owners.
func fixTimes(file string, off, epoch int64, clamp bool) error {
	return fixInodesOwners(file, off, epoch, clamp, true)
}
