package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// LAVAInstance is a LAVA server on 127.0.0.1 with one worker and two
// QEMU devices (TCG), brought up from Debian's lava-server,
// lava-dispatcher and postgresql without systemd (the packages' unit
// files' commands, started by hand), for the tests of package lava.
type LAVAInstance struct {
	URL       string // http://127.0.0.1:8000/
	Token     string // the API token of the tests' user
	Artifacts string // a directory the worker reads as file://
	Devices   []string
	logs      string
	procs     []*exec.Cmd
	worker    []string // the worker's command line
	workerCmd *exec.Cmd
}

const (
	lavaUser   = "initkit-test"
	lavaWorker = "initkit-worker"
	lavaPort   = "8000"
	lavaWSPort = "8001"
)

var lavaDevices = []string{"initkit-qemu-01", "initkit-qemu-02"}

var (
	lavaOnce = sync.OnceValues(startLAVA)
	lavaUp   *LAVAInstance
)

// StartLAVA starts the instance once (StopLAVA takes it down), for a
// program that is not a test: bench/lava.sh's lavaup.
func StartLAVA() (*LAVAInstance, error) { return lavaOnce() }

// LAVA returns the tests' LAVA instance, started on first use; Run
// takes it down when the tests end.
func LAVA(t testing.TB) *LAVAInstance {
	t.Helper()
	l, err := StartLAVA()
	if err != nil {
		t.Fatalf("LAVA: %v", err)
	}
	return l
}

func startLAVA() (*LAVAInstance, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the test LAVA instance runs its daemons as root and lavaserver: run the tests as root (make test)")
	}
	logs, err := os.MkdirTemp("", "initkit-lava-")
	if err != nil {
		return nil, err
	}
	// The server's daemons drop to the lavaserver user: their logs must
	// be theirs to write.
	if err := lavaLogs(logs); err != nil {
		return nil, err
	}
	l := &LAVAInstance{URL: "http://127.0.0.1:" + lavaPort + "/", Token: "initkit-test-token-" + filepath.Base(logs),
		Artifacts: filepath.Join(logs, "artifacts"), Devices: lavaDevices, logs: logs}
	lavaUp = l
	if err := l.start(); err != nil {
		l.Stop()
		lavaUp = nil // its logs stay, for the error's reader
		return nil, fmt.Errorf("%w (logs in %s)", err, logs)
	}
	return l, nil
}

func (l *LAVAInstance) start() error {
	// PostgreSQL first: lava-server's postinst skips the database when
	// it is not running (no service starts at install).
	if out, err := exec.Command("pg_ctlcluster", "15", "main", "start").CombinedOutput(); err != nil && !strings.Contains(string(out), "already running") {
		return fmt.Errorf("pg_ctlcluster 15 main start: %v\n%s", err, out)
	}
	if err := l.run("/usr/bin/python3", "/usr/share/lava-server/postinst.py"); err != nil {
		return err
	}
	l.daemon("gunicorn", "/usr/bin/gunicorn3", "lava_server.wsgi", "-u", "lavaserver", "-g", "lavaserver",
		"--worker-class", "eventlet", "--workers", "2", "--bind", "127.0.0.1:"+lavaPort, "--log-file", filepath.Join(l.logs, "gunicorn.log"))
	l.daemon("publisher", "lava-server", "manage", "lava-publisher", "--host", "127.0.0.1", "--port", lavaWSPort,
		"--log-file", filepath.Join(l.logs, "publisher.log"))
	l.daemon("scheduler", "lava-server", "manage", "lava-scheduler", "--log-file", filepath.Join(l.logs, "scheduler.log"))
	if err := l.waitHTTP("api/v0.2/", time.Minute); err != nil {
		return err
	}
	// What exists from an earlier run is kept: each step that finds its
	// object there fails and is passed over.
	l.run("lava-server", "manage", "users", "add", "--superuser", "--staff", "--passwd", "initkit", lavaUser)
	if err := l.run("lava-server", "manage", "tokens", "add", "--user", lavaUser, "--secret", l.Token); err != nil {
		return err
	}
	l.run("lava-server", "manage", "workers", "add", lavaWorker)
	l.run("lava-server", "manage", "device-types", "add", "qemu")
	dict := "{% extends 'qemu.jinja2' %}\n{% set no_kvm = True %}\n{% set arch = 'amd64' %}\n{% set netdevice = 'user' %}\n{% set memory = 1024 %}\n"
	for _, d := range lavaDevices {
		if err := os.WriteFile("/etc/lava-server/dispatcher-config/devices/"+d+".jinja2", []byte(dict), 0o644); err != nil {
			return err
		}
		l.run("lava-server", "manage", "devices", "add", "--device-type", "qemu", "--worker", lavaWorker, d)
		// A device whose worker went away (the last run's teardown) is
		// left of unknown health, which the scheduler passes over.
		if err := l.run("lava-server", "manage", "devices", "update", "--health", "GOOD", d); err != nil {
			return err
		}
	}
	out, err := exec.Command("lava-server", "manage", "workers", "details", lavaWorker).CombinedOutput()
	m := regexp.MustCompile(`(?m)^token\s*:\s*(\S+)`).FindSubmatch(out)
	if err != nil || m == nil {
		return fmt.Errorf("the worker's token: %v\n%s", err, out)
	}
	l.worker = []string{"lava-worker", "--name", lavaWorker, "--url", l.URL, "--ws-url", "http://127.0.0.1:" + lavaWSPort + "/ws/",
		"--token", string(m[1]), "--worker-dir", filepath.Join(l.logs, "worker"), "--log-file", filepath.Join(l.logs, "worker.log"), "--level", "INFO"}
	l.StartWorker()
	return l.waitDevices(2 * time.Minute)
}

