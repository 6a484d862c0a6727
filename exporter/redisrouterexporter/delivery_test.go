package redisrouterexporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/internal/metadata"
	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/payload"
	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/redistest"
)

func reason(r string) attribute.KeyValue { return attribute.String("reason", r) }
func kind(k string) attribute.KeyValue   { return attribute.String("kind", k) }

func TestWrongTypeGoesToDeadLetter(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv)
	require.NoError(t, c.Set(context.Background(), "job:events:wrongtype", "a string", 0).Err())
	e := newDirect(t, testConfig(srv))
	err := e.pushLogs(context.Background(), makeLogs(failure("m1", "wrongtype", "x"), failure("m1", "fine", "y")))
	require.NoError(t, err, "WRONGTYPE cannot be fixed by retrying; the record is dead-lettered, the good one landed")

	n, _ := c.XLen(context.Background(), "job:events:fine").Result()
	assert.Equal(t, int64(1), n)
	entries, err := c.XRange(context.Background(), "machine:m1:dead_letter", "-", "+").Result()
	require.NoError(t, err)
	require.Len(t, entries, 1)
	f := payload.FailureFromFields(entries[0].Values)
	assert.Equal(t, "job:events:wrongtype", f.OriginalKey)
	assert.True(t, strings.HasPrefix(f.Error, "WRONGTYPE "), f.Error)
	assert.Equal(t, "x", f.Message)
	assert.Equal(t, "wrongtype", f.JobID)
	assert.Regexp(t, `^[0-9a-f]{32}$`, f.EventID)
	assert.Equal(t, int64(1), e.counter(t, "dead_lettered", reason("wrongtype")))
	assert.Equal(t, int64(1), e.counter(t, "redis_errors", kind("refused_key")))
	assert.Equal(t, int64(0), e.counter(t, "failed"))
	assert.Equal(t, int64(1), e.counter(t, "streamed"))
	ttl, _ := c.TTL(context.Background(), "machine:m1:dead_letter").Result()
	assert.Equal(t, time.Duration(-1), ttl, "the dead-letter stream is capped, not expired")
	ttl, _ = c.TTL(context.Background(), "job:events:wrongtype").Result()
	assert.Equal(t, time.Duration(-1), ttl, "the string that holds the stream's name gets no TTL")
	ttl, _ = c.TTL(context.Background(), "job:events:fine").Result()
	assert.Greater(t, ttl, 59*time.Minute)
}

func TestNOPERMOnKeyGoesToDeadLetter(t *testing.T) {
	// The ACL user may write job:events:ok* and machine:* only.
	srv := redistest.Start(t, redistest.WithACLUser("writer", "pw", "~job:events:ok*", "~machine:*", "&*", "+@all"))
	cfg := testConfig(srv)
	cfg.Username, cfg.Password = "writer", "pw"
	e := newDirect(t, cfg)
	require.NoError(t, e.pushLogs(context.Background(),
		makeLogs(failure("m1", "ok1", "a"), failure("m1", "denied", "b"), failure("m1", "ok2", "c"))))
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr(), Username: "writer", Password: "pw", DisableIdentity: true})
	t.Cleanup(func() { _ = admin.Close() })
	for _, k := range []string{"job:events:ok1", "job:events:ok2"} {
		n, err := admin.XLen(context.Background(), k).Result()
		require.NoError(t, err)
		assert.Equal(t, int64(1), n, k)
	}
	entries, err := admin.XRange(context.Background(), "machine:m1:dead_letter", "-", "+").Result()
	require.NoError(t, err)
	require.Len(t, entries, 1)
	f := payload.FailureFromFields(entries[0].Values)
	assert.Equal(t, "job:events:denied", f.OriginalKey)
	assert.True(t, strings.HasPrefix(f.Error, "NOPERM "), f.Error)
	assert.Equal(t, int64(1), e.counter(t, "dead_lettered", reason("noperm")))

	// A dead-letter stream Redis refuses too: dropped, and counted.
	srv2 := redistest.Start(t, redistest.WithACLUser("writer", "pw", "~job:events:ok*", "&*", "+@all"))
	cfg = testConfig(srv2)
	cfg.Username, cfg.Password = "writer", "pw"
	e2 := newDirect(t, cfg)
	require.NoError(t, e2.pushLogs(context.Background(), makeLogs(failure("m1", "denied", "b"))))
	assert.Equal(t, int64(1), e2.counter(t, "dropped", reason("dead_letter_refused")))
	assert.Equal(t, int64(2), e2.counter(t, "redis_errors", kind("refused_key")))
}

