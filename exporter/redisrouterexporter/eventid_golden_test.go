package redisrouterexporter

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Event ids must not change between releases: a worker that dedupes by
// event_id would otherwise take a record replayed from the persistent queue
// after an upgrade for a new failure.
//
// The ids changed ONCE, in the release that made them stable across
// re-reads (issue 11): a tailed line is identified by its file and offset
// (plus machine, instance and body), an OTLP record by its content, never
// by its observed time. These are that release's ids.
func TestEventIDIsStableAcrossReleases(t *testing.T) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "comfyui")
	rl.Resource().Attributes().PutStr("machine.id", "m1")
	rl.Resource().Attributes().PutInt("pid", 4242)
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()

	a := lrs.AppendEmpty() // tailed: file name, path and offset
	a.Body().SetStr("Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: boom")
	a.SetObservedTimestamp(pcommon.Timestamp(1763906722000000000))
	a.Attributes().PutStr("comfy.class", "failure")
	a.Attributes().PutStr("comfy.instance", "gpu0")
	a.Attributes().PutStr("log.file.name", "comfyui-gpu0-error.log")
	a.Attributes().PutStr("log.file.path", "/var/log/comfyui/comfyui-gpu0-error.log")
	a.Attributes().PutInt("log.file.record_offset", 1234)

	b := lrs.AppendEmpty() // OTLP: timestamp, trace context, attributes
	b.Body().SetStr("torch.OutOfMemoryError: CUDA out of memory")
	b.SetTimestamp(pcommon.Timestamp(1763906721351000000))
	b.SetObservedTimestamp(pcommon.Timestamp(1763906723000000000))
	b.SetSeverityNumber(plog.SeverityNumberError)
	b.SetSeverityText("ERROR")
	b.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	b.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	b.Attributes().PutStr("comfy.class", "failure")
	b.Attributes().PutStr("exception.type", "torch.OutOfMemoryError")
	b.Attributes().PutInt("code.lineno", 42)

	got := eventIDs(t, testConfig(nil), ld)
	assert.Equal(t, []string{"9b29637e7b125255f93763eb579b3ab8", "6942f68f27dfb3889fe8a7391cdc0106"}, got)
}
