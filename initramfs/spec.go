package initramfs

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/initkit/initkit/buildcache"
	"github.com/initkit/initkit/image"
)

// Spec describes an image. In initkit.toml it is the [image] table, with
// [modules] beside it.
type Spec struct {
	Output   string `toml:"output"`
	Compress string `toml:"compress"` // none, gzip, zstd, xz, lz4 (default zstd)
	Level    int    `toml:"level"`    // compression level, 0 for the default
	// Split cuts the image into pieces of at most this much input ("8M",
	// the default, image.DefaultSplit; "0": one segment), compressed at
	// once on all cores, and cached each by its input.
	Split   string `toml:"split"`
	Busybox string `toml:"busybox"` // a static busybox: /bin/busybox and its applet links
	// Applets limits busybox's links to these applets (default: every
	// applet the binary has). The kernel's unpacking costs some 60-80 µs
	// an entry under TCG, whatever its size: busybox's 270 links cost
	// more than its 2 MB.
	Applets []string `toml:"applets"`
	Init    string   `toml:"init"` // "initkit" (default), "shell", "none", or a path
	// InitBinary is the initkit-init program for init = "initkit";
	// default $INITKIT_INIT, then initkit-init beside the running
	// program, then in $PATH.
	InitBinary string `toml:"init_binary"`
	// Arch is the machine the image's init runs on, in QEMU's names
	// (x86_64, aarch64): the kernel's, which boot sets. For another
	// than the host's, init = "initkit" takes initkit-init-ARCH (make
	// build puts it beside initkit). "" is the host's.
	Arch     string   `toml:"-"`
	Files    []string `toml:"files"`    // "SRC[:DST]", each with its library closure
	Libs     []string `toml:"libs"`     // sonames only dlopen'ed
	Trees    []string `toml:"tree"`     // "SRC[:DST]" host directories added whole
	Dirs     []string `toml:"dirs"`     // "/run" or "/run 0755"
	Symlinks []string `toml:"symlinks"` // "/bin/sh -> busybox"
	Nodes    []string `toml:"nodes"`    // "/dev/console c 5 1 0600"
	GenInit  []string `toml:"gen_init_cpio"`
	Epoch    *int64   `toml:"epoch"`   // every mtime; default $SOURCE_DATE_EPOCH or 0
	Sysroot  string   `toml:"sysroot"` // resolve files and libraries in this root
	// Replace lists paths that more than one source provides, where the
	// later source wins. Sources apply in this order: entries, gen_init_cpio, dirs,
	// symlinks, nodes, files and libs, busybox, tree, modules, init.
	Replace []string `toml:"replace"`
	// Network ships the kernel's Ethernet drivers (those of NetDrivers it
	// has) as modules loaded when their device is there, for ip= (and
	// busybox's udhcpc for ip=dhcp; the image needs busybox).
	Network bool `toml:"network"`
	// Storage lists the volume kinds the root may sit on, lvm, md and
	// luks: each adds its tool (lvm, mdadm, cryptsetup) with its closure
	// and its modules, and the initkit init assembles and opens them.
	Storage []string `toml:"storage"`
	// Rescue makes /sbin/init busybox's init with an inittab that keeps a
	// shell on the console: booted without init=, an early-userspace
	// partition is then a rescue system (the initkit init stays /init).
	Rescue bool `toml:"rescue"`
	// SSHKeys are the public keys that may unlock a LUKS root over SSH
	// (an authorized_keys line, or a file of them): dropbear, busybox's
	// network tools and the network drivers come with them. SSHHostKey
	// is dropbear's host key, an OpenSSH ed25519 private key file;
	// without it each build makes a new one and tells Log its
	// fingerprint.
	SSHKeys    []string `toml:"ssh_keys"`
	SSHHostKey string   `toml:"ssh_host_key"`
	Modules    Modules  `toml:"-"`
	// Log, when set, is told what a user must know of a build: the SSH
	// host key's fingerprint.
	Log io.Writer `toml:"-"`
	// TreeSkip are host files left out of Trees (initkit exec leaves out
	// the disk images it attaches, which often sit in the directory it
	// copies).
	TreeSkip []string `toml:"-"`
	// Entries are added as they are, before every other source: what a
	// program hands the builder in memory (a generated file, a device
	// node, a host file under another name with Source set) instead of
	// writing it out to list it.
	Entries []image.File `toml:"-"`
	// NoCache builds without the piece cache (package buildcache);
	// CacheSize bounds it (0: buildcache.DefaultLimit), and CacheScope
	// names what the build's file sums and pieces are kept under
	// (default: the output's absolute path).
	NoCache    bool   `toml:"-"`
	CacheSize  int64  `toml:"-"`
	CacheScope string `toml:"-"`
	// Tail are entries for a last, uncompressed segment of their own
	// (Output.Tail); Scratch marks a throw-away image (Output.Scratch).
	Tail    []image.File `toml:"-"`
	Scratch bool         `toml:"-"`

	expanded bool // expand has run
	// cache is the build's, while Build assembles: module and closure
	// resolutions are kept there too.
	cache     *buildcache.Cache
	explained []string // what the cache did for resolutions

	// Where the spec came from, for errors, its text, and the directory
	// its relative paths were taken from.
	file, dir string
	raw       []byte
}

