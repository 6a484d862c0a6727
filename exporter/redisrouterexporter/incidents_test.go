package redisrouterexporter

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/payload"
	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/redistest"
)

// Records as comfypattern and comfyjob leave them: comfy.class,
// comfy.failure.kind, comfy.instance, comfy.job_id, and
// comfy.failure.continues on the lines that continue a failure.

// line is one test record of an incident test.
type line struct {
	body  string
	after time.Duration // its timestamp, after the test's base time
	attrs map[string]any
}

// failLine is a failure record of instance/job (job "" = none) with kind
// (kind "" = none) and extra attributes as key, value pairs.
func failLine(after time.Duration, instance, job, kind, body string, kv ...any) line {
	a := map[string]any{"comfy.class": "failure", "comfy.instance": instance}
	if job != "" {
		a["comfy.job_id"] = job
	}
	if kind != "" {
		a["comfy.failure.kind"] = kind
	}
	for i := 0; i+1 < len(kv); i += 2 {
		a[kv[i].(string)] = kv[i+1]
	}
	return line{body: body, after: after, attrs: a}
}

// continues marks l as continuing the failure before it.
func continues(l line) line { l.attrs["comfy.failure.continues"] = true; return l }

// incidentLogs builds one push: all records under one resource and scope
// (a batch of tailed lines), or each under its own resource (split: OTLP
// requests merged by the batcher).
func incidentLogs(machine string, base time.Time, split bool, lines ...line) plog.Logs {
	ld := plog.NewLogs()
	var sl plog.ScopeLogs
	for i, l := range lines {
		if i == 0 || split {
			rl := ld.ResourceLogs().AppendEmpty()
			rl.Resource().Attributes().PutStr("service.name", "comfyui")
			rl.Resource().Attributes().PutStr("machine.id", machine)
			sl = rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName("comfyui")
		}
		lr := sl.LogRecords().AppendEmpty()
		lr.Body().SetStr(l.body)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(base.Add(l.after)))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Now()))
		lr.SetSeverityText("ERROR")
		for k, v := range l.attrs {
			switch x := v.(type) {
			case string:
				lr.Attributes().PutStr(k, x)
			case bool:
				lr.Attributes().PutBool(k, x)
			case int:
				lr.Attributes().PutInt(k, int64(x))
			}
		}
	}
	return ld
}

// comfyConfig is the failures tier as configs/sidecar.yaml sets it up: the
// job is comfyjob's comfy.job_id.
func comfyConfig(srv *redistest.Server) *Config {
	cfg := testConfig(srv)
	cfg.Attributes[PlaceholderJobID] = []string{"comfy.job_id"}
	cfg.Attributes[PlaceholderWorkflowID] = []string{"comfy.workflow_id"}
	return cfg
}

func streamEntries(t *testing.T, c *redis.Client, key string) []*payload.Failure {
	t.Helper()
	entries, err := c.XRange(context.Background(), key, "-", "+").Result()
	require.NoError(t, err)
	out := make([]*payload.Failure, len(entries))
	for i, e := range entries {
		out[i] = payload.FailureFromFields(e.Values)
		// The contract fields are always there.
		for _, k := range []string{"event_type", "timestamp", "machine_id", "job_id", "level", "message"} {
			require.Contains(t, e.Values, k, "entry %d of %s", i, key)
		}
		assert.Equal(t, "log", e.Values["event_type"])
		assert.Equal(t, "ERROR", e.Values["level"])
	}
	return out
}

const (
	oomMessage = "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 23.55 GiB of which 1.02 GiB is free."
	oomBanner  = "!!! Exception during processing !!! " + oomMessage
	oomTrace   = `Traceback (most recent call last):
  File "/comfyui/execution.py", line 496, in execute
    output_data, output_ui, has_subgraph, has_pending_tasks = await get_output_data(prompt_id, unique_id, obj, input_data_all)
  File "/comfyui/comfy/sd.py", line 700, in decode
    pixel_samples = self.first_stage_model.decode(samples)
torch.OutOfMemoryError: ` + oomMessage
)

