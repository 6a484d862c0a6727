package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	otellog "go.opentelemetry.io/otel/log"
	"google.golang.org/grpc/codes"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/redistest"
	"github.com/comfy-sidecar/otelcol-comfy/tests/e2e/harness"
)

// 3. Collector restart: kill -9 mid-job while Dash0 and Redis are down,
// start it again, bring them back. Nothing the collector accepted is lost;
// tailed files resume from their offsets without gaps; duplicates reported.
func scenarioRestart(t *testing.T, r *row, full bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	st, l, lf := reliabilityStack(t, redistest.WithArgs("--appendonly", "yes", "--appendfsync", "always"))
	// ComfyUI's SDK batches (1 s) and retries while the collector is away.
	spec := jobSpec{otlp: 5, tailed: 3, steps: 30, pace: 200 * time.Millisecond, stagger: 200 * time.Millisecond, batch: time.Second}
	wg := runJobs(ctx, t, st, l, spec, lf)
	sleepCtx(ctx, 2*time.Second)
	// Progress still in the SDK's 1 s batch or in flight may be stale by
	// the time Redis is back.
	relaxPubsub(l, time.Now().Add(-1500*time.Millisecond))
	st.dash0.Down()
	st.redis.Stop()
	sleepCtx(ctx, 2*time.Second) // the queues fill
	st.sidecar.Kill()
	killedAt := time.Now()
	sleepCtx(ctx, 3*time.Second) // jobs go on writing and retrying
	st.sidecar.StartHealthy(startTimeout)
	r.notes = append(r.notes, fmt.Sprintf("down %.1fs", time.Since(killedAt).Seconds()))
	wg.Wait()
	flushClients(ctx, l)
	if err := st.redis.Start(); err != nil {
		t.Fatal(err)
	}
	st.dash0.Start()
	tl := l.waitDelivered(ctx, st, 4*time.Minute, false, 0)
	finish(t, r, st, l, tl)
	r.notes = append(r.notes, "pub/sub required only before the outage")
}

