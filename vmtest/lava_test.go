package vmtest

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/initkit/initkit/internal/syncbuf"
	"github.com/initkit/initkit/internal/testenv"
	"github.com/initkit/initkit/lava"
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
			t.Errorf("exec --lava %q: exit %d, want %d and %q\n%s", c.argv, code, c.code, c.want, testenv.LastLines(out, 30))
		}
	}
	if code, out := run("not-the-token", l.URL, "/bin/busybox", "true"); code != 2 || !strings.Contains(out, "HTTP 403: {\"detail\":\"Invalid token.\"}") {
		t.Errorf("a wrong token: exit %d, want 2 and the server's refusal\n%s", code, testenv.LastLines(out, 10))
	}
	if code, out := run(l.Token, "http://127.0.0.1:1/", "/bin/busybox", "true"); code != 2 || !strings.Contains(out, "127.0.0.1:1") {
		t.Errorf("an unreachable server: exit %d, want 2 naming it\n%s", code, testenv.LastLines(out, 10))
	}
	t.Run("interrupt", func(t *testing.T) {
		lavaInterrupt(t, l, m.Image)
	})
}

// lavaInterrupt: Ctrl-C while the command runs cancels the job initkit
// submitted; nothing is left running on the farm.
func lavaInterrupt(t *testing.T, l *testenv.LAVAInstance, image string) {
	cmd := exec.Command(initkitBinary(t), "exec", "--lava", l.URL, "--lava-artifacts", l.Artifacts+"=file://"+l.Artifacts,
		"--kernel", image, "--", "/bin/busybox", "sleep", "600")
	cmd.Env = append(os.Environ(), "LAVA_TOKEN="+l.Token)
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	started := time.Now().Add(4 * time.Minute)
	for !strings.Contains(out.String(), "sleep 600") && time.Now().Before(started) {
		time.Sleep(time.Second)
	}
	m := regexp.MustCompile(`LAVA job (\d+): `).FindStringSubmatch(out.String())
	if m == nil || !strings.Contains(out.String(), "sleep 600") {
		t.Fatalf("the command never started on the farm:\n%s", testenv.LastLines(out.String(), 20))
	}
	cmd.Process.Signal(os.Interrupt)
	if code := exitStatus(cmd.Wait()); code == 0 {
		t.Errorf("interrupted: exit 0\n%s", testenv.LastLines(out.String(), 10))
	}
	for end := time.Now().Add(2 * time.Minute); time.Now().Before(end); time.Sleep(2 * time.Second) {
		req, _ := http.NewRequest("GET", l.URL+"api/v0.2/jobs/"+m[1]+"/", nil)
		req.Header.Set("Authorization", "Token "+l.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		var st lava.Status
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err == nil && st.State == "Finished" {
			if st.Health != "Canceled" {
				t.Errorf("job %s ended %s, want Canceled", m[1], st.Health)
			}
			return
		}
	}
	t.Errorf("job %s still not finished 2 minutes after the interrupt", m[1])
}
