package comfypatternprocessor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor/internal/metadatatest"
)

// fileLogs builds one batch of single-line records, each naming its log
// file as the file_log receiver does.
func fileLogs(lines ...[2]string) plog.Logs {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for _, l := range lines {
		lr := lrs.AppendEmpty()
		lr.Attributes().PutStr("log.file.name", l[0])
		lr.Body().SetStr(l[1])
	}
	return ld
}

func TestContinuationLinesOfOneSource(t *testing.T) {
	out, _ := runProcessor(t, createDefaultConfig().(*Config), fileLogs(
		[2]string{"gpu0.log", "Traceback (most recent call last):"},
		[2]string{"gpu1.log", "        pre_execute_cb=pre_execute_cb)"}, // another file: no failure before it
		[2]string{"gpu0.log", `  File "/src/ComfyUI/execution.py", line 327, in execute`},
		[2]string{"gpu0.log", "    output_data, output_ui = get_output_data(obj, input_data_all)"},
		[2]string{"gpu0.log", "                             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^"},
		[2]string{"gpu0.log", "torch.OutOfMemoryError: Allocation on device"},
		[2]string{"gpu0.log", "Currently allocated     : 4.68 GiB"},
		[2]string{"gpu0.log", "got prompt"},
		[2]string{"gpu0.log", "        pre_execute_cb=pre_execute_cb)"}, // after progress: not a failure
	))
	get := func(i int) map[string]any { return attrs(t, recordAt(out, i)) }
	assert.Equal(t, "failure", get(0)["comfy.class"])
	assert.NotContains(t, get(0), "comfy.failure.continues", "the first line of a failure continues nothing")
	assert.Equal(t, "other", get(1)["comfy.class"])
	for i := 2; i <= 6; i++ {
		assert.Equal(t, "failure", get(i)["comfy.class"], "record %d", i)
		assert.Equal(t, true, get(i)["comfy.failure.continues"], "record %d", i)
	}
	assert.Equal(t, "oom", get(6)["comfy.failure.kind"], "a continuation takes the kind of its failure")
	assert.Equal(t, "progress", get(7)["comfy.class"])
	assert.Equal(t, "other", get(8)["comfy.class"])
}

func TestContinuationByInstanceOverOTLP(t *testing.T) {
	ld := plog.NewLogs()
	for _, inst := range []string{"gpu0", "gpu1"} {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.instance.id", inst)
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		if inst == "gpu0" {
			lrs.AppendEmpty().Body().SetStr("RuntimeError: CUDA error: an illegal memory access was encountered")
		}
		lrs.AppendEmpty().Body().SetStr("For debugging consider passing CUDA_LAUNCH_BLOCKING=1")
		lrs.AppendEmpty().Body().SetStr("Press any key to continue . . .")
	}
	out, _ := runProcessor(t, createDefaultConfig().(*Config), ld)
	gpu0 := out.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	gpu1 := out.ResourceLogs().At(1).ScopeLogs().At(0).LogRecords()
	for i := 0; i < 3; i++ {
		assert.Equal(t, "failure", gpu0.At(i).Attributes().AsRaw()["comfy.class"], "gpu0 record %d", i)
	}
	assert.Equal(t, true, gpu0.At(2).Attributes().AsRaw()["comfy.failure.continues"])
	// gpu1: the CUDA hint is a failure on its own, and "Press any key" continues it.
	assert.Equal(t, "failure", gpu1.At(0).Attributes().AsRaw()["comfy.class"])
	assert.NotContains(t, gpu1.At(0).Attributes().AsRaw(), "comfy.failure.continues")
	assert.Equal(t, "failure", gpu1.At(1).Attributes().AsRaw()["comfy.class"])
}

func TestPressAnyKeyAloneIsNotAFailure(t *testing.T) {
	out, _ := runProcessor(t, createDefaultConfig().(*Config), fileLogs(
		[2]string{"a.log", "Prompt executed in 2.79 seconds"},
		[2]string{"a.log", "Press any key to continue . . ."},
	))
	assert.Equal(t, "other", attrs(t, recordAt(out, 1))["comfy.class"])
}

func TestExceptionAttributesMakeAFailure(t *testing.T) {
	ld := newLogs("Failed to run the sampler")
	lr := recordAt(ld, 0)
	lr.Attributes().PutStr("exception.type", "torch.OutOfMemoryError")
	lr.Attributes().PutStr("exception.message", "CUDA out of memory. Tried to allocate 2.00 GiB")
	lr.Attributes().PutStr("exception.stacktrace", "Traceback (most recent call last):\n  File \"k.py\", line 1, in s\ntorch.OutOfMemoryError: CUDA out of memory.")
	out, _ := runProcessor(t, createDefaultConfig().(*Config), ld)
	a := attrs(t, recordAt(out, 0))
	assert.Equal(t, "failure", a["comfy.class"])
	assert.Equal(t, "failure.otel_exception", a["comfy.rule"])
	assert.Equal(t, "oom", a["comfy.failure.kind"], "the kind follows the exception")
	assert.Equal(t, "torch.OutOfMemoryError", a["exception.type"])
	assert.Contains(t, a["exception.stacktrace"], "k.py", "the SDK's stacktrace is kept")
}

