package pid1

import (
	"reflect"
	"testing"
	"time"
)

func TestParseCmdline(t *testing.T) {
	c, err := ParseCmdline(`console=ttyS0 root=UUID=5b0f9c9e-8a9c rootfstype=ext4 rootflags="data=journal,noatime" rw ` +
		`init=/lib/systemd/systemd rootwait rootdelay=1.5 rd.break quiet ` +
		`rd.luks.uuid=luks-1111 rd.luks.name=1111=cryptroot rd.luks.uuid=2222 rd.luks.key=/etc/key:/dev/sda1 ` +
		`modules_load=virtio_blk,dm_crypt rd.driver.pre=xts initkit.debug initkit.timeout=3 initkit.rescue=telnet ` +
		`ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off initkit.gdb=ttyS1 -- single root=ignored` + "\n")
	if err != nil {
		t.Fatal(err)
	}
	want := Cmdline{
		Root: "UUID=5b0f9c9e-8a9c", RootFSType: "ext4", RootFlags: "data=journal,noatime", RW: true,
		Init: "/lib/systemd/systemd", RootWait: true, RootDelay: 1500 * time.Millisecond, Break: true,
		LUKS:    []LUKS{{"1111", "cryptroot"}, {"2222", "luks-2222"}},
		LUKSKey: "/etc/key", Modules: []string{"virtio_blk", "dm_crypt", "xts"}, Quiet: true,
		Debug: true, RootTimeout: 3 * time.Second, Rescue: "telnet",
		IP: "10.0.2.15::10.0.2.2:255.255.255.0::eth0:off", GDB: "ttyS1",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
}

func TestParseCmdlineDefaults(t *testing.T) {
	c, err := ParseCmdline("console=ttyS0 panic=-1 ro")
	if err != nil {
		t.Fatal(err)
	}
	if c.Init != "/sbin/init" || c.RW || c.RootTimeout != DefaultRootTimeout || c.Break || c.Root != "" {
		t.Errorf("defaults: %+v", c)
	}
}

func TestParseCmdlineSystemdKeyForm(t *testing.T) {
	c, _ := ParseCmdline("rd.luks.key=0f1e-22=/keys/root.key")
	if c.LUKSKey != "/keys/root.key" {
		t.Errorf("key %q", c.LUKSKey)
	}
}

func TestParseCmdlineErrors(t *testing.T) {
	for _, s := range []string{"init=sbin/init", "rootdelay=soon", "initkit.timeout=-1", "rd.luks.name=1111", "initkit.rescue=ssh"} {
		if _, err := ParseCmdline("quiet " + s); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}

func TestSplitCmdline(t *testing.T) {
	got := splitCmdline(` a  b="c d" "e f"` + "\t" + `g=""` + "\n")
	want := []string{"a", "b=c d", "e f", "g="}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%q, want %q", got, want)
	}
}

func FuzzParseCmdline(f *testing.F) {
	f.Add(`root=UUID=x rd.luks.name=a=b "q=1 2" --`)
	f.Fuzz(func(t *testing.T, s string) {
		ParseCmdline(s)
	})
}

func TestParseIP(t *testing.T) {
	c, err := parseIP("10.0.2.15::10.0.2.2:255.255.0.0::eth1:off")
	if err != nil || c != (netConfig{addr: "10.0.2.15", gw: "10.0.2.2", mask: "255.255.0.0", dev: "eth1"}) {
		t.Errorf("static: %+v %v", c, err)
	}
	if c, err := parseIP("dhcp"); err != nil || !c.dhcp || c.dev != "eth0" {
		t.Errorf("dhcp: %+v %v", c, err)
	}
	for _, bad := range []string{"", "::10.0.2.2"} {
		if _, err := parseIP(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
