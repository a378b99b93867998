package disk

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/internal/atomicfile"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/vmexec"
)

// Options are what Create needs beyond the spec.
type Options struct {
	// VM is the throwaway VM that makes md RAID and LVM volumes: its
	// kernel (Boot.Chosen, else chosen by the kernel policy from
	// Boot.Kernel when a volume needs the VM or a kernel's modules), its
	// InitBinary and Busybox, how it reports (Notes, Console). Create
	// sets the rest.
	VM vmexec.Options
	// Epoch is the time of every superblock and of each file's times
	// beyond its modification time; default $SOURCE_DATE_EPOCH, else 0.
	// With $SOURCE_DATE_EPOCH, modification times later than it are
	// clamped to it, as reproducible builds do.
	Epoch *int64
	// ModulesDir is the /lib/modules/RELEASE tree of the kernel that
	// will boot the disk: image specs that ship modules and name none
	// take theirs from it, as initkit build does. Default: the VM
	// kernel's.
	ModulesDir string
}

// checkLUKS resolves l's key file and checks it has a key.
func (s *Spec) checkLUKS(l *LUKS, what string) error {
	if l == nil {
		return nil
	}
	l.Keyfile = s.path(l.Keyfile)
	if l.Keyfile == "" && l.Passphrase == "" {
		return fmt.Errorf("%s: luks: give a keyfile or a passphrase", what)
	}
	return nil
}

// HasImageSpec reports whether a volume is filled from an image spec
// (which may need a kernel's modules).
func (s *Spec) HasImageSpec() bool {
	for _, f := range s.Fills() {
		if f.Spec != "" {
			return true
		}
	}
	return false
}

// NeedsVM reports whether the spec has volumes only a VM can make.
func (s *Spec) NeedsVM() bool { return len(s.RAID) > 0 || len(s.LVM) > 0 }

// creator is one Create.
type creator struct {
	ctx   context.Context
	spec  *Spec
	o     Options
	tmp   string // scratch files and staged trees
	epoch int64
	clamp bool
	nodes map[string][]byte // a staged tree's device nodes, "nod" lines
}

// Create makes the disk s describes. The output, and each other disk
// file that RAID or LVM members name, is written to a temporary file
// renamed into place once everything succeeded: on an error or a
// cancelled ctx every file is as it was.
func Create(ctx context.Context, s *Spec, o Options) error {
	total, slots, err := s.check()
	if err != nil {
		return err
	}
	if (s.NeedsVM() || s.HasImageSpec()) && o.VM.Boot.Chosen == nil {
		k, err := kernel.Choose(ctx, o.VM.Boot.Kernel)
		if err != nil {
			return err
		}
		o.VM.Boot.Chosen, o.ModulesDir = k, cmp.Or(o.ModulesDir, k.ModulesDir)
	}
	c := &creator{ctx: ctx, spec: s, o: o, nodes: map[string][]byte{}}
	if c.epoch, c.clamp, err = epoch(o.Epoch); err != nil {
		return err
	}
	out := s.path(s.Output)
	tmp, done, err := atomicfile.ScratchDir(out)
	if err != nil {
		return err
	}
	defer done()
	c.tmp = tmp
	perm := os.FileMode(0o644)
	if s.holdsSecret() {
		perm = 0o600 // a volume holds the SSH host's private key
	}
	p, err := atomicfile.Create(out, perm)
	if err != nil {
		return err
	}
	defer p.Abort()
	if err := p.File.Truncate(total); err != nil {
		return err
	}
	if s.tableKind() != "none" {
		if err := c.runIn(strings.NewReader(s.sfdiskScript(slots)), "sfdisk", "-q", "--no-reread", "--no-tell-kernel", p.Name()); err != nil {
			return fmt.Errorf("%s: partition table: %w", out, err)
		}
	}
	for _, sl := range slots {
		role := "partition/" + strconv.Itoa(sl.Number)
		if sl.Name != "" {
			role = "partition/" + sl.Name
		}
		v := volume{what: sl.what(sl.Number - 1), role: role, fill: sl.Fill, bytes: sl.Bytes, luks: sl.LUKS}
		if err := c.makeVolume(p.File, sl.Start, v); err != nil {
			return err
		}
	}
	if s.NeedsVM() {
		others, err := c.volumes(p)
		for _, q := range others {
			defer q.Abort()
		}
		if err != nil {
			return err
		}
		for _, q := range others {
			if err := q.Commit(); err != nil {
				return err
			}
		}
	}
	return p.Commit()
}

