package comfypatternprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor/classifier"
	"github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor/internal/metadatatest"
)

const (
	tqdmBody  = "[2024-06-17 13:22] \r 45%|████▌     | 9/20 [00:02<00:03,  3.50it/s]\r100%|██████████| 20/20 [00:05<00:00,  3.68it/s]"
	oomBody   = "[2026-02-21 23:35:37.173] Traceback (most recent call last):\n  File \"execution.py\", line 530, in execute\n    output = model(x)\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
	otherBody = "[2024-06-17 13:15] Starting server"
)

func runProcessor(t *testing.T, cfg *Config, ld plog.Logs) (plog.Logs, *componenttest.Telemetry) {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	sink := new(consumertest.LogsSink)
	p, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tel), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))
	require.NoError(t, p.Shutdown(context.Background()))
	require.Len(t, sink.AllLogs(), 1)
	return sink.AllLogs()[0], tel
}

func newLogs(bodies ...any) plog.Logs {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for _, b := range bodies {
		lr := lrs.AppendEmpty()
		switch v := b.(type) {
		case string:
			lr.Body().SetStr(v)
		case func(pcommon.Value):
			v(lr.Body())
		}
	}
	return ld
}

func recordAt(ld plog.Logs, i int) plog.LogRecord {
	return ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(i)
}

func attrs(t *testing.T, lr plog.LogRecord) map[string]any {
	t.Helper()
	return lr.Attributes().AsRaw()
}

func TestProcessorSetsAttributes(t *testing.T) {
	out, tel := runProcessor(t, createDefaultConfig().(*Config), newLogs(tqdmBody, oomBody, otherBody))

	progress := recordAt(out, 0)
	assert.Equal(t, tqdmBody, progress.Body().Str(), "body must be untouched")
	assert.Equal(t, map[string]any{
		"comfy.class":                      "progress",
		"comfy.rule":                       "progress.tqdm",
		"comfy.message":                    "100%|██████████| 20/20 [00:05<00:00,  3.68it/s]",
		"comfy.progress.kind":              "sampling",
		"comfy.progress.current":           20.0,
		"comfy.progress.total":             20.0,
		"comfy.progress.percent":           100.0,
		"comfy.progress.rate":              3.68,
		"comfy.progress.rate_unit":         "it/s",
		"comfy.progress.elapsed_seconds":   5.0,
		"comfy.progress.remaining_seconds": 0.0,
	}, attrs(t, progress))

	failure := attrs(t, recordAt(out, 1))
	assert.Equal(t, "failure", failure["comfy.class"])
	assert.Equal(t, "failure.traceback", failure["comfy.rule"])
	assert.Equal(t, "oom", failure["comfy.failure.kind"])
	assert.Equal(t, "torch.OutOfMemoryError", failure["exception.type"])
	assert.Equal(t, "CUDA out of memory. Tried to allocate 2.00 GiB", failure["exception.message"])
	assert.NotContains(t, failure, "exception.stacktrace", "the body is never copied into exception.stacktrace")
	assert.NotContains(t, failure["comfy.message"], "2026-02-21", "timestamp prefix removed")
	assert.Equal(t, true, failure["comfy.failure.retryable"])
	assert.NotEmpty(t, failure["comfy.failure.human_message"])
	assert.NotEmpty(t, failure["comfy.failure.call_to_action"])

	assert.Equal(t, map[string]any{"comfy.class": "other"}, attrs(t, recordAt(out, 2)))

	metadatatest.AssertEqualProcessorComfypatternRecordsClassified(t, tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("class", "progress"), attribute.String("kind", "sampling"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("class", "failure"), attribute.String("kind", "oom"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("class", "other"), attribute.String("kind", "none"))},
	}, metricdatatest.IgnoreTimestamp())
}

func TestProcessorNonStringBody(t *testing.T) {
	bytesBody := func(v pcommon.Value) { v.SetEmptyBytes().FromRaw([]byte("got prompt")) }
	mapBody := func(v pcommon.Value) { v.SetEmptyMap().PutStr("msg", "Segmentation fault (core dumped)") }
	emptyBody := func(pcommon.Value) {}
	out, _ := runProcessor(t, createDefaultConfig().(*Config), newLogs(bytesBody, mapBody, emptyBody))

	// Bytes bodies are read as UTF-8 text.
	assert.Equal(t, "progress", attrs(t, recordAt(out, 0))["comfy.class"])
	assert.Equal(t, "prompt_started", attrs(t, recordAt(out, 0))["comfy.progress.event"])
	m := attrs(t, recordAt(out, 1))
	assert.Equal(t, "failure", m["comfy.class"])
	assert.Equal(t, "crash", m["comfy.failure.kind"])
	assert.Equal(t, "other", attrs(t, recordAt(out, 2))["comfy.class"])
	assert.Equal(t, pcommon.ValueTypeMap, recordAt(out, 1).Body().Type(), "body must be untouched")
}

func TestProcessorUserRules(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Rules = []classifier.RuleConfig{{Name: "tiles", Class: "progress", Kind: "upscale", Pattern: `tile (?P<current>\d+) of (?P<total>\d+)`}}
	cfg.Ignore = []classifier.IgnoreRuleConfig{{Name: "oom_probe", Pattern: `probe: CUDA out of memory`}}
	cfg.DisabledRules = []string{"progress.lifecycle"}
	out, _ := runProcessor(t, cfg, newLogs("Upscaling tile 3 of 16", "probe: CUDA out of memory (expected)", "got prompt"))

	tile := attrs(t, recordAt(out, 0))
	assert.Equal(t, "tiles", tile["comfy.rule"])
	assert.Equal(t, "upscale", tile["comfy.progress.kind"])
	assert.Equal(t, 3.0, tile["comfy.progress.current"])
	assert.Equal(t, 16.0, tile["comfy.progress.total"])
	assert.Equal(t, 18.75, tile["comfy.progress.percent"])

	assert.Equal(t, map[string]any{"comfy.class": "other", "comfy.rule": "oom_probe"}, attrs(t, recordAt(out, 1)))
	assert.Equal(t, map[string]any{"comfy.class": "other"}, attrs(t, recordAt(out, 2)))
}

func TestCreateFailsOnBadConfig(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Rules = []classifier.RuleConfig{{Name: "x", Class: "failure", Pattern: "("}}
	_, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg, consumertest.NewNop())
	assert.ErrorContains(t, err, "rules[0].pattern")
}