func TestNOPERMOnCommandIsAConfigurationError(t *testing.T) {
	srv := redistest.Start(t, redistest.WithACLUser("reader", "pw", "~*", "&*", "+@all", "-xadd"))
	cfg := testConfig(srv)
	cfg.Username, cfg.Password = "reader", "pw"
	host := newStatusHost()
	e := newDirect(t, cfg, host)
	err := e.pushLogs(context.Background(), makeLogs(failure("m1", "j1", "a")))
	require.Error(t, err, "retried: an operator fixes the ACL")
	assert.True(t, isRetryable(err))
	assert.Equal(t, int64(1), e.counter(t, "redis_errors", kind("config")))
	// The prober's PING (which this user may run) must not hide it.
	time.Sleep(100 * time.Millisecond)
	ev := host.last()
	require.NotNil(t, ev)
	require.Equal(t, componentstatus.StatusRecoverableError, ev.Status())
	assert.Contains(t, ev.Err().Error(), "NOPERM")
	assert.Equal(t, int64(0), e.gauge(t, "redis_up"))
}

func TestUnknownDBReportsStatusThenRecovers(t *testing.T) {
	srv := redistest.Start(t, redistest.WithArgs("--databases", "2"))
	port := srv.Port
	cfg := testConfig(srv)
	cfg.DB = 5
	host := newStatusHost()
	e := newDirect(t, cfg, host)

	ld := makeLogs(failure("m1", "j1", "boom"))
	err := e.pushLogs(context.Background(), ld)
	require.Error(t, err)
	assert.True(t, isRetryable(err), "a configuration error is retried until fixed: %v", err)
	assert.GreaterOrEqual(t, e.counter(t, "redis_errors", kind("config")), int64(1))
	assert.Equal(t, int64(0), e.gauge(t, "redis_up"))
	ev := host.last()
	require.NotNil(t, ev)
	assert.Equal(t, componentstatus.StatusRecoverableError, ev.Status())
	assert.Contains(t, ev.Err().Error(), "DB index")

	// Fixed: the server now has the database.
	srv.Stop()
	srv2 := redistest.StartOnPort(t, port, redistest.WithArgs("--databases", "16"))
	eventually(t, 10*time.Second, func() bool { return e.pushLogs(context.Background(), ld) == nil }, "delivered once the db exists")
	assert.Equal(t, componentstatus.StatusOK, host.last().Status())
	assert.Equal(t, int64(1), e.gauge(t, "redis_up"))
	c := redis.NewClient(&redis.Options{Addr: srv2.Addr(), DB: 5, DisableIdentity: true})
	t.Cleanup(func() { _ = c.Close() })
	n, _ := c.XLen(context.Background(), "job:events:j1").Result()
	assert.Equal(t, int64(1), n)
}

func TestWrongPasswordReportsAuthThenRecovers(t *testing.T) {
	srv := redistest.Start(t, redistest.WithPassword("right"))
	cfg := testConfig(srv)
	cfg.Password = "wrong"
	host := newStatusHost()
	e := newDirect(t, cfg, host)
	err := e.pushLogs(context.Background(), makeLogs(failure("m1", "j1", "boom")))
	require.Error(t, err)
	assert.True(t, isRetryable(err))
	assert.GreaterOrEqual(t, e.counter(t, "redis_errors", kind("auth")), int64(1))
	require.NotNil(t, host.last())
	assert.Equal(t, componentstatus.StatusRecoverableError, host.last().Status())
	assert.NotContains(t, host.last().Err().Error(), "wrong", "the password never shows")

	_, err = srv.Cmd(context.Background(), []string{"-a", "right", "--no-auth-warning"}, "CONFIG", "SET", "requirepass", "wrong")
	require.NoError(t, err)
	eventually(t, 10*time.Second, func() bool {
		return e.pushLogs(context.Background(), makeLogs(failure("m1", "j1", "boom"))) == nil
	}, "delivered once the password matches")
	assert.Equal(t, componentstatus.StatusOK, host.last().Status())
}

