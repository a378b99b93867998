package kconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSetting: what --set takes, and what it refuses: a value is written
// into .config as it is, so one that would be two values there, or a
// line of its own, never gets in.
func TestSetting(t *testing.T) {
	for in, want := range map[string]Need{
		"CONFIG_KASAN=y":                  {Name: "KASAN", Value: "y", Exact: true},
		"PRINTK_TIME=n":                   {Name: "PRINTK_TIME", Value: "n", Exact: true},
		"CONFIG_NR_CPUS=-1":               {Name: "NR_CPUS", Value: "-1", Exact: true},
		"CONFIG_PHYSICAL_START=0x1000000": {Name: "PHYSICAL_START", Value: "0x1000000", Exact: true},
		`CONFIG_CMDLINE="a \"b\" c\\d"`:   {Name: "CMDLINE", Value: `"a \"b\" c\\d"`, Exact: true},
		`CONFIG_LOCALVERSION=""`:          {Name: "LOCALVERSION", Value: `""`, Exact: true},
	} {
		got, err := Setting(in)
		if err != nil || got.Need != want || got.Purpose != "--set" {
			t.Errorf("%s: %+v, %v; want %+v", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"KASAN":                      "not CONFIG_NAME=VALUE",
		"CONFIG_=y":                  "not CONFIG_NAME=VALUE",
		"CONFIG_A B=y":               "not CONFIG_NAME=VALUE",
		"CONFIG_X=y\nCONFIG_EVIL=y":  `value "y\nCONFIG_EVIL=y"`,
		"CONFIG_X=yes":               `value "yes"`,
		"CONFIG_X=y # comment":       `value "y # comment"`,
		`CONFIG_X="open`:             `value "\"open"`,
		`CONFIG_X="a"b"`:             `value "\"a\"b\""`,
		"CONFIG_X=\"a\nCONFIG_Y=y\"": `value "\"a\nCONFIG_Y=y\""`,
		`CONFIG_X="ends in \"`:       "is not y, m, n",
	} {
		if _, err := Setting(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

// TestSettingsWrittenBack: a setting Apply writes reads back as the same
// value from the .config it makes.
func TestSettingsWrittenBack(t *testing.T) {
	c := Config{}
	var all []Purposed
	for _, s := range []string{`CONFIG_CMDLINE="console=ttyS0 \"x\""`, "CONFIG_NR_CPUS=8", "CONFIG_KASAN=n", "CONFIG_KCOV=y"} {
		p, err := Setting(s)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p)
	}
	if changed := c.Apply(all); len(changed) != 3 { // KASAN=n is met by its absence
		t.Errorf("changed %v", changed)
	}
	var b strings.Builder
	c.Write(&b)
	back, err := Parse(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if m := back.Missing(all); len(m) != 0 {
		t.Errorf("missing after a round trip: %v in\n%s", m, b.String())
	}
}

// TestFragmentAndMerge: a fragment's options, then --set's, the last of
// an option winning; a setting against a purpose's need is an error
// naming both.
func TestFragmentAndMerge(t *testing.T) {
	frag := filepath.Join(t.TempDir(), "kasan.config")
	os.WriteFile(frag, []byte("# KASAN\nCONFIG_KASAN=y\nCONFIG_KASAN_INLINE=y\n# CONFIG_KCOV is not set\n"), 0o644)
	settings, err := Settings([]string{frag}, []string{"CONFIG_KASAN_INLINE=n"})
	if err != nil {
		t.Fatal(err)
	}
	needs, err := Needs([]string{"boot"}, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	merged, err := Merge(needs, settings)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range merged[len(needs):] {
		got = append(got, m.Name+"="+m.Value+" "+m.Purpose)
	}
	want := "KASAN=y " + frag + ", KCOV=n " + frag + ", KASAN_INLINE=n --set"
	if strings.Join(got, ", ") != want {
		t.Errorf("merged settings:\n%s\nwant\n%s", strings.Join(got, ", "), want)
	}
	bad, _ := Setting("CONFIG_BLK_DEV_INITRD=n")
	if _, err := Merge(needs, []Purposed{bad}); err == nil || !strings.Contains(err.Error(), "CONFIG_BLK_DEV_INITRD=n (--set) goes against the purpose boot, which needs y") {
		t.Errorf("a setting against a need: %v", err)
	}
	ok, _ := Setting("CONFIG_BLK_DEV_INITRD=y")
	if _, err := Merge(needs, []Purposed{ok}); err != nil {
		t.Errorf("a setting a need agrees with: %v", err)
	}
	if s, err := Settings(nil, nil); s != nil || err != nil {
		t.Errorf("none named: %v %v", s, err)
	}
	if s, err := Settings([]string{os.DevNull}, nil); s == nil || len(s) != 0 || err != nil {
		t.Errorf("an empty fragment: %#v %v, want an empty list, not nil", s, err)
	}
	os.WriteFile(frag, []byte("CONFIG_A=y\nnot a config line\n"), 0o644)
	if _, err := Settings([]string{frag}, nil); err == nil || !strings.Contains(err.Error(), frag+": line 2") {
		t.Errorf("a bad fragment: %v", err)
	}
}

func TestPurposeFor(t *testing.T) {
	if p, ok := PurposeFor("KASAN"); !ok || p != "kasan" {
		t.Errorf("KASAN: %q %v", p, ok)
	}
	if p, ok := PurposeFor("NO_SUCH_OPTION"); ok {
		t.Errorf("an option no purpose needs: %q", p)
	}
}
