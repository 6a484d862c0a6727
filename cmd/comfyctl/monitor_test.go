package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/payload"
	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/redistest"
)

// Every wait polls for an observable condition up to this deadline; nothing
// sleeps and then asserts.
const waitLimit = 15 * time.Second

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type runningMonitor struct {
	out, err *syncBuffer
	done     chan int
	cancel   context.CancelFunc
}

// startMonitor runs monitorMain in-process, as `comfyctl monitor args...`
// with stdout piped (not a terminal) unless tty says otherwise.
func startMonitor(t *testing.T, tty terminal, args ...string) *runningMonitor {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	m := &runningMonitor{out: &syncBuffer{}, err: &syncBuffer{}, done: make(chan int, 1), cancel: cancel}
	go func() { m.done <- monitorMain(ctx, args, m.out, m.err, tty) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-m.done:
		case <-time.After(waitLimit):
			t.Errorf("monitor did not stop after cancel")
		}
	})
	return m
}

func (m *runningMonitor) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-m.done:
		m.done <- code // let Cleanup see it too
		return code
	case <-time.After(waitLimit):
		t.Fatalf("monitor did not exit; stdout:\n%s\nstderr:\n%s", m.out, m.err)
		return -1
	}
}

var piped = terminal{isTTY: false}

// waitFor polls buf until cond holds.
func waitFor(t *testing.T, what string, buf *syncBuffer, cond func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		s := buf.String()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; got:\n%s", what, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func contains(sub string) func(string) bool {
	return func(s string) bool { return strings.Contains(s, sub) }
}

