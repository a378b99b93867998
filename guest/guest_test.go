package guest

import (
	"slices"
	"strings"
	"testing"
)

func TestExecFileRoundTrip(t *testing.T) {
	for _, argv := range [][]string{{"/bin/true"}, {"/t", "", "a b", "-x=1"}} {
		got, err := ParseExecFile(FormatExecFile(argv))
		if err != nil || !slices.Equal(got, argv) {
			t.Errorf("round trip of %q: %q, %v", argv, got, err)
		}
	}
	for _, bad := range []string{"", "x", "\x00", "\x00a\x00"} {
		if _, err := ParseExecFile([]byte(bad)); err == nil {
			t.Errorf("ParseExecFile(%q) accepted", bad)
		}
	}
}

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"dm-crypt":                         "dm_crypt",
		"virtio_blk":                       "virtio_blk",
		"kernel/drivers/md/dm-crypt.ko":    "dm_crypt",
		"kernel/drivers/md/dm-crypt.ko.xz": "dm_crypt",
		"/lib/x/raid456.ko.zst":            "raid456",
	} {
		if got := ModuleName(in); got != want {
			t.Errorf("ModuleName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEnvFile: variables round-trip through ExecEnv's format; a name a
// shell could not read, or that env(1) would take for an option, and a
// list not ended by a NUL are refused.
func TestEnvFile(t *testing.T) {
	for _, env := range [][]string{nil, {"A=1"}, {"_x9=", "PATH=/bin", "V=a=b c\nd"}} {
		got, err := ParseEnvFile(FormatExecFile(env))
		if err != nil || !slices.Equal(got, env) {
			t.Errorf("round trip of %q: %q, %v", env, got, err)
		}
	}
	for _, bad := range []string{"A", "=1", "9A=1", "-i=1", "A-B=1", "A B=1", "Ä=1", "A=\x00"} {
		if err := CheckEnv(bad); err == nil {
			t.Errorf("CheckEnv(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"A=1", "A=1\x00B\x00", "\x00"} {
		if _, err := ParseEnvFile([]byte(bad)); err == nil {
			t.Errorf("ParseEnvFile(%q) accepted", bad)
		}
	}
}

// TestOutputsAndFileHeader: the outputs list and a file's header
// round-trip; a header of another run, or one that does not parse, is
// not one.
func TestOutputsAndFileHeader(t *testing.T) {
	outs := []Output{{Path: "/tmp/b001/gocoverdir", Dir: true}, {Path: "/tmp/b001/_cover_.out"}}
	got, err := ParseOutputs(FormatOutputs(outs))
	if err != nil || !slices.Equal(got, outs) {
		t.Errorf("round trip of %v: %v, %v", outs, got, err)
	}
	for _, bad := range []string{"x:/a\x00", "file:rel\x00", "dir:/a"} {
		if _, err := ParseOutputs([]byte(bad)); err == nil {
			t.Errorf("ParseOutputs(%q) accepted", bad)
		}
	}
	h := string(FileHeader("tok", 1, 42, "a:b"))
	if i, n, name, ok := ParseFileHeader(strings.TrimSuffix(h, "\n"), "tok"); !ok || i != 1 || n != 42 || name != "a:b" {
		t.Errorf("%q: %d %d %q %v", h, i, n, name, ok)
	}
	for _, bad := range []string{"initkit-file:other:1:42:a", "initkit-file:tok:1:-1:a", "initkit-file:tok:x:1:a", "initkit-file:tok:1:2"} {
		if _, _, _, ok := ParseFileHeader(bad, "tok"); ok {
			t.Errorf("ParseFileHeader(%q) accepted", bad)
		}
	}
	if _, _, _, ok := ParseFileHeader(strings.TrimSuffix(h, "\n"), ""); ok {
		t.Error("a header accepted with no token")
	}
}

func TestUserRoundTrip(t *testing.T) {
	for _, u := range []User{{0, 0}, {1000, 100}, {4294967295, 65534}} {
		got, err := ParseUser(string(FormatUser(u)))
		if err != nil || got != u {
			t.Errorf("%v: %v %v", u, got, err)
		}
	}
	for _, bad := range []string{"", "1000", "a:b", "-1:0", "1:4294967296", "1:2:3", " 1:2"} {
		if _, err := ParseUser(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