// oomIncident is what ComfyUI logs for a node that ran out of GPU memory:
// the banner (classified exception), its traceback (oom), PyTorch's
// details that are not indented, and ComfyUI's reaction.
func oomIncident(instance, job string, at time.Duration) []line {
	return []line{
		failLine(at, instance, job, "exception", oomBanner, "comfy.rule", "failure.exception_banner",
			"exception.message", oomMessage, "comfy.failure.retryable", "false"),
		failLine(at+5*time.Millisecond, instance, job, "oom", oomTrace, "comfy.rule", "failure.oom",
			"exception.type", "torch.OutOfMemoryError", "exception.message", oomMessage,
			"comfy.failure.retryable", "true", "comfy.failure.human_message", "The GPU ran out of memory",
			"comfy.failure.call_to_action", "Lower the resolution or the batch size"),
		continues(failLine(at+6*time.Millisecond, instance, job, "", "Currently allocated     : 20.31 GiB")),
		continues(failLine(at+6*time.Millisecond, instance, job, "", "Requested               : 2.00 GiB")),
		failLine(at+300*time.Millisecond, instance, job, "oom", "Got an OOM, unloading all loaded models."),
	}
}

// One failed node: banner, traceback and detail lines, in one push, become
// one entry with the whole text and the root cause's kind and fields.
func TestIncidentOOMIsOneEntry(t *testing.T) {
	for _, split := range []bool{false, true} {
		t.Run("split="+strconv.FormatBool(split), func(t *testing.T) {
			srv := redistest.Start(t)
			c := client(t, srv)
			cfg := comfyConfig(srv)
			e := newDirect(t, cfg)
			base := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
			ld := incidentLogs("m1", base, split, oomIncident("gpu0", "job-oom", 0)...)
			require.NoError(t, e.pushLogs(context.Background(), ld))

			got := streamEntries(t, c, "job:events:job-oom")
			require.Len(t, got, 1, "one entry per incident")
			f := got[0]
			assert.Equal(t, "oom", f.Kind, "out of memory wins over the banner's exception")
			assert.Equal(t, "5", f.IncidentLines)
			assert.True(t, strings.HasPrefix(f.Message, oomBanner+"\n"), f.Message)
			assert.Contains(t, f.Message, oomTrace)
			assert.Contains(t, f.Message, "Currently allocated     : 20.31 GiB")
			assert.Contains(t, f.Message, "Got an OOM, unloading all loaded models.")
			assert.Equal(t, "job-oom", f.JobID)
			assert.Equal(t, "m1", f.MachineID)
			assert.Equal(t, "gpu0", f.Instance)
			assert.Equal(t, "2026-12-02T08:00:00.000Z", f.Timestamp, "the first record's time")
			// The root member's fields: the traceback's.
			assert.Equal(t, "torch.OutOfMemoryError", f.ExceptionType)
			assert.Equal(t, oomMessage, f.ExceptionMessage)
			assert.Equal(t, "true", f.Retry)
			assert.Equal(t, "The GPU ran out of memory", f.HumanReadableMessage)
			assert.Equal(t, "Lower the resolution or the batch size", f.CallToAction)
			assert.Equal(t, "failure.oom", f.PatternMatched)
			// The identity is the banner's: its own event id.
			off := comfyConfig(nil)
			off.Failures.Incident.Enabled = false
			assert.Equal(t, eventIDs(t, off, ld)[0], f.EventID)

			n, err := c.Exists(context.Background(), "machine:m1:failures").Result()
			require.NoError(t, err)
			assert.Zero(t, n, "nothing in the machine stream")
			assert.Equal(t, int64(5), e.counter(t, "streamed"), "metrics count records")
		})
	}
}

// A prompt that fails validation: ComfyUI prints the block line by line.
func TestIncidentValidationBlockIsOneEntry(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv)
	e := newDirect(t, comfyConfig(srv))
	base := time.Now().Add(-time.Second)
	ms := time.Millisecond
	ld := incidentLogs("m1", base, false,
		failLine(0, "gpu0", "job-val", "validation", "Failed to validate prompt for output 9:", "comfy.rule", "failure.validation"),
		continues(failLine(1*ms, "gpu0", "job-val", "validation", "* CheckpointLoaderSimple 4:")),
		continues(failLine(1*ms, "gpu0", "job-val", "validation", "  - Value not in list: ckpt_name: 'sdxl.safetensors' not in ['v1-5-pruned-emaonly.safetensors']")),
		continues(failLine(2*ms, "gpu0", "job-val", "validation", "Output will be ignored")),
		failLine(3*ms, "gpu0", "job-val", "validation", "invalid prompt: {'type': 'prompt_outputs_failed_validation', 'message': 'Prompt outputs failed validation', 'details': '', 'extra_info': {}}"),
	)
	require.NoError(t, e.pushLogs(context.Background(), ld))

	got := streamEntries(t, c, "job:events:job-val")
	require.Len(t, got, 1)
	assert.Equal(t, "validation", got[0].Kind)
	assert.Equal(t, "5", got[0].IncidentLines)
	assert.Equal(t, "Failed to validate prompt for output 9:\n* CheckpointLoaderSimple 4:\n"+
		"  - Value not in list: ckpt_name: 'sdxl.safetensors' not in ['v1-5-pruned-emaonly.safetensors']\n"+
		"Output will be ignored\n"+
		"invalid prompt: {'type': 'prompt_outputs_failed_validation', 'message': 'Prompt outputs failed validation', 'details': '', 'extra_info': {}}",
		got[0].Message)
	assert.Equal(t, "failure.validation", got[0].PatternMatched)
}

