package redisrouterexporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/payload"
	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/redistest"
)

const traceback = "Traceback (most recent call last):\n" +
	"  File \"/app/ComfyUI/execution.py\", line 323, in execute\n" +
	"    output_data = get_output_data(obj, input_data_all)\n" +
	"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"

func subscribe(t *testing.T, c redis.UniversalClient, channel string) *redis.PubSub {
	t.Helper()
	ps := c.Subscribe(context.Background(), channel)
	_, err := ps.Receive(context.Background()) // subscription confirmed
	require.NoError(t, err)
	t.Cleanup(func() { _ = ps.Close() })
	return ps
}

func receive(t *testing.T, ps *redis.PubSub) *redis.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msg, err := ps.ReceiveMessage(ctx)
	require.NoError(t, err)
	return msg
}

func TestProgressPayloadCompat(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv)
	e := newDirect(t, testConfig(srv))
	ps := subscribe(t, c, "machine:gpu-box-1:progress")

	r := progress("gpu-box-1", "job-42", 12, 20)
	r.body = "\x1b[32m 60%|██████    | 12/20 [00:03<00:02,  3.90it/s]\x1b[0m"
	r.attrs["comfy.progress.percent"] = 60.0
	r.attrs["comfy.progress.rate"] = 3.9
	r.attrs["comfy.progress.rate_unit"] = "it/s"
	r.attrs["comfy.progress.remaining_seconds"] = 2.0
	r.attrs["comfy.instance"] = "gpu0"
	require.NoError(t, e.pushLogs(context.Background(), makeLogs(r)))

	msg := receive(t, ps)
	// The compatibility contract, read as an untyped consumer would.
	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(msg.Payload), &raw))
	for _, k := range []string{"timestamp", "machine_id", "message", "progress"} {
		assert.Contains(t, raw, k)
	}
	prog := raw["progress"].(map[string]any)
	assert.Equal(t, 12.0, prog["current"])
	assert.Equal(t, 20.0, prog["total"])
	assert.Equal(t, raw["message"], prog["message"])
	assert.Equal(t, "60%|██████    | 12/20 [00:03<00:02,  3.90it/s]", prog["message"], "the body, cleaned, when comfy.message is absent")

	p, err := payload.DecodeProgress([]byte(msg.Payload))
	require.NoError(t, err)
	assert.Equal(t, "gpu-box-1", p.MachineID)
	assert.Equal(t, "job-42", p.JobID)
	assert.Equal(t, "gpu0", p.Instance)
	assert.Equal(t, "comfyui", p.ServiceName)
	assert.NotContains(t, p.Message, "\x1b", "ANSI is stripped")
	assert.Contains(t, p.Message, "12/20")
	assert.Equal(t, 60.0, *p.Progress.Percent)
	assert.Equal(t, 3.9, *p.Progress.Rate)
	assert.Equal(t, "it/s", p.Progress.RateUnit)
	assert.Equal(t, 2.0, *p.Progress.RemainingSeconds)
	assert.Equal(t, "sampling", p.Progress.Kind)
	assert.False(t, p.Final)
	_, err = time.Parse(payload.TimestampLayout, p.Timestamp)
	assert.NoError(t, err)
	assert.NotZero(t, p.TimestampMs)
	assert.Equal(t, int64(1), e.counter(t, "published"))
}

func TestProgressLifecycleWithoutNumbers(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv)
	e := newDirect(t, testConfig(srv))
	ps := subscribe(t, c, "machine:m1:progress")
	r := rec{class: "progress", body: "got prompt", machine: "m1", attrs: map[string]any{
		"comfy.progress.kind": "lifecycle", "comfy.progress.event": "prompt_started", "comfy.message": "got prompt"}}
	require.NoError(t, e.pushLogs(context.Background(), makeLogs(r)))
	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(receive(t, ps).Payload), &raw))
	prog := raw["progress"].(map[string]any)
	assert.Equal(t, "got prompt", prog["message"], "progress.message is always present")
	assert.NotContains(t, prog, "current")
	assert.Equal(t, "prompt_started", prog["event"])
	assert.Equal(t, true, raw["final"])
}