func TestSeverityIsEvidenceNotAVerdict(t *testing.T) {
	ld := newLogs("Error: could not connect to the model server", "Starting server", "Error: could not connect to the model server")
	recordAt(ld, 0).SetSeverityNumber(plog.SeverityNumberError)
	recordAt(ld, 1).SetSeverityNumber(plog.SeverityNumberError)
	out, _ := runProcessor(t, createDefaultConfig().(*Config), ld)
	assert.Equal(t, "failure", attrs(t, recordAt(out, 0))["comfy.class"])
	assert.Equal(t, "other", attrs(t, recordAt(out, 1))["comfy.class"], "ERROR severity alone is no failure")
	assert.Equal(t, "other", attrs(t, recordAt(out, 2))["comfy.class"], "without the severity the text alone is a notice")
}

func TestMessageOnlyWhenItDiffersFromTheBody(t *testing.T) {
	out, _ := runProcessor(t, createDefaultConfig().(*Config), newLogs(
		"Processing 15/100",
		"[2024-06-17 13:22] got prompt",
		"RuntimeError: boom\n",
	))
	assert.NotContains(t, attrs(t, recordAt(out, 0)), "comfy.message")
	assert.Equal(t, "got prompt", attrs(t, recordAt(out, 1))["comfy.message"])
	assert.NotContains(t, attrs(t, recordAt(out, 2)), "comfy.message", "surrounding whitespace is no difference")
}

func TestOversizedBodyIsCut(t *testing.T) {
	big := "Traceback (most recent call last):\n" + strings.Repeat("  File \"é.py\", line 1, in f\n", 80000) + "RuntimeError: the end"
	require.Greater(t, len(big), 2<<20)
	out, tel := runProcessor(t, createDefaultConfig().(*Config), newLogs(big, "small"))
	lr := recordAt(out, 0)
	body := lr.Body().Str()
	assert.LessOrEqual(t, len(body), 1<<20)
	assert.True(t, utf8.ValidString(body))
	assert.True(t, strings.HasPrefix(body, "Traceback (most recent call last):"))
	assert.True(t, strings.HasSuffix(body, "RuntimeError: the end"), "the tail is kept")
	a := attrs(t, lr)
	assert.Equal(t, true, a["comfy.truncated"])
	assert.Equal(t, int64(len(big)), a["comfy.original_size"])
	assert.Equal(t, "failure", a["comfy.class"])
	assert.Equal(t, "RuntimeError", a["exception.type"], "classified on the head and the tail")
	assert.NotContains(t, attrs(t, recordAt(out, 1)), "comfy.truncated")
	metadatatest.AssertEqualProcessorComfypatternRecordsTruncated(t, tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
}

func TestRulesFileHotReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	write := func(content string, mod time.Time) {
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		require.NoError(t, os.Chtimes(path, mod, mod))
	}
	t0 := time.Now().Add(-time.Hour)
	write("rules:\n  - name: tiles\n    class: progress\n    kind: upscale\n    pattern: 'tile (?P<current>\\d+) of (?P<total>\\d+)'\n", t0)

	cfg := createDefaultConfig().(*Config)
	cfg.RulesFile = path
	cfg.RulesFilePollInterval = 10 * time.Millisecond
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	p, err := newLogsProcessor(metadatatest.NewSettings(tel), cfg)
	require.NoError(t, err)
	checked := make(chan struct{}, 100)
	p.reload.tickFn = func() { checked <- struct{}{} }
	require.NoError(t, p.start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, p.shutdown(context.Background())) }()
	waitCheck := func() {
		for len(checked) > 0 {
			<-checked
		}
		<-checked
		<-checked
	}
	classify := func(body string) map[string]any {
		ld := newLogs(body)
		_, err := p.processLogs(context.Background(), ld)
		require.NoError(t, err)
		return attrs(t, recordAt(ld, 0))
	}
	assert.Equal(t, "tiles", classify("Upscaling tile 3 of 16")["comfy.rule"])

	// A changed file is put in force without a restart.
	write("rules:\n  - name: panic\n    class: failure\n    kind: crash\n    pattern: 'WORKER PANIC'\n", t0.Add(time.Minute))
	waitCheck()
	assert.Equal(t, "panic", classify("WORKER PANIC now")["comfy.rule"])
	assert.NotEqual(t, "tiles", classify("Upscaling tile 3 of 16")["comfy.rule"])

	// A bad file keeps the last good rules and is counted.
	write("rules:\n  - name: broken\n    class: failure\n    pattern: 'Step (\\d+'\n", t0.Add(2*time.Minute))
	waitCheck()
	assert.Equal(t, "panic", classify("WORKER PANIC again")["comfy.rule"])
	metadatatest.AssertEqualProcessorComfypatternRulesReloadFailed(t, tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorComfypatternRulesReloaded(t, tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
}

func TestValidateChecksTheRulesFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(path, []byte("rules:\n  - name: ok\n    class: progress\n    pattern: fine\n  - name: broken\n    class: failure\n    pattern: 'Step (\\d+'\n"), 0o600))
	cfg := createDefaultConfig().(*Config)
	cfg.RulesFile = path
	assert.ErrorContains(t, cfg.Validate(), "rules_file: "+path+": rules[1].pattern: error parsing regexp")

	require.NoError(t, os.WriteFile(path, []byte("rules:\n  - name: ok\n    clas: progress\n"), 0o600))
	assert.ErrorContains(t, cfg.Validate(), "field clas not found")

	cfg.RulesFile = filepath.Join(dir, "missing.yaml")
	assert.ErrorContains(t, cfg.Validate(), "rules_file:")

	cfg.RulesFile = ""
	cfg.MaxBodyBytes = -1
	assert.ErrorContains(t, cfg.Validate(), "max_body_bytes")
}
