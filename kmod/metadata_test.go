package kmod

import "testing"

func TestMetadata(t *testing.T) {
	mods := []*Module{
		{Name: "dm_mod", Path: "kernel/drivers/md/dm-mod.ko.xz", Aliases: []string{"devname:mapper/control"}},
		{Name: "dm_crypt", Path: "kernel/drivers/md/dm-crypt.ko.xz", Depends: []string{"dm_mod", "builtin_one"}},
	}
	shipped := map[string]string{"dm_mod": "kernel/drivers/md/dm-mod.ko", "dm_crypt": "kernel/drivers/md/dm-crypt.ko"}
	dep, alias := Metadata(mods, shipped)
	wantDep := "kernel/drivers/md/dm-mod.ko:\nkernel/drivers/md/dm-crypt.ko: kernel/drivers/md/dm-mod.ko\n"
	if string(dep) != wantDep {
		t.Errorf("modules.dep:\n%s\nwant:\n%s", dep, wantDep)
	}
	if want := "alias devname:mapper/control dm_mod\n"; string(alias) != want {
		t.Errorf("modules.alias: %q, want %q", alias, want)
	}
}
