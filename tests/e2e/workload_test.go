package e2e

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	otellog "go.opentelemetry.io/otel/log"

	"github.com/comfy-sidecar/otelcol-comfy/tests/e2e/harness"
)

// expect is one record a scenario sent, with where it must arrive.
type expect struct {
	id       string
	class    string // progress, failure, other
	jobID    string // OTLP records
	instance string // tailed records
	cur      float64
	total    float64
	event    string
	tailed   bool
	sentAt   time.Time
	// pubsub: the record must be published (false where the scenario
	// allows dropping it, e.g. progress older than max_age).
	pubsub bool
}

// ledger records everything a scenario sends, with unique ids, so delivery,
// loss and duplication are counted exactly per tier.
type ledger struct {
	uid     string
	machine string
	mu      sync.Mutex
	recs    map[string]*expect
	clients []*harness.Client
	// tailed bars: total -> expectation (a bar's final state carries total/total)
	bars map[int]*expect
	// ids not counted: OTLP records the collector refused (the SDK gave up).
	nextTotal int
	// relaxSince: progress sent at or after it is not required on pub/sub
	// (an outage makes it stale); zero = no relaxation.
	relaxSince time.Time
}

func newLedger(machine string) *ledger {
	return &ledger{
		uid: strconv.FormatInt(time.Now().UnixNano()%1e12, 36), machine: machine,
		recs: map[string]*expect{}, bars: map[int]*expect{}, nextTotal: 1000,
	}
}

func (l *ledger) add(e *expect) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs[e.id] = e
	if e.tailed && e.class == "progress" {
		l.bars[int(e.total)] = e
	}
}

// id is fixed width so that no id is a prefix of another.
func (l *ledger) id(job string, n int) string { return fmt.Sprintf("%s-%s-%04d", l.uid, job, n) }

// idRE finds this ledger's ids in a body or message.
func (l *ledger) idRE() *regexp.Regexp {
	return regexp.MustCompile(regexp.QuoteMeta(l.uid) + `-[a-z0-9]+-\d{4}`)
}

func tracebackText(id string) string {
	return "Traceback (most recent call last):\n" +
		"  File \"/comfyui/execution.py\", line 151, in recursive_execute\n" +
		"    output_data, output_ui = get_output_data(obj, input_data_all)\n" +
		"  File \"/comfyui/comfy/samplers.py\", line 1177, in sample\n" +
		"    return sample(self.model, noise, positive, negative, cfg, self.device, sampler, sigmas)\n" +
		"RuntimeError: e2e failure " + id
}

// otlpJob runs one ComfyUI job over OTLP: got prompt, steps bar states, a
// failure with a traceback, prompt executed, and an `other` line. batch > 0
// uses the SDK's batch processor (as ComfyUI does) with that interval.
func (l *ledger) otlpJob(ctx context.Context, t testing.TB, endpoint string, j, steps int, pace, batch time.Duration) *harness.Client {
	job := harness.Job{MachineID: l.machine, JobID: fmt.Sprintf("job-%s-%03d", l.uid, j), WorkflowID: "wf-" + l.uid, Instance: "gpu0"}
	c := harness.NewClient(t, job, harness.ClientOptions{Endpoint: endpoint, Batch: batch})
	l.mu.Lock()
	l.clients = append(l.clients, c)
	l.mu.Unlock()
	jn := fmt.Sprintf("j%03d", j)
	n := 0
	emit := func(e *expect, body string, sev otellog.Severity) {
		e.id = l.id(jn, n)
		n++
		e.jobID = job.JobID
		e.sentAt = time.Now()
		l.add(e)
		c.Emit(ctx, harness.Rec{ID: e.id, Body: body, Severity: sev})
	}
	sleep := func() {
		select {
		case <-ctx.Done():
		case <-time.After(pace):
		}
	}
	emit(&expect{class: "progress", event: "prompt_started", pubsub: true}, "got prompt", 0)
	sleep()
	emit(&expect{class: "other"}, "Using pytorch attention in VAE", 0)
	for s := 1; s <= steps; s++ {
		pct := s * 100 / steps
		body := fmt.Sprintf("%3d%%|%-10s| %d/%d [00:%02d<00:%02d,  4.49it/s]", pct, strings.Repeat("█", pct/10), s, steps, s%60, (steps-s)%60)
		emit(&expect{class: "progress", cur: float64(s), total: float64(steps), pubsub: true}, body, 0)
		sleep()
	}
	id := l.id(jn, n)
	emit(&expect{class: "failure"}, tracebackText(id), otellog.SeverityError)
	sleep()
	emit(&expect{class: "progress", event: "prompt_executed", pubsub: true}, "Prompt executed in 2.1 seconds", 0)
	return c
}

