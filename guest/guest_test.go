package guest

import (
	"slices"
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
