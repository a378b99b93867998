package initramfs

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"strings"

	"github.com/initkit/initkit/guest"
	"golang.org/x/crypto/ssh"
)

// isKeyLine tells an ssh_keys entry that is a public key from one that
// names a file of them.
func isKeyLine(s string) bool {
	return strings.ContainsAny(strings.TrimSpace(s), " \t")
}

// expandSSH adds what the remote unlock needs before the closures are
// resolved: dropbear, and the network (the telnet rescue's and ip='s
// busybox tools).
func (s *Spec) expandSSH() error {
	if len(s.SSHKeys) == 0 {
		return nil
	}
	if s.busybox() == "" {
		return s.errorAt("ssh_keys", "ssh_keys: the remote unlock needs busybox (dropbear runs the prompt through its sh; ip= uses its udhcpc and ifconfig)")
	}
	s.Network = true
	bin, err := s.findTool("dropbear")
	if err != nil {
		return s.errorAt("ssh_keys", "ssh_keys: %v (Debian's dropbear-bin)", err)
	}
	s.AddFiles(bin + ":" + guest.Dropbear)
	return nil
}

// addSSH puts in root's authorized keys, a passwd entry for root, and
// dropbear's host key: the one ssh_host_key names, or a new ed25519 key,
// whose fingerprint goes to Log for the user to pin.
func (s *Spec) addSSH(t *Tree) error {
	if len(s.SSHKeys) == 0 {
		return nil
	}
	keys, err := s.authorizedKeys()
	if err != nil {
		return err
	}
	priv, err := s.hostKey()
	if err != nil {
		return err
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		return err
	}
	fp := ssh.FingerprintSHA256(pub)
	const why = "ssh_keys: the remote unlock"
	for _, d := range []string{"/root", "/root/.ssh"} {
		if err := t.Dir(d, 0o700, why); err != nil {
			return err
		}
	}
	if err := t.Dir("/etc/dropbear", 0o755, why); err != nil {
		return err
	}
	steps := []struct {
		path string
		data []byte
		perm uint32
	}{
		{guest.SSHAuthorizedKeys, keys, 0o600},
		{guest.SSHHostKey, dropbearKey(priv), 0o600},
		{guest.SSHHostKeyFingerprint, []byte(fp + "\n"), 0o644},
	}
	if t.nodes["/etc/passwd"] == nil {
		// dropbear finds root's home and shell here; the shell runs the
		// prompt (dropbear -c).
		steps = append(steps, struct {
			path string
			data []byte
			perm uint32
		}{"/etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644})
	}
	for _, st := range steps {
		if err := t.Data(st.path, st.data, st.perm, why); err != nil {
			return err
		}
	}
	if s.Log != nil {
		fmt.Fprintf(s.Log, "ssh host key %s; for known_hosts: %s", fp, ssh.MarshalAuthorizedKey(pub))
	}
	return nil
}

// authorizedKeys reads ssh_keys (public key lines, or files of them, as
// authorized_keys holds them) into one authorized_keys file, checking
// every key. Options in the lines are dropped: the only command is the
// prompt.
func (s *Spec) authorizedKeys() ([]byte, error) {
	var out bytes.Buffer
	for _, e := range s.SSHKeys {
		lines, where := []string{e}, "ssh_keys"
		if !isKeyLine(e) {
			b, err := os.ReadFile(e)
			if err != nil {
				return nil, s.errorAt(e, "ssh_keys: %v", err)
			}
			lines, where = nil, e
			sc := bufio.NewScanner(bytes.NewReader(b))
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
		}
		n := 0
		for i, l := range lines {
			l = strings.TrimSpace(l)
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			pub, comment, _, _, err := ssh.ParseAuthorizedKey([]byte(l))
			if err != nil {
				return nil, s.errorAt(e, "%s:%d: not an SSH public key: %v", where, i+1, err)
			}
			out.Write(bytes.TrimSpace(ssh.MarshalAuthorizedKey(pub)))
			if comment != "" {
				out.WriteString(" " + comment)
			}
			out.WriteByte('\n')
			n++
		}
		if n == 0 {
			return nil, s.errorAt(e, "ssh_keys: %s holds no public key", where)
		}
	}
	return out.Bytes(), nil
}

// hostKey is ssh_host_key's ed25519 key (an OpenSSH private key file,
// ssh-keygen -t ed25519 -N ”), or a new one.
func (s *Spec) hostKey() (ed25519.PrivateKey, error) {
	if s.SSHHostKey == "" {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	b, err := os.ReadFile(s.SSHHostKey)
	if err != nil {
		return nil, s.errorAt(s.SSHHostKey, "ssh_host_key: %v", err)
	}
	k, err := ssh.ParseRawPrivateKey(b)
	if err != nil {
		return nil, s.errorAt(s.SSHHostKey, "ssh_host_key: %s: %v (want an unencrypted OpenSSH private key)", s.SSHHostKey, err)
	}
	priv, ok := k.(*ed25519.PrivateKey)
	if !ok {
		return nil, s.errorAt(s.SSHHostKey, "ssh_host_key: %s is a %T key; dropbear gets ed25519 keys only (ssh-keygen -t ed25519)", s.SSHHostKey, k)
	}
	return *priv, nil
}

// dropbearKey is priv in dropbear's key file format (signkey.c,
// ed25519.c): string "ssh-ed25519", then string of the 32-byte seed and
// the 32-byte public key. Dropbear 2022.83 reads no OpenSSH key files.
func dropbearKey(priv ed25519.PrivateKey) []byte {
	const name = "ssh-ed25519"
	var b []byte
	b = binary.BigEndian.AppendUint32(b, uint32(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(priv)))
	return append(b, priv...) // Go's private key is the seed, then the public key
}