func TestFailureFieldsCompat(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv)
	e := newDirect(t, testConfig(srv))

	r := failure("m1", "job-7", "\x1b[31m"+strings.ReplaceAll(traceback, "\n", "\r\n")+"\x1b[0m")
	r.attrs["exception.type"] = "torch.OutOfMemoryError"
	r.attrs["exception.message"] = "CUDA out of memory. Tried to allocate 2.00 GiB"
	r.attrs["comfy.instance"] = "gpu1"
	ld := makeLogs(r)
	lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	lr.SetSeverityText("ERROR")
	lr.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	lr.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	require.NoError(t, e.pushLogs(context.Background(), ld))

	entries, err := c.XRange(context.Background(), "job:events:job-7", "-", "+").Result()
	require.NoError(t, err)
	require.Len(t, entries, 1)
	v := entries[0].Values
	// Contract fields, as the job worker reads them.
	assert.Equal(t, "log", v["event_type"])
	assert.Equal(t, "ERROR", v["level"])
	assert.Equal(t, "m1", v["machine_id"])
	assert.Equal(t, "job-7", v["job_id"])
	assert.Equal(t, traceback, v["message"], "whole traceback, ANSI and CR removed")
	_, err = time.Parse(payload.TimestampLayout, v["timestamp"].(string))
	assert.NoError(t, err)

	f := payload.FailureFromFields(v)
	assert.Equal(t, "exception", f.Kind)
	assert.Equal(t, "torch.OutOfMemoryError", f.ExceptionType)
	assert.Equal(t, "CUDA out of memory. Tried to allocate 2.00 GiB", f.ExceptionMessage)
	assert.Equal(t, "ERROR", f.Severity)
	assert.Equal(t, "comfyui", f.ServiceName)
	assert.Equal(t, "gpu1", f.Instance)
	assert.Equal(t, "0102030405060708090a0b0c0d0e0f10", f.TraceID)
	assert.Equal(t, "0102030405060708", f.SpanID)
	assert.Equal(t, "traceback", f.Rule)
	assert.Regexp(t, `^[0-9a-f]{32}$`, f.EventID)

	// The same record delivered again (a retry) carries the same event_id;
	// a different record does not.
	require.NoError(t, e.pushLogs(context.Background(), ld))
	other := makeLogs(failure("m1", "job-7", "another error"))
	require.NoError(t, e.pushLogs(context.Background(), other))
	entries, err = c.XRange(context.Background(), "job:events:job-7", "-", "+").Result()
	require.NoError(t, err)
	require.Len(t, entries, 3)
	assert.Equal(t, f.EventID, entries[1].Values["event_id"])
	assert.NotEqual(t, f.EventID, entries[2].Values["event_id"])
	assert.Equal(t, int64(3), e.counter(t, "streamed"))
}

func TestZeroSubscribersIsSuccess(t *testing.T) {
	srv := redistest.Start(t)
	e := newDirect(t, testConfig(srv))
	require.NoError(t, e.pushLogs(context.Background(), makeLogs(progress("m1", "j", 1, 10), progress("m1", "j", 2, 10))))
	assert.Equal(t, int64(2), e.counter(t, "published"))
	assert.Equal(t, int64(0), e.counter(t, "failed"))
}

var safeKey = regexp.MustCompile(`^(job:events:|machine:)[A-Za-z0-9._-]{1,51}(~[0-9a-f]{12})?(:failures|:progress)?$`)

