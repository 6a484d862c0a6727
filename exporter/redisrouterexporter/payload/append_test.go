package payload

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
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

// TimestampAppender renders every time as FormatTimestamp does, whether its
// cached minute is reused (consecutive times) or not (jumps, minute and day
// boundaries, zones, out-of-range years).
func TestTimestampAppender(t *testing.T) {
	var a TimestampAppender
	check := func(ts time.Time) {
		t.Helper()
		require.Equal(t, FormatTimestamp(ts), string(a.Append(nil, ts)), "time %v", ts)
	}
	base := time.Date(2024, 2, 28, 23, 58, 59, 0, time.UTC)
	for i := 0; i < 200_000; i++ { // 0.0173 s steps across midnight and 29 Feb
		check(base.Add(time.Duration(i) * 17_300_001 * time.Nanosecond))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20_000; i++ {
		check(time.Unix(rng.Int64N(253402300800), rng.Int64N(1e9)).In(time.FixedZone("z", 3600*int(rng.Int64N(25)-12))))
	}
	for _, ts := range []time.Time{time.Unix(0, 0), time.Unix(-1, 999_000_000), time.Unix(-86400*400, 0),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), {}} {
		check(ts)
	}
}

func TestAppendFieldsMatchesFields(t *testing.T) {
	for _, f := range []*Failure{
		{},
		{EventID: "e", Timestamp: "t", MachineID: "m", JobID: "j", Message: "msg", Kind: "oom", ExceptionType: "T",
			ExceptionMessage: "M", Severity: "ERROR", ServiceName: "s", Instance: "gpu0", WorkflowID: "w",
			TraceID: "tr", SpanID: "sp", Rule: "r"},
		{MachineID: "m", Message: "x", Instance: "gpu1"},
		// Every field set: MaxFailureFields bounds this one.
		{EventID: "e", Timestamp: "t", MachineID: "m", JobID: "j", Message: "msg", Kind: "oom", ExceptionType: "T",
			ExceptionMessage: "M", Severity: "ERROR", ServiceName: "s", Instance: "gpu0", WorkflowID: "w",
			TraceID: "tr", SpanID: "sp", Rule: "r", Retry: "true", HumanReadableMessage: "h", CallToAction: "c",
			PatternMatched: "p", IncidentLines: "3", OriginalKey: "k", Error: "err"},
	} {
		var got []string
		args := f.AppendFields([]any{"prefix"})
		assert.LessOrEqual(t, len(args)-1, MaxFailureFields)
		if f.Error != "" {
			assert.Equal(t, MaxFailureFields, len(args)-1, "MaxFailureFields is the count with every field set")
		}
		for _, a := range args[1:] {
			switch v := a.(type) {
			case string:
				got = append(got, v)
			case *string:
				got = append(got, *v)
			default:
				t.Fatalf("argument %#v: go-redis writes only strings and *strings as they are", a)
			}
		}
		assert.Equal(t, f.Fields(), got)
	}
}

// appendFloat writes the bytes encoding/json writes, whole numbers (its
// integer fast path) included.
func TestAppendFloatMatchesEncodingJSON(t *testing.T) {
	vals := []float64{0, math.Copysign(0, -1), 1, -1, 9, 20, 100, 531e6, 1e15 - 1, 1e15, -1e15 + 1, 1e20, 1e21, 1e22,
		0.5, 4.01, 3.9e-7, 1e-6, 60.5, -2.25, 123456789.125, math.MaxInt64, math.MinInt64, math.MaxFloat64, math.SmallestNonzeroFloat64}
	for i := -1000; i <= 1000; i++ {
		vals = append(vals, float64(i), float64(i)/8, float64(i)*1e9, float64(i)/10, float64(i)/100, float64(i)/1000,
			float64(i)/10000, float64(i)/3, 1e6+float64(i)/1000, 999999999+float64(i)/1000)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 200_000 { // tqdm-like rates and percents, and arbitrary doubles
		vals = append(vals, float64(rng.IntN(2_000_000)-1_000_000)/float64([]int{1, 10, 100, 1000, 10000}[rng.IntN(5)]),
			rng.Float64()*math.Pow(10, float64(rng.IntN(30)-10)), math.Float64frombits(rng.Uint64()))
	}
	for _, v := range vals {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue // left out of payloads (TestAppendProgressSkipsNonFinite)
		}
		want, err := json.Marshal(v)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(appendFloat(nil, v)), "value %v", v)
	}
}

