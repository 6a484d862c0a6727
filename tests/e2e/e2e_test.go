package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	otellog "go.opentelemetry.io/otel/log"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/payload"
	"github.com/comfy-sidecar/otelcol-comfy/tests/e2e/harness"
)

// e2eSession is the real session gpu1 writes. GhostPrincess1's log has
// everything a tailed file throws at the sidecar: CRLF endings, ANSI colours,
// \r tqdm states, a timestamp prefix on every line (inside tracebacks too),
// chained tracebacks and 52 prompts. E2E_SESSION picks another one.
const e2eSession = "GhostPrincess1__Aigcserver__comfyui.log"

// progressPace separates progress records of one job, so that a throttle in
// the production config (it keeps the latest state per interval) never
// hides an intermediate state the test expects.
const progressPace = 300 * time.Millisecond

// otlpRec is one record gpu0 sends, with what the pipeline must make of it.
type otlpRec struct {
	harness.Rec
	class          string // comfy.class expected
	current, total float64
	event          string // lifecycle event expected on pub/sub
}

func gpu0Records(uid string) []otlpRec {
	id := func(s string) string { return uid + "-" + s }
	bar := func(cur, total int, bar string, eta string) otlpRec {
		return otlpRec{
			Rec:   harness.Rec{ID: id("bar-" + strconv.Itoa(cur)), Body: fmt.Sprintf("%3d%%|%s| %d/%d [%s,  4.49it/s]", cur*100/total, bar, cur, total, eta)},
			class: "progress", current: float64(cur), total: float64(total),
		}
	}
	traceback := "Traceback (most recent call last):\n" +
		"  File \"/comfyui/execution.py\", line 323, in execute\n" +
		"    output_data, output_ui, has_subgraph = get_output_data(obj, input_data_all, execution_block_cb=execution_block_cb)\n" +
		"  File \"/comfyui/comfy/samplers.py\", line 1177, in sample\n" +
		"    return sample(self.model, noise, positive, negative, cfg, self.device, sampler, sigmas)\n" +
		"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 23.65 GiB of which 1.02 GiB is free. [" + id("oom") + "]"
	return []otlpRec{
		{Rec: harness.Rec{ID: id("got-prompt"), Body: "got prompt"}, class: "progress", event: "prompt_started"},
		{Rec: harness.Rec{ID: id("attention"), Body: "Using pytorch attention in VAE"}, class: "other"},
		bar(0, 20, "          ", "00:00<?"),
		bar(5, 20, "██▌       ", "00:01<00:03"),
		bar(10, 20, "█████     ", "00:02<00:02"),
		bar(15, 20, "███████▌  ", "00:03<00:01"),
		bar(20, 20, "██████████", "00:04<00:00"),
		{Rec: harness.Rec{ID: id("oom"), Body: traceback, Severity: otellog.SeverityError}, class: "failure"},
		{Rec: harness.Rec{ID: id("executed"), Body: "Prompt executed in 2.1 seconds"}, class: "progress", event: "prompt_executed"},
	}
}

