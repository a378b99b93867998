package pid1

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseCmdline(t *testing.T) {
	c, err := ParseCmdline(`console=ttyS0 root=UUID=5b0f9c9e-8a9c rootfstype=ext4 rootflags="data=journal,noatime" rw ` +
		`init=/lib/systemd/systemd rootwait rootdelay=1.5 rd.break quiet ` +
		`rd.luks.uuid=luks-1111 rd.luks.name=1111=cryptroot rd.luks.uuid=2222 rd.luks.key=/etc/key:/dev/sda1 ` +
		`modules_load=virtio_blk,dm_crypt rd.driver.pre=xts initkit.debug initkit.timeout=3 initkit.rescue=telnet ` +
		`ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off initkit.gdb=ttyS1 initkit.exec=ttyS2,ttyS3,hvc0 -- single root=ignored` + "\n")
	if err != nil {
		t.Fatal(err)
	}
	want := Cmdline{
		Root: "UUID=5b0f9c9e-8a9c", RootFSType: "ext4", RootFlags: "data=journal,noatime", RW: true,
		Init: "/lib/systemd/systemd", RootWait: true, RootDelay: 1500 * time.Millisecond, Break: []string{"pre-pivot"},
		LUKS:    []LUKS{{"1111", "cryptroot"}, {"2222", "luks-2222"}},
		LUKSKey: "/etc/key", Modules: []string{"virtio_blk", "dm_crypt", "xts"}, Quiet: true,
		Debug: true, RootTimeout: 3 * time.Second, Rescue: "telnet",
		IP: "10.0.2.15::10.0.2.2:255.255.255.0::eth0:off", GDB: "ttyS1", ExecPorts: [3]string{"ttyS2", "ttyS3", "hvc0"},
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
	if c.Init != "/sbin/init" || c.RW || c.RootTimeout != DefaultRootTimeout || c.Break != nil || c.Root != "" {
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
	for _, s := range []string{"init=sbin/init", "rootdelay=soon", "initkit.timeout=-1", "rd.luks.name=1111", "initkit.rescue=ssh",
		"initkit.exec=ttyS1,ttyS2", "initkit.exec=ttyS1,ttyS2,../sda", "initkit.exec=ttyS1,ttyS2,ttyS", "initkit.exec=,ttyS2,ttyS3"} {
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
	f.Add(`ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off:10.0.2.3:1.1.1.1 rd.break=mount`)
	f.Fuzz(func(t *testing.T, s string) {
		c, _ := ParseCmdline(s)
		parseIP(c.IP) // ip= is read again when the network comes up: it must not panic either
		if c.RootTimeout < 0 || c.RootDelay < 0 || c.RootTimeout > maxSeconds*time.Second {
			t.Fatalf("timeouts out of range: %v %v", c.RootTimeout, c.RootDelay)
		}
		for _, l := range c.LUKS {
			if !plainName(l.Name) {
				t.Fatalf("mapper name %q", l.Name)
			}
		}
	})
}

func TestParseIP(t *testing.T) {
	c, err := parseIP("10.0.2.15::10.0.2.2:255.255.0.0::eth1:off:10.0.2.3")
	if err != nil || !reflect.DeepEqual(c, netConfig{addr: "10.0.2.15", gw: "10.0.2.2", mask: "255.255.0.0", dev: "eth1", dns: []string{"10.0.2.3"}}) {
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

// One bad value is reported and ignored; every other key is kept.
func TestParseCmdlineKeepsTheRest(t *testing.T) {
	for _, line := range []string{
		"init=sbin/init root=/dev/vda",
		"rootdelay=abc root=/dev/vda",
		"initkit.timeout=1e308 root=/dev/vda",
		"initkit.timeout=NaN root=/dev/vda",
		"rootdelay=+Inf root=/dev/vda",
		"rd.luks.name=5b0f=../../init root=/dev/vda",
		"rd.luks.uuid=../../init root=/dev/vda",
	} {
		c, err := ParseCmdline(line)
		if err == nil || !strings.Contains(err.Error(), "ignored") {
			t.Errorf("%q: error %v, want the bad key reported", line, err)
		}
		if c.Root != "/dev/vda" || c.Init != "/sbin/init" || c.RootTimeout != DefaultRootTimeout || c.RootDelay != 0 || len(c.LUKS) != 0 {
			t.Errorf("%q: %+v", line, c)
		}
	}
	_, err := ParseCmdline("init=a rootdelay=b")
	if err == nil || strings.Count(err.Error(), "ignored") != 2 {
		t.Errorf("two bad keys: %v", err)
	}
}