func newClient(t *testing.T, srv *redistest.Server, opts ...func(*redis.Options)) *redis.Client {
	t.Helper()
	o := &redis.Options{Addr: srv.Addr(), MaxRetries: 3}
	for _, f := range opts {
		f(o)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

// waitSubscribers waits until the monitor's (P)SUBSCRIBE is in place, so a
// PUBLISH right after reaches it.
func waitSubscribers(t *testing.T, rdb *redis.Client, channel string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		if channel == "" {
			if n, err := rdb.PubSubNumPat(ctx).Result(); err == nil && n > 0 {
				return
			}
		} else if m, err := rdb.PubSubNumSub(ctx, channel).Result(); err == nil && m[channel] > 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("monitor never subscribed")
}

func f64(v float64) *float64 { return &v }

// publish sends exactly what the exporter sends: payload.EncodeProgress on
// the default channel template.
func publish(t *testing.T, rdb *redis.Client, p *payload.Progress) int64 {
	t.Helper()
	b, err := payload.EncodeProgress(p)
	if err != nil {
		t.Fatal(err)
	}
	ch := fillTemplate(payload.DefaultProgressChannel, "machine_id", p.MachineID)
	n, err := rdb.Publish(context.Background(), ch, b).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func sampling(machine, job string, cur, total float64, at time.Time) *payload.Progress {
	return &payload.Progress{
		Timestamp: payload.FormatTimestamp(at), TimestampMs: at.UnixMilli(),
		MachineID: machine, JobID: job, Instance: "gpu0",
		Message: "KSampler 50%|#####     | 10/20",
		Progress: payload.ProgressDetail{
			Current: f64(cur), Total: f64(total), Message: "10/20", Kind: "sampling",
		},
	}
}

func lifecycle(machine, job, event string) *payload.Progress {
	now := time.Now()
	return &payload.Progress{
		Timestamp: payload.FormatTimestamp(now), TimestampMs: now.UnixMilli(),
		MachineID: machine, JobID: job, Message: "got prompt",
		Progress: payload.ProgressDetail{Message: "got prompt", Kind: "lifecycle", Event: event},
		Final:    true,
	}
}

// xadd appends exactly what the exporter appends: payload.Failure.Fields().
func xadd(t *testing.T, rdb *redis.Client, stream string, f *payload.Failure) string {
	t.Helper()
	vals := make([]any, 0, 32)
	for _, v := range f.Fields() {
		vals = append(vals, v)
	}
	id, err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: stream, MaxLen: 1000, Approx: true, Values: vals}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

const oomTraceback = "Traceback (most recent call last):\n" +
	"  File \"/comfy/execution.py\", line 327, in execute\n" +
	"    output_data = get_output_data(obj, input_data_all)\n" +
	"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"

func failure(machine, job, eventID string) *payload.Failure {
	return &payload.Failure{
		EventID: eventID, Timestamp: payload.FormatTimestamp(time.Now()),
		MachineID: machine, JobID: job, Message: oomTraceback,
		Kind: "oom", ExceptionType: "torch.OutOfMemoryError",
		ExceptionMessage: "CUDA out of memory. Tried to allocate 2.00 GiB",
		Severity:         "ERROR", Instance: "gpu0",
	}
}

func TestTemplatePatternsMatchPayloadConstants(t *testing.T) {
	for tmpl, want := range map[string]string{
		payload.DefaultProgressChannel: payload.ProgressChannelPattern,
		payload.DefaultFailureStream:   payload.FailureStreamPattern,
		payload.DefaultFallbackStream:  payload.FallbackStreamPattern,
	} {
		if got := templatePattern(tmpl); got != want {
			t.Errorf("templatePattern(%q) = %q, want %q", tmpl, got, want)
		}
	}
	if got := patternWith(payload.DefaultFallbackStream, "machine_id", "gpu*box[1]"); got != `machine:gpu\*box\[1\]:failures` {
		t.Errorf("glob characters of a value must be escaped, got %q", got)
	}
	if got := patternWith(payload.DefaultFallbackStream, "machine_id", ""); got != payload.FallbackStreamPattern {
		t.Errorf("empty value must stay a wildcard, got %q", got)
	}
}

func TestFormatting(t *testing.T) {
	for sec, want := range map[float64]string{0: "0:00", 3.4: "0:03", 75: "1:15", 3725: "1:02:05", -1: "?"} {
		if got := fmtDuration(sec); got != want {
			t.Errorf("fmtDuration(%v) = %q, want %q", sec, got, want)
		}
	}
	if got := fmtQuantity(531e6, true); got != "531.0MB" {
		t.Errorf("bytes: %q", got)
	}
	if got := fmtRate(0.5, "it/s"); got != "0.50 it/s" {
		t.Errorf("rate: %q", got)
	}
	if got := failureSummary(&failureEvent{Message: oomTraceback}); !strings.HasPrefix(got, "torch.OutOfMemoryError: CUDA") {
		t.Errorf("summary without exception fields should be the traceback's last line, got %q", got)
	}
}

func TestMonitorProgressPlain(t *testing.T) {
	srv := redistest.Start(t)
	rdb := newClient(t, srv)
	m := startMonitor(t, piped, "progress", "--url", srv.URL())
	waitSubscribers(t, rdb, "")

	t0 := time.Now()
	p := sampling("m1", "job-1", 10, 20, t0)
	p.Progress.Percent = f64(50)
	p.Progress.Rate, p.Progress.RateUnit, p.Progress.RemainingSeconds = f64(3.1), "it/s", f64(3.2)
	publish(t, rdb, p)
	publish(t, rdb, lifecycle("m1", "job-1", "prompt_started"))
	publish(t, rdb, sampling("m2", "job-2", 20, 20, t0))

	out := waitFor(t, "three progress lines", m.out, func(s string) bool { return strings.Count(s, "\n") >= 3 })
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, want := range []string{"m1/gpu0", "job-1", "sampling", "10/20", "50.0%", "3.10 it/s", "eta 0:03", "[##########----------]"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("progress line lacks %q: %s", want, lines[0])
		}
	}
	for _, want := range []string{"job-1", "lifecycle", "prompt_started", "got prompt"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("lifecycle line lacks %q: %s", want, lines[1])
		}
	}
	if !strings.Contains(lines[2], "m2/gpu0") || !strings.Contains(lines[2], "done") {
		t.Errorf("final bar should say done: %s", lines[2])
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("piped output must not contain escape sequences: %q", out)
	}
}

func TestMonitorProgressJSONCountAndRate(t *testing.T) {
	srv := redistest.Start(t)
	rdb := newClient(t, srv)
	m := startMonitor(t, piped, "progress", "--url", srv.URL(), "--json", "--count", "3", "--job", "job-1", "--summary")
	waitSubscribers(t, rdb, "")

	t0 := time.Now()
	publish(t, rdb, sampling("m1", "other-job", 1, 20, t0)) // filtered out by --job
	publish(t, rdb, sampling("m1", "job-1", 4, 20, t0))
	publish(t, rdb, sampling("m1", "job-1", 8, 20, t0.Add(2*time.Second)))
	publish(t, rdb, lifecycle("m1", "job-1", "prompt_executed"))
	if code := m.wait(t); code != 0 {
		t.Fatalf("exit %d, want 0 after --count events; stderr: %s", code, m.err)
	}
	if !strings.Contains(m.err.String(), "3 progress events, 0 failures") {
		t.Errorf("--summary: %q", m.err)
	}
	var evs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(m.out.String()))
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("not one JSON object per line: %q: %v", sc.Text(), err)
		}
		evs = append(evs, ev)
	}
	if len(evs) != 3 {
		t.Fatalf("want 3 events (--count 3, other job filtered), got %d:\n%s", len(evs), m.out)
	}
	// Stable keys: every documented key is present on every event.
	for _, k := range []string{"tier", "time", "channel", "machine_id", "job_id", "instance", "kind", "event",
		"current", "total", "percent", "rate", "rate_unit", "remaining_seconds", "message", "final", "payload"} {
		for i, ev := range evs {
			if _, ok := ev[k]; !ok {
				t.Errorf("event %d lacks key %q", i, k)
			}
		}
	}
	if evs[0]["tier"] != "progress" || evs[0]["job_id"] != "job-1" || evs[0]["channel"] != "machine:m1:progress" {
		t.Errorf("first event: %v", evs[0])
	}
	if evs[0]["percent"] != 20.0 || evs[0]["rate"] != nil {
		t.Errorf("first event: percent 20 derived, no rate yet: %v", evs[0])
	}
	// 4 units in 2 s (payload timestamps) -> 2 it/s, 12 left -> 6 s.
	if evs[1]["rate"] != 2.0 || evs[1]["remaining_seconds"] != 6.0 {
		t.Errorf("rate/remaining should be estimated from successive updates: %v", evs[1])
	}
	if evs[2]["event"] != "prompt_executed" || evs[2]["current"] != nil {
		t.Errorf("lifecycle event: %v", evs[2])
	}
	if pl, ok := evs[1]["payload"].(map[string]any); !ok || pl["machine_id"] != "m1" {
		t.Errorf("payload should be the published JSON: %v", evs[1]["payload"])
	}
}