func TestEndToEnd(t *testing.T) {
	uid := strconv.FormatInt(time.Now().UnixNano()%1e10, 36)
	machine := "machine-" + uid
	st := newStack(t, stackOptions{machineID: machine, instances: []string{"gpu0", "gpu1"}, dash0TLS: true})
	st.sidecar.StartHealthy(startTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// The health endpoint answers.
	if code, body, err := st.sidecar.Health(&http.Client{Timeout: 2 * time.Second}); err != nil || code != http.StatusOK {
		t.Fatalf("health endpoint: code %d err %v body %q", code, err, body)
	}

	// gpu1: a real session written line by line into the tailed file.
	sessionName := e2eSession
	if s := os.Getenv("E2E_SESSION"); s != "" {
		sessionName = s
	}
	raw, err := os.ReadFile(harness.SessionPath(t, sessionName))
	if err != nil {
		t.Fatal(err)
	}
	lines := harness.SessionLines(raw)
	strLines := make([]string, len(lines))
	for i, l := range lines {
		strLines[i] = string(l)
	}
	logf, err := harness.OpenLogFile(st.sidecar.LogPath("gpu1", "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	replayDone := make(chan error, 1)
	go func() { replayDone <- logf.Replay(ctx, lines, 1000, nil) }()

	// gpu0: records through the OpenTelemetry Go logs SDK over OTLP gRPC.
	job := harness.Job{MachineID: machine, JobID: "job-" + uid, WorkflowID: "wf-" + uid, Instance: "gpu0"}
	client := harness.NewClient(t, job, harness.ClientOptions{Endpoint: st.sidecar.OTLPEndpoint()})
	recs := gpu0Records(uid)
	for _, r := range recs {
		client.Emit(ctx, r.Rec)
		time.Sleep(progressPace)
	}
	if refused := client.Refused(); len(refused) > 0 {
		t.Fatalf("sidecar refused OTLP records: %v %v", refused, client.Errors())
	}
	if err := <-replayDone; err != nil {
		t.Fatal(err)
	}

	tracebacks := sessionTracebacks(strLines)
	wantHeaders := len(tracebacks)
	jobStream := "job:events:" + job.JobID
	fallbackStream := "machine:" + machine + ":failures"
	channel := "machine:" + machine + ":progress"

	// Wait until every tier has everything (or time out and report what is missing).
	var dash0Recs []harness.Record
	var entries []harness.StreamEntry
	err = harness.Eventually(ctx, 90*time.Second, 500*time.Millisecond, func() error {
		var err error
		if dash0Recs, err = st.dash0.Records(); err != nil {
			return err
		}
		byID := harness.ByAttr(dash0Recs, harness.IDAttr)
		for _, r := range recs {
			if len(byID[r.ID]) == 0 {
				return fmt.Errorf("dash0: record %s not received", r.ID)
			}
		}
		if missing := missingTailedLines(strLines, dash0Recs, "gpu1"); len(missing) > 0 {
			return fmt.Errorf("dash0: %d tailed lines not received yet, e.g. %q", len(missing), missing[0])
		}
		if entries, err = st.streams.Read(ctx); err != nil {
			return err
		}
		keyed := harness.StreamsByKey(entries)
		if len(keyed[jobStream]) == 0 {
			return fmt.Errorf("streams: nothing in %s yet", jobStream)
		}
		if got := harness.CountContaining(keyed[fallbackStream], tracebackHeader); got < wantHeaders {
			return fmt.Errorf("streams: %d of %d tracebacks in %s", got, wantHeaders, fallbackStream)
		}
		if !hasProgress(st.sub.Messages(), job.JobID, 20, 20) {
			return fmt.Errorf("pubsub: final bar state of %s not received", job.JobID)
		}
		return nil
	})
	if err != nil {
		t.Errorf("waiting for delivery: %v", err)
	}
	// The pipeline is idle now; a last short wait catches duplicates in flight.
	time.Sleep(time.Second)
	dash0Recs, _ = st.dash0.Records()
	entries, _ = st.streams.Read(ctx)
	msgs := st.sub.Messages()

	t.Run("dash0", func(t *testing.T) {
		checkDash0OTLP(t, dash0Recs, recs, job, st.sidecar)
		checkDash0Tailed(t, dash0Recs, strLines, machine, st.sidecar)
	})
	t.Run("pubsub", func(t *testing.T) {
		checkPubSubOTLP(t, msgs, recs, job, channel)
		checkPubSubTailed(t, msgs, strLines, machine, channel)
	})
	t.Run("streams", func(t *testing.T) {
		keyed := harness.StreamsByKey(entries)
		checkJobStream(t, keyed[jobStream], recs, job, uid)
		checkFallbackTracebacks(t, keyed[fallbackStream], tracebacks, machine)
		for k, es := range keyed {
			if k != jobStream && k != fallbackStream {
				t.Errorf("unexpected stream %s with %d entries", k, len(es))
			}
		}
	})
	t.Run("health", func(t *testing.T) {
		if code, body, err := st.sidecar.Health(nil); err != nil || code != http.StatusOK {
			t.Errorf("health endpoint after the run: code %d err %v body %q", code, err, body)
		}
		if !st.sidecar.Running() {
			t.Errorf("sidecar exited: %v", st.sidecar.ExitErr())
		}
	})
	u := st.sidecar.Usage()
	t.Logf("sidecar: peak RSS %.1f MiB, CPU %.2fs; dash0 %d records, pubsub %d messages, streams %d entries",
		u.PeakRSSMiB(), u.CPU.Seconds(), len(dash0Recs), len(msgs), len(entries))
}

// missingTailedLines returns the session lines (last \r state, ANSI and
// \r removed) that no record of instance carries.
func missingTailedLines(lines []string, recs []harness.Record, instance string) []string {
	var sb strings.Builder
	for i := range recs {
		if v, _ := recs[i].Lookup("comfy.instance"); v != instance {
			continue
		}
		sb.WriteString(ansiRE.ReplaceAllString(strings.ReplaceAll(recs[i].Body, "\r", "\n"), ""))
		sb.WriteString("\n")
	}
	all := sb.String()
	var missing []string
	for _, l := range lines {
		n := normalize(l)
		// A bare timestamp prefix (before a \r bar, or on an empty line)
		// carries nothing; the config drops it on purpose.
		if strings.TrimSpace(stripTS(n)) == "" {
			continue
		}
		if !strings.Contains(all, n) {
			missing = append(missing, n)
		}
	}
	return missing
}

func checkDash0OTLP(t *testing.T, recs []harness.Record, sent []otlpRec, job harness.Job, sc *harness.Sidecar) {
	t.Helper()
	byID := harness.ByAttr(recs, harness.IDAttr)
	for _, s := range sent {
		got := byID[s.ID]
		if len(got) != 1 {
			t.Errorf("record %s: received %d times, want 1", s.ID, len(got))
			if len(got) == 0 {
				continue
			}
		}
		r := got[0]
		want := map[string]string{
			"service.name": "comfyui", "machine.id": job.MachineID, "job.id": job.JobID,
			"emerge.job_id": job.JobID, "emerge.workflow_id": job.WorkflowID, "comfy.class": s.class,
			harness.StandinAuthorizationAttr: "Bearer " + sc.Token, harness.StandinDatasetAttr: sc.Dataset,
		}
		for k, v := range want {
			if g, _ := r.Lookup(k); g != v {
				t.Errorf("record %s: %s = %q, want %q", s.ID, k, g, v)
			}
		}
		if r.Body != s.Body {
			t.Errorf("record %s: body changed: %q, want %q", s.ID, r.Body, s.Body)
		}
		switch s.class {
		case "progress":
			if s.total > 0 {
				if r.Attr("comfy.progress.current") != strconv.FormatFloat(s.current, 'f', -1, 64) || r.Attr("comfy.progress.total") != strconv.FormatFloat(s.total, 'f', -1, 64) {
					t.Errorf("record %s: comfy.progress current/total = %s/%s, want %v/%v", s.ID,
						r.Attr("comfy.progress.current"), r.Attr("comfy.progress.total"), s.current, s.total)
				}
			}
			if s.event != "" && r.Attr("comfy.progress.event") != s.event {
				t.Errorf("record %s: comfy.progress.event = %q, want %q", s.ID, r.Attr("comfy.progress.event"), s.event)
			}
		case "failure":
			if r.Attr("comfy.failure.kind") == "" {
				t.Errorf("record %s: no comfy.failure.kind", s.ID)
			}
			if !strings.Contains(r.Attr("exception.type"), "OutOfMemoryError") {
				t.Errorf("record %s: exception.type = %q", s.ID, r.Attr("exception.type"))
			}
		}
	}
}

func checkDash0Tailed(t *testing.T, recs []harness.Record, lines []string, machine string, sc *harness.Sidecar) {
	t.Helper()
	if missing := missingTailedLines(lines, recs, "gpu1"); len(missing) > 0 {
		t.Errorf("%d of %d session lines never reached Dash0, first: %q", len(missing), len(lines), missing[:min(5, len(missing))])
	}
	n := 0
	classes := map[string]int{}
	for i := range recs {
		r := &recs[i]
		if v, _ := r.Lookup("comfy.instance"); v != "gpu1" {
			continue
		}
		n++
		classes[r.Attr("comfy.class")]++
		for k, v := range map[string]string{
			"machine.id": machine, "service.name": "comfyui",
			harness.StandinAuthorizationAttr: "Bearer " + sc.Token, harness.StandinDatasetAttr: sc.Dataset,
		} {
			if g, _ := r.Lookup(k); g != v {
				t.Errorf("tailed record %s: %s = %q, want %q (body %.80q)", r.Where, k, g, v, r.Body)
				return
			}
		}
		if r.Attr("comfy.class") == "" {
			t.Errorf("tailed record %s: no comfy.class (body %.80q)", r.Where, r.Body)
			return
		}
	}
	t.Logf("gpu1: %d session lines -> %d records at Dash0, classes %v", len(lines), n, classes)
}

func hasProgress(msgs []harness.ProgressMsg, jobID string, cur, total float64) bool {
	for _, m := range msgs {
		p := m.Progress
		if p != nil && p.JobID == jobID && p.Progress.Current != nil && p.Progress.Total != nil &&
			*p.Progress.Current == cur && *p.Progress.Total == total {
			return true
		}
	}
	return false
}

func checkPubSubOTLP(t *testing.T, msgs []harness.ProgressMsg, sent []otlpRec, job harness.Job, channel string) {
	t.Helper()
	var mine []harness.ProgressMsg
	for _, m := range msgs {
		if m.Err != nil {
			t.Errorf("undecodable message on %s: %v: %q", m.Channel, m.Err, m.Raw)
			continue
		}
		if m.Progress.JobID == job.JobID {
			mine = append(mine, m)
		}
	}
	for _, m := range mine {
		p := m.Progress
		if m.Channel != channel {
			t.Errorf("job message on channel %q, want %q", m.Channel, channel)
		}
		if p.MachineID != job.MachineID || p.WorkflowID != job.WorkflowID {
			t.Errorf("message machine_id %q workflow_id %q, want %q %q", p.MachineID, p.WorkflowID, job.MachineID, job.WorkflowID)
		}
		if _, err := time.Parse(payload.TimestampLayout, p.Timestamp); err != nil || p.Timestamp == "" {
			t.Errorf("message timestamp %q not in the documented layout: %v", p.Timestamp, err)
		}
		if p.Message == "" || p.Progress.Message == "" {
			t.Errorf("message without message/progress.message: %s", m.Raw)
		}
		for _, s := range sent {
			if s.class != "progress" && strings.Contains(p.Message, s.ID) {
				t.Errorf("%s record %s published as progress: %s", s.class, s.ID, m.Raw)
			}
		}
		// The documented JSON keys are there, whatever else is added.
		for _, k := range []string{`"timestamp"`, `"machine_id"`, `"message"`, `"progress"`} {
			if !strings.Contains(m.Raw, k) {
				t.Errorf("message lacks %s: %s", k, m.Raw)
			}
		}
	}
	for _, s := range sent {
		if s.class != "progress" {
			continue
		}
		found := 0
		for _, m := range mine {
			p := m.Progress
			if s.total > 0 {
				if p.Progress.Current != nil && p.Progress.Total != nil && *p.Progress.Current == s.current && *p.Progress.Total == s.total {
					found++
					if !strings.Contains(p.Progress.Message, fmt.Sprintf("%d/%d", int(s.current), int(s.total))) {
						t.Errorf("progress %v/%v: progress.message %q lacks the bar", s.current, s.total, p.Progress.Message)
					}
				}
			} else if s.event != "" && p.Progress.Event == s.event {
				found++
			}
		}
		if found != 1 {
			t.Errorf("progress record %s (%q): %d messages on %s, want 1", s.ID, s.Body, found, channel)
		}
	}
	if len(mine) != countClass(sent, "progress") {
		t.Errorf("%d pub/sub messages for %s, want %d", len(mine), job.JobID, countClass(sent, "progress"))
	}
}

func countClass(sent []otlpRec, class string) int {
	n := 0
	for _, s := range sent {
		if s.class == class {
			n++
		}
	}
	return n
}

func checkPubSubTailed(t *testing.T, msgs []harness.ProgressMsg, lines []string, machine, channel string) {
	t.Helper()
	events := map[string]int{}
	bars := map[string]int{}
	n := 0
	for _, m := range msgs {
		p := m.Progress
		if p == nil || p.Instance != "gpu1" {
			continue
		}
		n++
		if m.Channel != channel || p.MachineID != machine {
			t.Errorf("gpu1 message on %q machine_id %q, want %q %q", m.Channel, p.MachineID, channel, machine)
		}
		events[p.Progress.Event]++
		if p.Progress.Current != nil && p.Progress.Total != nil && *p.Progress.Current == *p.Progress.Total {
			bars[fstr(p.Progress.Current)+"/"+fstr(p.Progress.Total)]++
		}
	}
	t.Logf("gpu1: %d progress messages; events %v", n, events)
	if want := countLinesContaining(lines, "got prompt"); events["prompt_started"] != want {
		t.Errorf("gpu1: %d prompt_started messages, want %d (one per `got prompt`)", events["prompt_started"], want)
	}
	if want := countLinesContaining(lines, "Prompt executed in"); events["prompt_executed"] != want {
		t.Errorf("gpu1: %d prompt_executed messages, want %d", events["prompt_executed"], want)
	}
	// Every finished bar shows up finished (final states are never throttled).
	for bar, want := range sessionFinalBars(lines) {
		if bars[bar] == 0 {
			t.Errorf("gpu1: finished bar %s (%d in the session) never published as finished", bar, want)
		}
	}
}

func checkJobStream(t *testing.T, es []harness.StreamEntry, sent []otlpRec, job harness.Job, uid string) {
	t.Helper()
	var oom *otlpRec
	for i := range sent {
		if sent[i].class == "failure" {
			oom = &sent[i]
		}
	}
	if len(es) != 1 {
		t.Errorf("job stream: %d entries, want 1 (the failure)", len(es))
	}
	for _, e := range es {
		f := e.Failure
		checkContractFields(t, e)
		if f.JobID != job.JobID || f.MachineID != job.MachineID || f.WorkflowID != job.WorkflowID {
			t.Errorf("job stream entry %s: job_id %q machine_id %q workflow_id %q", e.ID, f.JobID, f.MachineID, f.WorkflowID)
		}
		if !strings.Contains(f.Message, oom.ID) || !strings.Contains(f.Message, tracebackHeader) || !strings.Contains(f.Message, "torch.OutOfMemoryError") {
			t.Errorf("job stream entry %s: message is not the whole traceback: %q", e.ID, f.Message)
		}
		if f.Kind != "oom" {
			t.Errorf("job stream entry %s: failure_kind %q, want oom", e.ID, f.Kind)
		}
	}
}

func checkContractFields(t *testing.T, e harness.StreamEntry) {
	t.Helper()
	for k, want := range map[string]string{payload.FieldEventType: payload.EventTypeLog, payload.FieldLevel: payload.LevelError} {
		if got, _ := e.Values[k].(string); got != want {
			t.Errorf("%s %s: %s = %q, want %q", e.Stream, e.ID, k, got, want)
		}
	}
	for _, k := range []string{payload.FieldTimestamp, payload.FieldMachineID, payload.FieldJobID, payload.FieldMessage, payload.FieldEventID} {
		if _, ok := e.Values[k]; !ok {
			t.Errorf("%s %s: field %s missing", e.Stream, e.ID, k)
		}
	}
	if _, err := time.Parse(payload.TimestampLayout, e.Failure.Timestamp); err != nil {
		t.Errorf("%s %s: timestamp %q: %v", e.Stream, e.ID, e.Failure.Timestamp, err)
	}
}

func checkFallbackTracebacks(t *testing.T, es []harness.StreamEntry, tbs []sessionTraceback, machine string) {
	t.Helper()
	var gpu1 []harness.StreamEntry
	for _, e := range es {
		checkContractFields(t, e)
		if e.Failure.MachineID != machine {
			t.Errorf("fallback entry %s: machine_id %q", e.ID, e.Failure.MachineID)
		}
		if e.Failure.Instance == "gpu1" {
			gpu1 = append(gpu1, e)
		}
	}
	// Each traceback is one entry: the header count matches the session
	// (nothing split off, nothing duplicated), and each traceback's header
	// and exception line are in the same entry.
	if got := harness.CountContaining(gpu1, tracebackHeader); got != len(tbs) {
		t.Errorf("fallback stream holds %d traceback headers, the session has %d", got, len(tbs))
	}
	eventIDs := map[string]int{}
	for _, e := range gpu1 {
		eventIDs[e.Failure.EventID]++
		m := strings.TrimLeft(stripTS(normalize(e.Failure.Message)), " ")
		if strings.HasPrefix(m, "File \"") {
			t.Errorf("fallback entry %s is a traceback fragment: %.200q", e.ID, e.Failure.Message)
		}
	}
	for id, n := range eventIDs {
		if n > 1 {
			t.Errorf("event_id %s appears %d times in the fallback stream", id, n)
		}
	}
	for _, tb := range tbs {
		ok := false
		for _, e := range gpu1 {
			if strings.Contains(e.Failure.Message, tracebackHeader) && strings.Contains(e.Failure.Message, tb.exception) {
				ok = true
				break
			}
		}
		if !ok {
			t.Errorf("traceback at session line %d: no entry holds both its header and its exception %q", tb.line, tb.exception)
		}
	}
	kinds := map[string]int{}
	for _, e := range gpu1 {
		kinds[e.Failure.Kind]++
	}
	t.Logf("gpu1: %d failure entries in the fallback stream (%d tracebacks in the session); kinds %v", len(gpu1), len(tbs), kinds)
}
