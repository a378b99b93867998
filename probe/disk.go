package probe

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"

	"github.com/initkit/initkit/internal/printable"
)

// Listing is what a disk image holds: its partition table, and what each
// partition holds.
type Listing struct {
	Table      string  `json:"table"` // gpt, dos, or none
	UUID       string  `json:"uuid,omitempty"`
	Size       int64   `json:"size"`
	Partitions []Entry `json:"partitions"`
}

// Entry is one partition (or, with no table, the whole disk: Number 0)
// and what it holds, as probe sees it.
type Entry struct {
	Number    int    `json:"number"`
	Start     int64  `json:"start"`
	Size      int64  `json:"size"`
	PartUUID  string `json:"partuuid,omitempty"`
	PartLabel string `json:"partlabel,omitempty"`
	Type      string `json:"type,omitempty"` // ext4, crypto_LUKS, LVM2_member, linux_raid_member, ...
	UUID      string `json:"uuid,omitempty"`
	Label     string `json:"label,omitempty"`
	Version   string `json:"version,omitempty"`
	SubUUID   string `json:"uuid_sub,omitempty"`
	Volume    string `json:"volume,omitempty"` // an LVM PV's group, an md member's level
}

// List reads a disk image's partition table and probes each partition,
// as blkid and sfdisk would report them.
func List(path string) (*Listing, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	switch {
	case st.IsDir():
		return nil, fmt.Errorf("%s: a directory, not a disk image", path)
	case st.Size() == 0:
		return nil, fmt.Errorf("%s: an empty file: no partition table, no filesystem", path)
	}
	l := &Listing{Table: "none", Size: st.Size()}
	t, err := Partitions(f)
	switch {
	case errors.Is(err, ErrNoTable):
		l.Partitions = []Entry{entry(f, Partition{Size: st.Size()})}
		return l, nil
	case err != nil:
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	l.Table, l.UUID = t.Type, t.UUID
	for _, p := range t.Partitions {
		l.Partitions = append(l.Partitions, entry(f, p))
	}
	return l, nil
}

func entry(r io.ReaderAt, p Partition) Entry {
	e := Entry{Number: p.Number, Start: p.Start, Size: p.Size, PartUUID: p.UUID, PartLabel: p.Label}
	if info, err := Filesystem(io.NewSectionReader(r, p.Start, p.Size)); err == nil {
		e.Type, e.UUID, e.Label, e.Version, e.SubUUID, e.Volume = info.Type, info.UUID, info.Label, info.Version, info.SubUUID, info.Volume
	}
	return e
}

// Find is the partition of l that part names: its PARTLABEL or number;
// "" is the whole disk when it has no table, and the only partition
// when there is one.
func (l *Listing) Find(part string) (Entry, error) {
	if part == "" && len(l.Partitions) == 1 {
		return l.Partitions[0], nil
	}
	if part == "" {
		return Entry{}, fmt.Errorf("the disk has %d partitions: name one (IMAGE:NAME or IMAGE:NUMBER)", len(l.Partitions))
	}
	for _, e := range l.Partitions {
		if e.PartLabel == part || strconv.Itoa(e.Number) == part {
			return e, nil
		}
	}
	return Entry{}, fmt.Errorf("no partition named or numbered %q", part)
}

// Write writes the listing as JSON or, for people, as WriteTable does.
func (l *Listing) Write(out io.Writer, name string, asJSON bool) error {
	if !asJSON {
		return l.WriteTable(out, name)
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(l)
}

// WriteTable writes the listing for people: a line for the table, then a
// row for each partition, "-" where a field is empty.
func (l *Listing) WriteTable(out io.Writer, name string) error {
	fmt.Fprintf(out, "%s: %s table %s, %d bytes\n", name, l.Table, dash(l.UUID), l.Size)
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "#\tSTART\tSIZE\tPARTLABEL\tPARTUUID\tTYPE\tLABEL\tUUID\tIN")
	for _, e := range l.Partitions {
		fmt.Fprintf(w, "%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Number, e.Start, e.Size, dash(e.PartLabel), dash(e.PartUUID),
			dash(e.Type), dash(e.Label), dash(e.UUID), dash(e.Volume))
	}
	return w.Flush()
}

// dash is a field as the table shows it: "-" when empty, escaped for the
// terminal (a label comes from the disk, which is untrusted).
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return printable.String(s)
}