func TestHostileAttributeValuesStayInsideKey(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv)
	e := newDirect(t, testConfig(srv))

	long1 := strings.Repeat("a", 10*1024)
	long2 := strings.Repeat("a", 10*1024-1) + "b"
	hostile := []string{
		"job with spaces", "job*", "job?[x]", "job\nnewline\r\n", "job:events:other", "{hashtag}job",
		"\x00\x01\x7f", "bad\xff\xfeutf8", "ünïcödé", long1, long2, "../../etc", "*",
	}
	var recs []rec
	for _, h := range hostile {
		recs = append(recs, failure("machine "+h, h, "boom "+h))
	}
	require.NoError(t, e.pushLogs(context.Background(), makeLogs(recs...)))

	keys, err := c.Keys(context.Background(), "*").Result()
	require.NoError(t, err)
	require.Len(t, keys, len(hostile), "each distinct id gets its own stream: %q", keys)
	for _, k := range keys {
		assert.Regexp(t, safeKey, k)
		assert.LessOrEqual(t, len(k), len("job:events:")+64)
	}
	// The raw value is kept, unmangled, in the entry itself.
	for _, h := range []string{"job with spaces", long1} {
		key := "job:events:" + sanitizeKeyPart(h, 64)
		entries, err := c.XRange(context.Background(), key, "-", "+").Result()
		require.NoError(t, err)
		require.Len(t, entries, 1)
		assert.Equal(t, h, entries[0].Values["job_id"])
	}
	// Progress channels too.
	ch := "machine:" + sanitizeKeyPart("m*1?", 64) + ":progress"
	assert.Regexp(t, `^machine:m_1_~[0-9a-f]{12}:progress$`, ch)
	ps := subscribe(t, c, ch)
	require.NoError(t, e.pushLogs(context.Background(), makeLogs(progress("m*1?", "j", 1, 2))))
	assert.Equal(t, ch, receive(t, ps).Channel)
}

func TestFallbackStream(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv)
	e := newDirect(t, testConfig(srv))
	require.NoError(t, e.pushLogs(context.Background(), makeLogs(
		failure("m1", "", "traceback without job"),
		failure("", "", "no machine, no job"),
		failure("m1", "  ", "blank job id"),
		failure("m1", "unknown", "job id unknown"),
		failure("m1", "None", "job id None"),
		failure("m1", "undefined", "job id undefined"),
		failure("m1", "null", "job id null"),
	)))
	n, err := c.XLen(context.Background(), "machine:m1:failures").Result()
	require.NoError(t, err)
	assert.Equal(t, int64(6), n, "empty, blank and the no_job_ids values all mean no job")
	entries, err := c.XRange(context.Background(), "machine:unknown:failures", "-", "+").Result()
	require.NoError(t, err)
	require.Len(t, entries, 1, "a missing machine id falls back to default_machine_id, never dropped")
	assert.Equal(t, "unknown", entries[0].Values["machine_id"])
	assert.Equal(t, "", entries[0].Values["job_id"])
	assert.Equal(t, int64(7), e.counter(t, "fallback"))
	assert.Equal(t, int64(7), e.counter(t, "streamed"))
	keys, _ := c.Keys(context.Background(), "job:events:*").Result()
	assert.Empty(t, keys, "no job stream for ids that mean no job")

	// A configured list replaces the default one.
	cfg := testConfig(srv)
	cfg.Failures.NoJobIDs = []string{"n/a"}
	e2 := newDirect(t, cfg)
	require.NoError(t, e2.pushLogs(context.Background(), makeLogs(failure("m2", "N/A", "x"), failure("m2", "none", "y"))))
	n, _ = c.XLen(context.Background(), "machine:m2:failures").Result()
	assert.Equal(t, int64(1), n)
	n, _ = c.XLen(context.Background(), "job:events:none").Result()
	assert.Equal(t, int64(1), n)
}

func TestJobIDAttributeOrder(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv)
	e := newDirect(t, testConfig(srv))
	// emerge.job_id on the resource; comfy.job_id on the scope; the scope
	// wins (record, then scope, then resource).
	ld := makeLogs(failure("m1", "", "x"))
	ld.ResourceLogs().At(0).Resource().Attributes().PutStr("emerge.job_id", "from-resource")
	ld.ResourceLogs().At(0).ScopeLogs().At(0).Scope().Attributes().PutStr("comfy.job_id", "from-scope")
	require.NoError(t, e.pushLogs(context.Background(), ld))
	n, _ := c.XLen(context.Background(), "job:events:from-scope").Result()
	assert.Equal(t, int64(1), n)

	// A configured custom attribute name.
	cfg := testConfig(srv)
	cfg.Attributes[PlaceholderJobID] = []string{"prompt_id"}
	e2 := newDirect(t, cfg)
	ld = makeLogs(rec{class: "failure", body: "y", machine: "m1", attrs: map[string]any{"prompt_id": 123}})
	require.NoError(t, e2.pushLogs(context.Background(), ld))
	n, _ = c.XLen(context.Background(), "job:events:123").Result()
	assert.Equal(t, int64(1), n)
}