// Modules is the [modules] table.
type Modules struct {
	Kernel string   `toml:"kernel"` // release; default the host's (uname -r)
	Dir    string   `toml:"dir"`    // a /lib/modules/RELEASE tree
	Names  []string `toml:"names"`  // module names or aliases, loaded at boot
	// Auto modules are shipped with their dependencies but loaded only
	// when a device present asks for one (its modalias matches), by the
	// initkit init's coldplug and uevent handling.
	Auto     []string `toml:"auto"`
	Firmware string   `toml:"firmware"` // firmware directory, default /lib/firmware
}

// SpecError is a problem in a spec file, with where it is.
type SpecError struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *SpecError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// From records that s was read from the spec file file, whose text is
// raw (package spec reads it), for errors that point into it, and makes
// its relative paths relative to the file's directory.
func (s *Spec) From(file string, raw []byte) {
	s.file, s.raw = file, raw
	dir := filepath.Dir(file)
	if abs, err := filepath.Abs(dir); err == nil {
		// Absolute: a path the build joins to "/" (no sysroot) would
		// otherwise be read at the host's root ("s.sh" as /s.sh).
		dir = abs
	}
	s.dir = dir
	s.relative(dir)
}

// relative makes host paths relative to dir absolute.
func (s *Spec) relative(dir string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) || p == "shell" || p == "initkit" || p == "none" {
			return p
		}
		return filepath.Join(dir, p)
	}
	s.Busybox, s.Init, s.Sysroot, s.Modules.Dir = abs(s.Busybox), abs(s.Init), abs(s.Sysroot), abs(s.Modules.Dir)
	s.InitBinary, s.SSHHostKey = abs(s.InitBinary), abs(s.SSHHostKey)
	for i, k := range s.SSHKeys {
		if !isKeyLine(k) {
			s.SSHKeys[i] = abs(k)
		}
	}
	if s.Output != "" && !filepath.IsAbs(s.Output) {
		s.Output = filepath.Join(dir, s.Output)
	}
	for i, t := range s.Trees {
		src, dst, _ := strings.Cut(t, ":")
		s.Trees[i] = abs(src) + suffix(dst)
	}
	for i, g := range s.GenInit {
		s.GenInit[i] = abs(g)
	}
	if s.Sysroot == "" {
		for i, f := range s.Files {
			src, dst, _ := strings.Cut(f, ":")
			s.Files[i] = abs(src) + suffix(dst)
		}
	}
}

func suffix(dst string) string {
	if dst == "" {
		return ""
	}
	return ":" + dst
}

// errorAt returns a SpecError for value, placed where value first appears
// in the spec file (or a plain error for a spec from flags).
func (s *Spec) errorAt(value string, format string, a ...any) error {
	msg := fmt.Sprintf(format, a...)
	if s.file == "" {
		return errors.New(msg)
	}
	line, col := 0, 0
	if !bytes.Contains(s.raw, []byte(value)) {
		// A relative path the file gave, made absolute (relative).
		value = strings.TrimPrefix(value, s.dir+string(filepath.Separator))
	}
	if i := bytes.Index(s.raw, []byte(value)); i >= 0 && value != "" {
		line = bytes.Count(s.raw[:i], []byte("\n")) + 1
		col = i - bytes.LastIndexByte(s.raw[:i], '\n')
	}
	return &SpecError{File: s.file, Line: line, Col: col, Msg: msg}
}