// check validates the spec and places its partitions, with errors that
// name the partition.
func (s *Spec) check() (int64, []slot, error) {
	if s.Output == "" {
		return 0, nil, fmt.Errorf("disk: no output: give OUT or output in [disk]")
	}
	total, err := size("disk size", s.Size)
	if err != nil {
		return 0, nil, err
	}
	if total < 0 {
		return 0, nil, fmt.Errorf("disk: no size: give --size or size in [disk]")
	}
	if t := s.tableKind(); t != "gpt" && t != "mbr" && t != "none" {
		return 0, nil, fmt.Errorf("disk: table %q: want gpt, mbr or none", s.Table)
	}
	for i := range s.Partitions {
		p := &s.Partitions[i]
		if err := p.checkIDs(i); err != nil {
			return 0, nil, err
		}
		s.resolve(&p.Fill)
		if err := p.Fill.check(p.what(i)); err != nil {
			return 0, nil, err
		}
		if err := s.checkLUKS(p.LUKS, p.what(i)); err != nil {
			return 0, nil, err
		}
	}
	if err := s.checkVolumes(); err != nil {
		return 0, nil, err
	}
	slots, err := s.layout(total)
	return total, slots, err
}

// epoch is Options.Epoch's value and whether times are clamped to it.
func epoch(e *int64) (int64, bool, error) {
	if e != nil {
		return *e, true, nil
	}
	return image.SourceDateEpoch()
}

// runIn is run with stdin.
func (c *creator) runIn(stdin io.Reader, name string, args ...string) error {
	return c.runWith(stdin, nil, "", name, args...)
}

// uuid is the spec's derived UUID for role.
func (c *creator) uuid(role ...string) string { return c.spec.uuid(role...) }

// uuidRE is a UUID as sfdisk, mkfs and cryptsetup take it.
var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// checkIDs refuses a partition's name and UUIDs that sfdisk's script
// (and the tools after it) would read as more than a value: a name with a
// quote, a backslash or a control character, or longer than GPT's 36
// UTF-16 units; a UUID that is not one.
func (p Partition) checkIDs(i int) error {
	if err := plainName(p.what(i)+" name", p.Name); err != nil {
		return err
	}
	if strings.ContainsAny(p.Name, `"\`) || len(utf16.Encode([]rune(p.Name))) > 36 {
		return fmt.Errorf("%s: name %q: no quotes or backslashes, at most 36 characters (GPT's PARTLABEL)", p.what(i), p.Name)
	}
	for what, u := range map[string]string{"partuuid": p.PartUUID, "uuid": p.UUID} {
		if u != "" && !uuidRE.MatchString(u) {
			return fmt.Errorf("%s: %s %q is not a UUID", p.what(i), what, u)
		}
	}
	if p.LUKS != nil && p.LUKS.UUID != "" && !uuidRE.MatchString(p.LUKS.UUID) {
		return fmt.Errorf("%s: luks uuid %q is not a UUID", p.what(i), p.LUKS.UUID)
	}
	return nil
}

// holdsSecret reports whether a volume is filled from an image spec that
// holds a secret (the SSH host's private key).
func (s *Spec) holdsSecret() bool {
	for _, f := range s.Fills() {
		if f.Image != nil && f.Image.HoldsSecret() {
			return true
		}
	}
	return false
}
