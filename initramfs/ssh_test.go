package initramfs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/initkit/initkit/guest"
	"github.com/initkit/initkit/internal/testenv"
)

// TestSSHKeys: ssh_keys puts in dropbear, root's authorized keys and a
// host key that the real dropbear reads, with the fingerprint it prints
// (dropbearkey -y) told to Log; a given OpenSSH host key is kept.
func TestSSHKeys(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	host := filepath.Join(dir, "host")
	for _, k := range []string{key, host} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me@test", "-f", k).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, _ := os.ReadFile(key + ".pub")
	mods := testenv.Kernel(t).ModulesDir
	for _, hostKey := range []string{"", host} {
		var log bytes.Buffer
		s := &Spec{Output: filepath.Join(dir, "x.img"), Busybox: "/bin/busybox", Init: "none",
			SSHKeys: []string{key + ".pub"}, SSHHostKey: hostKey, Log: &log, Modules: Modules{Dir: mods}}
		tr, err := s.Assemble()
		if err != nil {
			t.Fatal(err)
		}
		if !s.Network {
			t.Errorf("ssh_keys did not turn the network on")
		}
		if !slices.ContainsFunc(tr.paths(), func(p string) bool { return strings.Contains(p, "/virtio_net.ko") }) {
			t.Errorf("no virtio_net module in the tree")
		}
		for _, p := range []string{guest.Dropbear, guest.SSHHostKey, "/etc/passwd", "/bin/udhcpc"} {
			if tr.nodes[p] == nil {
				t.Errorf("no %s in the tree", p)
			}
		}
		if got := tr.nodes[guest.SSHAuthorizedKeys]; got == nil || string(got.file.Data) != string(pub) {
			t.Errorf("authorized_keys: %+v, want %q", got, pub)
		}
		if m := tr.nodes[guest.SSHHostKey].file.Mode & 0o777; m != 0o600 {
			t.Errorf("host key mode %o", m)
		}
		kf := filepath.Join(dir, "dropbear_key")
		os.WriteFile(kf, tr.nodes[guest.SSHHostKey].file.Data, 0o600)
		out, err := exec.Command("dropbearkey", "-y", "-f", kf).CombinedOutput()
		if err != nil {
			t.Fatalf("dropbearkey -y: %v: %s", err, out)
		}
		fp := strings.TrimSpace(string(tr.nodes[guest.SSHHostKeyFingerprint].file.Data))
		if !strings.Contains(string(out), "Fingerprint: "+fp) || !strings.Contains(log.String(), fp) {
			t.Errorf("dropbearkey says\n%s\nthe image says %s, the log %q", out, fp, log.String())
		}
		if hostKey != "" {
			want, _ := exec.Command("ssh-keygen", "-l", "-f", host).Output()
			if !strings.Contains(string(want), fp) {
				t.Errorf("ssh_host_key's fingerprint is %s, the image's %s", want, fp)
			}
		}
	}
	// The image holds the host's private key: no other local user may
	// read it out of the image file, and build says so.
	var log bytes.Buffer
	s := &Spec{Output: filepath.Join(dir, "secret.img"), Busybox: "/bin/busybox", Init: "none",
		SSHKeys: []string{key + ".pub"}, Log: &log, Modules: Modules{Dir: mods}}
	if _, err := s.Build("", 0); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(s.Output); err != nil || st.Mode().Perm() != 0o600 || !strings.Contains(log.String(), "written 0600") {
		t.Errorf("image with the host key: mode %v, %v; log %q", st.Mode(), err, log.String())
	}
}

func TestSSHKeysBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pub")
	os.WriteFile(bad, []byte("# keys\nssh-ed25519 AAAAnotbase64 me\n"), 0o644)
	empty := filepath.Join(dir, "empty.pub")
	os.WriteFile(empty, []byte("\n# none\n"), 0o644)
	rsa := filepath.Join(dir, "rsa")
	exec.Command("ssh-keygen", "-q", "-t", "rsa", "-b", "1024", "-N", "", "-f", rsa).Run()
	good := filepath.Join(dir, "good")
	exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", good).Run()
	for _, c := range []struct {
		spec Spec
		want string
	}{
		{Spec{SSHKeys: []string{bad}, Busybox: "/bin/busybox"}, bad + ":2: not an SSH public key"},
		{Spec{SSHKeys: []string{empty}, Busybox: "/bin/busybox"}, "holds no public key"},
		{Spec{SSHKeys: []string{filepath.Join(dir, "none.pub")}, Busybox: "/bin/busybox"}, "no such file"},
		{Spec{SSHKeys: []string{good + ".pub"}}, "needs busybox"},
		{Spec{SSHKeys: []string{good + ".pub"}, SSHHostKey: rsa, Busybox: "/bin/busybox"}, "ed25519 keys only"},
	} {
		c.spec.Init, c.spec.Output = "none", filepath.Join(dir, "x.img")
		_, err := c.spec.Assemble()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.spec.SSHKeys, err, c.want)
		}
	}
}
