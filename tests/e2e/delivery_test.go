package e2e

// Delivery scenarios (issue 11): each finding of the delivery review as a
// row of the reliability suite, against the built binary, configs/sidecar.yaml
// + configs/backend/dash0.yaml, a real redis-server and the Dash0 stand-in
// with the stock 4 MiB gRPC limit.

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/redistest"
	"github.com/comfy-sidecar/otelcol-comfy/tests/e2e/harness"
)

// uidFor is a short unique id for one scenario run.
func uidFor() string { return fmt.Sprintf("%x", time.Now().UnixNano()%0xffffffff) }

// comfyResource is what ComfyUI's SDK sends as its resource (platform.md),
// with the instance the deploy files add.
func comfyResource(instance string) map[string]string {
	return map[string]string{"service.name": "comfyui", "service.namespace": "emerge", "comfy.instance": instance}
}

// dash0IDs counts the stand-in's records by IDAttr whose value has prefix.
func dash0IDs(st *stack, prefix string) (map[string]int, []harness.Record, error) {
	recs, err := st.dash0.Records()
	if err != nil {
		return nil, nil, err
	}
	got := map[string]int{}
	for i := range recs {
		if v, ok := recs[i].Lookup(harness.IDAttr); ok && strings.HasPrefix(v, prefix) {
			got[v]++
		}
	}
	return got, recs, nil
}