func TestMonitorProgressOneMachine(t *testing.T) {
	srv := redistest.Start(t)
	rdb := newClient(t, srv)
	m := startMonitor(t, piped, "progress", "--url", srv.URL(), "--machine", "m1")
	waitSubscribers(t, rdb, "machine:m1:progress")
	if n := publish(t, rdb, sampling("m2", "job-2", 1, 20, time.Now())); n != 0 {
		t.Errorf("--machine m1 must not subscribe to m2's channel (receivers %d)", n)
	}
	publish(t, rdb, sampling("m1", "job-1", 1, 20, time.Now()))
	out := waitFor(t, "m1's progress", m.out, contains("job-1"))
	if strings.Contains(out, "job-2") {
		t.Errorf("m2 shown with --machine m1:\n%s", out)
	}
}

func TestMonitorProgressTerminal(t *testing.T) {
	srv := redistest.Start(t)
	rdb := newClient(t, srv)
	m := startMonitor(t, terminal{isTTY: true, width: func() int { return 100 }}, "progress", "--url", srv.URL())
	waitSubscribers(t, rdb, "")
	publish(t, rdb, sampling("m1", "job-1", 5, 20, time.Now()))
	waitFor(t, "first bar", m.out, contains("5/20"))
	publish(t, rdb, sampling("m1", "job-1", 6, 20, time.Now()))
	out := waitFor(t, "bar redrawn", m.out, contains("6/20"))
	if !strings.Contains(out, "\x1b[1F\x1b[J") {
		t.Errorf("second update should move up over the bar and redraw it: %q", out)
	}
	if !strings.Contains(out, "\x1b[32m") {
		t.Errorf("expected colours on a terminal: %q", out)
	}
	for _, l := range strings.Split(out, "\n") {
		if n := len([]rune(stripANSI(l))); n >= 100 {
			t.Errorf("bar line wider than the terminal (%d): %q", n, l)
		}
	}
	// The prompt ends: its event scrolls into the log and its bar goes.
	publish(t, rdb, lifecycle("m1", "job-1", "prompt_executed"))
	out = waitFor(t, "lifecycle event", m.out, contains("prompt_executed"))
	last := out[strings.LastIndex(out, "\x1b[J"):]
	if !strings.Contains(last, "prompt_executed") || strings.Contains(last, "6/20") {
		t.Errorf("after prompt_executed the bar should be gone: %q", last)
	}
}

