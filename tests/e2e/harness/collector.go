package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Process is one otelcol-comfy process, restartable with the same config and
// environment. Its stdout and stderr go to one log file across restarts; a
// failing test gets the tail of it.
type Process struct {
	Name string
	Bin  string
	// ConfigPaths are the --config files, merged in order.
	ConfigPaths []string
	// Env is added to the test's own environment (later entries win).
	Env map[string]string
	// HealthPort is the health_check extension's port; 0 = no health check.
	HealthPort int
	// HealthPath is the path that answers 200 when healthy ("/" by default;
	// the sidecar's component-status endpoint is /status).
	HealthPath string
	LogPath    string
	// Args follow --config on the command line (feature gates).
	Args []string

	tb testing.TB

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the current process has exited
	exitErr error
	starts  int

	// CPU of processes that already exited (rusage from wait4 is exact,
	// unlike the last /proc sample before a kill -9).
	pastCPU time.Duration
	// Highest VmHWM/VmRSS seen by the sampler, KiB. Not wait4's ru_maxrss:
	// Linux carries the high-water mark of the mm a process had before
	// execve into it, and os/exec's child shares the test binary's memory
	// until exec, so ru_maxrss reported the go test process's peak (3.5 GB
	// in a full reliability run) as the sidecar's.
	sampledMaxRSS int64
	stopSampler   chan struct{}
}

// ProcessOptions configure NewProcess.
type ProcessOptions struct {
	Name string
	// ConfigPath is one config file; ConfigPaths several, merged in order.
	ConfigPath  string
	ConfigPaths []string
	Env         map[string]string
	HealthPort  int
	HealthPath  string
	// Args follow --config on the command line.
	Args []string
	// Dir holds the log file; default t.TempDir().
	Dir string
}

// NewProcess prepares (does not start) a collector process. It is killed when
// the test ends, and its log tail is printed if the test failed.
func NewProcess(tb testing.TB, o ProcessOptions) *Process {
	tb.Helper()
	dir := o.Dir
	if dir == "" {
		dir = tb.TempDir()
	}
	name := o.Name
	if name == "" {
		name = "otelcol"
	}
	configs := o.ConfigPaths
	if o.ConfigPath != "" {
		configs = append([]string{o.ConfigPath}, configs...)
	}
	healthPath := o.HealthPath
	if healthPath == "" {
		healthPath = "/"
	}
	p := &Process{
		Name: name, Bin: CollectorBin(tb), ConfigPaths: configs, Env: o.Env,
		HealthPort: o.HealthPort, HealthPath: healthPath, Args: o.Args, LogPath: filepath.Join(dir, name+".log"), tb: tb,
		stopSampler: make(chan struct{}),
	}
	tb.Cleanup(func() {
		close(p.stopSampler)
		p.Kill()
		if tb.Failed() {
			tb.Logf("---- %s log tail (%s) ----\n%s", p.Name, p.LogPath, p.LogTail(60))
		}
	})
	go p.sample()
	return p
}

// Start launches the process (no-op when running). It does not wait for health.
func (p *Process) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return nil
	}
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.starts++
	fmt.Fprintf(logf, "\n==== harness: start #%d of %s at %s ====\n", p.starts, p.Name, time.Now().UTC().Format(time.RFC3339Nano))
	args := make([]string, 0, 2*len(p.ConfigPaths)+len(p.Args))
	for _, c := range p.ConfigPaths {
		args = append(args, "--config", c)
	}
	cmd := exec.Command(p.Bin, append(args, p.Args...)...)
	cmd.Env = os.Environ()
	keys := make([]string, 0, len(p.Env))
	for k := range p.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+p.Env[k])
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.exitErr = cmd, done, nil
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		if st := cmd.ProcessState; st != nil {
			p.pastCPU += st.UserTime() + st.SystemTime()
		}
		p.exitErr = err
		if p.cmd == cmd {
			p.cmd = nil
		}
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// StartHealthy starts the process and waits until its health check answers
// 200, failing the test (with the log tail) otherwise.
func (p *Process) StartHealthy(timeout time.Duration) {
	p.tb.Helper()
	if err := p.Start(); err != nil {
		p.tb.Fatal(err)
	}
	if err := p.WaitHealthy(timeout); err != nil {
		// The log tail is printed by the cleanup of a failed test.
		p.tb.Fatal(err)
	}
}

// WaitHealthy polls the health endpoint until it answers 200.
func (p *Process) WaitHealthy(timeout time.Duration) error {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return fmt.Errorf("%s is not running", p.Name)
	}
	if p.HealthPort == 0 {
		return nil
	}
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-done:
			return fmt.Errorf("%s exited before becoming healthy: %v", p.Name, p.ExitErr())
		default:
		}
		if code, _, err := p.Health(client); err == nil && code == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy on port %d after %s", p.Name, p.HealthPort, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Health GETs the health_check endpoint and returns status code and body.
func (p *Process) Health(client *http.Client) (int, string, error) {
	return p.get(client, p.HealthPath)
}

