package probe

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/initkit/initkit/internal/jsontest"
)

// mkfs runs a real mkfs tool on a fresh sparse file of size bytes and
// returns the file.
func mkfs(t *testing.T, size int64, name string, args ...string) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "fs.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	args = append(args, img)
	if name == "mksquashfs" {
		os.Remove(img)
		args = append([]string{t.TempDir()}, append(args, "-quiet", "-noappend")...)
	}
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return img
}

// blkid asks util-linux's low-level prober about img.
func blkid(t *testing.T, img string) map[string]string {
	t.Helper()
	out, err := exec.Command("blkid", "-p", "-o", "export", img).Output()
	if err != nil {
		t.Fatalf("blkid -p %s: %v", img, err)
	}
	kv := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			kv[k] = v
		}
	}
	return kv
}

// TestFilesystemMatchesBlkid makes each filesystem with its real mkfs and
// checks that the probe reports what blkid reports.
func TestFilesystemMatchesBlkid(t *testing.T) {
	const mb = 1 << 20
	cases := []struct {
		name string
		size int64
		tool string
		args []string
	}{
		{"ext4", 8 * mb, "mke2fs", []string{"-q", "-t", "ext4", "-L", "rootfs", "-U", "5b0f9c9e-8a9c-4f5e-9d1e-0123456789ab"}},
		{"ext3", 8 * mb, "mke2fs", []string{"-q", "-t", "ext3", "-L", "old"}},
		{"ext2", 8 * mb, "mke2fs", []string{"-q", "-t", "ext2"}},
		{"xfs", 300 * mb, "mkfs.xfs", []string{"-q", "-L", "xroot"}},
		{"btrfs", 128 * mb, "mkfs.btrfs", []string{"-q", "-L", "broot"}},
		{"vfat16", 32 * mb, "mkfs.vfat", []string{"-n", "ESP"}},
		{"vfat32", 64 * mb, "mkfs.vfat", []string{"-F", "32", "-n", "BOOT32", "-i", "1234ABCD"}},
		{"vfat-nolabel", 8 * mb, "mkfs.vfat", []string{}},
		{"squashfs", 0, "mksquashfs", []string{}},
		{"luks2", 32 * mb, "cryptsetup", []string{"luksFormat", "-q", "--type", "luks2", "--label", "secret", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--key-file", "KEY"}},
		{"luks1", 32 * mb, "cryptsetup", []string{"luksFormat", "-q", "--type", "luks1", "--pbkdf-force-iterations", "1000", "--key-file", "KEY"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key := filepath.Join(t.TempDir(), "key")
			os.WriteFile(key, []byte("k"), 0o600)
			var args []string
			for _, a := range c.args {
				args = append(args, strings.ReplaceAll(a, "KEY", key))
			}
			img := mkfs(t, c.size, c.tool, args...)
			want := blkid(t, img)
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := Filesystem(f)
			if err != nil {
				t.Fatalf("Filesystem: %v (blkid: %v)", err, want)
			}
			if got.Type != want["TYPE"] || got.UUID != want["UUID"] || got.Label != want["LABEL"] {
				t.Errorf("probe = %+v, blkid = TYPE=%q UUID=%q LABEL=%q", got, want["TYPE"], want["UUID"], want["LABEL"])
			}
			if want["TYPE"] == "crypto_LUKS" && got.Version != want["VERSION"] {
				t.Errorf("LUKS version %q, blkid %q", got.Version, want["VERSION"])
			}
		})
	}
}

func TestFilesystemUnknownAndShort(t *testing.T) {
	if _, err := Filesystem(bytes.NewReader(make([]byte, 1<<17))); err != ErrUnknown {
		t.Errorf("zeros: %v, want ErrUnknown", err)
	}
	if _, err := Filesystem(bytes.NewReader(make([]byte, 100))); err == nil || err == ErrUnknown {
		t.Errorf("100 bytes: %v, want a read error", err)
	}
}

type sfdiskJSON struct {
	PartitionTable struct {
		Label      string `json:"label"`
		ID         string `json:"id"`
		Partitions []struct {
			Node  string `json:"node"`
			Start int64  `json:"start"`
			Size  int64  `json:"size"`
			UUID  string `json:"uuid"`
			Name  string `json:"name"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

// TestPartitionsMatchSfdisk writes GPT and MBR tables into plain files
// with the real sfdisk and compares the entries it reports back.
func TestPartitionsMatchSfdisk(t *testing.T) {
	for _, c := range []struct{ name, script string }{
		{"gpt", "label: gpt\nsize=4MiB, name=\"boot part\"\nsize=8MiB, name=root, uuid=0B4E3E1A-7C2D-4E5F-8A9B-0C1D2E3F4A5B\n"},
		{"dos", "label: dos\nlabel-id: 0x1234abcd\nsize=4MiB, type=83\nsize=8MiB, type=83\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "disk.img")
			os.WriteFile(img, nil, 0o644)
			os.Truncate(img, 16<<20)
			cmd := exec.Command("sfdisk", "-q", img)
			cmd.Stdin = strings.NewReader(c.script)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("sfdisk: %v\n%s", err, out)
			}
			out, err := exec.Command("sfdisk", "--json", img).Output()
			if err != nil {
				t.Fatal(err)
			}
			var want sfdiskJSON
			if err := json.Unmarshal(out, &want); err != nil {
				t.Fatal(err)
			}
			f, _ := os.Open(img)
			defer f.Close()
			got, err := Partitions(f)
			if err != nil {
				t.Fatal(err)
			}
			wt := want.PartitionTable
			if got.Type != wt.Label || !strings.EqualFold(strings.TrimPrefix(got.UUID, ""), strings.TrimPrefix(wt.ID, "0x")) {
				t.Errorf("table %s %s, sfdisk %s %s", got.Type, got.UUID, wt.Label, wt.ID)
			}
			if len(got.Partitions) != len(wt.Partitions) {
				t.Fatalf("%d partitions, sfdisk %d", len(got.Partitions), len(wt.Partitions))
			}
			// disk ls --json: snake_case keys, none twice.
			l, err := List(img)
			if err != nil {
				t.Fatal(err)
			}
			var js bytes.Buffer
			if err := l.Write(&js, img, true); err != nil {
				t.Fatal(err)
			}
			if keys := jsontest.CheckKeys(t, js.Bytes()); !keys["partitions.start"] || !keys["table"] {
				t.Errorf("disk ls --json: %s", js.String())
			}
			for i, p := range got.Partitions {
				w := wt.Partitions[i]
				wantUUID := strings.ToLower(w.UUID)
				if wt.Label == "dos" {
					wantUUID = strings.TrimPrefix(wt.ID, "0x") + "-0" + string(rune('1'+i))
				}
				if p.Number != i+1 || p.UUID != wantUUID || p.Label != w.Name || p.Start != w.Start*512 || p.Size != w.Size*512 {
					t.Errorf("partition %d = %+v, sfdisk %+v", i+1, p, w)
				}
			}
		})
	}
}

func TestPartitionsErrors(t *testing.T) {
	if _, err := Partitions(bytes.NewReader(make([]byte, 1<<16))); err != ErrNoTable {
		t.Errorf("zeros: %v", err)
	}
	// An empty file or a directory is no disk: List says so, where it
	// listed one partition of 0 bytes holding nothing.
	empty := filepath.Join(t.TempDir(), "empty.img")
	os.WriteFile(empty, nil, 0o644)
	for p, want := range map[string]string{empty: empty + ": an empty file: no partition table, no filesystem", t.TempDir(): "a directory, not a disk image"} {
		if _, err := List(p); err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("List %s: %v, want %q", p, err, want)
		}
	}
	// A GPT with a corrupted header CRC is an error naming the offset.
	img := filepath.Join(t.TempDir(), "disk.img")
	os.WriteFile(img, nil, 0o644)
	os.Truncate(img, 4<<20)
	cmd := exec.Command("sfdisk", "-q", img)
	cmd.Stdin = strings.NewReader("label: gpt\nsize=1MiB\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	data, _ := os.ReadFile(img)
	data[512+24] ^= 0xff
	if _, err := Partitions(bytes.NewReader(data)); err == nil || !strings.Contains(err.Error(), "offset 512: bad CRC") {
		t.Errorf("corrupt GPT: %v", err)
	}
}

func FuzzFilesystem(f *testing.F) {
	f.Add(make([]byte, 2048))
	f.Add(append([]byte("LUKS\xba\xbe\x00\x02"), make([]byte, 600)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		Filesystem(bytes.NewReader(data))
		Partitions(bytes.NewReader(data))
	})
}

// lyingGPT makes a two-partition GPT with sfdisk, lets edit change the
// entries (128 bytes each, at LBA 2), and puts the CRCs right again: a
// table that lies, but is well formed.
func lyingGPT(t *testing.T, edit func(entries []byte)) []byte {
	t.Helper()
	img := filepath.Join(t.TempDir(), "disk.img")
	os.WriteFile(img, nil, 0o644)
	os.Truncate(img, 8<<20)
	cmd := exec.Command("sfdisk", "-q", img)
	cmd.Stdin = strings.NewReader("label: gpt\nsize=2MiB\nsize=2MiB\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	data, _ := os.ReadFile(img)
	h := data[512 : 512+92]
	entries := data[1024 : 1024+128*128]
	edit(entries)
	binary.LittleEndian.PutUint32(h[88:], crc32.ChecksumIEEE(entries))
	binary.LittleEndian.PutUint32(h[16:], 0)
	binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h))
	return data
}

// A partition table is untrusted: an entry past the end of the disk, one
// that overlaps another, one whose sectors overflow 64 bits, is an error
// naming the entry, never a partition at a wrapped offset.
func TestPartitionsThatLie(t *testing.T) {
	le := binary.LittleEndian
	for _, c := range []struct {
		name string
		edit func(e []byte)
		want string
	}{
		{"past the end", func(e []byte) { le.PutUint64(e[128+40:], 1<<40) }, "GPT partition 2: sectors"},
		{"wraps", func(e []byte) { le.PutUint64(e[128+32:], 1<<62); le.PutUint64(e[128+40:], 1<<62+10) }, "GPT partition 2: sectors"},
		{"overlaps", func(e []byte) { le.PutUint64(e[128+32:], le.Uint64(e[40:])) }, "gpt partition 2 overlaps partition 1"},
		{"ends before it starts", func(e []byte) { le.PutUint64(e[40:], le.Uint64(e[32:])-1) }, "GPT partition 1: sectors"},
	} {
		data := lyingGPT(t, c.edit)
		if _, err := Partitions(bytes.NewReader(data)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	// An entry inside the usable area but past the end of a disk cut
	// short: the header's usable area is a claim too.
	data := lyingGPT(t, func([]byte) {})
	if _, err := Partitions(bytes.NewReader(data[:4<<20])); err == nil || !strings.Contains(err.Error(), "past the end of the disk") {
		t.Errorf("a disk cut short: %v", err)
	}
}

// sfdiskImage is a disk of size bytes that sfdisk partitioned with
// script.
func sfdiskImage(t testing.TB, size int64, script string) []byte {
	img := filepath.Join(t.TempDir(), "disk.img")
	os.WriteFile(img, nil, 0o644)
	os.Truncate(img, size)
	cmd := exec.Command("sfdisk", "-q", img)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	data, _ := os.ReadFile(img)
	return data
}

// fixGPT sets the CRCs of a GPT at LBA 1 of data to what its bytes sum
// to, so that the fuzzer's edits get past them.
func fixGPT(data []byte) {
	if len(data) < 1024 || string(data[512:520]) != "EFI PART" {
		return
	}
	le := binary.LittleEndian
	h := data[512:1024]
	start, count, esize := le.Uint64(h[72:]), uint64(le.Uint32(h[80:])), uint64(le.Uint32(h[84:]))
	if start < 1<<20 && count*esize <= 1<<20 && (start*512+count*esize) <= uint64(len(data)) {
		le.PutUint32(h[88:], crc32.ChecksumIEEE(data[start*512:][:count*esize]))
	}
	if size := le.Uint32(h[12:]); size >= 92 && size <= 512 {
		le.PutUint32(h[16:], 0)
		le.PutUint32(h[16:], crc32.ChecksumIEEE(h[:size]))
	}
}

// FuzzPartitions: whatever a table claims, the partitions read from it
// lie inside the disk, have a size, and do not overlap.
func FuzzPartitions(f *testing.F) {
	gpt := sfdiskImage(f, 128<<10, "label: gpt\nfirst-lba: 34\nstart=34, size=40\nstart=80, size=40\n")
	mbr := sfdiskImage(f, 64<<10, "label: dos\nstart=1, size=40\nstart=41, size=40, type=83\n")
	for _, d := range [][]byte{gpt, mbr} {
		if tab, err := Partitions(bytes.NewReader(d)); err != nil || len(tab.Partitions) != 2 {
			f.Fatalf("a seed reads as %+v, %v; want two partitions", tab, err)
		}
	}
	f.Add(gpt[:17408], uint16(256), true) // the rest of the disk is zeros
	f.Add(mbr[:512], uint16(128), false)
	f.Fuzz(func(t *testing.T, data []byte, sectors uint16, fix bool) {
		if fix {
			fixGPT(data)
		}
		disk := make([]byte, max(len(data), int(sectors%1024)*512))
		copy(disk, data)
		tab, err := Partitions(bytes.NewReader(disk))
		if err != nil {
			return
		}
		for i, p := range tab.Partitions {
			if p.Size <= 0 || p.Start < 0 || p.Start+p.Size > int64(len(disk)) {
				t.Fatalf("partition %d: start %d, size %d, on a disk of %d bytes", p.Number, p.Start, p.Size, len(disk))
			}
			for _, q := range tab.Partitions[:i] {
				if p.Number <= q.Number || p.Start < q.Start+q.Size && q.Start < p.Start+p.Size {
					t.Fatalf("partitions %d and %d: %+v %+v", q.Number, p.Number, q, p)
				}
			}
		}
	})
}

// TestTableEscapes: a partition or filesystem label comes from the disk:
// disk ls shows its control characters as \xNN.
func TestTableEscapes(t *testing.T) {
	l := &Listing{Table: "gpt", Partitions: []Entry{{Number: 1, PartLabel: "root\x1b]0;PWNED\x07", Label: "\x9b2J"}}}
	var out strings.Builder
	if err := l.WriteTable(&out, "disk.img"); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(out.String(), "\x1b\x07\u009b") || !strings.Contains(out.String(), `root\x1b]0;PWNED\x07`) {
		t.Errorf("table:\n%q", out.String())
	}
}