func TestRedisUnreachableShowsInStatusAndMetrics(t *testing.T) {
	cfg := testConfig(nil)
	cfg.Endpoint = fmt.Sprintf("127.0.0.1:%d", redistest.FreePort(t))
	host := newStatusHost()
	e := newDirect(t, cfg, host) // the probe at start finds nobody
	eventually(t, 10*time.Second, func() bool { ev := host.last(); return ev != nil && ev.Err() != nil }, "status reported")
	assert.Equal(t, componentstatus.StatusRecoverableError, host.last().Status())
	assert.Contains(t, host.last().Err().Error(), "connection")
	assert.Equal(t, int64(0), e.gauge(t, "redis_up"))
	assert.GreaterOrEqual(t, e.counter(t, "redis_errors", kind("connection")), int64(1))
}

// A read timeout after a pipelined write must not make go-redis send the
// pipeline again: Redis may have executed it (here: it does, once it wakes
// up). One entry, not two or four.
func TestReadTimeoutIsNotResent(t *testing.T) {
	srv := redistest.Start(t, redistest.WithArgs("--enable-debug-command", "yes"))
	cfg := testConfig(srv)
	cfg.ReadTimeout = 200 * time.Millisecond
	e := newDirect(t, cfg)
	require.NoError(t, e.pushLogs(context.Background(), makeLogs(failure("m1", "warmup", "x")))) // a pooled connection

	admin := client(t, srv)
	slept := make(chan error, 1)
	go func() { slept <- admin.Do(context.Background(), "DEBUG", "SLEEP", "1.5").Err() }()
	time.Sleep(200 * time.Millisecond) // DEBUG SLEEP is running
	err := e.pushLogs(context.Background(), makeLogs(failure("m1", "slow", "y")))
	require.Error(t, err)
	assert.True(t, isRetryable(err))
	assert.Equal(t, int64(1), e.counter(t, "redis_errors", kind("timeout")))
	require.NoError(t, <-slept)
	eventually(t, 5*time.Second, func() bool {
		n, _ := admin.XLen(context.Background(), "job:events:slow").Result()
		return n >= 1
	}, "Redis executed the XADD after the sleep")
	time.Sleep(300 * time.Millisecond)
	n, _ := admin.XLen(context.Background(), "job:events:slow").Result()
	assert.Equal(t, int64(1), n, "go-redis did not resend the pipeline")
}

// Progress during a Redis outage: the exporter never returns an error into
// the pipeline (a refusal would refuse the record for every tier), drops
// and counts what its queue cannot hold, and publishes again as soon as
// Redis is back, without replaying stale states.
func TestProgressNeverRefusesDuringOutage(t *testing.T) {
	srv := redistest.Start(t)
	port := srv.Port
	cfg := testConfig(srv)
	cfg.DialTimeout = 200 * time.Millisecond
	cfg.TimeoutConfig.Timeout = time.Second
	cfg.Progress.MaxAge = time.Second
	q := exporterhelper.NewDefaultQueueConfig()
	q.QueueSize = 20
	q.NumConsumers = 1
	cfg.QueueConfig = configoptional.Some(q)
	cfg.RetryConfig.Enabled = true
	cfg.RetryConfig.InitialInterval = 20 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 100 * time.Millisecond
	cfg.RetryConfig.MaxElapsedTime = 10 * time.Second

	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	set := exportertest.NewNopSettings(metadata.Type)
	set.ID = component.NewIDWithName(metadata.Type, "progress")
	set.TelemetrySettings = tel.NewTelemetrySettings()
	exp, err := NewFactory().CreateLogs(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	d := &direct{tel: tel}

	srv.Stop()
	const n = 500
	for i := 0; i < n; i++ {
		r := progress("m1", "j1", float64(i), n)
		require.NoError(t, exp.ConsumeLogs(context.Background(), makeLogs(r)), "request %d refused", i)
	}
	assert.Greater(t, d.counter(t, "dropped", reason("queue_full"), attribute.String("exporter", "redisrouter/progress")), int64(0))
	time.Sleep(1200 * time.Millisecond) // everything queued is now older than max_age

	srv = redistest.StartOnPort(t, port)
	c := client(t, srv)
	ps := subscribe(t, c, "machine:m1:progress")
	// Fresh progress goes out as soon as Redis answers: the first message
	// the UI sees is a fresh one, never a state from before the outage.
	sendFresh := func() { _ = exp.ConsumeLogs(context.Background(), makeLogs(progress("m1", "j1", 1000, 2000))) }
	sendFresh()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		msg, err := ps.ReceiveTimeout(ctx, 300*time.Millisecond)
		if err != nil {
			require.NoError(t, ctx.Err(), "no progress published after Redis came back")
			sendFresh()
			continue
		}
		p := payloadOf(t, msg.(*redis.Message))
		assert.Equal(t, 1000.0, *p.Progress.Current, "a stale state was replayed")
		break
	}
	assert.Greater(t, d.counter(t, "dropped", reason("stale")), int64(0), "queued states older than max_age are dropped, counted")
}