// appendString (plain ASCII 8 bytes at a time) writes a JSON string that
// decodes to what encoding/json's does, on ComfyUI-like text and on every
// kind of byte the fast path must stop at, at every offset.
func TestAppendStringRoundTrips(t *testing.T) {
	pieces := []string{"", "a", "plain ascii text ", "45%|████▌     | 9/20 [00:02<00:02,  4.01it/s]", "\"", "\\", "\n", "\r", "\t",
		"\x00", "\x08", "\x0c", "\x1f", "\x7f", " ", "~", "é", "ü", "█", "\u2028", "\u2029", "\u2027", "\xe2\x80", "\xe2", "\xff", "\xc3",
		"\xed\xa0\x80", "\xf0\x9f\x98\x80", "\xf4\x90\x80\x80", "<html>&", "!#$%&'()*+,-./0123456789:;<=>?@[]^_`{|}"}
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 20_000; n++ {
		var s string
		for k := rng.IntN(12); k >= 0; k-- {
			s += pieces[rng.IntN(len(pieces))]
		}
		checkAppendString(t, s)
	}
	for b := 0; b < 256; b++ {
		for off := 0; off < 17; off++ {
			checkAppendString(t, strings.Repeat("x", off)+string([]byte{byte(b)})+strings.Repeat("y", 16-off))
		}
	}
}

// checkAppendString: appendString(s) is JSON that decodes as encoding/json's
// encoding of s does (invalid UTF-8 as U+FFFD), and holds no raw control
// character or U+2028/U+2029 (they break line-based and JavaScript readers).
func checkAppendString(t testing.TB, s string) {
	t.Helper()
	got := appendString(nil, s)
	want, err := json.Marshal(s)
	require.NoError(t, err)
	var g, w string
	require.NoError(t, json.Unmarshal(got, &g), "input %q: %q is not JSON", s, got)
	require.NoError(t, json.Unmarshal(want, &w))
	require.Equal(t, w, g, "input %q", s)
	for _, c := range got {
		require.GreaterOrEqual(t, c, byte(0x20), "input %q: raw control byte in %q", s, got)
	}
	require.False(t, strings.ContainsRune(string(got), '\u2028') || strings.ContainsRune(string(got), '\u2029'), "input %q", s)
}

func FuzzAppendString(f *testing.F) {
	f.Add("45%|████▌     | 9/20 [00:02<00:02,  4.01it/s]")
	f.Add("a\"b\\c\nd\xff\u2028")
	f.Fuzz(func(t *testing.T, s string) { checkAppendString(t, s) })
}

// BenchmarkAppendProgress: one tqdm state, message and progress.message
// the same text (the usual case since comfy.message is only set when it
// differs from the body).
func BenchmarkAppendProgress(b *testing.B) {
	cur, total, rate := 9.0, 20.0, 4.01
	msg := " 45%|████▌     | 9/20 [00:02<00:02,  4.01it/s]"
	p := &Progress{Timestamp: "2026-11-23T14:05:21.351Z", TimestampMs: 1763906721351, MachineID: "bench-machine",
		Message: msg, JobID: "bench-job-9", Instance: "gpu0", ServiceName: "comfyui",
		Progress: ProgressDetail{Current: &cur, Total: &total, Message: msg, Kind: "sampling", Rate: &rate, RateUnit: "it/s"}}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = AppendProgress(buf[:0], p)
	}
}