// Two instances fail at once in two jobs, their lines interleaved in one
// push: one entry each, each in its own job's stream, texts not mixed.
func TestIncidentTwoJobsTwoStreams(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv)
	e := newDirect(t, comfyConfig(srv))
	a := oomIncident("gpu0", "job-a", 0)
	b := oomIncident("gpu1", "job-b", time.Millisecond)
	b[0].body = "!!! Exception during processing !!! out of memory on gpu1"
	var lines []line
	for i := range a {
		lines = append(lines, a[i], b[i])
	}
	require.NoError(t, e.pushLogs(context.Background(), incidentLogs("m1", time.Now(), true, lines...)))

	for job, banner := range map[string]string{"job-a": oomBanner, "job-b": b[0].body} {
		got := streamEntries(t, c, "job:events:"+job)
		require.Len(t, got, 1, job)
		assert.Equal(t, job, got[0].JobID)
		assert.Equal(t, "oom", got[0].Kind)
		assert.Equal(t, "5", got[0].IncidentLines)
		assert.True(t, strings.HasPrefix(got[0].Message, banner+"\n"), got[0].Message)
		assert.Equal(t, 1, strings.Count(got[0].Message, "Traceback (most recent call last):"), "its own traceback only")
	}
	assert.Equal(t, int64(10), e.counter(t, "streamed"))
}

// The same incident pushed again (a retry, a queue replay after a crash,
// the same lines re-read) carries the same event id, so the worker drops
// the copy.
func TestIncidentEventIDSameWhenPushedAgain(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv)
	e := newDirect(t, comfyConfig(srv))
	base := time.Now()
	require.NoError(t, e.pushLogs(context.Background(), incidentLogs("m1", base, false, oomIncident("gpu0", "job-again", 0)...)))
	// Built again: new observed times, same records.
	again := incidentLogs("m1", base, false, oomIncident("gpu0", "job-again", 0)...)
	require.NoError(t, e.pushLogs(context.Background(), again))
	// Another failure of the same job is another event.
	require.NoError(t, e.pushLogs(context.Background(), incidentLogs("m1", base.Add(time.Minute), false, oomIncident("gpu0", "job-again", 0)...)))

	got := streamEntries(t, c, "job:events:job-again")
	require.Len(t, got, 3)
	assert.Equal(t, got[0].EventID, got[1].EventID)
	assert.Equal(t, got[0].Message, got[1].Message)
	assert.NotEqual(t, got[0].EventID, got[2].EventID)
}

// A banner read before the instance's job was known, then its traceback
// with the job: one entry, in the job's stream.
func TestIncidentJobFromALaterMember(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv)
	e := newDirect(t, comfyConfig(srv))
	lines := oomIncident("gpu0", "job-late", 0)
	delete(lines[0].attrs, "comfy.job_id")
	lines[0].attrs["comfy.workflow_id"] = "wf-1"
	require.NoError(t, e.pushLogs(context.Background(), incidentLogs("m1", time.Now(), false, lines...)))
	got := streamEntries(t, c, "job:events:job-late")
	require.Len(t, got, 1)
	assert.Equal(t, "job-late", got[0].JobID)
	assert.Equal(t, "wf-1", got[0].WorkflowID)
	n, err := c.Exists(context.Background(), "machine:m1:failures").Result()
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Zero(t, e.counter(t, "fallback"))
}

