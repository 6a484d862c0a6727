package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/redistest"
	"github.com/comfy-sidecar/otelcol-comfy/tests/e2e/harness"
)

// The rollout plan's criteria.
const (
	criterionRSSMiB       = 100                    // at normal load
	criterionExportP99    = 100 * time.Millisecond // OTLP export call, p99
	criterionPubsubP99    = 100 * time.Millisecond // record sent -> subscriber, p99
	reliabilityEnvVar     = "RELIABILITY"
	reliabilityFullValue  = "full"
	reliabilityReportFile = "RELIABILITY_REPORT" // optional: also write the table here
)

// row is one line of the suite's table.
type row struct {
	name       string
	t          *tally
	usage      harness.Usage
	exportP99  time.Duration
	pubsubP99  time.Duration
	notes      []string
	failed     bool
	criteria   []string // criteria missed (performance: reported, enforced only in full mode)
	skipped    bool
	skipReason string
}

var (
	rowsMu sync.Mutex
	rows   []*row
)

func fullReliability() bool { return os.Getenv(reliabilityEnvVar) == reliabilityFullValue }

// TestReliability runs the rollout plan's scenarios against the built binary
// and configs/sidecar.yaml, and prints one table. Without RELIABILITY=full
// (that is, in `make test`) it runs a quick subset: scenarios 1, 2, 4 and
// the delivery scenarios 8-14, with small loads. `make reliability` runs everything.
func TestReliability(t *testing.T) {
	full := fullReliability()
	scenarios := []struct {
		name  string
		quick bool
		run   func(t *testing.T, r *row, full bool)
	}{
		{"1 normal operation", true, scenarioNormal},
		{"2 Dash0 outage", true, scenarioDash0Outage},
		{"3 collector kill -9", false, scenarioRestart},
		{"4 Redis outage", true, scenarioRedisOutage},
		{"5 resource limits", false, scenarioLimits},
		{"6 high volume", false, scenarioHighVolume},
		{"7 bad input", false, scenarioBadInput},
		// Delivery (delivery_test.go): one scenario per finding of the review.
		{"8 Redis outage, 11k single-record progress requests", true, scenarioRedisOutageFlood},
		{"9 backend outage, 3k tracebacks, 4 MiB limit, one 5 MB record", true, scenarioBackendOutageBatches},
		{"10 Redis db missing, then fixed", true, scenarioUnknownDB},
		{"11 WRONGTYPE job key", true, scenarioWrongType},
		{"12 kill -9 while tailing: duplicates keep event_id", true, scenarioKillTailing},
		{"13 job ids that sanitise alike", true, scenarioKeyCollisions},
		{"14 rename rotation with late writes", true, scenarioRenameLateWrites},
	}
	var all []*row
	for _, sc := range scenarios {
		r := &row{name: sc.name}
		all = append(all, r)
		if !full && !sc.quick {
			r.skipped, r.skipReason = true, "RELIABILITY=full only"
			continue
		}
		ok := t.Run(strings.ReplaceAll(sc.name, " ", "_"), func(t *testing.T) {
			defer func() {
				if t.Skipped() {
					r.skipped, r.skipReason = true, "skipped"
				}
			}()
			sc.run(t, r, full)
		})
		r.failed = !ok
	}
	printTable(t, all, full)
}

func printTable(t *testing.T, all []*row, full bool) {
	tb := harness.Table{Header: []string{"scenario", "sent", "dash0", "pubsub", "streams", "lost", "dup", "peak RSS MiB", "CPU s", "export p99 ms", "pubsub p99 ms", "result", "notes"}}
	for _, r := range all {
		if r.skipped {
			tb.Add(r.name, "", "", "", "", "", "", "", "", "", "", "SKIP", r.skipReason)
			continue
		}
		res := "PASS"
		if r.failed {
			res = "FAIL"
		} else if len(r.criteria) > 0 {
			res = "FAIL (criteria)"
		}
		notes := append(append([]string(nil), r.criteria...), r.notes...)
		if r.t == nil {
			r.t = &tally{}
		}
		tb.Add(r.name, r.t.sent, r.t.dash0, r.t.pubsub, r.t.streams, r.t.lost(), r.t.dup(),
			fmt.Sprintf("%.1f", r.usage.PeakRSSMiB()), fmt.Sprintf("%.2f", r.usage.CPU.Seconds()),
			msOrDash(r.exportP99), msOrDash(r.pubsubP99), res, strings.Join(notes, "; "))
	}
	mode := "quick subset (RELIABILITY=full runs all)"
	if full {
		mode = "full"
	}
	out := fmt.Sprintf("\nReliability suite, %s; delivered got/want per tier; criteria: 100%% delivery, RSS < %d MiB at normal load, export p99 < %s, pub/sub p99 < %s\n%s",
		mode, criterionRSSMiB, criterionExportP99, criterionPubsubP99, tb.Markdown())
	fmt.Print(out)
	t.Log(out)
	if p := os.Getenv(reliabilityReportFile); p != "" {
		_ = os.WriteFile(p, []byte(out), 0o644)
	}
}