// The failures tier still refuses when its queue is full: a failure must
// not vanish; the receiver counts the refusal.
func TestFailuresAreRefusedWhenTheQueueIsFull(t *testing.T) {
	cfg := testConfig(nil)
	cfg.Endpoint = fmt.Sprintf("127.0.0.1:%d", redistest.FreePort(t))
	cfg.DialTimeout = 100 * time.Millisecond
	q := exporterhelper.NewDefaultQueueConfig()
	q.QueueSize = 2
	q.NumConsumers = 1
	cfg.QueueConfig = configoptional.Some(q)
	fastRetry(cfg)
	exp := newHelperExporter(t, cfg, nil)
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	var refused error
	for i := 0; i < 20 && refused == nil; i++ {
		refused = exp.ConsumeLogs(context.Background(), makeLogs(failure("m1", "j1", "x")))
	}
	require.Error(t, refused)
	assert.True(t, errors.Is(refused, exporterhelper.ErrQueueIsFull))
}

func TestKeysDistinctForIdsThatSanitiseAlike(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv)
	e := newDirect(t, testConfig(srv))
	ids := []string{"a:b", "a/b", "a b", "a_b", "ü1", "é1", "日本"}
	var recs []rec
	for _, id := range ids {
		recs = append(recs, failure("m1", id, "boom "+id))
	}
	require.NoError(t, e.pushLogs(context.Background(), makeLogs(recs...)))
	keys, err := c.Keys(context.Background(), "job:events:*").Result()
	require.NoError(t, err)
	assert.Len(t, keys, len(ids), "one stream per id: %q", keys)
	assert.Contains(t, keys, "job:events:a_b", "a clean id keeps its key")
	for _, k := range keys {
		entries, err := c.XRange(context.Background(), k, "-", "+").Result()
		require.NoError(t, err)
		require.Len(t, entries, 1, k)
		assert.Equal(t, "boom "+entries[0].Values["job_id"].(string), entries[0].Values["message"], "a worker sees only its job")
	}
}

func TestEventIDStableAcrossResendAndReRead(t *testing.T) {
	cfg := testConfig(nil)
	now := time.Now()

	// OTLP: the same record resent (new observed time) has the same id;
	// any change to its content changes it.
	otlp := func(observed time.Time, mutate func(r *rec)) string {
		r := failure("m1", "j1", "boom")
		r.observedAt = observed
		r.attrs["exception.type"] = "ValueError"
		if mutate != nil {
			mutate(&r)
		}
		ld := makeLogs(r)
		ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).SetTimestamp(pcommon.NewTimestampFromTime(now))
		return eventIDs(t, cfg, ld)[0]
	}
	base := otlp(now, nil)
	assert.Equal(t, base, otlp(now.Add(time.Hour), nil), "resent: same id")
	assert.NotEqual(t, base, otlp(now, func(r *rec) { r.body = "boom!" }))
	assert.NotEqual(t, base, otlp(now, func(r *rec) { r.attrs["exception.type"] = "KeyError" }))
	assert.NotEqual(t, base, otlp(now, func(r *rec) { r.machine = "m2" }))

	// Attribute order does not matter.
	a := makeLogs(rec{class: "failure", body: "x", machine: "m1"})
	b := makeLogs(rec{class: "failure", body: "x", machine: "m1"})
	la, lb := a.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0), b.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	la.SetObservedTimestamp(1)
	lb.SetObservedTimestamp(2)
	la.Attributes().PutStr("k1", "v1")
	la.Attributes().PutInt("k2", 2)
	lb.Attributes().PutInt("k2", 2)
	lb.Attributes().PutStr("k1", "v1")
	assert.Equal(t, eventIDs(t, cfg, a), eventIDs(t, cfg, b))

	// Tailed: the same line re-read after a restart (new observed time,
	// and file_log sets no timestamp) has the same id.
	tailed := func(offset int, observed time.Time, body string) string {
		r := rec{class: "failure", body: body, machine: "m1", observedAt: observed, attrs: map[string]any{
			"log.file.name": "comfyui_gpu0.log", "log.file.path": "/logs/comfyui_gpu0.log",
			"log.file.record_offset": offset, "comfy.instance": "gpu0"}}
		return eventIDs(t, cfg, makeLogs(r))[0]
	}
	assert.Equal(t, tailed(100, now, traceback), tailed(100, now.Add(time.Hour), traceback))
	assert.NotEqual(t, tailed(100, now, traceback), tailed(200, now, traceback))
	assert.NotEqual(t, tailed(100, now, traceback), tailed(100, now, "another line at a reused offset"))
}

