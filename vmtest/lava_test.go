package vmtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/internal/syncbuf"
	"github.com/initkit/initkit/internal/testenv"
	"github.com/initkit/initkit/lava"
	"github.com/initkit/initkit/repro"
)

// TestLAVA: exec, boot and repro --lava on a real LAVA instance
// (testenv.LAVA: server, scheduler, publisher and a worker with two QEMU
// devices, on 127.0.0.1): the job definitions are accepted by the
// server; exit codes, titles and summaries are a local run's; a wrong
// token and an unreachable server are clear errors, exit 2; Ctrl-C
// cancels the job; a worker lost mid-run is an infrastructure failure,
// and the job is submitted again. The last two run alone: they stop
// jobs and the worker.
func TestLAVA(t *testing.T) {
	t.Parallel()
	l := testenv.LAVA(t)
	m := testenv.All.Get(t)
	t.Run("jobs", func(t *testing.T) {
		t.Run("exec", func(t *testing.T) { t.Parallel(); lavaExec(t, l, m.Image) })
		t.Run("boot", func(t *testing.T) { t.Parallel(); lavaBoot(t, l) })
		t.Run("repro", func(t *testing.T) { t.Parallel(); lavaRepro(t, l, m.Image) })
	})
	t.Run("interrupt", func(t *testing.T) { lavaInterrupt(t, l, m.Image) })
	t.Run("worker-lost", func(t *testing.T) { lavaWorkerLost(t, l, m.Image) })
}

// lavaCommand is initkit with the farm's flags, the token in its
// environment.
func lavaCommand(t *testing.T, l *testenv.LAVAInstance, token, server string, args ...string) *exec.Cmd {
	args = append([]string{args[0], "--lava", server, "--lava-artifacts", l.Artifacts + "=file://" + l.Artifacts, "--queue-timeout", "20m"}, args[1:]...)
	cmd := exec.Command(initkitBinary(t), args...)
	cmd.Env = append(os.Environ(), "LAVA_TOKEN="+token)
	return cmd
}

func lavaExec(t *testing.T, l *testenv.LAVAInstance, image string) {
	run := func(token, server string, flags []string, argv ...string) (int, string) {
		args := append(append([]string{"exec", "--kernel", image}, flags...), "--")
		out, err := lavaCommand(t, l, token, server, append(args, argv...)...).CombinedOutput()
		return exitStatus(err), string(out)
	}
	// A disk with a marker at its start, under a name with a comma
	// (which would end a QEMU option), attached read-only.
	disk := filepath.Join(t.TempDir(), "marked,disk.img")
	if err := os.WriteFile(disk, append([]byte("initkit-disk-marker"), make([]byte, 1<<20)...), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		flags []string
		argv  []string
		code  int
		want  string
	}{
		{nil, []string{"/bin/busybox", "sh", "-c", "echo from the guest"}, 0, "from the guest"},
		{nil, []string{"/bin/busybox", "sh", "-c", "exit 3"}, 3, ""},
		{nil, []string{"/bin/busybox", "sh", "-c", "echo c > /proc/sysrq-trigger"}, 3, "initkit exec: title: kernel panic: sysrq triggered crash"},
		{[]string{"--env", "GREETING=it's the farm's"}, []string{"/bin/busybox", "sh", "-c", `echo "$GREETING env"`}, 0, "it's the farm's env"},
		{[]string{"--disk", disk + ":ro"}, []string{"/bin/busybox", "sh", "-c", "head -c 19 /dev/vda | tr a-z A-Z"}, 0, "INITKIT-DISK-MARKER"},
	} {
		t.Run(c.argv[len(c.argv)-1], func(t *testing.T) {
			t.Parallel()
			code, out := run(l.Token, l.URL, c.flags, c.argv...)
			if code != c.code || !strings.Contains(out, c.want) {
				t.Errorf("exec --lava %q: exit %d, want %d and %q\n%s", c.argv, code, c.code, c.want, testenv.LastLines(out, 30))
			}
		})
	}
	if code, out := run("not-the-token", l.URL, nil, "/bin/busybox", "true"); code != 2 || !strings.Contains(out, "HTTP 403: {\"detail\":\"Invalid token.\"}") {
		t.Errorf("a wrong token: exit %d, want 2 and the server's refusal\n%s", code, testenv.LastLines(out, 10))
	}
	if code, out := run(l.Token, "http://127.0.0.1:1/", nil, "/bin/busybox", "true"); code != 2 || !strings.Contains(out, "127.0.0.1:1") {
		t.Errorf("an unreachable server: exit %d, want 2 naming it\n%s", code, testenv.LastLines(out, 10))
	}
}