// tailJob writes one job into a tailed file the way ComfyUI and tqdm do: a
// note line, a bar redrawn with \r and ended with \n, a traceback, all with
// ComfyUI's timestamp prefix.
func (l *ledger) tailJob(ctx context.Context, lf *harness.LogFile, instance string, j, steps int, pace time.Duration) error {
	jn := fmt.Sprintf("t%03d", j)
	n := 0
	ts := func() string { return "[" + time.Now().UTC().Format("2006-01-02 15:04:05.000") + "] " }
	sleep := func() {
		select {
		case <-ctx.Done():
		case <-time.After(pace):
		}
	}
	note := &expect{id: l.id(jn, n), class: "other", instance: instance, tailed: true}
	n++
	note.sentAt = time.Now()
	l.add(note)
	if _, err := lf.Write([]byte(ts() + "e2e note " + note.id + ": loading workflow\n")); err != nil {
		return err
	}
	l.mu.Lock()
	total := l.nextTotal
	l.nextTotal++
	l.mu.Unlock()
	bar := &expect{id: l.id(jn, n), class: "progress", instance: instance, tailed: true, cur: float64(total), total: float64(total), pubsub: true}
	n++
	if _, err := lf.Write([]byte(ts())); err != nil {
		return err
	}
	for s := 0; s <= steps; s++ {
		cur := total * s / steps
		if s == steps {
			bar.sentAt = time.Now()
			l.add(bar)
		}
		state := fmt.Sprintf("\r%3d%%|%-10s| %d/%d [00:01<00:01, 12.34it/s]", cur*100/total, strings.Repeat("█", cur*10/total), cur, total)
		if s == steps {
			state += "\n"
		}
		if _, err := lf.Write([]byte(state)); err != nil {
			return err
		}
		sleep()
	}
	fail := &expect{id: l.id(jn, n), class: "failure", instance: instance, tailed: true}
	fail.sentAt = time.Now()
	l.add(fail)
	if _, err := lf.Write([]byte(ts() + "!!! Exception during processing !!! e2e failure\n" + ts() + tracebackText(fail.id) + "\n")); err != nil {
		return err
	}
	return nil
}

// tier counts one tier's delivery.
type tier struct{ want, got, dup int }

func (t tier) lost() int { return t.want - t.got }
func (t tier) String() string {
	if t.want == 0 && t.got == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d", t.got, t.want)
}

// tally is the delivery of everything in the ledger.
type tally struct {
	sent                   int
	dash0, pubsub, streams tier
	missing                []string          // a few examples, for messages
	stalePubsub            int               // messages published later than max_age after their record
	pubsubLatency          harness.Latencies // all progress
	pubsubOTLP, pubsubTail harness.Latencies // by source
}

func (t *tally) lost() int { return t.dash0.lost() + t.pubsub.lost() + t.streams.lost() }
func (t *tally) dup() int  { return t.dash0.dup + t.pubsub.dup + t.streams.dup }

// count matches what arrived against the ledger. Only ids in accepted (when
// not nil) count for OTLP records: a record the collector never accepted is
// the client's loss, not the sidecar's.
func (l *ledger) count(recs []harness.Record, msgs []harness.ProgressMsg, entries []harness.StreamEntry, maxAge time.Duration) *tally {
	l.mu.Lock()
	defer l.mu.Unlock()
	accepted := map[string]bool{}
	for _, c := range l.clients {
		for id := range c.Accepted() {
			accepted[id] = true
		}
	}
	re := l.idRE()
	// Dash0: OTLP records by id attribute; tailed ones by the id in the body,
	// bars by their final state.
	dash0 := map[string]int{}
	barRe := regexp.MustCompile(`(\d+)/(\d+) \[`)
	for i := range recs {
		r := &recs[i]
		if v := r.Attr(harness.IDAttr); v != "" {
			dash0[v]++
			continue
		}
		for _, id := range uniq(re.FindAllString(r.Body, -1)) {
			dash0[id]++
		}
		for _, m := range barRe.FindAllStringSubmatch(r.Body, -1) {
			if m[1] == m[2] {
				if tot, _ := strconv.Atoi(m[1]); l.bars[tot] != nil {
					dash0[l.bars[tot].id]++
				}
			}
		}
	}
	// Streams: failures by the id in the message.
	streams := map[string]int{}
	for _, e := range entries {
		for _, id := range uniq(re.FindAllString(e.Failure.Message, -1)) {
			streams[id]++
		}
	}
	// Pub/sub: OTLP progress by job and numbers or event; tailed bars by total.
	type pkey struct {
		job, event string
		cur, total float64
	}
	pub := map[pkey][]harness.ProgressMsg{}
	for _, m := range msgs {
		p := m.Progress
		if p == nil {
			continue
		}
		k := pkey{job: p.JobID, event: p.Progress.Event}
		if p.Progress.Current != nil && p.Progress.Total != nil {
			k.cur, k.total, k.event = *p.Progress.Current, *p.Progress.Total, ""
		}
		pub[k] = append(pub[k], m)
	}
	t := &tally{}
	ids := make([]string, 0, len(l.recs))
	for id := range l.recs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	miss := func(s string) {
		if len(t.missing) < 8 {
			t.missing = append(t.missing, s)
		}
	}
	for _, id := range ids {
		e := l.recs[id]
		if !e.tailed && !accepted[id] {
			continue
		}
		t.sent++
		t.dash0.want++
		if n := dash0[id]; n > 0 {
			t.dash0.got++
			t.dash0.dup += n - 1
		} else {
			miss("dash0:" + id)
		}
		if e.class == "failure" {
			t.streams.want++
			if n := streams[id]; n > 0 {
				t.streams.got++
				t.streams.dup += n - 1
			} else {
				miss("streams:" + id)
			}
		}
		if e.class == "progress" {
			k := pkey{job: e.jobID, event: e.event, cur: e.cur, total: e.total}
			if e.tailed {
				k = pkey{cur: e.total, total: e.total}
			}
			got := pub[k]
			for _, m := range got {
				if maxAge > 0 && m.Received.Sub(e.sentAt) > maxAge+2*time.Second {
					t.stalePubsub++
				}
			}
			if e.pubsub && (l.relaxSince.IsZero() || e.sentAt.Before(l.relaxSince)) {
				t.pubsub.want++
				if len(got) > 0 {
					t.pubsub.got++
					t.pubsub.dup += len(got) - 1
					lat := got[0].Received.Sub(e.sentAt)
					t.pubsubLatency.Add(lat)
					if e.tailed {
						t.pubsubTail.Add(lat)
					} else {
						t.pubsubOTLP.Add(lat)
					}
				} else {
					miss("pubsub:" + id)
				}
			}
		}
	}
	return t
}