func TestEventIDSameOnRetryThroughRedis(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv)
	e := newDirect(t, testConfig(srv))
	ld := makeLogs(failure("m1", "j-dup", "boom"))
	require.NoError(t, e.pushLogs(context.Background(), ld))
	ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Now().Add(time.Minute)))
	require.NoError(t, e.pushLogs(context.Background(), ld))
	entries, err := c.XRange(context.Background(), "job:events:j-dup", "-", "+").Result()
	require.NoError(t, err)
	require.Len(t, entries, 2)
	assert.Equal(t, entries[0].Values["event_id"], entries[1].Values["event_id"])
}

func TestMessageAndPlatformFields(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv)
	e := newDirect(t, testConfig(srv))

	withMessage := failure("m1", "j-msg", "2026-11-23 14:05:21 ERROR boom")
	withMessage.attrs["comfy.message"] = "boom"
	withMessage.attrs["comfy.failure.human_message"] = "The GPU ran out of memory."
	withMessage.attrs["comfy.failure.call_to_action"] = "Lower the batch size."
	withMessage.attrs["comfy.rule"] = "failure.oom"
	ld := makeLogs(withMessage, failure("m1", "j-body", "only a body"), failure("m1", "j-bytes", ""))
	lrs := ld.ResourceLogs()
	lrs.At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().PutBool("comfy.failure.retryable", false)
	lrs.At(1).ScopeLogs().At(0).LogRecords().At(0).Attributes().PutBool("comfy.failure.retryable", true)
	lrs.At(2).ScopeLogs().At(0).LogRecords().At(0).Body().SetEmptyBytes().FromRaw([]byte("bytes body ü"))
	require.NoError(t, e.pushLogs(context.Background(), ld))

	read := func(key string) map[string]any {
		entries, err := c.XRange(context.Background(), key, "-", "+").Result()
		require.NoError(t, err)
		require.Len(t, entries, 1)
		return entries[0].Values
	}
	v := read("job:events:j-msg")
	assert.Equal(t, "boom", v["message"], "comfy.message wins when present")
	assert.Equal(t, "false", v["retry"])
	assert.Equal(t, "The GPU ran out of memory.", v["human_readable_message"])
	assert.Equal(t, "Lower the batch size.", v["call_to_action"])
	assert.Equal(t, "failure.oom", v["pattern_matched"])
	for _, k := range []string{"event_type", "timestamp", "machine_id", "job_id", "level", "message"} {
		assert.Contains(t, v, k, "contract field")
	}
	v = read("job:events:j-body")
	assert.Equal(t, "only a body", v["message"], "else the body")
	assert.Equal(t, "true", v["retry"])
	assert.Equal(t, "traceback", v["pattern_matched"])
	assert.NotContains(t, v, "human_readable_message")
	v = read("job:events:j-bytes")
	assert.Equal(t, "bytes body ü", v["message"], "a bytes body as UTF-8, not base64")
	assert.NotContains(t, v, "retry", "absent when the attribute is")

	// Progress: the same rule for the message.
	ps := subscribe(t, c, "machine:m1:progress")
	p := progress("m1", "j1", 1, 2)
	p.attrs["comfy.message"] = "Sampling 1/2"
	require.NoError(t, e.pushLogs(context.Background(), makeLogs(p)))
	got := payloadOf(t, receive(t, ps))
	assert.Equal(t, "Sampling 1/2", got.Message)
	assert.Equal(t, "Sampling 1/2", got.Progress.Message)
}

func TestMetricsCarryTheExporterID(t *testing.T) {
	srv := redistest.Start(t)
	e := newDirect(t, testConfig(srv)) // ID redisrouter/failures
	require.NoError(t, e.pushLogs(context.Background(), makeLogs(failure("m1", "j1", "x"), rec{class: "other", body: "y"})))
	id := attribute.String("exporter", "redisrouter/failures")
	assert.Equal(t, int64(1), e.counter(t, "streamed", id))
	assert.Equal(t, int64(1), e.counter(t, "dropped", id, reason("not_routed")))
	assert.Equal(t, int64(0), e.counter(t, "streamed", attribute.String("exporter", "redisrouter/progress")))
}

