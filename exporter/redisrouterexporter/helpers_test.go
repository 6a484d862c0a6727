package redisrouterexporter

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/internal/metadata"
	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/redistest"
)

// testConfig is the default config pointed at srv (plain TCP).
func testConfig(srv *redistest.Server) *Config {
	cfg := createDefaultConfig().(*Config)
	if srv != nil {
		cfg.Endpoint = srv.Addr()
	}
	cfg.DialTimeout = time.Second
	cfg.ReadTimeout = 2 * time.Second
	cfg.WriteTimeout = 2 * time.Second
	return cfg
}

// direct is the exporter without exporterhelper: the push function's own
// return value (partial-failure errors) is what the tests look at.
type direct struct {
	*redisExporter
	tel *componenttest.Telemetry
}

func newDirect(t *testing.T, cfg *Config, host ...component.Host) *direct {
	t.Helper()
	h := component.Host(componenttest.NewNopHost())
	if len(host) > 0 {
		h = host[0]
	}
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	set := exportertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	set.ID = component.NewIDWithName(metadata.Type, "failures")
	e, err := newRedisExporter(cfg, set)
	require.NoError(t, err)
	require.NoError(t, e.start(context.Background(), h))
	t.Cleanup(func() { _ = e.shutdown(context.Background()) })
	return &direct{redisExporter: e, tel: tel}
}

// newHelperExporter builds the exporter through the factory, with
// exporterhelper's queue and retry as configured.
func newHelperExporter(t *testing.T, cfg *Config, host component.Host) exporter.Logs {
	t.Helper()
	require.NoError(t, cfg.Validate())
	set := exportertest.NewNopSettings(metadata.Type)
	// A fixed id: the persistent queue's storage key is derived from it.
	set.ID = component.NewIDWithName(metadata.Type, "failures")
	set.Logger = zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
	exp, err := NewFactory().CreateLogs(context.Background(), set, cfg)
	require.NoError(t, err)
	if host == nil {
		host = componenttest.NewNopHost()
	}
	require.NoError(t, exp.Start(context.Background(), host))
	return exp
}

// counter sums a telemetry counter, optionally only the points with the
// given attribute value.
func (d *direct) counter(t *testing.T, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	m, err := d.tel.GetMetric("otelcol_exporter_redisrouter_" + name)
	if err != nil {
		return 0
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "metric %s is %T", name, m.Data)
	var total int64
	set := attribute.NewSet(attrs...)
	for _, dp := range sum.DataPoints {
		match := true
		for _, kv := range set.ToSlice() {
			v, ok := dp.Attributes.Value(kv.Key)
			if !ok || v != kv.Value {
				match = false
			}
		}
		if match {
			total += dp.Value
		}
	}
	return total
}

func client(t *testing.T, srv *redistest.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), DisableIdentity: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// rec describes one test record.
type rec struct {
	class      string
	body       string
	machine    string // resource machine.id; "" = absent
	job        string // record job.id; "" = absent
	attrs      map[string]any
	observedAt time.Time // zero = now
}

func makeLogs(recs ...rec) plog.Logs {
	ld := plog.NewLogs()
	for _, r := range recs {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "comfyui")
		if r.machine != "" {
			rl.Resource().Attributes().PutStr("machine.id", r.machine)
		}
		sl := rl.ScopeLogs().AppendEmpty()
		lr := sl.LogRecords().AppendEmpty()
		lr.Body().SetStr(r.body)
		obs := r.observedAt
		if obs.IsZero() {
			obs = time.Now()
		}
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(obs))
		if r.class != "" {
			lr.Attributes().PutStr("comfy.class", r.class)
		}
		if r.job != "" {
			lr.Attributes().PutStr("job.id", r.job)
		}
		for k, v := range r.attrs {
			switch x := v.(type) {
			case string:
				lr.Attributes().PutStr(k, x)
			case float64:
				lr.Attributes().PutDouble(k, x)
			case int:
				lr.Attributes().PutInt(k, int64(x))
			}
		}
	}
	return ld
}

func failure(machine, job, body string) rec {
	return rec{class: "failure", body: body, machine: machine, job: job,
		attrs: map[string]any{"comfy.failure.kind": "exception", "comfy.rule": "traceback"}}
}

func progress(machine, job string, cur, total float64) rec {
	return rec{class: "progress", body: "sampling step", machine: machine, job: job, attrs: map[string]any{
		"comfy.progress.kind": "sampling", "comfy.progress.current": cur, "comfy.progress.total": total,
	}}
}

// eventually polls cond until it holds or the deadline passes. Used only to
// wait for asynchronous delivery, never to assert timing.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf(msg, args...)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func isRetryable(err error) bool {
	return err != nil && !consumererror.IsPermanent(err)
}

func exporterSettingsForBench() exporter.Settings {
	return exportertest.NewNopSettings(metadata.Type)
}

// eventIDs maps ld's failure records as pushLogs would and returns their
// event ids, for tests that look at ids without Redis.
func eventIDs(t *testing.T, cfg *Config, ld plog.Logs) []string {
	t.Helper()
	e, err := newRedisExporter(cfg, exportertest.NewNopSettings(metadata.Type))
	require.NoError(t, err)
	buf := getBatchBuffers()
	defer putBatchBuffers(buf)
	var ids []string
	for _, m := range e.plan(context.Background(), ld, time.Now(), buf) {
		if !m.progress {
			ids = append(ids, buf.failures[m.failure].EventID)
		}
	}
	return ids
}

// statusHost records the component status events the exporter reports.
type statusHost struct {
	component.Host
	mu     sync.Mutex
	events []*componentstatus.Event
}

func newStatusHost() *statusHost { return &statusHost{Host: componenttest.NewNopHost()} }

func (h *statusHost) Report(ev *componentstatus.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev)
}

// last returns the last reported event, nil if none.
func (h *statusHost) last() *componentstatus.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.events) == 0 {
		return nil
	}
	return h.events[len(h.events)-1]
}

// gauge returns the last value of an int gauge, -1 when it has none.
func (d *direct) gauge(t *testing.T, name string) int64 {
	t.Helper()
	m, err := d.tel.GetMetric("otelcol_exporter_redisrouter_" + name)
	if err != nil {
		return -1
	}
	g, ok := m.Data.(metricdata.Gauge[int64])
	require.True(t, ok, "metric %s is %T", name, m.Data)
	if len(g.DataPoints) == 0 {
		return -1
	}
	return g.DataPoints[len(g.DataPoints)-1].Value
}
