package vmtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/initkit/initkit/guest"
)

// unlockDisk makes the remote-unlock gist's layout: a GPT disk with an
// early-userspace ext4 partition (the initkit init, busybox, cryptsetup,
// dropbear with the test's key and a pinned host key, hooks 00-hello and
// 50-check) and a LUKS2 root whose init prints what /boot holds. It
// returns the disk, the client key and a known_hosts file for the
// forwarded port.
func unlockDisk(t *testing.T, port int) (img, key, knownHosts string) {
	t.Helper()
	dir := t.TempDir()
	key, host := filepath.Join(dir, "id"), filepath.Join(dir, "host")
	for _, k := range []string{key, host} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", k).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	hostPub, _ := os.ReadFile(host + ".pub")
	knownHosts = filepath.Join(dir, "known_hosts")
	os.WriteFile(knownHosts, []byte(fmt.Sprintf("[127.0.0.1]:%d %s", port, hostPub)), 0o644)
	hello, check := filepath.Join(dir, "hello"), filepath.Join(dir, "check")
	os.WriteFile(hello, []byte("#!/bin/sh\necho HELLO from $INITKIT_STAGE\n"), 0o755)
	os.WriteFile(check, []byte("#!/bin/sh\necho CHECK ip=$INITKIT_IP\n"), 0o755)
	spec := filepath.Join(dir, "early.toml")
	os.WriteFile(spec, []byte(fmt.Sprintf("[image]\nbusybox = %q\nstorage = [\"luks\"]\nssh_keys = [%q]\nssh_host_key = %q\nfiles = [%q, %q]\n",
		Busybox(t), key+".pub", host, hello+":"+guest.HookDir+"/00-hello", check+":"+guest.HookDir+"/50-check")), 0o644)
	root := RootTree(t, "unused")
	os.MkdirAll(filepath.Join(root, "boot"), 0o755)
	os.WriteFile(filepath.Join(root, "sbin", "init"), []byte("#!/bin/busybox sh\n/bin/busybox echo \"REAL-INIT pid $$ boot: $(/bin/busybox ls /boot/init.d | /bin/busybox tr '\\n' ' ')\"\n/bin/busybox poweroff -f\n"), 0o755)
	img = filepath.Join(dir, "gist.img")
	disk := fmt.Sprintf("[disk]\noutput = %q\nsize = \"160M\"\n[[disk.partition]]\nname = \"early\"\nsize = \"80M\"\nspec = %q\n"+
		"[[disk.partition]]\nname = \"root\"\ntree = %q\nluks = { passphrase = \"sesame\" }\n", img, spec, root)
	os.WriteFile(filepath.Join(dir, "disk.toml"), []byte(disk), 0o644)
	if code, out := initkitRun(t, "disk", "create", "-c", filepath.Join(dir, "disk.toml"), "--kernel", Kernel(t).Image); code != 0 {
		t.Fatalf("disk create: exit %d\n%s", code, out)
	}
	return img, key, knownHosts
}

// bootUnlockDisk boots the gist's disk with no initramfs, the network up
// by DHCP and the guest's port 22 forwarded from 127.0.0.1:port, on a
// terminal, and waits for the passphrase prompt.
func bootUnlockDisk(t *testing.T, img string, port int) *Terminal {
	t.Helper()
	term := OnTerminal(t, nil, initkitBinary(t), "boot", "--kernel", Kernel(t).Image, "--disk", img, "--root", "early", "--init", "/init",
		"--ssh-port", strconv.Itoa(port), "--append", guest.KeyRoot+"=PARTLABEL=root ip=dhcp", "--timeout", "240s",
		"--expect", `REAL-INIT pid 1 boot: 00-hello 50-check`)
	term.Expect(`HELLO from cmdline`, 120*time.Second)
	term.Expect(`CHECK ip=10\.0\.2\.15`, 60*time.Second)
	term.Expect(`remote unlock: ssh root@10\.0\.2\.15:22 answers the passphrase prompt \(host key SHA256:`, 60*time.Second)
	term.Expect(`Passphrase for /dev/nvme0n1p2 \(luks-[0-9a-f-]+\) \(or over ssh\): `, 30*time.Second)
	return term
}

func sshArgs(port int, key, knownHosts string) []string {
	return []string{"-p", strconv.Itoa(port), "-i", key, "-o", "UserKnownHostsFile=" + knownHosts, "-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes", "-o", "ConnectTimeout=20", "root@127.0.0.1"}
}

// TestRemoteUnlockSSH: the boot prompts on the console; over the
// forwarded port, with the host key pinned, a wrong passphrase on stdin
// (no terminal) is refused, then a session on a terminal answers the
// prompt; the real root's init runs and finds the early filesystem at
// /boot (pivot_root, not switch_root: its files are still there).
func TestRemoteUnlockSSH(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	img, key, kh := unlockDisk(t, port)
	term := bootUnlockDisk(t, img, port)

	// Idle connections that never log in, held open meanwhile: under
	// user networking every client is one address, and five such would
	// once have locked the key holder out.
	for range 8 {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	wrong := exec.Command("ssh", sshArgs(port, key, kh)...)
	wrong.Stdin = strings.NewReader("open sesame\n")
	out, err := wrong.CombinedOutput()
	if exitStatus(err) != 1 || !strings.Contains(string(out), "initkit: wrong passphrase") {
		t.Fatalf("ssh with a wrong passphrase: %v\n%s", err, out)
	}
	term.Expect(`unlocking /dev/nvme0n1p2 failed \(try 1; a passphrase from the ssh\)`, 60*time.Second)

	remote := OnTerminal(t, nil, append([]string{"ssh", "-t"}, sshArgs(port, key, kh)...)...)
	remote.Expect(`Passphrase for /dev/nvme0n1p2`, 60*time.Second)
	remote.Type("sesame\r")
	remote.Expect(`initkit: unlocked; the boot goes on`, 120*time.Second)
	term.Expect(`/dev/nvme0n1p2 unlocked with a passphrase from the ssh`, 30*time.Second)
	if err := term.Wait(180 * time.Second); err != nil {
		t.Fatalf("boot: %v\n%s", err, term.Output())
	}
	if strings.Contains(term.Output(), "sesame") {
		t.Errorf("the passphrase showed on the console:\n%s", term.Output())
	}
}

// TestRemoteUnlockConsole: the same disk with the console answering: the
// SSH session waiting at the prompt is told, and the boot goes on; the
// passphrase typed is not echoed.
func TestRemoteUnlockConsole(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	img, key, kh := unlockDisk(t, port)
	term := bootUnlockDisk(t, img, port)
	remote := OnTerminal(t, nil, append([]string{"ssh", "-t"}, sshArgs(port, key, kh)...)...)
	remote.Expect(`Passphrase for /dev/nvme0n1p2`, 60*time.Second)
	term.Type("sesame\r")
	term.Expect(`/dev/nvme0n1p2 unlocked with a passphrase from the console`, 120*time.Second)
	remote.Expect(`initkit: unlocked from elsewhere; the boot goes on`, 30*time.Second)
	if err := term.Wait(180 * time.Second); err != nil {
		t.Fatalf("boot: %v\n%s", err, term.Output())
	}
	if strings.Contains(term.Output(), "sesame") {
		t.Errorf("the passphrase was echoed:\n%s", term.Output())
	}
}
