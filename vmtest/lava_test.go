package vmtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/initkit/initkit/internal/testenv"
)

// TestLAVA: exec --lava on a real LAVA instance (testenv.LAVA: server,
// scheduler, publisher and a worker with a QEMU device, on 127.0.0.1):
// the job definition is accepted by the server, the command's exit
// status comes back as a local exec's would, a kernel crash is exit 3
// with its title; a wrong token and an unreachable server are clear
// errors, exit 2.
func TestLAVA(t *testing.T) {
	t.Parallel()
	l := testenv.LAVA(t)
	m := testenv.All.Get(t)
	run := func(token, server string, argv ...string) (int, string) {
		args := append([]string{"exec", "--lava", server, "--lava-artifacts", l.Artifacts + "=file://" + l.Artifacts,
			"--kernel", m.Image, "--queue-timeout", "5m", "--"}, argv...)
		cmd := exec.Command(initkitBinary(t), args...)
		cmd.Env = append(os.Environ(), "LAVA_TOKEN="+token)
		out, err := cmd.CombinedOutput()
		return exitStatus(err), string(out)
	}
	for _, c := range []struct {
		argv []string
		code int
		want string
	}{
		{[]string{"/bin/busybox", "sh", "-c", "echo from the guest"}, 0, "from the guest"},
		{[]string{"/bin/busybox", "sh", "-c", "exit 3"}, 3, ""},
		{[]string{"/bin/busybox", "sh", "-c", "echo c > /proc/sysrq-trigger"}, 3, "kernel crash: kernel panic: sysrq triggered crash"},
	} {
		code, out := run(l.Token, l.URL, c.argv...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("exec --lava %q: exit %d, want %d and %q\n%s", c.argv, code, c.code, c.want, lastLines(out, 30))
		}
	}
	if code, out := run("not-the-token", l.URL, "/bin/busybox", "true"); code != 2 || !strings.Contains(out, "HTTP 403: {\"detail\":\"Invalid token.\"}") {
		t.Errorf("a wrong token: exit %d, want 2 and the server's refusal\n%s", code, lastLines(out, 10))
	}
	if code, out := run(l.Token, "http://127.0.0.1:1/", "/bin/busybox", "true"); code != 2 || !strings.Contains(out, "127.0.0.1:1") {
		t.Errorf("an unreachable server: exit %d, want 2 naming it\n%s", code, lastLines(out, 10))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
