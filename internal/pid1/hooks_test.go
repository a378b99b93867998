package pid1

import (
	"slices"
	"testing"
)

func TestHookStage(t *testing.T) {
	for name, want := range map[string]string{
		"00-first": "cmdline", "19-x": "cmdline", "20-udev": "pre-udev", "45-check": "pre-mount",
		"60-mounted": "mount", "99-last": "pre-pivot", "5-short": "", "ab-name": "", "50": "", "50_x": "",
	} {
		if got := hookStage(name); got != want {
			t.Errorf("hookStage(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestBreakStages(t *testing.T) {
	c, err := ParseCmdline("rd.break=pre-mount rd.break rd.shell=mount initkit.root=LABEL=r initkit.init=/bin/sh")
	if err != nil || !slices.Equal(c.Break, []string{"pre-mount", "pre-pivot", "mount"}) || c.EarlyRoot != "LABEL=r" || c.EarlyInit != "/bin/sh" {
		t.Errorf("%+v, %v", c, err)
	}
	if _, err := ParseCmdline("rd.break=premount"); err == nil {
		t.Error("no error for an unknown stage")
	}
}
