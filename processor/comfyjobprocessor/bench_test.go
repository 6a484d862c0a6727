package comfyjobprocessor

import (
	"context"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// BenchmarkProcessLogs: one instance, both sources, a job running: a file
// batch then its OTLP copy (every record marked duplicate). Reported per
// record.
func BenchmarkProcessLogs(b *testing.B) {
	p, err := newLogsProcessor(processortestSettings(), createDefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer p.shutdown(context.Background())
	clock := base
	p.now = func() time.Time { return clock }
	const n = 64
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = "[2026-11-23 14:00:01.000] Requested to load SDXL step " + strconv.Itoa(i)
	}
	bodies[10] = oomTraceback
	build := func(file bool) plog.Logs {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("machine.id", "m1")
		if !file {
			rl.Resource().Attributes().PutStr("comfy.instance", "gpu0")
		}
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for i, body := range bodies {
			lr := lrs.AppendEmpty()
			lr.Body().SetStr(body)
			lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(clock))
			if file {
				lr.Attributes().PutStr("log.file.name", "output-gpu0.log")
				lr.Attributes().PutStr("comfy.instance", "gpu0")
			} else {
				lr.SetTimestamp(pcommon.NewTimestampFromTime(clock))
				lr.Attributes().PutStr("emerge.job_id", "job-"+strconv.Itoa(i/1000))
			}
		}
		return ld
	}
	file, otlp := build(true), build(false)
	ctx := context.Background()
	// Copies are made outside the timer: processLogs mutates its input.
	const batch = 256
	fs, os := make([]plog.Logs, batch), make([]plog.Logs, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%batch == 0 {
			b.StopTimer()
			for j := range batch {
				fs[j], os[j] = plog.NewLogs(), plog.NewLogs()
				file.CopyTo(fs[j])
				otlp.CopyTo(os[j])
			}
			b.StartTimer()
		}
		clock = clock.Add(time.Millisecond)
		_, _ = p.processLogs(ctx, fs[i%batch])
		_, _ = p.processLogs(ctx, os[i%batch])
	}
}