func msOrDash(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return harness.Ms(d)
}

// finish fills the row from the tally and checks the delivery criteria.
func finish(t *testing.T, r *row, st *stack, l *ledger, tl *tally) {
	t.Helper()
	r.t = tl
	r.usage = st.sidecar.Usage()
	r.exportP99 = l.exportLatency().Percentile(99)
	r.pubsubP99 = tl.pubsubLatency.Percentile(99)
	if tl.dash0.lost() > 0 || tl.streams.lost() > 0 {
		t.Errorf("lost records: dash0 %s, streams %s; e.g. %v", tl.dash0, tl.streams, tl.missing)
	}
	if !st.sidecar.Running() {
		t.Errorf("sidecar is not running: %v", st.sidecar.ExitErr())
	}
	refused := 0
	for _, c := range l.clients {
		refused += len(c.Refused())
	}
	if refused > 0 {
		r.notes = append(r.notes, fmt.Sprintf("%d OTLP records refused after client retries", refused))
	}
	if tl.dup() > 0 {
		r.notes = append(r.notes, fmt.Sprintf("duplicates dash0 %d pubsub %d streams %d", tl.dash0.dup, tl.pubsub.dup, tl.streams.dup))
	}
}

// performance records a missed performance criterion: reported in the table
// always, a test failure only in full mode (timing on a shared 2-core CI
// machine is not a reliable assertion).
func performance(t *testing.T, r *row, full bool, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	r.criteria = append(r.criteria, msg)
	if full {
		t.Error(msg)
	} else {
		t.Log("criterion missed (not enforced in the quick subset): " + msg)
	}
}

func checkNormalCriteria(t *testing.T, r *row, full bool) {
	if r.usage.PeakRSSMiB() >= criterionRSSMiB {
		performance(t, r, full, "peak RSS %.1f MiB >= %d", r.usage.PeakRSSMiB(), criterionRSSMiB)
	}
	if r.exportP99 >= criterionExportP99 {
		performance(t, r, full, "export p99 %s >= %s", r.exportP99.Round(time.Millisecond), criterionExportP99)
	}
	if r.pubsubP99 >= criterionPubsubP99 {
		performance(t, r, full, "pubsub p99 %s >= %s (OTLP p99 %s, tailed p99 %s)", r.pubsubP99.Round(time.Millisecond), criterionPubsubP99,
			r.t.pubsubOTLP.Percentile(99).Round(time.Millisecond), r.t.pubsubTail.Percentile(99).Round(time.Millisecond))
	}
}

// jobs runs n OTLP jobs and m tailed jobs concurrently and waits for them.
type jobSpec struct {
	otlp, tailed int
	steps        int
	pace         time.Duration
	batch        time.Duration
	// stagger delays job i by i*stagger so jobs overlap but do not all
	// start at once.
	stagger time.Duration
}

func runJobs(ctx context.Context, t *testing.T, st *stack, l *ledger, s jobSpec, tailFile *harness.LogFile) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i := 0; i < s.otlp; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sleepCtx(ctx, time.Duration(i)*s.stagger)
			l.otlpJob(ctx, t, st.sidecar.OTLPEndpoint(), i, s.steps, s.pace, s.batch)
		}(i)
	}
	for i := 0; i < s.tailed; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sleepCtx(ctx, time.Duration(i)*s.stagger)
			// One writer per file at a time, like a process's stdout.
			tailMu.Lock()
			defer tailMu.Unlock()
			if err := l.tailJob(ctx, tailFile, "gpu1", i, s.steps, s.pace); err != nil {
				t.Errorf("tailed job %d: %v", i, err)
			}
		}(i)
	}
	return &wg
}

var tailMu sync.Mutex

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// flushClients flushes every OTLP client (batch processors).
func flushClients(ctx context.Context, l *ledger) {
	l.mu.Lock()
	cs := append([]*harness.Client(nil), l.clients...)
	l.mu.Unlock()
	for _, c := range cs {
		_ = c.Flush(ctx)
	}
}

func reliabilityStack(t *testing.T, redisOpts ...redistest.Option) (*stack, *ledger, *harness.LogFile) {
	t.Helper()
	machine := "rel-" + strings.ToLower(strings.ReplaceAll(t.Name()[strings.LastIndex(t.Name(), "/")+1:], "_", "-"))
	machine = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return -1
	}, machine)
	st := newStack(t, stackOptions{machineID: machine, instances: []string{"gpu0", "gpu1"}, redisOpts: redisOpts})
	st.sidecar.StartHealthy(startTimeout)
	st.sidecar.ResetUsage()
	lf, err := harness.OpenLogFile(st.sidecar.LogPath("gpu1", "out"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lf.Close() })
	return st, newLedger(machine), lf
}