func TestMaxLenApproximateTrim(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv)
	cfg := testConfig(srv)
	cfg.Failures.MaxLen = 1000
	e := newDirect(t, cfg)
	for b := 0; b < 10; b++ {
		recs := make([]rec, 500)
		for i := range recs {
			recs[i] = failure("m1", "trim", fmt.Sprintf("error %d-%d", b, i))
		}
		require.NoError(t, e.pushLogs(context.Background(), makeLogs(recs...)))
	}
	n, err := c.XLen(context.Background(), "job:events:trim").Result()
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, int64(1000), "MAXLEN ~ never trims below the limit")
	assert.Less(t, n, int64(2000), "5000 entries were trimmed (approximately) to ~1000")
}

func TestTTLOnJobStreams(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv)
	e := newDirect(t, testConfig(srv)) // the default: an hour
	require.NoError(t, e.pushLogs(context.Background(), makeLogs(failure("m1", "job-ttl", "x"), failure("m1", "", "y"))))
	ttl, err := c.TTL(context.Background(), "job:events:job-ttl").Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, 59*time.Minute)
	assert.LessOrEqual(t, ttl, time.Hour)
	ttl, err = c.TTL(context.Background(), "machine:m1:failures").Result()
	require.NoError(t, err)
	assert.Equal(t, time.Duration(-1), ttl, "the fallback stream does not expire")

	// ttl: 0 disables expiry.
	cfg := testConfig(srv)
	cfg.Failures.TTL = 0
	e0 := newDirect(t, cfg)
	require.NoError(t, e0.pushLogs(context.Background(), makeLogs(failure("m1", "job-forever", "x"))))
	ttl, err = c.TTL(context.Background(), "job:events:job-forever").Result()
	require.NoError(t, err)
	assert.Equal(t, time.Duration(-1), ttl)
}

func TestStaleProgressIsDropped(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv)
	cfg := testConfig(srv)
	cfg.Progress.MaxAge = 10 * time.Second
	e := newDirect(t, cfg)
	ps := subscribe(t, c, "machine:m1:progress")
	old := progress("m1", "j", 1, 10)
	old.observedAt = time.Now().Add(-time.Minute)
	fresh := progress("m1", "j", 2, 10)
	require.NoError(t, e.pushLogs(context.Background(), makeLogs(old, fresh)))
	p, err := payload.DecodeProgress([]byte(receive(t, ps).Payload))
	require.NoError(t, err)
	assert.Equal(t, 2.0, *p.Progress.Current, "only the fresh state is published")
	assert.Equal(t, int64(1), e.counter(t, "dropped", attribute.String("reason", "stale")))
	assert.Equal(t, int64(1), e.counter(t, "published"))
}

func TestProgressThrottleLatestWinsFinalPasses(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv)
	cfg := testConfig(srv)
	cfg.Progress.Throttle = time.Hour
	cfg.Progress.MaxAge = 0 // the test moves the clock by hours
	e := newDirect(t, cfg)
	now := time.Now()
	e.now = func() time.Time { return now }
	ps := subscribe(t, c, "machine:m1:progress")

	// Batch 1: five states of one bar (latest wins), one of another job.
	require.NoError(t, e.pushLogs(context.Background(), makeLogs(
		progress("m1", "j1", 1, 10), progress("m1", "j1", 2, 10), progress("m1", "j2", 1, 10),
		progress("m1", "j1", 3, 10), progress("m1", "j1", 4, 10),
	)))
	// Batch 2 within the interval: a non-final state is throttled, the final
	// state and a lifecycle event pass.
	lifecycle := rec{class: "progress", body: "Prompt executed in 3.2 seconds", machine: "m1", job: "j1",
		attrs: map[string]any{"comfy.progress.kind": "lifecycle", "comfy.progress.event": "prompt_executed"}}
	require.NoError(t, e.pushLogs(context.Background(), makeLogs(
		progress("m1", "j1", 5, 10), progress("m1", "j1", 10, 10), lifecycle,
	)))

	var got []string
	for i := 0; i < 4; i++ {
		p, err := payload.DecodeProgress([]byte(receive(t, ps).Payload))
		require.NoError(t, err)
		if p.Progress.Current != nil {
			got = append(got, fmt.Sprintf("%s:%g", p.JobID, *p.Progress.Current))
		} else {
			got = append(got, p.JobID+":"+p.Progress.Event)
		}
	}
	assert.Equal(t, []string{"j2:1", "j1:4", "j1:10", "j1:prompt_executed"}, got)
	assert.Equal(t, int64(4), e.counter(t, "dropped", attribute.String("reason", "throttled")))

	// After the interval the next state passes again.
	now = now.Add(2 * time.Hour)
	require.NoError(t, e.pushLogs(context.Background(), makeLogs(progress("m1", "j1", 1, 5))))
	p, err := payload.DecodeProgress([]byte(receive(t, ps).Payload))
	require.NoError(t, err)
	assert.Equal(t, 1.0, *p.Progress.Current)
}