// classify judges by go-redis's typed errors and reply codes.
func TestClassify(t *testing.T) {
	redisErr := func(s string) error { return replyErr(s) }
	tests := []struct {
		err     error
		kind    string
		refused bool
		reason  string
	}{
		{redisErr("LOADING Redis is loading the dataset in memory"), "loading", false, ""},
		{redisErr("READONLY You can't write against a read only replica."), "readonly", false, ""},
		{redisErr("MASTERDOWN Link with MASTER is down"), "readonly", false, ""},
		{redisErr("MOVED 3999 127.0.0.1:6381"), "redirect", false, ""},
		{redisErr("ASK 3999 127.0.0.1:6381"), "redirect", false, ""},
		{redisErr("TRYAGAIN Multiple keys request during rehashing of slot"), "tryagain", false, ""},
		{redisErr("CLUSTERDOWN The cluster is down"), "tryagain", false, ""},
		{redisErr("NOAUTH Authentication required."), "auth", false, ""},
		{redisErr("WRONGPASS invalid username-password pair or user is disabled."), "auth", false, ""},
		{redisErr("NOPERM this user has no permissions to run the 'xadd' command"), "config", false, ""},
		{redisErr("NOPERM User writer has no permissions to run the 'xadd' command"), "config", false, ""},
		{redisErr("NOPERM this user has no permissions to access one of the keys used as arguments"), "refused_key", true, "noperm"},
		{redisErr("NOPERM No permissions to access a key"), "refused_key", true, "noperm"},
		{redisErr("NOPERM this user has no permissions to access one of the channels used as arguments"), "refused_key", true, "noperm"},
		{redisErr("WRONGTYPE Operation against a key holding the wrong kind of value"), "refused_key", true, "wrongtype"},
		{redisErr("ERR DB index is out of range"), "config", false, ""},
		{redisErr("ERR invalid DB index"), "config", false, ""},
		{redisErr("OOM command not allowed when used memory > 'maxmemory'."), "other", false, ""},
		{redisErr("ERR syntax error"), "other", true, "other"},
		{redisErr("ERR max number of clients reached"), "connection", false, ""},
		{context.DeadlineExceeded, "timeout", false, ""},
		{&net.OpError{Op: "read", Err: timeoutErr{}}, "timeout", false, ""},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, "connection", false, ""},
		{io.EOF, "connection", false, ""},
		{redis.ErrClosed, "connection", false, ""},
	}
	for _, tt := range tests {
		c := classify(tt.err)
		assert.Equal(t, tt.kind, kindNames[c.kind], "%v", tt.err)
		assert.Equal(t, tt.refused, c.refused, "%v", tt.err)
		assert.Equal(t, tt.reason, c.deadLetterReason, "%v", tt.err)
	}
	assert.Equal(t, kindNone, classify(nil).kind)
}

// replyErr is an error reply as go-redis returns it (a redis.Error).
type replyErr string

func (e replyErr) Error() string { return string(e) }
func (replyErr) RedisError()     {}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// A job stream's TTL is set at most once per ttl/60: a busy job costs one
// EXPIRE a minute, and its stream still expires within a minute of ttl
// after its last entry.
func TestExpireOncePerRefreshInterval(t *testing.T) {
	cfg := testConfig(nil) // ttl 1h: refresh every minute
	tr := newTransport(cfg, zap.NewNop(), nil)
	msgs := []message{{key: "job:events:a"}, {key: "job:events:a"}, {key: "job:events:b"},
		{key: "machine:m:failures", fallback: true}, {key: "machine:m:progress", progress: true},
		{key: "job:events:refused", err: errors.New("WRONGTYPE")}}
	now := time.Now()
	assert.Equal(t, []string{"job:events:a", "job:events:b"}, tr.expireKeys(msgs, now))
	assert.Empty(t, tr.expireKeys(msgs, now.Add(30*time.Second)))
	assert.Equal(t, []string{"job:events:a", "job:events:b"}, tr.expireKeys(msgs, now.Add(61*time.Second)))
	cfg.Failures.TTL = 0
	assert.Empty(t, newTransport(cfg, zap.NewNop(), nil).expireKeys(msgs, now))
}