// HealthAt GETs another path of the health_check endpoint (e.g.
// "/status?verbose", the per-component status) and returns code and body.
func (p *Process) HealthAt(path string) (int, string, error) { return p.get(nil, path) }

func (p *Process) get(client *http.Client, path string) (int, string, error) {
	if client == nil {
		client = &http.Client{Timeout: 2 * time.Second}
	}
	resp, err := client.Get("http://127.0.0.1:" + strconv.Itoa(p.HealthPort) + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var sb strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&sb)
	return resp.StatusCode, sb.String(), nil
}

// Kill sends SIGKILL (a crash, nothing flushed) and waits for the exit.
func (p *Process) Kill() { p.signal(syscall.SIGKILL, 10*time.Second) }

// Stop sends SIGTERM (graceful shutdown: queues drained or persisted) and
// waits up to timeout, then kills.
func (p *Process) Stop(timeout time.Duration) error {
	if !p.signal(syscall.SIGTERM, timeout) {
		p.Kill()
		return fmt.Errorf("%s did not stop within %s after SIGTERM; killed", p.Name, timeout)
	}
	return nil
}

// signal sends sig to the current process and waits up to timeout for it to
// exit; reports whether it exited.
func (p *Process) signal(sig syscall.Signal, timeout time.Duration) bool {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return true
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Restart kills (kill=true) or stops the process and starts it again healthy.
func (p *Process) Restart(kill bool, timeout time.Duration) {
	p.tb.Helper()
	if kill {
		p.Kill()
	} else if err := p.Stop(30 * time.Second); err != nil {
		p.tb.Log(err)
	}
	p.StartHealthy(timeout)
}

// Running reports whether the process is alive.
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// ExitErr is the last exit status (nil while running or after a clean exit).
func (p *Process) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

// Starts counts how often the process was started.
func (p *Process) Starts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}

// PID of the running process, 0 when stopped.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Usage is the resource use of the process over all its runs.
type Usage struct {
	CPU        time.Duration // user+system over every run
	PeakRSSKiB int64         // max of VmHWM / rusage maxrss over every run
	RSSKiB     int64         // current VmRSS (0 when stopped)
}

func (u Usage) PeakRSSMiB() float64 { return float64(u.PeakRSSKiB) / 1024 }
func (u Usage) RSSMiB() float64     { return float64(u.RSSKiB) / 1024 }

// Usage samples /proc for the running process and adds the runs that ended.
func (p *Process) Usage() Usage {
	p.mu.Lock()
	u := Usage{CPU: p.pastCPU, PeakRSSKiB: p.sampledMaxRSS}
	pid := 0
	if p.cmd != nil {
		pid = p.cmd.Process.Pid
	}
	p.mu.Unlock()
	if pid != 0 {
		if st, err := ReadProcStatus(pid); err == nil {
			u.RSSKiB = st.RSSKiB
			u.PeakRSSKiB = max(u.PeakRSSKiB, st.HWMKiB)
		}
		if cpu, err := ReadProcCPU(pid); err == nil {
			u.CPU += cpu
		}
	}
	return u
}

// ResetUsage forgets usage so far (runs that ended, sampled peaks); the
// running process's own VmHWM and CPU cannot be reset, so callers measuring a
// phase subtract a Usage taken at its start for CPU.
func (p *Process) ResetUsage() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pastCPU, p.sampledMaxRSS = 0, 0
}

// sample records the highest VmRSS every 100 ms, so a peak between two
// Usage calls of a process that is later killed is not missed.
func (p *Process) sample() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stopSampler:
			return
		case <-t.C:
		}
		pid := p.PID()
		if pid == 0 {
			continue
		}
		if st, err := ReadProcStatus(pid); err == nil {
			p.mu.Lock()
			p.sampledMaxRSS = max(p.sampledMaxRSS, st.HWMKiB, st.RSSKiB)
			p.mu.Unlock()
		}
	}
}

// ProcStatus holds memory figures from /proc/PID/status, KiB.
type ProcStatus struct{ RSSKiB, HWMKiB int64 }

// ReadProcStatus reads VmRSS and VmHWM.
func ReadProcStatus(pid int) (ProcStatus, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return ProcStatus{}, err
	}
	var st ProcStatus
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			st.RSSKiB = v
		case "VmHWM:":
			st.HWMKiB = v
		}
	}
	return st, nil
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports here.
const clockTicks = 100

// ReadProcCPU returns utime+stime of pid from /proc/PID/stat.
func ReadProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces; fields after ')' are fixed.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("bad /proc stat")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// LogTail returns the last n lines of the process log.
func (p *Process) LogTail(n int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// LogContains reports whether the process log contains s.
func (p *Process) LogContains(s string) bool {
	b, _ := os.ReadFile(p.LogPath)
	return strings.Contains(string(b), s)
}

// Eventually polls cond every interval until it returns nil or the timeout
// passes; it returns the last error. Tests assert delivery with it: they wait
// for the data, never sleep a fixed time and assert.
func Eventually(ctx context.Context, timeout, interval time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(interval):
		}
	}
}