func TestOnlyProgressAndFailuresAreSent(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv)
	e := newDirect(t, testConfig(srv))
	ps := subscribe(t, c, "machine:m1:progress")
	require.NoError(t, e.pushLogs(context.Background(), makeLogs(
		failure("m1", "j1", "boom"), rec{class: "other", body: "hello", machine: "m1", job: "j1"}, rec{body: "unclassified", job: "j1"},
		progress("m1", "j1", 1, 2))))
	n, _ := c.XLen(context.Background(), "job:events:j1").Result()
	assert.Equal(t, int64(1), n, "only the failure is streamed")
	assert.Equal(t, "j1", payloadOf(t, receive(t, ps)).JobID)
	assert.Equal(t, int64(2), e.counter(t, "dropped", attribute.String("reason", "not_routed")))
	assert.Equal(t, int64(1), e.counter(t, "published"))
	assert.Equal(t, int64(1), e.counter(t, "streamed"))
}

func payloadOf(t *testing.T, m *redis.Message) *payload.Progress {
	t.Helper()
	p, err := payload.DecodeProgress([]byte(m.Payload))
	require.NoError(t, err)
	return p
}

func TestRedisDownAtStart(t *testing.T) {
	port := redistest.FreePort(t)
	cfg := testConfig(nil)
	cfg.Endpoint = fmt.Sprintf("127.0.0.1:%d", port)
	e := newDirect(t, cfg) // start must succeed without Redis

	ld := makeLogs(failure("m1", "j1", "boom"), progress("m1", "j1", 1, 2))
	err := e.pushLogs(context.Background(), ld)
	require.Error(t, err)
	assert.True(t, isRetryable(err), "an outage is retryable: %v", err)
	var le consumererror.Logs
	require.True(t, errors.As(err, &le))
	assert.Equal(t, 2, le.Data().LogRecordCount())

	srv := redistest.StartOnPort(t, port)
	require.NoError(t, e.pushLogs(context.Background(), le.Data()))
	n, _ := client(t, srv).XLen(context.Background(), "job:events:j1").Result()
	assert.Equal(t, int64(1), n)
}

