package disk

import (
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Alignment of every partition's start and size: 1 MiB, as sfdisk and
// parted place partitions by default.
const align = 1 << 20

// gptTail is what the backup GPT takes at the end of the disk: the
// header and a 128-entry array, 33 sectors.
const gptTail = 33 * 512

// slot is a partition placed on the disk.
type slot struct {
	Partition
	Number       int
	Start, Bytes int64
	TypeCode     string // for sfdisk
}

// partitionTypes maps the type names to GPT GUIDs and MBR codes. luks is
// the Discoverable Partitions Specification's "LUKS" GUID.
var partitionTypes = map[string][2]string{
	"linux": {"0FC63DAF-8483-4772-8E79-3D69D8477DE4", "83"},
	"esp":   {"C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "ef"},
	"swap":  {"0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", "82"},
	"lvm":   {"E6D6D379-F507-44C2-A23C-238F2A3DF928", "8e"},
	"raid":  {"A19D880F-05FC-4D3B-A006-743F0F84911E", "fd"},
	"luks":  {"CA7D7CCB-63ED-4C53-861C-1742536059CC", "e8"},
}

// typeCode is the sfdisk type of p in a table of kind table.
func typeCode(table string, p Partition) (string, error) {
	t := p.Type
	if t == "" {
		switch {
		case p.LUKS != nil:
			t = "luks"
		case p.FS == "swap":
			t = "swap"
		default:
			t = "linux"
		}
	}
	col := 0
	if table == "mbr" {
		col = 1
	}
	if codes, ok := partitionTypes[t]; ok {
		return codes[col], nil
	}
	if table == "mbr" {
		if n, err := strconv.ParseUint(strings.TrimPrefix(t, "0x"), 16, 8); err == nil && n > 0 {
			return fmt.Sprintf("%02x", n), nil
		}
	} else if uuidRE.MatchString(t) {
		return strings.ToUpper(t), nil
	}
	return "", fmt.Errorf("unknown type %q (want linux, esp, swap, lvm, raid, luks, or a %s)", t, map[bool]string{true: "hex MBR code", false: "GPT GUID"}[table == "mbr"])
}

// layout places the partitions of s on a disk of total bytes.
func (s *Spec) layout(total int64) ([]slot, error) {
	table := s.tableKind()
	if table == "none" {
		if len(s.Partitions) != 1 {
			return nil, fmt.Errorf("table none: want exactly one [[disk.partition]], the whole disk (have %d)", len(s.Partitions))
		}
		return []slot{{Partition: s.Partitions[0], Number: 0, Start: 0, Bytes: total}}, nil
	}
	if table == "mbr" && len(s.Partitions) > 4 {
		return nil, fmt.Errorf("table mbr: at most 4 partitions (have %d); use gpt", len(s.Partitions))
	}
	end := total
	if table == "gpt" {
		end -= gptTail
	}
	start := int64(align)
	var slots []slot
	for i, p := range s.Partitions {
		what := p.what(i)
		n, err := size(what, p.Size)
		if err != nil {
			return nil, err
		}
		if n < 0 && i != len(s.Partitions)-1 {
			return nil, fmt.Errorf("%s: only the last partition can take the rest", what)
		}
		if n < 0 {
			n = (end - start) &^ (align - 1)
			if n <= 0 {
				return nil, fmt.Errorf("%s: no room left: the partitions before it end at %s of the %s disk", what, human(start), human(total))
			}
		}
		n = (n + align - 1) &^ (align - 1)
		if start+n > end {
			return nil, fmt.Errorf("%s: %s at offset %s does not fit in the %s disk", what, human(n), human(start), human(total))
		}
		code, err := typeCode(table, p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		slots = append(slots, slot{Partition: p, Number: i + 1, Start: start, Bytes: n, TypeCode: code})
		start += n
	}
	return slots, nil
}

func (s *Spec) tableKind() string {
	if s.Table == "" {
		return "gpt"
	}
	return s.Table
}

// sfdiskScript is the table as sfdisk's input: every value given, so
// that the same spec gives the same table.
func (s *Spec) sfdiskScript(slots []slot) string {
	var b strings.Builder
	if s.tableKind() == "mbr" {
		b.WriteString("label: dos\nlabel-id: 0x" + s.uuid("disk")[:8] + "\n")
	} else {
		b.WriteString("label: gpt\nlabel-id: " + s.uuid("disk") + "\n")
	}
	b.WriteString("unit: sectors\n")
	for _, sl := range slots {
		fmt.Fprintf(&b, "start=%d, size=%d, type=%s", sl.Start/512, sl.Bytes/512, sl.TypeCode)
		if s.tableKind() == "gpt" {
			fmt.Fprintf(&b, ", uuid=%s", sl.partUUID(s))
			if sl.Name != "" {
				fmt.Fprintf(&b, ", name=%q", sl.Name)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func (sl slot) partUUID(s *Spec) string {
	if sl.PartUUID != "" {
		return sl.PartUUID
	}
	return s.uuid("partition", strconv.Itoa(sl.Number))
}

// uuid derives a UUID from the output's name and role: the same spec
// gives the same UUIDs (and so the same bytes), and two disks of one
// project differ. The version and variant bits make it a version 8
// (custom) UUID of RFC 9562.
func (s *Spec) uuid(role ...string) string {
	h := sha256.Sum256([]byte("initkit disk\x00" + filepath.Base(s.Output) + "\x00" + strings.Join(role, "\x00")))
	h[6] = h[6]&0x0f | 0x80
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// human prints a byte count in the largest unit that divides it.
func human(n int64) string {
	for _, u := range []struct {
		s     string
		shift uint
	}{{"G", 30}, {"M", 20}, {"K", 10}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.s
		}
	}
	return strconv.FormatInt(n, 10)
}