func TestConnectionOptions(t *testing.T) {
	t.Setenv("REDIS_URL", "redis://:from-env@10.0.0.1:7000/2")
	t.Setenv("REDIS_PASSWORD", "")
	parse := func(args ...string) (*redis.Options, error) {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		var c redisConnFlags
		c.bind(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		c.applyEnvSecrets(set)
		return c.options(set)
	}
	o, err := parse()
	if err != nil || o.Addr != "10.0.0.1:7000" || o.DB != 2 || o.Password != "from-env" || o.TLSConfig != nil {
		t.Errorf("REDIS_URL: %+v %v", o, err)
	}
	o, err = parse("--host", "127.0.0.2", "--port", "6390", "--password", "pw")
	if err != nil || o.Addr != "127.0.0.2:6390" || o.Password != "pw" {
		t.Errorf("explicit --host/--port should beat REDIS_URL: %+v %v", o, err)
	}
	o, err = parse("--url", "rediss://u:p@h:1/3", "--tls-insecure-skip-verify")
	if err != nil || o.TLSConfig == nil || !o.TLSConfig.InsecureSkipVerify || o.Username != "u" || o.DB != 3 {
		t.Errorf("rediss URL: %+v %v", o, err)
	}
	if got := describeRedis(o); got != "rediss://u@h:1/3" {
		t.Errorf("describe = %q", got)
	}
	_, err = parse("--url", "redis://u:s3cr3t@h:notaport/0")
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("bad URL: error %v must exist and not show the password", err)
	}
}