func uniq(ss []string) []string {
	if len(ss) < 2 {
		return ss
	}
	seen := map[string]bool{}
	out := ss[:0:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// snapshot reads all three tiers.
func (s *stack) snapshot(ctx context.Context) ([]harness.Record, []harness.ProgressMsg, []harness.StreamEntry, error) {
	var recs []harness.Record
	var err error
	if s.dash0 != nil {
		if recs, err = s.dash0.Records(); err != nil {
			return nil, nil, nil, err
		}
	}
	entries, err := s.streams.Read(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	return recs, s.sub.Messages(), entries, nil
}

// waitDelivered polls until every tier has everything the ledger expects
// (pub/sub only when requirePubsub) or the timeout passes; returns the tally.
func (l *ledger) waitDelivered(ctx context.Context, s *stack, timeout time.Duration, requirePubsub bool, maxAge time.Duration) *tally {
	var t *tally
	_ = harness.Eventually(ctx, timeout, 500*time.Millisecond, func() error {
		recs, msgs, entries, err := s.snapshot(ctx)
		if err != nil {
			return err // Redis may be restarting
		}
		t = l.count(recs, msgs, entries, maxAge)
		if t.dash0.lost() > 0 || t.streams.lost() > 0 || (requirePubsub && t.pubsub.lost() > 0) {
			return fmt.Errorf("missing %v", t.missing)
		}
		return nil
	})
	// Settle: whatever is still in flight shows up as a duplicate.
	time.Sleep(time.Second)
	if recs, msgs, entries, err := s.snapshot(ctx); err == nil {
		t = l.count(recs, msgs, entries, maxAge)
	}
	return t
}

// exportLatency merges the OTLP clients' export latencies.
func (l *ledger) exportLatency() *harness.Latencies {
	var out harness.Latencies
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.clients {
		c.ExportLatency().Each(out.Add)
	}
	return &out
}

// configValue reads a scalar setting (e.g. "max_age", "limit_mib") from the
// production config, resolving a ${env:X:-default} default; "" if absent.
func configValue(t testing.TB, key string) string {
	t.Helper()
	b, err := os.ReadFile(harness.SidecarConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(key) + `:\s*(\S+)`).FindSubmatch(b)
	if m == nil {
		return ""
	}
	v := string(m[1])
	if d := regexp.MustCompile(`:-([^}]+)}`).FindStringSubmatch(v); d != nil {
		v = d[1]
	}
	return strings.Trim(v, `"'`)
}

// configDuration is configValue as a duration (0 if absent).
func configDuration(t testing.TB, key string) time.Duration {
	t.Helper()
	v := configValue(t, key)
	if v == "" {
		return 0
	}
	dur, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("config %s: %q: %v", key, v, err)
	}
	return dur
}

// configInt is configValue as an integer (0 if absent).
func configInt(t testing.TB, key string) int {
	t.Helper()
	v := configValue(t, key)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("config %s: %q: %v", key, v, err)
	}
	return n
}