// Appended is the spec of a segment appended to an image that has its
// init already (initkit build --base): s's output, compression, epoch and
// sysroot, no init, and nothing else until files are added.
func (s *Spec) Appended() *Spec {
	return &Spec{Init: "none", Output: s.Output, Compress: s.Compress, Epoch: s.Epoch, Sysroot: s.Sysroot}
}

// Override sets the fields f has set (its non-zero ones) in s: the flags
// of a command over the spec file's values. Lists add to the spec's,
// except Applets, which replaces them.
func (s *Spec) Override(f *Spec) {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&s.Output, f.Output)
	set(&s.Busybox, f.Busybox)
	set(&s.Compress, f.Compress)
	set(&s.Init, f.Init)
	set(&s.Sysroot, f.Sysroot)
	set(&s.Split, f.Split)
	set(&s.Modules.Kernel, f.Modules.Kernel)
	set(&s.Modules.Dir, f.Modules.Dir)
	if f.Level != 0 {
		s.Level = f.Level
	}
	if len(f.Applets) > 0 {
		s.Applets = f.Applets
	}
	s.Network = s.Network || f.Network
	s.Storage = append(s.Storage, f.Storage...)
	s.Rescue = s.Rescue || f.Rescue
	s.SSHKeys = append(s.SSHKeys, f.SSHKeys...)
	set(&s.SSHHostKey, f.SSHHostKey)
	if f.Log != nil {
		s.Log = f.Log
	}
	s.Files = append(s.Files, f.Files...)
	s.Modules.Names = append(s.Modules.Names, f.Modules.Names...)
	s.Modules.Auto = append(s.Modules.Auto, f.Modules.Auto...)
}

// AddFiles adds "SRC[:DST]" host files. Without a sysroot, a relative SRC
// is relative to the working directory, as on any command line.
func (s *Spec) AddFiles(files ...string) {
	for _, a := range files {
		if src, dst, _ := strings.Cut(a, ":"); s.Sysroot == "" && !filepath.IsAbs(src) {
			if abs, err := filepath.Abs(src); err == nil {
				a = abs + suffix(dst)
			}
		}
		s.Files = append(s.Files, a)
	}
}

// AddPaths adds what --add names, "SRC[:DST]": a host file with its
// libraries, or a directory whole, as a tree. A relative SRC is relative
// to the working directory, or to the sysroot when there is one; DST is
// SRC's own path unless given. An SRC that is not there is an error
// naming the --add.
func (s *Spec) AddPaths(args ...string) error {
	for _, a := range args {
		src, dst, _ := strings.Cut(a, ":")
		host := src
		if s.Sysroot != "" {
			host = filepath.Join(s.Sysroot, src)
		}
		st, err := os.Stat(host)
		if err != nil {
			return fmt.Errorf("--add %s: %w", a, err)
		}
		if !st.IsDir() {
			s.AddFiles(a)
			continue
		}
		if host, err = filepath.Abs(host); err != nil {
			return err
		}
		if s.Sysroot == "" {
			src = host
		}
		s.Trees = append(s.Trees, host+":"+cmp.Or(dst, filepath.Join("/", src)))
	}
	return nil
}

// NeedsModules reports whether the image ships kernel modules: named
// ones, or those the network, the storage kinds and the SSH unlock bring.
func (s *Spec) NeedsModules() bool {
	return len(s.Modules.Names)+len(s.Modules.Auto) > 0 || s.Network || len(s.Storage)+len(s.SSHKeys) > 0
}

// HoldsSecret reports whether the image holds a secret: the SSH host's
// private key, which the remote unlock (ssh_keys) brings.
func (s *Spec) HoldsSecret() bool { return len(s.SSHKeys) > 0 }
