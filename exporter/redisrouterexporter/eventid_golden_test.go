package redisrouterexporter

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Event ids must not change between releases: a worker that dedupes by
// event_id would otherwise take a record replayed from the persistent queue
// after an upgrade for a new failure. These ids were computed by the first
// released implementation.
func TestEventIDIsStableAcrossReleases(t *testing.T) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "comfyui")
	rl.Resource().Attributes().PutStr("machine.id", "m1")
	rl.Resource().Attributes().PutInt("pid", 4242)
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()

	a := lrs.AppendEmpty() // tailed: file name and position
	a.Body().SetStr("Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: boom")
	a.SetTimestamp(pcommon.Timestamp(1763906721351000000))
	a.SetObservedTimestamp(pcommon.Timestamp(1763906722000000000))
	a.SetSeverityNumber(plog.SeverityNumberError)
	a.Attributes().PutStr("log.file.name", "comfyui-gpu0-error.log")
	a.Attributes().PutInt("log.file.record_offset", 1234)

	b := lrs.AppendEmpty() // OTLP: trace context, no file position
	b.Body().SetStr("torch.OutOfMemoryError: CUDA out of memory")
	b.SetObservedTimestamp(pcommon.Timestamp(1763906723000000000))
	b.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	b.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})

	digest := resourceDigest(rl.Resource().Attributes())
	got := []string{eventID(a, digest), eventID(b, digest)}
	assert.Equal(t, []string{"d4038d8d32b5fbac68897b1d6d0b6012", "c1f30a6c0f961c84dd1b9fab5618fe47"}, got)
}