// Placeholder values resolve per record: the record's attributes, then its
// scope's, then its resource's; within one level the first configured name
// wins wherever it sits in the map; blank values do not count; and nothing
// carries over from one scope or resource to the next (the exporter scans
// each scope and resource once and reuses the keys it renders).
func TestPlaceholderPrecedenceAcrossLevels(t *testing.T) {
	cfg := testConfig(nil)
	e, err := newRedisExporter(cfg, exporterSettingsForBench())
	require.NoError(t, err)

	ld := plog.NewLogs()
	addRecord := func(sl plog.ScopeLogs, attrs map[string]string) {
		lr := sl.LogRecords().AppendEmpty()
		lr.Body().SetStr("boom")
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Now()))
		lr.Attributes().PutStr("comfy.class", "failure")
		for k, v := range attrs {
			lr.Attributes().PutStr(k, v)
		}
	}
	// Resource 1: job from the resource (emerge.job_id before comfy.job_id
	// in the map, but job.id ranks first when present).
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("machine.id", "m1")
	rl.Resource().Attributes().PutStr("comfy.job_id", "res-third")
	rl.Resource().Attributes().PutStr("emerge.job_id", "res-second")
	sl := rl.ScopeLogs().AppendEmpty()
	addRecord(sl, nil)                                          // 0: resource, second name beats third
	addRecord(sl, map[string]string{"comfy.job_id": "rec-3rd"}) // 1: record beats resource
	addRecord(sl, map[string]string{"job.id": "   "})           // 2: blank record value falls through
	sl = rl.ScopeLogs().AppendEmpty()
	sl.Scope().Attributes().PutStr("comfy.job_id", "scope-third")
	addRecord(sl, nil) // 3: scope beats resource, even with a lower-ranked name
	sl = rl.ScopeLogs().AppendEmpty()
	addRecord(sl, nil) // 4: the previous scope's value does not carry over
	// Resource 2: no job anywhere, another machine.
	rl = ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("host.name", "m2")
	sl = rl.ScopeLogs().AppendEmpty()
	addRecord(sl, nil)                                                    // 5: fallback stream of m2
	addRecord(sl, map[string]string{"job.id": "j", "emerge.job_id": "x"}) // 6: first name wins on the record

	buf := getBatchBuffers()
	defer putBatchBuffers(buf)
	ops := e.plan(context.Background(), ld, time.Now(), buf)
	var keys []string
	for _, o := range ops {
		keys = append(keys, o.key)
	}
	assert.Equal(t, []string{
		"job:events:res-second",
		"job:events:rec-3rd",
		"job:events:res-second",
		"job:events:scope-third",
		"job:events:res-second",
		"machine:m2:failures",
		"job:events:j",
	}, keys)
}

// Concurrent pushes (exporterhelper's num_consumers > 1) share the pooled
// batch buffers: every message and entry must still carry its own record's
// values, each exactly once, and the records of one job keep their order.
func TestConcurrentPushesKeepTheirPayloads(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv)
	e := newDirect(t, testConfig(srv))
	ps := subscribe(t, c, "machine:m1:progress")

	const pushers, pushes, perBatch = 4, 10, 60
	var wg sync.WaitGroup
	for g := 0; g < pushers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := 0; p < pushes; p++ {
				recs := make([]rec, 0, perBatch)
				for i := 0; i < perBatch; i++ {
					job := fmt.Sprintf("job-%d", g)
					if i%3 == 0 {
						recs = append(recs, failure("m1", job, fmt.Sprintf("boom %d/%d/%d", g, p, i)))
					} else {
						r := progress("m1", job, float64(p*perBatch+i), 1e6)
						r.body = fmt.Sprintf("step %d/%d/%d", g, p, i)
						recs = append(recs, r)
					}
				}
				assert.NoError(t, e.pushLogs(context.Background(), makeLogs(recs...)))
			}
		}()
	}
	wg.Wait()

	wantProgress := pushers * pushes * (perBatch - perBatch/3)
	last := map[string]float64{}
	seen := map[string]bool{}
	for n := 0; n < wantProgress; n++ {
		p, err := payload.DecodeProgress([]byte(receive(t, ps).Payload))
		require.NoError(t, err)
		var g, push, i int
		_, err = fmt.Sscanf(p.Message, "step %d/%d/%d", &g, &push, &i)
		require.NoError(t, err, p.Message)
		assert.Equal(t, fmt.Sprintf("job-%d", g), p.JobID, "message and job id from the same record")
		assert.Equal(t, float64(push*perBatch+i), *p.Progress.Current, "numbers from the same record")
		assert.False(t, seen[p.Message], "published once: %s", p.Message)
		seen[p.Message] = true
		assert.Greater(t, *p.Progress.Current, last[p.JobID], "a job's states arrive in order")
		last[p.JobID] = *p.Progress.Current
	}
	for g := 0; g < pushers; g++ {
		entries, err := c.XRange(context.Background(), fmt.Sprintf("job:events:job-%d", g), "-", "+").Result()
		require.NoError(t, err)
		require.Len(t, entries, pushes*perBatch/3)
		for _, en := range entries {
			f := payload.FailureFromFields(en.Values)
			assert.Equal(t, fmt.Sprintf("job-%d", g), f.JobID)
			assert.True(t, strings.HasPrefix(f.Message, fmt.Sprintf("boom %d/", g)), f.Message)
		}
	}
}