func TestMonitorRedisDownAtStart(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop()
	m := startMonitor(t, piped, "all", "--url", srv.URL(), "--scan-interval", "200ms")
	for _, tier := range []string{"progress", "failure"} {
		waitFor(t, tier+" outage reported", m.err, contains(tier+": cannot reach Redis"))
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	rdb := newClient(t, srv)
	waitSubscribers(t, rdb, "")
	publish(t, rdb, sampling("m1", "job-late", 1, 20, time.Now()))
	xadd(t, rdb, "job:events:late", failure("m1", "late", "e1"))
	waitFor(t, "events once Redis is up", m.out, func(s string) bool {
		return strings.Contains(s, "job-late") && strings.Contains(s, "late  FAILURE oom")
	})
	waitFor(t, "reconnection reported", m.err, contains("reconnected to Redis"))
}

func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && (s[j] < '@' || s[j] > '~') {
				j++
			}
			i = j
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func TestMonitorFailures(t *testing.T) {
	srv := redistest.Start(t)
	rdb := newClient(t, srv)
	// Entries written before the monitor starts are history: not shown.
	xadd(t, rdb, "job:events:old", failure("m1", "old", "ev-old-1"))

	m := startMonitor(t, piped, "failures", "--url", srv.URL(), "--traceback", "-v", "--scan-interval", "200ms")
	waitFor(t, "existing stream followed", m.err, contains("following job:events:old"))

	xadd(t, rdb, "job:events:old", failure("m1", "old", "ev-old-2"))
	// A stream created after start is read from its first entry.
	f := failure("m2", "job-new", "ev-new-1")
	xadd(t, rdb, "job:events:job-new", f)
	xadd(t, rdb, "job:events:job-new", f) // at-least-once duplicate: same event_id
	// A failure without a job id lands in the machine's fallback stream.
	fb := failure("m3", "", "ev-fb-1")
	fb.Kind, fb.ExceptionType, fb.ExceptionMessage = "crash", "", ""
	fb.Message = "Segmentation fault (core dumped)"
	xadd(t, rdb, "machine:m3:failures", fb)

	out := waitFor(t, "three failures", m.out, func(s string) bool {
		return strings.Contains(s, "job-new") && strings.Contains(s, "Segmentation fault") &&
			strings.Count(s, "FAILURE oom") >= 2
	})
	if strings.Count(out, "m1/gpu0  old  FAILURE") != 1 {
		t.Errorf("only the entry added after start should be shown for the old stream:\n%s", out)
	}
	if n := strings.Count(out, "job-new  FAILURE oom  torch.OutOfMemoryError: CUDA out of memory"); n != 1 {
		t.Errorf("new stream's failure shown %d times, want 1 (duplicate event_id dropped):\n%s", n, out)
	}
	if !strings.Contains(out, "    | Traceback (most recent call last):") || !strings.Contains(out, `    |   File "/comfy/execution.py", line 327`) {
		t.Errorf("--traceback should print the whole message:\n%s", out)
	}
	if !strings.Contains(out, "m3/gpu0  -  FAILURE crash  Segmentation fault (core dumped)") {
		t.Errorf("fallback stream failure missing:\n%s", out)
	}
}

func TestMonitorFailuresFromStartJSONJob(t *testing.T) {
	srv := redistest.Start(t)
	rdb := newClient(t, srv)
	xadd(t, rdb, "job:events:j1", failure("m1", "j1", "a"))
	id := xadd(t, rdb, "job:events:j2", failure("m1", "j2", "b"))
	m := startMonitor(t, piped, "failures", "--url", srv.URL(), "--from-start", "--job", "j2", "--json", "--count", "1")
	if code := m.wait(t); code != 0 {
		t.Fatalf("exit %d; stderr: %s", code, m.err)
	}
	var ev failureEvent
	if err := json.Unmarshal([]byte(strings.TrimSpace(m.out.String())), &ev); err != nil {
		t.Fatalf("want exactly one JSON object, got %q: %v", m.out, err)
	}
	want := failureEvent{Tier: "failure", Stream: "job:events:j2", ID: id, MachineID: "m1", JobID: "j2",
		Kind: "oom", ExceptionType: "torch.OutOfMemoryError", ExceptionMessage: "CUDA out of memory. Tried to allocate 2.00 GiB",
		Message: oomTraceback, EventID: "b", Severity: "ERROR", Instance: "gpu0"}
	ev.Time = ""
	if ev != want {
		t.Errorf("got  %+v\nwant %+v", ev, want)
	}
}

// TestMonitorSurvivesRedisRestart stops Redis under a running `monitor all`
// and checks that it says so, reconnects, resubscribes and resumes every
// stream after the last entry it showed.
func TestMonitorSurvivesRedisRestart(t *testing.T) {
	// AOF with fsync always: the streams survive the SIGKILL, so resuming
	// from the last seen id (not from 0, not from $) is observable.
	srv := redistest.Start(t, redistest.WithArgs("--appendonly", "yes", "--appendfsync", "always"))
	rdb := newClient(t, srv)
	xadd(t, rdb, "job:events:r1", failure("m1", "r1", "before-start"))
	m := startMonitor(t, piped, "all", "--url", srv.URL(), "-v", "--scan-interval", "200ms")
	waitFor(t, "stream followed", m.err, contains("following job:events:r1"))
	waitSubscribers(t, rdb, "")

	xadd(t, rdb, "job:events:r1", failure("m1", "r1", "ev-before-outage"))
	publish(t, rdb, sampling("m1", "job-before", 1, 20, time.Now()))
	waitFor(t, "events before the outage", m.out, func(s string) bool {
		return strings.Contains(s, "job-before") && strings.Contains(s, "failure   ")
	})

	srv.Stop()
	for _, tier := range []string{"progress", "failure"} {
		waitFor(t, tier+" outage reported", m.err, contains(tier+": cannot reach Redis at redis://127.0.0.1:"))
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	for _, tier := range []string{"progress", "failure"} {
		waitFor(t, tier+" reconnection reported", m.err, contains(tier+": reconnected to Redis"))
	}

	// Resumes after the last entry shown: only the new entry appears.
	xadd(t, rdb, "job:events:r1", failure("m1", "r1", "ev-after-restart"))
	// A stream created after the restart is discovered and read from 0.
	xadd(t, rdb, "job:events:r2", failure("m2", "r2", "ev-r2"))
	// Pub/Sub: go-redis resubscribed by itself; publish until it shows (a
	// message published before the PSUBSCRIBE went out is lost by design).
	deadline := time.Now().Add(waitLimit)
	for !strings.Contains(m.out.String(), "job-after") {
		if time.Now().After(deadline) {
			t.Fatalf("no progress after restart; stdout:\n%s\nstderr:\n%s", m.out, m.err)
		}
		publish(t, rdb, sampling("m1", "job-after", 2, 20, time.Now()))
		time.Sleep(100 * time.Millisecond)
	}
	out := waitFor(t, "failures after restart", m.out, func(s string) bool {
		return strings.Count(s, "m1/gpu0  r1  FAILURE") >= 2 && strings.Contains(s, "m2/gpu0  r2  FAILURE")
	})
	if n := strings.Count(out, "m1/gpu0  r1  FAILURE"); n != 2 {
		t.Errorf("r1 shown %d times, want 2 (one before, one after the restart; no replay):\n%s", n, out)
	}
	if !strings.HasPrefix(out, "failure   ") && !strings.HasPrefix(out, "progress  ") {
		t.Errorf("`all` should prefix each line with its tier:\n%s", out)
	}
}

func TestMonitorUnreachableNoSecret(t *testing.T) {
	port := redistest.FreePort(t) // nothing listens there
	url := "redis://alice:s3cr3t-pw@127.0.0.1:" + itoa(port) + "/0"
	m := startMonitor(t, piped, "all", "--url", url, "--duration", "700ms")
	if code := m.wait(t); code != 0 {
		t.Fatalf("exit %d after --duration, want 0", code)
	}
	errOut := m.err.String()
	if !strings.Contains(errOut, "cannot reach Redis at redis://alice@127.0.0.1:") {
		t.Errorf("want a clear message naming the server, got:\n%s", errOut)
	}
	if strings.Contains(errOut+m.out.String(), "s3cr3t-pw") {
		t.Errorf("password leaked:\n%s", errOut)
	}
}

func TestMonitorPasswordFromEnv(t *testing.T) {
	srv := redistest.Start(t, redistest.WithPassword("pw-env"))
	rdb := newClient(t, srv, func(o *redis.Options) { o.Password = "pw-env" })
	t.Setenv("REDIS_URL", "")
	t.Setenv("REDIS_HOST", "127.0.0.1")
	t.Setenv("REDIS_PORT", itoa(srv.Port))
	t.Setenv("REDIS_PASSWORD", "pw-env")
	m := startMonitor(t, piped, "progress")
	waitSubscribers(t, rdb, "")
	publish(t, rdb, sampling("m1", "job-pw", 1, 2, time.Now()))
	waitFor(t, "progress through an authenticated connection", m.out, contains("job-pw"))
}

func TestMonitorUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"nope"}, {"progress", "--bogus"}, {"progress", "extra"}} {
		var out, errOut syncBuffer
		if code := monitorMain(context.Background(), args, &out, &errOut, piped); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// TestMonitorBinary runs the built command the way the demo does: REDIS_URL
// from the environment, --json, --count.
func TestMonitorBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := comfyctlBinary(t)
	srv := redistest.Start(t)
	rdb := newClient(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "monitor", "progress", "--json", "--count", "1")
	cmd.Env = append(os.Environ(), "REDIS_URL="+srv.URL())
	var out, errOut syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitSubscribers(t, rdb, "")
	publish(t, rdb, sampling("m1", "job-bin", 3, 4, time.Now()))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("comfyctl monitor: %v; stderr: %s", err, errOut.String())
	}
	var ev progressEvent
	if err := json.Unmarshal([]byte(out.String()), &ev); err != nil || ev.JobID != "job-bin" || *ev.Percent != 75 {
		t.Fatalf("got %q (%v)", out.String(), err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestMonitorTLS connects through rediss:// with --tls-ca to a redis-server
// speaking TLS (Debian's build has it) with a certificate made here.
func TestMonitorTLS(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile := writeTestCert(t, dir)
	tlsPort := redistest.FreePort(t)
	srv := redistest.Start(t, redistest.WithArgs("--tls-port", strconv.Itoa(tlsPort),
		"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", caFile,
		"--tls-auth-clients", "no"))
	rdb := newClient(t, srv) // plain port, to publish
	url := "rediss://127.0.0.1:" + strconv.Itoa(tlsPort)
	m := startMonitor(t, piped, "progress", "--url", url, "--tls-ca", caFile, "--tls-server-name", "localhost")
	waitSubscribers(t, rdb, "")
	publish(t, rdb, sampling("m1", "job-tls", 1, 2, time.Now()))
	waitFor(t, "progress over TLS", m.out, contains("job-tls"))
}

// writeTestCert writes a self-signed certificate for localhost/127.0.0.1
// that is its own CA.
func writeTestCert(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	write := func(p, typ string, b []byte) {
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(certFile, "CERTIFICATE", der)
	write(keyFile, "EC PRIVATE KEY", kb)
	return certFile, certFile, keyFile
}

func TestMonitorACLUser(t *testing.T) {
	srv := redistest.Start(t, redistest.WithArgs("--user", "alice", "on", ">alice-pw", "~*", "&*", "+@all"))
	rdb := newClient(t, srv)
	m := startMonitor(t, piped, "all", "--port", strconv.Itoa(srv.Port), "--username", "alice", "--password", "alice-pw",
		"--scan-interval", "200ms")
	waitSubscribers(t, rdb, "")
	publish(t, rdb, sampling("m1", "job-acl", 1, 2, time.Now()))
	xadd(t, rdb, "job:events:acl", failure("m1", "acl", "e1"))
	waitFor(t, "both tiers as an ACL user", m.out, func(s string) bool {
		return strings.Contains(s, "job-acl") && strings.Contains(s, "acl  FAILURE")
	})
	if strings.Contains(m.err.String(), "alice-pw") {
		t.Errorf("password leaked: %s", m.err)
	}
}

func TestMonitorFailuresOneMachine(t *testing.T) {
	srv := redistest.Start(t)
	rdb := newClient(t, srv)
	xadd(t, rdb, "job:events:a", failure("m1", "a", "1"))
	xadd(t, rdb, "job:events:b", failure("m2", "b", "2"))
	xadd(t, rdb, "machine:m1:failures", failure("m1", "", "3"))
	xadd(t, rdb, "machine:m2:failures", failure("m2", "", "4"))
	m := startMonitor(t, piped, "failures", "--url", srv.URL(), "--machine", "m1", "--from-start", "--json", "--count", "2")
	if code := m.wait(t); code != 0 {
		t.Fatalf("exit %d; stderr: %s", code, m.err)
	}
	var streams []string
	for _, l := range strings.Split(strings.TrimSpace(m.out.String()), "\n") {
		var ev failureEvent
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.MachineID != "m1" {
			t.Errorf("--machine m1 showed %+v", ev)
		}
		streams = append(streams, ev.Stream)
	}
	if strings.Join(streams, ",") != "job:events:a,machine:m1:failures" {
		t.Errorf("streams %v", streams)
	}
}

// Stream positions are compared as numbers, not strings.
func TestStreamIDLess(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"1-0", "2-0", true}, {"2-0", "1-0", false}, {"5-1", "5-2", true}, {"5-2", "5-2", false},
		{"999-0", "1000-0", true}, {"7-18446744073709551615", "8-0", true}, {"7-18446744073709551615", "7-3", false},
	} {
		if got := streamIDLess(c.a, c.b); got != c.want {
			t.Errorf("streamIDLess(%s, %s) = %v", c.a, c.b, got)
		}
	}
}