// Outside any job (`unknown`): one entry in the machine's stream.
func TestIncidentWithoutJobGoesToTheMachineStream(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv)
	e := newDirect(t, comfyConfig(srv))
	require.NoError(t, e.pushLogs(context.Background(), incidentLogs("m1", time.Now(), false, oomIncident("gpu0", "unknown", 0)...)))
	got := streamEntries(t, c, "machine:m1:failures")
	require.Len(t, got, 1)
	assert.Equal(t, "", got[0].JobID)
	assert.Equal(t, "5", got[0].IncidentLines)
	n, err := c.Exists(context.Background(), "job:events:unknown").Result()
	require.NoError(t, err)
	assert.Zero(t, n, "job:events:unknown does not exist")
	assert.Equal(t, int64(5), e.counter(t, "fallback"))
}

// Progress in the same push is published as before and does not split the
// failure's incident.
func TestIncidentProgressInBetween(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv)
	e := newDirect(t, comfyConfig(srv))
	ps := subscribe(t, c, "machine:m1:progress")
	lines := oomIncident("gpu0", "job-p", 0)
	bar := line{body: " 40%|████      | 8/20 [00:03<00:05,  2.31it/s]", after: 2 * time.Millisecond, attrs: map[string]any{
		"comfy.class": "progress", "comfy.instance": "gpu0", "comfy.job_id": "job-p"}}
	lines = append(lines[:2], append([]line{bar}, lines[2:]...)...)
	require.NoError(t, e.pushLogs(context.Background(), incidentLogs("m1", time.Now(), false, lines...)))

	got := streamEntries(t, c, "job:events:job-p")
	require.Len(t, got, 1)
	assert.Equal(t, "5", got[0].IncidentLines)
	assert.NotContains(t, got[0].Message, "8/20")
	msg := receive(t, ps)
	assert.Equal(t, "job-p", payloadOf(t, msg).JobID)
}

// failures.incident.enabled: false keeps one entry per record.
func TestIncidentDisabled(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv)
	cfg := comfyConfig(srv)
	cfg.Failures.Incident = IncidentConfig{Enabled: false}
	e := newDirect(t, cfg)
	require.NoError(t, e.pushLogs(context.Background(), incidentLogs("m1", time.Now(), false, oomIncident("gpu0", "job-off", 0)...)))
	got := streamEntries(t, c, "job:events:job-off")
	require.Len(t, got, 5)
	assert.Equal(t, oomBanner, got[0].Message)
	assert.Equal(t, "exception", got[0].Kind)
	assert.Equal(t, "", got[0].IncidentLines, "no incident_lines when grouping is off")
}

// A stream Redis refuses dead-letters the whole incident: one entry, the
// whole text; the metric counts its records.
func TestIncidentDeadLetter(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv)
	require.NoError(t, c.Set(context.Background(), "job:events:job-wt", "a string", 0).Err())
	e := newDirect(t, comfyConfig(srv))
	lines := append(oomIncident("gpu0", "job-wt", 0), oomIncident("gpu1", "job-ok", 0)...)
	require.NoError(t, e.pushLogs(context.Background(), incidentLogs("m1", time.Now(), false, lines...)))

	dl := streamEntries(t, c, "machine:m1:dead_letter")
	require.Len(t, dl, 1)
	assert.Equal(t, "job:events:job-wt", dl[0].OriginalKey)
	assert.Equal(t, "oom", dl[0].Kind)
	assert.Equal(t, "5", dl[0].IncidentLines)
	assert.Contains(t, dl[0].Message, oomTrace)
	require.Len(t, streamEntries(t, c, "job:events:job-ok"), 1)
	assert.Equal(t, int64(5), e.counter(t, "dead_lettered", reason("wrongtype")))
	assert.Equal(t, int64(1), e.counter(t, "redis_errors", kind("refused_key")), "one command failed")
	assert.Equal(t, int64(5), e.counter(t, "streamed"))
	assert.Zero(t, e.counter(t, "failed"))
}