// 7. Bad input: invalid UTF-8, a 10 MB line, binary junk, truncation and
// rotation of a tailed file, hostile attribute values, 100k identical lines.
// The collector keeps running and loses nothing valid.
func scenarioBadInput(t *testing.T, r *row, full bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	st, l, lf := reliabilityStack(t)
	n := 0
	// valid writes one counted, valid line between the hostile pieces.
	valid := func(what string) {
		id := l.id("bad", n)
		n++
		e := &expect{id: id, class: "other", instance: "gpu1", tailed: true, sentAt: time.Now()}
		l.add(e)
		if _, err := lf.Write([]byte("[" + time.Now().UTC().Format("2006-01-02 15:04:05.000") + "] e2e note " + id + ": after " + what + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	valid("start")
	// Invalid UTF-8 inside a line that also carries an id: the line must
	// arrive (bytes replaced), not be dropped.
	badID := l.id("bad", n)
	n++
	l.add(&expect{id: badID, class: "other", instance: "gpu1", tailed: true, sentAt: time.Now()})
	if _, err := lf.Write([]byte("invalid utf-8 \xff\xfe\xc3\x28\xa0\xa1 " + badID + " \xed\xa0\x80 end\n")); err != nil {
		t.Fatal(err)
	}
	valid("invalid utf-8")
	// A 10 MB line.
	big := "[2026-11-23 14:00:00.000] " + strings.Repeat("x", 10<<20) + "\n"
	if _, err := lf.Write([]byte(big)); err != nil {
		t.Fatal(err)
	}
	valid("10 MB line")
	// Binary junk, NULs and control bytes included.
	junk := make([]byte, 256<<10)
	_, _ = rand.Read(junk)
	if _, err := lf.Write(append(junk, '\n')); err != nil {
		t.Fatal(err)
	}
	valid("binary junk")
	// Give the reader time to pass the big line and the junk before the
	// truncation (a truncation of unread data loses it by definition).
	waitIDs(ctx, t, st, l, 60*time.Second)
	// copytruncate rotation: the file is emptied in place.
	if err := lf.Truncate(); err != nil {
		t.Fatal(err)
	}
	valid("truncation")
	valid("truncation 2")
	waitIDs(ctx, t, st, l, 30*time.Second)
	// create rotation: renamed away, a new file at the same path. The lines
	// written just before the rename must still be read.
	valid("before rename")
	if err := lf.Rotate(lf.Path + ".1"); err != nil {
		t.Fatal(err)
	}
	valid("rotation")
	// 100k identical lines in one burst.
	const burst = 100000
	line := "[2026-11-23 14:00:00.000] Using pytorch attention in VAE burst-" + l.uid + "\n"
	if _, err := lf.Write([]byte(strings.Repeat(line, burst))); err != nil {
		t.Fatal(err)
	}
	valid("100k burst")
	// Hostile attribute values over OTLP: job ids that are not key-safe,
	// huge, empty, unicode; a workflow id with JSON in it.
	hostile := []string{"job with spaces", "job:with:colons", "job*glob?[x]", "{machine_id}", "job\r\nXADD x * a b", strings.Repeat("j", 5000), "作业-🚀", ""}
	for i, jobID := range hostile {
		job := harness.Job{MachineID: l.machine, JobID: jobID, WorkflowID: `wf"},{"injected":true`, Instance: "gpu0"}
		c := harness.NewClient(t, job, harness.ClientOptions{Endpoint: st.sidecar.OTLPEndpoint()})
		l.mu.Lock()
		l.clients = append(l.clients, c)
		l.mu.Unlock()
		fid := l.id(fmt.Sprintf("h%02d", i), 0)
		l.add(&expect{id: fid, class: "failure", jobID: jobID, sentAt: time.Now()})
		c.Emit(ctx, harness.Rec{ID: fid, Body: tracebackText(fid), Severity: otellog.SeverityError,
			Attrs: map[string]string{"comfy.note": "\x00\x1b[31mred\x1b[0m\r\n" + strings.Repeat("é", 1000)}})
		pid := l.id(fmt.Sprintf("h%02d", i), 1)
		l.add(&expect{id: pid, class: "progress", jobID: jobID, cur: 3, total: 7, sentAt: time.Now()})
		c.Emit(ctx, harness.Rec{ID: pid, Body: " 43%|████▎     | 3/7 [00:01<00:01,  2.50it/s]"})
	}
	tl := l.waitDelivered(ctx, st, 3*time.Minute, false, 0)
	finish(t, r, st, l, tl)
	// The burst: every identical line arrives exactly once.
	recs, _ := st.dash0.Records()
	gotBurst, bigBytes := 0, 0
	for i := range recs {
		if strings.Contains(recs[i].Body, "burst-"+l.uid) {
			gotBurst += strings.Count(recs[i].Body, "burst-"+l.uid)
		}
		if strings.Contains(recs[i].Body, "xxxxxxxxxxxxxxxx") {
			bigBytes += strings.Count(recs[i].Body, "x")
		}
	}
	r.t.sent += burst
	r.t.dash0.want += burst
	r.t.dash0.got += min(gotBurst, burst)
	r.t.dash0.dup += max(0, gotBurst-burst)
	if gotBurst != burst {
		t.Errorf("100k identical lines: %d arrived at Dash0", gotBurst)
	}
	r.notes = append(r.notes, fmt.Sprintf("10 MB line: %.1f MB of it at Dash0", float64(bigBytes)/1e6))
	if code, _, err := st.sidecar.Health(nil); err != nil || code != 200 {
		t.Errorf("health after bad input: %d %v", code, err)
	}
}

// waitIDs waits until the tailed ids written so far reached Dash0.
func waitIDs(ctx context.Context, t *testing.T, st *stack, l *ledger, timeout time.Duration) {
	t.Helper()
	err := harness.Eventually(ctx, timeout, 500*time.Millisecond, func() error {
		recs, err := st.dash0.Records()
		if err != nil {
			return err
		}
		tl := l.count(recs, nil, nil, 0)
		if tl.dash0.lost() > 0 {
			return fmt.Errorf("dash0 %s, missing %v", tl.dash0, tl.missing)
		}
		return nil
	})
	if err != nil {
		t.Logf("not yet delivered: %v", err)
	}
}

// 6. High volume: 50 concurrent jobs (the SDK's batch processor, as in
// ComfyUI) plus tailed jobs and telemetrygen background load; no loss.
func scenarioHighVolume(t *testing.T, r *row, full bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	st, l, lf := reliabilityStack(t)
	spec := jobSpec{otlp: 50, tailed: 5, steps: 50, pace: 100 * time.Millisecond, stagger: 40 * time.Millisecond, batch: time.Second}
	// telemetrygen: 4 workers x 250/s for the length of the jobs, counted by a
	// run attribute at Dash0.
	const tgWorkers, tgRate, tgPerWorker = 4, 250, 2000
	tgDone := make(chan string, 1)
	go func() {
		out, err := harness.RunTelemetrygen(ctx, t, "--otlp-endpoint", st.sidecar.OTLPEndpoint(), "--otlp-insecure",
			"--workers", fmt.Sprint(tgWorkers), "--rate", fmt.Sprint(tgRate), "--logs", fmt.Sprint(tgPerWorker),
			"--service", "comfyui", "--body", "telemetrygen load line", "--otlp-attributes", `machine.id="`+l.machine+`"`,
			"--telemetry-attributes", `test.run="tg-`+l.uid+`"`)
		if err != nil {
			out += "\n" + err.Error()
		}
		tgDone <- out
	}()
	start := time.Now()
	runJobs(ctx, t, st, l, spec, lf).Wait()
	flushClients(ctx, l)
	tgOut := <-tgDone
	r.notes = append(r.notes, fmt.Sprintf("50 OTLP + 5 tailed jobs x %d steps + telemetrygen %d in %.0fs", spec.steps, tgWorkers*tgPerWorker, time.Since(start).Seconds()))
	tl := l.waitDelivered(ctx, st, 3*time.Minute, true, 0)
	// telemetrygen records at Dash0.
	var tgGot int
	_ = harness.Eventually(ctx, 60*time.Second, time.Second, func() error {
		recs, err := st.dash0.Records()
		if err != nil {
			return err
		}
		tgGot = 0
		for i := range recs {
			if v, _ := recs[i].Lookup("test.run"); v == "tg-"+l.uid {
				tgGot++
			}
		}
		if tgGot < tgWorkers*tgPerWorker {
			return fmt.Errorf("telemetrygen: %d of %d", tgGot, tgWorkers*tgPerWorker)
		}
		return nil
	})
	tl.sent += tgWorkers * tgPerWorker
	tl.dash0.want += tgWorkers * tgPerWorker
	tl.dash0.got += min(tgGot, tgWorkers*tgPerWorker)
	tl.dash0.dup += max(0, tgGot-tgWorkers*tgPerWorker)
	if tgGot < tgWorkers*tgPerWorker {
		t.Logf("telemetrygen output:\n%s", tgOut)
	}
	finish(t, r, st, l, tl)
	if tl.pubsub.lost() > 0 {
		t.Errorf("pub/sub: %s delivered; missing e.g. %v", tl.pubsub, tl.missing)
	}
}

// 5. Resource limits: load well past capacity while Dash0 is down, so the
// persistent queue fills to its bound. RSS stays under the memory_limiter
// limit, nothing crashes, OTLP clients get a retryable refusal, the queue
// stays within its bound and the disk under 1 GB.
func scenarioLimits(t *testing.T, r *row, full bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// The queue bound is lowered so the test reaches it in seconds; the
	// memory limit is the production one.
	const queueBound = 128 << 20
	st := newStack(t, stackOptions{machineID: "rel-limits", instances: []string{"gpu0", "gpu1"},
		env: map[string]string{"OTELCOL_QUEUE_MAX_BYTES": fmt.Sprint(queueBound),
			// The queues' own bounds below the storage's, as in production.
			"OTELCOL_BACKEND_QUEUE_BYTES": fmt.Sprint(queueBound * 3 / 8), "OTELCOL_FAILURES_QUEUE_BYTES": fmt.Sprint(queueBound / 8)}})
	st.sidecar.StartHealthy(startTimeout)
	limitMiB := configInt(t, "limit_mib")
	st.dash0.Down()

	raw, err := harness.NewRawOTLP(st.sidecar.OTLPEndpoint())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	body := strings.Repeat("load past capacity ", 200) // ~3.8 KB
	codesSeen := map[string]int{}
	var accepted, refused int
	acceptedPrefixes := map[string]bool{}
	var maxDisk int64
	deadline := time.Now().Add(30 * time.Second)
	var seq atomic.Int64
	// 4 concurrent senders of 500-record requests, no retry: as fast as the
	// sidecar answers.
	type res struct {
		code   string
		ok     bool
		prefix string
	}
	results := make(chan res, 1024)
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		go func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
				prefix := fmt.Sprintf("lim-%06d", seq.Add(1))
				code, _ := raw.Send(cctx, 500, body, map[string]string{"service.name": "comfyui", "machine.id": "rel-limits"}, prefix)
				ccancel()
				results <- res{code: code.String(), ok: code == 0, prefix: prefix}
			}
		}()
	}
	for time.Now().Before(deadline) {
		select {
		case x := <-results:
			codesSeen[x.code]++
			if x.ok {
				accepted++
				acceptedPrefixes[x.prefix] = true
			} else {
				refused++
			}
		case <-time.After(100 * time.Millisecond):
		}
		if d := st.sidecar.DiskUsage(); d > maxDisk {
			maxDisk = d
		}
		if !st.sidecar.Running() {
			break
		}
	}
	close(stop)
	// Drain in-flight answers: a request accepted after the deadline counts.
	drain := time.After(12 * time.Second)
drainLoop:
	for {
		select {
		case x := <-results:
			codesSeen[x.code]++
			if x.ok {
				accepted++
				acceptedPrefixes[x.prefix] = true
			} else {
				refused++
			}
		case <-drain:
			break drainLoop
		}
	}
	u := st.sidecar.Usage()
	r.usage = u
	r.t = &tally{sent: (accepted + refused) * 500}
	r.t.dash0 = tier{want: accepted * 500}
	r.notes = append(r.notes, fmt.Sprintf("%d requests accepted, %d refused, codes %v; queue disk max %.0f MiB (bound %d MiB); memory limit %d MiB",
		accepted, refused, codesSeen, float64(maxDisk)/(1<<20), queueBound>>20, limitMiB))
	if !st.sidecar.Running() {
		t.Fatalf("sidecar died under load: %v", st.sidecar.ExitErr())
	}
	if limitMiB > 0 && u.PeakRSSMiB() >= float64(limitMiB) {
		t.Errorf("peak RSS %.1f MiB >= memory_limiter limit %d MiB", u.PeakRSSMiB(), limitMiB)
	}
	if refused == 0 {
		t.Errorf("no refusal seen: load did not pass capacity (codes %v)", codesSeen)
	}
	for c, n := range codesSeen {
		if c != "OK" && !harness.Retryable(codeFromString(c)) {
			t.Errorf("%d refusals with non-retryable code %s", n, c)
		}
	}
	if maxDisk > queueBound+queueBound/4+(64<<20) {
		t.Errorf("storage grew to %d MiB, bound %d MiB", maxDisk>>20, queueBound>>20)
	}
	if maxDisk >= 1<<30 {
		t.Errorf("disk use %d MiB >= 1 GiB", maxDisk>>20)
	}
	// Dash0 back: the sidecar recovers and answers health.
	st.dash0.Start()
	if code, _, err := st.sidecar.Health(nil); err != nil || code != 200 {
		t.Errorf("health after overload: %d %v", code, err)
	}
	// Everything accepted while Dash0 was down is delivered from the queue
	// once it is back: nothing accepted is lost to the overload.
	var got, dup int
	err = harness.Eventually(ctx, 3*time.Minute, 5*time.Second, func() error {
		recs, err := st.dash0.Records()
		if err != nil {
			return err
		}
		seen := map[string]int{}
		for i := range recs {
			id := recs[i].Attr(harness.IDAttr)
			if i := strings.LastIndexByte(id, '-'); i > 0 && acceptedPrefixes[id[:i]] {
				seen[id]++
			}
		}
		got, dup = len(seen), 0
		for _, n := range seen {
			dup += n - 1
		}
		if got < accepted*500 {
			return fmt.Errorf("dash0: %d of %d accepted records after recovery", got, accepted*500)
		}
		return nil
	})
	r.t.dash0.got, r.t.dash0.dup = got, dup
	if err != nil {
		t.Error(err)
	}
}

func codeFromString(s string) codes.Code {
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if c.String() == s {
			return c
		}
	}
	return codes.Unknown
}
