package symbolize

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Identify reads the build-id readelf reads, and the banner's release,
// with or without DWARF.
func TestIdentify(t *testing.T) {
	src := filepath.Join(t.TempDir(), "banner.c")
	os.WriteFile(src, []byte(`const char linux_banner[] = "Linux version 9.9.9-test (builder@host) #1 SMP\n";
int main(void) { return linux_banner[0]; }
`), 0o644)
	for _, g := range []string{"-g0", "-gdwarf-5"} {
		out := filepath.Join(t.TempDir(), "vmlinux")
		if b, err := exec.Command("gcc", g, "-Wl,--build-id=sha1", "-o", out, src).CombinedOutput(); err != nil {
			t.Fatalf("gcc: %v\n%s", err, b)
		}
		notes, err := exec.Command("readelf", "-n", out).Output()
		if err != nil {
			t.Fatal(err)
		}
		want := regexp.MustCompile(`Build ID: ([0-9a-f]+)`).FindSubmatch(notes)
		if want == nil {
			t.Fatalf("readelf shows no build-id:\n%s", notes)
		}
		id, err := Identify(out)
		if err != nil || id.BuildID != string(want[1]) || id.Release != "9.9.9-test" {
			t.Errorf("%s: Identify = %+v, %v; want build-id %s, release 9.9.9-test", g, id, err, want[1])
		}
	}
	if _, err := Identify("testdata/prog.c"); err == nil {
		t.Error("Identify of a C file")
	}
}

func TestValidRelease(t *testing.T) {
	for s, want := range map[string]bool{
		"6.1.0-57-cloud-amd64": true, "6.12.0-rc1+": true, "5.15.0_custom~1": true,
		"": false, ".": false, "..": false, "../../home/user": false, "6.1 x": false,
		"6.1\x1b]0;x\x07": false, strings.Repeat("9", 65): false,
	} {
		if ValidRelease(s) != want {
			t.Errorf("ValidRelease(%q) = %v, want %v", s, !want, want)
		}
	}
	if got := bannerRelease([]byte("Linux version ../../etc (gcc)")); got != "" {
		t.Errorf("bannerRelease of ../../etc = %q", got)
	}
}