// A retryable failure of some incidents of a push hands back exactly their
// records: not one record of an incident that landed, so the retry adds
// no duplicate, and the retried records make the same incidents (same
// event ids) again.
//
// Redis refuses writes (OOM) once used_memory passes maxmemory: with
// entries of 16 KiB, the first XADDs of the pipeline land and the rest
// fail.
func TestIncidentPartialRetryHandsBackFailedIncidents(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv)
	ctx := context.Background()
	e := newDirect(t, comfyConfig(srv))
	require.NoError(t, e.pushLogs(ctx, incidentLogs("m1", time.Now(), false, oomIncident("gpu0", "warmup", 0)...)))

	// Entries below Redis's big-argument size (32 KiB), so that it reads the
	// pipeline a command at a time and the memory grows entry by entry.
	const incidents, size = 40, 16 << 10
	var lines []line
	for i := range incidents {
		inc := oomIncident(fmt.Sprintf("gpu%d", i), fmt.Sprintf("job-%d", i), time.Duration(i)*time.Millisecond)
		// A big banner: a few entries fill the memory left.
		inc[0].body = fmt.Sprintf("!!! Exception during processing !!! %d %s", i, strings.Repeat("x", size))
		lines = append(lines, inc...)
	}
	// Interleaved by record, each in its own resource: the handed-back
	// records must come out in order under their resources.
	var mixed []line
	for j := range 5 {
		for i := range incidents {
			mixed = append(mixed, lines[i*5+j])
		}
	}
	ld := incidentLogs("m1", time.Now(), true, mixed...)

	used, err := c.Info(ctx, "memory").Result()
	require.NoError(t, err)
	var usedMemory int
	for _, l := range strings.Split(used, "\r\n") {
		if v, ok := strings.CutPrefix(l, "used_memory:"); ok {
			usedMemory, err = strconv.Atoi(v)
			require.NoError(t, err)
		}
	}
	require.NotZero(t, usedMemory)
	require.NoError(t, c.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err())
	require.NoError(t, c.ConfigSet(ctx, "maxmemory", strconv.Itoa(usedMemory+size*incidents/2)).Err())

	err = e.pushLogs(ctx, ld)
	require.Error(t, err)
	require.True(t, isRetryable(err), "OOM is retried: %v", err)
	var le consumererror.Logs
	require.ErrorAs(t, err, &le)
	back := le.Data()
	require.NoError(t, c.ConfigSet(ctx, "maxmemory", "0").Err())

	landed := map[string]bool{}
	for i := range incidents {
		job := fmt.Sprintf("job-%d", i)
		if n, _ := c.XLen(ctx, "job:events:"+job).Result(); n == 1 {
			landed[job] = true
		}
	}
	t.Logf("landed %d of %d", len(landed), incidents)
	require.NotEmpty(t, landed, "the first entries landed")
	require.Less(t, len(landed), incidents, "the last entries failed")
	assert.Equal(t, 5*(incidents-len(landed)), back.LogRecordCount(), "every record of each failed incident, nothing else")
	assert.Equal(t, int64(back.LogRecordCount()), e.counter(t, "failed"))
	// In the pushed order, each under its own resource.
	var want, gotOrder []string
	for _, l := range mixed {
		if job := l.attrs["comfy.job_id"].(string); !landed[job] {
			want = append(want, job+": "+l.body[:min(len(l.body), 40)])
		}
	}
	for _, rl := range back.ResourceLogs().All() {
		m, _ := rl.Resource().Attributes().Get("machine.id")
		assert.Equal(t, "m1", m.Str())
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				job, _ := lr.Attributes().Get("comfy.job_id")
				gotOrder = append(gotOrder, job.Str()+": "+lr.Body().Str()[:min(len(lr.Body().Str()), 40)])
			}
		}
	}
	assert.Equal(t, want, gotOrder)
	wantIDs := eventIDsOfIncidents(t, ld)

	// The retry: the remaining incidents land, one entry each, with the ids
	// they would have had.
	require.NoError(t, e.pushLogs(ctx, back))
	for i := range incidents {
		job := fmt.Sprintf("job-%d", i)
		got := streamEntries(t, c, "job:events:"+job)
		require.Len(t, got, 1, job)
		assert.Equal(t, "5", got[0].IncidentLines, job)
		assert.Equal(t, wantIDs[job], got[0].EventID, job)
		assert.Contains(t, got[0].Message, oomTrace, job)
	}
}

// eventIDsOfIncidents maps each job to its incident's event id, as the
// exporter computes it for ld.
func eventIDsOfIncidents(t *testing.T, ld plog.Logs) map[string]string {
	t.Helper()
	e, err := newRedisExporter(comfyConfig(nil), exporterSettingsForBench())
	require.NoError(t, err)
	buf := getBatchBuffers()
	defer putBatchBuffers(buf)
	out := map[string]string{}
	for _, m := range e.plan(context.Background(), ld, time.Now(), buf) {
		f := buf.failures[m.failure]
		out[f.JobID] = f.EventID
	}
	return out
}