// lavaBoot: boot --lava of the user's own image (gzip-compressed, no
// overlay) whose init crashes the kernel: exit 3, the title, and the
// report decoded with the vmlinux found beside the kernel, as a local
// boot's.
func lavaBoot(t *testing.T, l *testenv.LAVAInstance) {
	k := Kernel(t)
	initrd := WriteImage(t, Segment(t, compress.Gzip, BaseFiles(t, `echo c > /proc/sysrq-trigger`)))
	logPath := filepath.Join(t.TempDir(), "console.log")
	out, err := lavaCommand(t, l, l.Token, l.URL, "boot", "--kernel", k.Image, "--initrd", initrd, "--timeout", "8m", "--log", logPath).CombinedOutput()
	if code := exitStatus(err); code != 3 {
		t.Fatalf("boot --lava of a crashing init: exit %d, want 3\n%s", code, testenv.LastLines(string(out), 30))
	}
	for _, re := range []string{`initkit boot: title: kernel panic: sysrq triggered crash`, `(?m) panic\+0x[0-9a-f]+/0x[0-9a-f]+ kernel/panic\.c:[0-9]+$`,
		`initkit boot: kernel crash: .*\(console log: ` + regexp.QuoteMeta(logPath) + `\)`} {
		if !regexp.MustCompile(re).Match(out) {
			t.Errorf("boot --lava's output lacks %s:\n%s", re, testenv.LastLines(string(out), 40))
		}
	}
	if log, _ := os.ReadFile(logPath); !strings.Contains(string(log), "sysrq: Trigger a crash") {
		t.Errorf("the console log %s lacks the crash:\n%s", logPath, testenv.LastLines(string(log), 10))
	}
}

// lavaRepro: repro --lava -j 2 --runs 4 of a crashing and of a clean
// reproducer gives the summary a local repro gives: the same exit code,
// crash titles and counts of clean runs.
func lavaRepro(t *testing.T, l *testenv.LAVAInstance, image string) {
	for _, c := range []struct {
		name, script string
		code         int
	}{{"crash", "echo c > /proc/sysrq-trigger", 1}, {"clean", "echo fine", 0}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"repro", "--kernel", image, "-j", "2", "--runs", "4", "--json", "--", "/bin/busybox", "sh", "-c", c.script}
			var farm, local repro.Summary
			var farmErr bytes.Buffer
			for _, r := range []struct {
				cmd *exec.Cmd
				s   *repro.Summary
			}{{lavaCommand(t, l, l.Token, l.URL, args...), &farm}, {exec.Command(initkitBinary(t), args...), &local}} {
				var stderr bytes.Buffer
				r.cmd.Stderr = &stderr
				r.cmd.Dir = t.TempDir()
				out, err := r.cmd.Output()
				if r.s == &farm {
					farmErr = stderr
				}
				if code := exitStatus(err); code != c.code {
					t.Fatalf("%s: exit %d, want %d\n%s", r.cmd.Args, code, c.code, testenv.LastLines(stderr.String(), 30))
				}
				if err := json.Unmarshal(out, r.s); err != nil {
					t.Fatalf("%s: %v\n%s", r.cmd.Args, err, out)
				}
			}
			if c.code == 0 && (farm.Runs != 4 || farm.Counts[repro.Clean] != 4 || local.Counts[repro.Clean] != 4) {
				t.Errorf("clean runs: on LAVA %v, locally %v; want 4 each", farm.Counts, local.Counts)
			}
			if c.code == 1 && (len(farm.Crashes) != 1 || len(local.Crashes) != 1 || farm.Crashes[0].Title != local.Crashes[0].Title) {
				t.Errorf("crashes: on LAVA %+v, locally %+v; want one title, the same", farm.Crashes, local.Crashes)
			}
			for _, r := range farm.Results {
				if _, err := os.Stat(filepath.Join(r.Dir, "console.log")); err != nil {
					t.Errorf("run %d on LAVA: %v", r.N, err)
				}
			}
			// The first crash is enough: the jobs still running are
			// cancelled, none is left on the farm.
			ids := regexp.MustCompile(`LAVA job (\d+): `).FindAllStringSubmatch(farmErr.String(), -1)
			if len(ids) < 2 {
				t.Errorf("%d jobs submitted, want 2 at once at least:\n%s", len(ids), testenv.LastLines(farmErr.String(), 20))
			}
			for _, id := range ids {
				if st := lavaJobEnd(l, id[1], 2*time.Minute); st.State != "Finished" {
					t.Errorf("job %s is left %s", id[1], st.State)
				}
			}
		})
	}
}