// 1. Normal operation: 10 jobs, each with progress and a failure.
func scenarioNormal(t *testing.T, r *row, full bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, l, lf := reliabilityStack(t)
	spec := jobSpec{otlp: 10, tailed: 4, steps: 10, pace: 50 * time.Millisecond, stagger: 200 * time.Millisecond}
	if full {
		spec.steps = 20
	}
	runJobs(ctx, t, st, l, spec, lf).Wait()
	tl := l.waitDelivered(ctx, st, 60*time.Second, true, 0)
	finish(t, r, st, l, tl)
	if tl.pubsub.lost() > 0 {
		t.Errorf("pub/sub: %s delivered in normal operation; missing e.g. %v", tl.pubsub, tl.missing)
	}
	checkNormalCriteria(t, r, full)
}

// 2. Dash0 outage: the receiver stops while 5 jobs run and comes back.
func scenarioDash0Outage(t *testing.T, r *row, full bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	st, l, lf := reliabilityStack(t)
	outage := 8 * time.Second
	spec := jobSpec{otlp: 5, tailed: 2, steps: 10, pace: 200 * time.Millisecond, stagger: 300 * time.Millisecond}
	if full {
		outage, spec.steps = 30*time.Second, 30
	}
	wg := runJobs(ctx, t, st, l, spec, lf)
	sleepCtx(ctx, time.Second)
	st.dash0.Down()
	downAt := time.Now()
	wg.Wait()
	sleepCtx(ctx, outage-time.Since(downAt))
	st.dash0.Start()
	r.notes = append(r.notes, fmt.Sprintf("Dash0 down %.0fs", time.Since(downAt).Seconds()))
	// The exporter's retry backs off up to 30 s: allow for it.
	tl := l.waitDelivered(ctx, st, 3*time.Minute, true, 0)
	finish(t, r, st, l, tl)
	if tl.pubsub.lost() > 0 {
		t.Errorf("pub/sub must not depend on Dash0: %s delivered; missing e.g. %v", tl.pubsub, tl.missing)
	}
}

// 4. Redis outage: Redis stops mid-job and returns; every failure reaches
// its stream; progress older than max_age is dropped, never replayed.
func scenarioRedisOutage(t *testing.T, r *row, full bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	maxAge := configDuration(t, "max_age")
	// Redis keeps its data across the outage (AOF, fsync always), as a
	// production Redis would; the outage is the process being away.
	st, l, lf := reliabilityStack(t, redistest.WithArgs("--appendonly", "yes", "--appendfsync", "always"))
	outage := maxAge + 4*time.Second
	spec := jobSpec{otlp: 5, tailed: 2, steps: 20, pace: 300 * time.Millisecond, stagger: 100 * time.Millisecond}
	if full {
		spec.steps = 40
	}
	wg := runJobs(ctx, t, st, l, spec, lf)
	sleepCtx(ctx, 2500*time.Millisecond)
	st.redis.Stop()
	downAt := time.Now()
	// Progress sent shortly before and during the outage may or may not be
	// fresh when Redis is back: not required on pub/sub (but never stale).
	wg.Wait()
	sleepCtx(ctx, outage-time.Since(downAt))
	if err := st.redis.Start(); err != nil {
		t.Fatal(err)
	}
	upAt := time.Now()
	r.notes = append(r.notes, fmt.Sprintf("Redis down %.0fs, max_age %s", upAt.Sub(downAt).Seconds(), maxAge))
	relaxPubsub(l, downAt.Add(-2*time.Second))
	tl := l.waitDelivered(ctx, st, 3*time.Minute, true, maxAge)
	finish(t, r, st, l, tl)
	if tl.stalePubsub > 0 {
		t.Errorf("%d progress messages published more than max_age (%s) after their record: stale progress was replayed", tl.stalePubsub, maxAge)
	}
	r.notes = append(r.notes, fmt.Sprintf("%d progress msgs after recovery, 0 allowed older than max_age: %d", countAfter(st.sub.Messages(), upAt), tl.stalePubsub))
}

// relaxPubsub: progress sent after since is not required on pub/sub (it may
// be older than max_age when Redis is reachable again).
func relaxPubsub(l *ledger, since time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.relaxSince = since
}

func countAfter(msgs []harness.ProgressMsg, t time.Time) int {
	n := 0
	for _, m := range msgs {
		if m.Received.After(t) {
			n++
		}
	}
	return n
}