// waitDash0 waits until the stand-in holds want distinct ids with prefix.
func waitDash0(ctx context.Context, t *testing.T, st *stack, prefix string, want int, timeout time.Duration) map[string]int {
	t.Helper()
	var got map[string]int
	err := harness.Eventually(ctx, timeout, 500*time.Millisecond, func() error {
		var err error
		if got, _, err = dash0IDs(st, prefix); err != nil {
			return err
		}
		if len(got) < want {
			return fmt.Errorf("%d/%d records with id prefix %q at the Dash0 stand-in", len(got), want, prefix)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	return got
}

// checkNoDropLogged fails when the sidecar logged that it dropped data.
func checkNoDropLogged(t *testing.T, st *stack) {
	t.Helper()
	for _, s := range []string{"Dropping data", "dropping data", "ResourceExhausted"} {
		if st.sidecar.LogContains(s) {
			t.Errorf("sidecar log contains %q", s)
		}
	}
}

// 8. A Redis outage under a flood of single-record progress requests (the
// shape of lines read poll by poll), then a tailed traceback: nothing is
// refused, the backend gets everything, the failure reaches its stream and
// progress resumes at once when Redis is back.
func scenarioRedisOutageFlood(t *testing.T, r *row, full bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	st, _, _ := reliabilityStack(t)
	uid := uidFor()
	n := 11000
	st.redis.Stop()
	downAt := time.Now()
	raw, err := harness.NewRawOTLP(st.sidecar.OTLPEndpoint())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var refused, next atomic.Int64
	var firstRefusal atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				cur := i%20 + 1
				rec := harness.RawRecord{
					Body:  fmt.Sprintf("%3d%%|%-10s| %d/20 [00:01<00:01,  3.00it/s]", cur*5, strings.Repeat("#", int(cur/2)), cur),
					Attrs: map[string]string{harness.IDAttr: fmt.Sprintf("%s-p-%05d", uid, i)},
				}
				if code, err := raw.SendRecords(ctx, []harness.RawRecord{rec}, comfyResource("gpu0")); code != codes.OK {
					refused.Add(1)
					firstRefusal.CompareAndSwap(nil, fmt.Sprint(err))
				}
			}
		}()
	}
	wg.Wait()
	lf, err := harness.OpenLogFile(st.sidecar.LogPath("gpu0", "error"))
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	tbID := uid + "-flood-traceback"
	if err := lf.Line(tracebackText(tbID)); err != nil {
		t.Fatal(err)
	}
	// With Redis unreachable the health endpoint names the exporters' error,
	// and redis_up says it (the failures tier is idle: its probe notices).
	err = harness.Eventually(ctx, 30*time.Second, 250*time.Millisecond, func() error {
		_, body, err := st.sidecar.HealthAt("/status?verbose")
		if err != nil {
			return err
		}
		if !strings.Contains(body, "redisrouter/failures") || !strings.Contains(body, "connection refused") {
			return fmt.Errorf("health does not report the unreachable Redis: %.300s", body)
		}
		if up, err := st.sidecar.Metric("otelcol_exporter_redisrouter_redis_up", `exporter="redisrouter/failures"`); err != nil || up != 0 {
			return fmt.Errorf("otelcol_exporter_redisrouter_redis_up{exporter=\"redisrouter/failures\"} = %v (%v) while Redis is down", up, err)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	sleepCtx(ctx, 2*time.Second)
	if err := st.redis.Start(); err != nil {
		t.Fatal(err)
	}
	upAt := time.Now()
	// Progress resumes at once: a fresh record sent now is published.
	resumed := time.Duration(0)
	_ = harness.Eventually(ctx, 20*time.Second, 50*time.Millisecond, func() error {
		body := fmt.Sprintf(" 50%%|#####     | 10/20 [00:01<00:01,  3.00it/s] resume-%s-%d", uid, time.Now().UnixNano())
		_, _ = raw.SendRecords(ctx, []harness.RawRecord{{Body: body}}, comfyResource("gpu0"))
		for _, m := range st.sub.Messages() {
			if strings.Contains(m.Raw, "resume-"+uid) {
				resumed = m.Received.Sub(upAt)
				return nil
			}
		}
		return fmt.Errorf("no fresh progress published since Redis came back")
	})
	got := waitDash0(ctx, t, st, uid+"-p-", n, 2*time.Minute)
	var streamed int
	err = harness.Eventually(ctx, 90*time.Second, 500*time.Millisecond, func() error {
		es, err := st.streams.Read(ctx)
		if err != nil {
			return err
		}
		streamed = harness.CountContaining(es, tbID)
		if streamed == 0 {
			return fmt.Errorf("the tailed traceback is in no failure stream")
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	r.t = &tally{sent: n + 1, dash0: tier{want: n, got: len(got)}, streams: tier{want: 1, got: min(streamed, 1), dup: max(streamed-1, 0)}}
	r.usage = st.sidecar.Usage()
	r.notes = append(r.notes, fmt.Sprintf("Redis down %.0fs, %d single-record requests, %d refused; progress resumed %s after Redis was back",
		upAt.Sub(downAt).Seconds(), n, refused.Load(), resumed.Round(time.Millisecond)))
	if refused.Load() > 0 {
		t.Errorf("%d of %d requests refused during the Redis outage (first: %v): the backend tier must not depend on Redis", refused.Load(), n, firstRefusal.Load())
	}
	if resumed == 0 || resumed > 5*time.Second {
		t.Errorf("progress did not resume within 5 s of Redis coming back (%s)", resumed)
	}
}

// traceback2k is an ordinary ComfyUI traceback of about 2 kB.
func traceback2k(id string) string {
	var b strings.Builder
	b.WriteString("Traceback (most recent call last):\n")
	for i := 0; b.Len() < 1900; i++ {
		fmt.Fprintf(&b, "  File \"/opt/ComfyUI/custom_nodes/node_%d/nodes.py\", line %d, in run\n    result = self.model(latent, steps=steps, cfg=cfg)\n", i, 100+i)
	}
	b.WriteString("RuntimeError: e2e failure " + id)
	return b.String()
}

// 9. A backend outage while 3,000 ordinary tracebacks (2 kB) arrive: after
// it, the queued batches stay under the stand-in's stock 4 MiB gRPC limit and
// all 3,000 arrive. Then one 5 MB record over OTLP/HTTP among normal ones:
// it arrives cut, with a marker, and the records after it arrive too.
func scenarioBackendOutageBatches(t *testing.T, r *row, full bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	st, _, _ := reliabilityStack(t)
	uid := uidFor()
	n := 3000
	st.dash0.Down()
	raw, err := harness.NewRawOTLP(st.sidecar.OTLPEndpoint())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	refused := 0
	for i := 0; i < n; i += 10 {
		recs := make([]harness.RawRecord, 0, 10)
		for k := i; k < i+10 && k < n; k++ {
			id := fmt.Sprintf("%s-tb-%05d", uid, k)
			recs = append(recs, harness.RawRecord{Body: traceback2k(id), Attrs: map[string]string{
				harness.IDAttr: id, "emerge.job_id": fmt.Sprintf("%s-job-%02d", uid, k%30)}})
		}
		if code, _ := raw.SendRecords(ctx, recs, comfyResource("gpu1")); code != codes.OK {
			refused++
		}
	}
	sleepCtx(ctx, 5*time.Second)
	st.dash0.Start()
	got := waitDash0(ctx, t, st, uid+"-tb-", n, 4*time.Minute)

	// One 5 MB record, then 10 normal ones, each its own OTLP/HTTP request.
	bigID := uid + "-big"
	big := harness.RawRecord{Body: "Traceback (most recent call last):\n" + strings.Repeat("  File \"x.py\", line 1, in f\n", 5*1024*1024/29) + "RuntimeError: huge " + bigID,
		Attrs: map[string]string{harness.IDAttr: bigID}}
	if _, err := harness.SendHTTP(ctx, "127.0.0.1:"+fmt.Sprint(st.sidecar.OTLPHTTP), []harness.RawRecord{big}, comfyResource("gpu1")); err != nil {
		t.Errorf("5 MB record over OTLP/HTTP: %v", err)
	}
	for i := 0; i < 10; i++ {
		rec := harness.RawRecord{Body: "Requested to load SDXL", Attrs: map[string]string{harness.IDAttr: fmt.Sprintf("%s-after-%02d", uid, i)}}
		if _, err := harness.SendHTTP(ctx, "127.0.0.1:"+fmt.Sprint(st.sidecar.OTLPHTTP), []harness.RawRecord{rec}, comfyResource("gpu1")); err != nil {
			t.Errorf("record %d after the big one: %v", i, err)
		}
	}
	after := waitDash0(ctx, t, st, uid+"-after-", 10, time.Minute)
	_, recs, _ := dash0IDs(st, bigID)
	bigOK := false
	for i := range recs {
		if v, _ := recs[i].Lookup(harness.IDAttr); v == bigID {
			bigOK = true
			if recs[i].Attr("comfy.truncated") != "true" || len(recs[i].Body) > 2*1024*1024 {
				t.Errorf("the 5 MB record arrived with %d bytes, comfy.truncated=%q: want it cut with the marker", len(recs[i].Body), recs[i].Attr("comfy.truncated"))
			}
		}
	}
	if !bigOK {
		t.Errorf("the 5 MB record never reached the backend")
	}
	checkNoDropLogged(t, st)
	r.t = &tally{sent: n + 11, dash0: tier{want: n + 11, got: len(got) + len(after) + map[bool]int{true: 1}[bigOK]}}
	r.usage = st.sidecar.Usage()
	r.notes = append(r.notes, fmt.Sprintf("%d tracebacks of 2 kB during a backend outage (%d requests refused), stand-in at the stock 4 MiB limit; one 5 MB record among 10", n, refused))
	if refused > 0 {
		t.Errorf("%d requests refused during the backend outage", refused)
	}
}

// failureRec is a ComfyUI failure as the SDK sends it, for job.
func failureRec(id, job string) harness.RawRecord {
	return harness.RawRecord{Body: tracebackText(id), Attrs: map[string]string{harness.IDAttr: id, "emerge.job_id": job}}
}

// streamClient reads db of the stack's Redis.
func streamClient(t *testing.T, port, db int) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), DB: db, Protocol: 2})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// 10. REDIS_DB names a database the server does not have: failures wait in
// the disk queue, the health endpoint and metrics say why; once the server
// has the database, every failure arrives.
func scenarioUnknownDB(t *testing.T, r *row, full bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st := newStack(t, stackOptions{machineID: "rel-unknown-db", instances: []string{"gpu0"},
		redisOpts: []redistest.Option{redistest.WithArgs("--databases", "4")}, env: map[string]string{"REDIS_DB": "9"}})
	st.sidecar.StartHealthy(startTimeout)
	uid := uidFor()
	raw, err := harness.NewRawOTLP(st.sidecar.OTLPEndpoint())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	const n = 5
	for i := 0; i < n; i++ {
		if code, err := raw.SendRecords(ctx, []harness.RawRecord{failureRec(fmt.Sprintf("%s-db-%d", uid, i), uid+"-dbjob")}, comfyResource("gpu0")); code != codes.OK {
			t.Errorf("failure %d refused: %v", i, err)
		}
	}
	var status string
	err = harness.Eventually(ctx, 30*time.Second, 250*time.Millisecond, func() error {
		_, body, err := st.sidecar.HealthAt("/status?verbose")
		if err != nil {
			return err
		}
		status = body
		if !strings.Contains(body, "redisrouter/failures") || !strings.Contains(strings.ToLower(body), "db index") {
			return fmt.Errorf("health does not report the exporter's DB error: %s", body)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	cfgErrs, _ := st.sidecar.Metric("otelcol_exporter_redisrouter_redis_errors", `kind="config"`)
	if cfgErrs == 0 {
		t.Errorf("otelcol_exporter_redisrouter_redis_errors{kind=\"config\"} is 0 while the db is missing")
	}
	// Fixed: the server comes back with enough databases, same port.
	port := st.redis.Port
	st.redis.Stop()
	st.redis = redistest.StartOnPort(t, port, redistest.WithArgs("--databases", "16"))
	c := streamClient(t, port, 9)
	got := 0
	err = harness.Eventually(ctx, 90*time.Second, 500*time.Millisecond, func() error {
		es, err := c.XRange(ctx, "job:events:"+uid+"-dbjob", "-", "+").Result()
		if err != nil {
			return err
		}
		got = len(es)
		if got < n {
			return fmt.Errorf("%d/%d failures in db 9 after the fix", got, n)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	r.t = &tally{sent: n, streams: tier{want: n, got: min(got, n), dup: max(got-n, 0)}}
	r.usage = st.sidecar.Usage()
	r.notes = append(r.notes, fmt.Sprintf("REDIS_DB=9 on a 4-db server, then 16 dbs; health said: %s", firstMatch(status, `"error":"[^"]{0,80}`)))
}

func firstMatch(s, re string) string {
	if m := regexp.MustCompile(re).FindString(s); m != "" {
		return m
	}
	return "-"
}

// 11. A job's stream key holds another type (WRONGTYPE): that failure goes
// to the dead-letter stream and is counted; the tier is not blocked.
func scenarioWrongType(t *testing.T, r *row, full bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, _, _ := reliabilityStack(t)
	uid := uidFor()
	bad, good := uid+"-wrongtype", uid+"-fine"
	if _, err := st.redis.Cmd(ctx, nil, "SET", "job:events:"+bad, "not a stream"); err != nil {
		t.Fatal(err)
	}
	raw, err := harness.NewRawOTLP(st.sidecar.OTLPEndpoint())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, rec := range []harness.RawRecord{failureRec(uid+"-a", bad), failureRec(uid+"-b", good)} {
		if code, err := raw.SendRecords(ctx, []harness.RawRecord{rec}, comfyResource("gpu0")); code != codes.OK {
			t.Errorf("refused: %v", err)
		}
	}
	dlKey := "machine:" + st.sidecar.MachineID + ":dead_letter"
	var dl, ok int
	err = harness.Eventually(ctx, 60*time.Second, 250*time.Millisecond, func() error {
		es, err := st.streams.Read(ctx, "job:events:*", "machine:*")
		if err != nil {
			return err
		}
		dl, ok = 0, 0
		for _, e := range es {
			switch {
			case e.Stream == dlKey && strings.Contains(fmt.Sprint(e.Values), uid+"-a"):
				dl++
			case e.Stream == "job:events:"+good:
				ok++
			}
		}
		if dl == 0 || ok == 0 {
			return fmt.Errorf("dead letter %s: %d, job stream of %s: %d", dlKey, dl, good, ok)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	n, _ := st.sidecar.Metric("otelcol_exporter_redisrouter_dead_lettered")
	if n < 1 {
		t.Errorf("otelcol_exporter_redisrouter_dead_lettered = %v, want >= 1", n)
	}
	r.t = &tally{sent: 2, streams: tier{want: 2, got: min(dl, 1) + min(ok, 1)}}
	r.usage = st.sidecar.Usage()
	r.notes = append(r.notes, fmt.Sprintf("WRONGTYPE key -> %s (%d), metric %v; the next job's failure delivered", dlKey, dl, n))
}

// failureIDRE finds a tailed traceback's id in a stream entry's message.
var failureIDRE = regexp.MustCompile(`e2e failure (\S+)`)

// 12. kill -9 while tracebacks are being tailed: every traceback arrives,
// and every duplicate the restart causes carries its original's event_id.
func scenarioKillTailing(t *testing.T, r *row, full bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, _, _ := reliabilityStack(t)
	uid := uidFor()
	lf, err := harness.OpenLogFile(st.sidecar.LogPath("gpu0", "error"))
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	n := 200
	done := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			if err := lf.Line(tracebackText(fmt.Sprintf("%s-k-%04d", uid, i))); err != nil {
				done <- err
				return
			}
			time.Sleep(15 * time.Millisecond)
		}
		done <- nil
	}()
	sleepCtx(ctx, 1500*time.Millisecond)
	st.sidecar.Restart(true, startTimeout)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	byID := map[string][]string{}
	err = harness.Eventually(ctx, 2*time.Minute, 500*time.Millisecond, func() error {
		es, err := st.streams.Read(ctx)
		if err != nil {
			return err
		}
		byID = map[string][]string{}
		for _, e := range es {
			msg := fmt.Sprint(e.Values["message"])
			if m := failureIDRE.FindStringSubmatch(msg); m != nil && strings.HasPrefix(m[1], uid+"-k-") {
				byID[m[1]] = append(byID[m[1]], fmt.Sprint(e.Values["event_id"]))
			}
		}
		if len(byID) < n {
			return fmt.Errorf("%d/%d tailed tracebacks in the streams", len(byID), n)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	dups, badDups := 0, 0
	for id, evs := range byID {
		for _, ev := range evs[1:] {
			dups++
			if ev != evs[0] {
				badDups++
				t.Errorf("%s arrived twice with different event_ids %v: consumers cannot drop the duplicate", id, evs)
			}
		}
	}
	r.t = &tally{sent: n, streams: tier{want: n, got: len(byID), dup: dups}}
	r.usage = st.sidecar.Usage()
	r.notes = append(r.notes, fmt.Sprintf("kill -9 mid-tail: %d duplicates, %d of them with a different event_id", dups, badDups))
}

// 13. Job ids that sanitise alike never share a stream.
func scenarioKeyCollisions(t *testing.T, r *row, full bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, _, _ := reliabilityStack(t)
	uid := uidFor()
	jobs := []string{uid + "-a:b", uid + "-a/b", uid + "-a b", uid + "-a_b", uid + "-é1", uid + "-ü1"}
	raw, err := harness.NewRawOTLP(st.sidecar.OTLPEndpoint())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for i, j := range jobs {
		if code, err := raw.SendRecords(ctx, []harness.RawRecord{failureRec(fmt.Sprintf("%s-c%d", uid, i), j)}, comfyResource("gpu0")); code != codes.OK {
			t.Errorf("refused: %v", err)
		}
	}
	var keys map[string][]string
	err = harness.Eventually(ctx, 60*time.Second, 250*time.Millisecond, func() error {
		es, err := st.streams.Read(ctx, "job:events:*")
		if err != nil {
			return err
		}
		keys = map[string][]string{}
		for _, e := range es {
			if j := fmt.Sprint(e.Values["job_id"]); strings.HasPrefix(j, uid) {
				keys[e.Stream] = append(keys[e.Stream], j)
			}
		}
		n := 0
		for _, js := range keys {
			n += len(js)
		}
		if n < len(jobs) {
			return fmt.Errorf("%d/%d failures in job streams", n, len(jobs))
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	for k, js := range keys {
		if len(uniq(js)) > 1 {
			t.Errorf("stream %s holds the failures of several jobs: %q", k, js)
		}
	}
	if len(keys) != len(jobs) {
		t.Errorf("%d job ids wrote to %d streams: %v", len(jobs), len(keys), keys)
	}
	r.t = &tally{sent: len(jobs), streams: tier{want: len(jobs), got: len(keys)}}
	r.usage = st.sidecar.Usage()
	r.notes = append(r.notes, fmt.Sprintf("%d job ids that sanitise alike -> %d streams", len(jobs), len(keys)))
}

// 14. Rename-and-reopen rotation where ComfyUI writes a few more lines to
// the renamed file before it reopens: nothing is lost.
func scenarioRenameLateWrites(t *testing.T, r *row, full bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, _, _ := reliabilityStack(t)
	uid := uidFor()
	path := st.sidecar.LogPath("gpu0", "out")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	line := func(f *os.File, i int) {
		if _, err := fmt.Fprintf(f, "Requested to load SDXL rot-%s-%02d\n", uid, i); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 5; i++ {
		line(f, i)
	}
	sleepCtx(ctx, 300*time.Millisecond)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	for i := 5; i < 10; i++ { // late writes to the renamed file's handle
		line(f, i)
		time.Sleep(20 * time.Millisecond)
	}
	sleepCtx(ctx, 200*time.Millisecond)
	f.Close()
	nf, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer nf.Close()
	for i := 10; i < 15; i++ {
		line(nf, i)
	}
	re := regexp.MustCompile(`rot-` + uid + `-(\d\d)`)
	seen := map[string]int{}
	err = harness.Eventually(ctx, 60*time.Second, 500*time.Millisecond, func() error {
		recs, err := st.dash0.Records()
		if err != nil {
			return err
		}
		seen = map[string]int{}
		for i := range recs {
			if m := re.FindStringSubmatch(recs[i].Body); m != nil {
				seen[m[1]]++
			}
		}
		if len(seen) < 15 {
			return fmt.Errorf("%d/15 lines at the backend: %v", len(seen), seen)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	dup := 0
	for _, c := range seen {
		dup += c - 1
	}
	r.t = &tally{sent: 15, dash0: tier{want: 15, got: len(seen), dup: dup}}
	r.usage = st.sidecar.Usage()
	r.notes = append(r.notes, "5 lines, rename, 5 late lines to the old handle, 5 in the new file")
}