// lavaWorkerLost: the worker dies with the job's QEMU while the command
// runs; the server marks it offline, initkit gives the job up as an
// infrastructure failure and submits it again, and the new job, once the
// worker is back, gives the command's own end.
func lavaWorkerLost(t *testing.T, l *testenv.LAVAInstance, image string) {
	cmd := lavaCommand(t, l, l.Token, l.URL, "exec", "--kernel", image, "--", "/bin/busybox", "sh", "-c", "sleep 20; echo slept")
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor := func(s string, d time.Duration) bool {
		for end := time.Now().Add(d); !strings.Contains(out.String(), s) && time.Now().Before(end); {
			time.Sleep(time.Second)
		}
		return strings.Contains(out.String(), s)
	}
	if !waitFor(lava.Started, 5*time.Minute) {
		t.Fatalf("the command never started on the farm:\n%s", testenv.LastLines(out.String(), 20))
	}
	l.KillWorker()
	lost := waitFor("an infrastructure failure, submitted again", 4*time.Minute)
	l.StartWorker()
	if !lost {
		t.Fatalf("the lost worker was never noticed:\n%s", testenv.LastLines(out.String(), 20))
	}
	if !strings.Contains(out.String(), "went offline") {
		t.Errorf("the failure does not say the worker went offline:\n%s", testenv.LastLines(out.String(), 20))
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if code := exitStatus(err); code != 0 || !strings.Contains(out.String(), "slept") {
			t.Errorf("the job submitted again: exit %d, want 0 and the command's output\n%s", code, testenv.LastLines(out.String(), 20))
		}
	case <-time.After(15 * time.Minute):
		t.Errorf("the job submitted again never ended:\n%s", testenv.LastLines(out.String(), 20))
	}
	if err := l.Heal(); err != nil {
		t.Error(err)
	}
	// The lost job was cancelled: the worker, back, ends it.
	if m := regexp.MustCompile(`LAVA job (\d+): `).FindStringSubmatch(out.String()); m == nil {
		t.Error("no job id printed")
	} else if st := lavaJobEnd(l, m[1], 2*time.Minute); st.State != "Finished" {
		t.Errorf("the lost job %s is left %s", m[1], st.State)
	}
}

// lavaInterrupt: Ctrl-C while the command runs cancels the job initkit
// submitted; nothing is left running on the farm.
func lavaInterrupt(t *testing.T, l *testenv.LAVAInstance, image string) {
	cmd := lavaCommand(t, l, l.Token, l.URL, "exec", "--kernel", image, "--", "/bin/busybox", "sleep", "600")
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
	if st := lavaJobEnd(l, m[1], 2*time.Minute); st.State != "Finished" || st.Health != "Canceled" {
		t.Errorf("job %s is %s %s 2 minutes after the interrupt, want Finished Canceled", m[1], st.State, st.Health)
	}
}

// lavaJobEnd waits up to d for job id to finish, and returns its status.
func lavaJobEnd(l *testenv.LAVAInstance, id string, d time.Duration) lava.Status {
	var st lava.Status
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(2 * time.Second) {
		req, _ := http.NewRequest("GET", l.URL+"api/v0.2/jobs/"+id+"/", nil)
		req.Header.Set("Authorization", "Token "+l.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err == nil && st.State == "Finished" {
			break
		}
	}
	return st
}
