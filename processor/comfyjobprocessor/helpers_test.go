package comfyjobprocessor

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/comfy-sidecar/otelcol-comfy/processor/comfyjobprocessor/internal/metadata"
)

// base is the start of every simulated session.
var base = time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)

func at(sec float64) time.Time { return base.Add(time.Duration(sec * float64(time.Second))) }

// harness drives a processor with a controlled clock.
type harness struct {
	t     *testing.T
	p     *logsProcessor
	clock atomic.Int64 // Unix ns; the worker-state goroutines read it
}

func newHarness(t *testing.T, cfg *Config) *harness {
	return newHarnessWith(t, cfg, processortest.NewNopSettings(metadata.Type))
}

func newHarnessWith(t *testing.T, cfg *Config, set processor.Settings) *harness {
	t.Helper()
	require.NoError(t, cfg.Validate())
	p, err := newLogsProcessor(set, cfg)
	require.NoError(t, err)
	h := &harness{t: t, p: p}
	h.clock.Store(base.UnixNano())
	p.now = func() time.Time { return time.Unix(0, h.clock.Load()) }
	require.NoError(t, p.start(context.Background(), nil))
	t.Cleanup(func() { require.NoError(t, p.shutdown(context.Background())) })
	return h
}

// rec is one simulated record. For a file record `at` is when file_log read
// it (observed time); for an OTLP record when ComfyUI logged it.
type rec struct {
	at    float64
	body  string
	job   string // emerge.job_id (OTLP only); "" = attribute absent
	event string // comfy.progress.event as comfypattern sets it
	stack string // exception.stacktrace (OTLP only)
	// fileTS sets the file record's Timestamp (a parsed prefix).
	fileTS float64
}

// file sends records read from output-gpu0.log at arrive (seconds).
func (h *harness) file(arrive float64, recs ...rec) []plog.LogRecord {
	return h.fileOf("gpu0", arrive, recs...)
}

func (h *harness) fileOf(instance string, arrive float64, recs ...rec) []plog.LogRecord {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "comfyui")
	rl.Resource().Attributes().PutStr("machine.id", "m1")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for _, r := range recs {
		lr := lrs.AppendEmpty()
		lr.Body().SetStr(r.body)
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(at(r.at)))
		if r.fileTS != 0 {
			lr.SetTimestamp(pcommon.NewTimestampFromTime(at(r.fileTS)))
		}
		lr.Attributes().PutStr("log.file.name", "output-"+instance+".log")
		lr.Attributes().PutStr("comfy.instance", instance)
		if r.event != "" {
			lr.Attributes().PutStr("comfy.progress.event", r.event)
		}
	}
	return h.consume(arrive, ld)
}

// otlp sends one SDK batch of gpu0 at arrive; the resource names the
// instance the way the deploy files do (comfy.instance) or, with
// workerOnly, only by the platform's worker.id.
func (h *harness) otlp(arrive float64, recs ...rec) []plog.LogRecord {
	return h.otlpRes(arrive, map[string]string{"comfy.instance": "gpu0"}, recs...)
}

func (h *harness) otlpRes(arrive float64, res map[string]string, recs ...rec) []plog.LogRecord {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	ra := rl.Resource().Attributes()
	ra.PutStr("service.name", "comfyui")
	ra.PutStr("service.namespace", "emerge")
	ra.PutStr("machine.id", "m1")
	for k, v := range res {
		ra.PutStr(k, v)
	}
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for _, r := range recs {
		lr := lrs.AppendEmpty()
		lr.Body().SetStr(r.body)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(at(r.at)))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(at(arrive)))
		if r.job != "" {
			lr.Attributes().PutStr("emerge.job_id", r.job)
			wf := "unknown"
			if r.job != "unknown" {
				wf = "wf-" + r.job
			}
			lr.Attributes().PutStr("emerge.workflow_id", wf)
		}
		if r.event != "" {
			lr.Attributes().PutStr("comfy.progress.event", r.event)
		}
		if r.stack != "" {
			lr.Attributes().PutStr("exception.stacktrace", r.stack)
		}
	}
	return h.consume(arrive, ld)
}

func (h *harness) consume(arrive float64, ld plog.Logs) []plog.LogRecord {
	h.t.Helper()
	h.clock.Store(at(arrive).UnixNano())
	out, err := h.p.processLogs(context.Background(), ld)
	require.NoError(h.t, err)
	var lrs []plog.LogRecord
	for i := 0; i < out.ResourceLogs().Len(); i++ {
		sls := out.ResourceLogs().At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			for k := 0; k < sls.At(j).LogRecords().Len(); k++ {
				lrs = append(lrs, sls.At(j).LogRecords().At(k))
			}
		}
	}
	return lrs
}

// verdict is what the processor decided for one record.
type verdict struct {
	Job, Evidence string
	Dup           bool
}

func verdictOf(lr plog.LogRecord) verdict {
	var v verdict
	if j, ok := lr.Attributes().Get(AttrJobID); ok {
		v.Job = j.Str()
	}
	if e, ok := lr.Attributes().Get(AttrEvidence); ok {
		v.Evidence = e.Str()
	}
	if d, ok := lr.Attributes().Get(AttrDuplicate); ok {
		v.Dup = d.Bool()
	}
	return v
}

func verdicts(lrs []plog.LogRecord) []verdict {
	out := make([]verdict, len(lrs))
	for i, lr := range lrs {
		out[i] = verdictOf(lr)
	}
	return out
}

func attrStr(lr plog.LogRecord, k string) string {
	if v, ok := lr.Attributes().Get(k); ok {
		return v.AsString()
	}
	return ""
}

func processortestSettings() processor.Settings { return processortest.NewNopSettings(metadata.Type) }

func newOTLPLogs(res map[string]string, job, body string) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	for k, v := range res {
		rl.Resource().Attributes().PutStr(k, v)
	}
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.Body().SetStr(body)
	lr.Attributes().PutStr("emerge.job_id", job)
	lr.Attributes().PutStr("emerge.workflow_id", "wf-"+job)
	return ld
}

// setClock moves the simulated clock to sec (for worker-state reads).
func (h *harness) setClock(sec float64) { h.clock.Store(at(sec).UnixNano()) }
