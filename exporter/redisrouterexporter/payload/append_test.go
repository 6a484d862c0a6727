package payload

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func f64(v float64) *float64 { return &v }

// AppendProgress must produce the same document as EncodeProgress.
func TestAppendProgressMatchesEncodeProgress(t *testing.T) {
	cases := []*Progress{
		{},
		{Timestamp: "2026-11-23T14:05:21.351Z", TimestampMs: 1763906721351, MachineID: "m1", Message: "got prompt",
			Progress: ProgressDetail{Message: "got prompt", Kind: "lifecycle", Event: "prompt_started"}, Final: true},
		{Timestamp: "t", MachineID: "m\"1\\", Message: "a\nb\r\tc\x00\x1f <html> & \u2028 \u2029 ünï ██ \xff\xfe bad",
			Progress: ProgressDetail{Current: f64(12), Total: f64(20), Message: "x", Percent: f64(60.5), Kind: "sampling",
				Rate: f64(3.9e-7), RateUnit: "it/s", ElapsedSeconds: f64(1e22), RemainingSeconds: f64(0), Rule: "tqdm"},
			JobID: "j", WorkflowID: "w", Instance: "gpu0", ServiceName: "comfyui"},
		{Progress: ProgressDetail{Current: f64(531e6), Total: f64(-1.5), Percent: f64(100)}},
	}
	for i, p := range cases {
		want, err := EncodeProgress(p)
		require.NoError(t, err)
		got := AppendProgress(nil, p)
		var w, g map[string]any
		require.NoError(t, json.Unmarshal(want, &w), "case %d", i)
		require.NoError(t, json.Unmarshal(got, &g), "case %d: %s", i, got)
		assert.Equal(t, w, g, "case %d", i)
		dp, err := DecodeProgress(got)
		require.NoError(t, err)
		assert.Equal(t, p.Progress.Current, dp.Progress.Current)
	}
}

func TestAppendProgressSkipsNonFinite(t *testing.T) {
	p := &Progress{Progress: ProgressDetail{Current: f64(math.NaN()), Total: f64(math.Inf(1)), Percent: f64(5)}}
	var g map[string]any
	require.NoError(t, json.Unmarshal(AppendProgress(nil, p), &g))
	prog := g["progress"].(map[string]any)
	assert.NotContains(t, prog, "current")
	assert.NotContains(t, prog, "total")
	assert.Equal(t, 5.0, prog["percent"])
}

func TestAppendTimestamp(t *testing.T) {
	for _, ts := range []time.Time{
		time.Date(2026, 11, 23, 14, 5, 21, 351_999_999, time.UTC),
		time.Date(1999, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)),
		time.Unix(0, 0),
		time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		assert.Equal(t, FormatTimestamp(ts), string(AppendTimestamp(nil, ts)))
	}
}

func TestAppendFieldsMatchesFields(t *testing.T) {
	for _, f := range []*Failure{
		{},
		{EventID: "e", Timestamp: "t", MachineID: "m", JobID: "j", Message: "msg", Kind: "oom", ExceptionType: "T",
			ExceptionMessage: "M", Severity: "ERROR", ServiceName: "s", Instance: "gpu0", WorkflowID: "w",
			TraceID: "tr", SpanID: "sp", Rule: "r"},
		{MachineID: "m", Message: "x", Instance: "gpu1"},
	} {
		var want []any
		for _, s := range f.Fields() {
			want = append(want, s)
		}
		assert.Equal(t, want, f.AppendFields([]any{"prefix"})[1:])
	}
}