// StartWorker starts the worker (again).
func (l *LAVAInstance) StartWorker() {
	l.daemon("worker", l.worker...)
	l.workerCmd = l.procs[len(l.procs)-1]
}

// Heal marks the devices good again, as a lost worker's jobs left them
// of unknown health, and waits until they are idle.
func (l *LAVAInstance) Heal() error {
	for _, d := range lavaDevices {
		if err := l.run("lava-server", "manage", "devices", "update", "--health", "GOOD", d); err != nil {
			return err
		}
	}
	return l.waitDevices(3 * time.Minute)
}

// KillWorker kills the worker as a machine lost would: the worker, its
// jobs' lava-run and their QEMU, with SIGKILL. The server hears nothing;
// it marks the worker offline once its pings stop (a minute).
func (l *LAVAInstance) KillWorker() {
	syscall.Kill(-l.workerCmd.Process.Pid, syscall.SIGKILL)
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, _ := os.ReadFile(p)
		s := string(cmdline)
		if strings.Contains(s, "lava-run") || strings.Contains(s, "qemu-system") && strings.Contains(s, "/var/lib/lava/dispatcher/tmp") {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// run runs a setup command, its output kept in the logs.
func (l *LAVAInstance) run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	os.WriteFile(filepath.Join(l.logs, "setup-"+filepath.Base(name)+"-"+fmt.Sprint(len(l.procs))+".log"), out, 0o644)
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, LastLines(string(out), 10))
	}
	return nil
}

// daemon starts a long-running process in a process group of its own.
func (l *LAVAInstance) daemon(name string, args ...string) {
	cmd := exec.Command(args[0], args[1:]...)
	out, _ := os.Create(filepath.Join(l.logs, name+".out"))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err == nil {
		l.procs = append(l.procs, cmd)
	}
}

func (l *LAVAInstance) waitHTTP(path string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		if resp, err := http.Get(l.URL + path); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("LAVA's server did not answer on %s within %v", l.URL, d)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// waitDevices waits until the worker is online and its devices idle.
func (l *LAVAInstance) waitDevices(d time.Duration) error {
	end := time.Now().Add(d)
	for _, dev := range lavaDevices {
		for !l.idle(dev) {
			if time.Now().After(end) {
				return fmt.Errorf("the device %s was not idle and good within %v", dev, d)
			}
			time.Sleep(time.Second)
		}
	}
	return nil
}

func (l *LAVAInstance) idle(dev string) bool {
	req, _ := http.NewRequest("GET", l.URL+"api/v0.2/devices/"+dev+"/", nil)
	req.Header.Set("Authorization", "Token "+l.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var st struct{ State, Health string }
	return json.NewDecoder(resp.Body).Decode(&st) == nil && st.State == "Idle" && st.Health == "Good"
}

// Stop ends every daemon and PostgreSQL.
func (l *LAVAInstance) Stop() {
	for _, p := range l.procs {
		syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
	}
	for _, p := range l.procs {
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	l.procs = nil
	exec.Command("pg_ctlcluster", "15", "main", "stop").Run()
}

// StopLAVA takes the instance down if a test started it.
func StopLAVA() {
	if lavaUp != nil {
		lavaUp.Stop()
		os.RemoveAll(lavaUp.logs)
		lavaUp = nil
	}
}

// LastLines is the last n lines of s: what a failing command's output is
// shown by.
func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// lavaLogs makes dir readable and the server's log files in it
// lavaserver's.
func lavaLogs(dir string) error {
	u, err := user.Lookup("lavaserver")
	if err != nil {
		return fmt.Errorf("%w: is lava-server installed (make test installs it)?", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	for _, name := range []string{"gunicorn.log", "publisher.log", "scheduler.log"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			return err
		}
		if err := os.Chown(p, uid, gid); err != nil {
			return err
		}
	}
	return nil
}
