package comfyjobprocessor

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func dupFlags(vs []verdict) []bool {
	out := make([]bool, len(vs))
	for i, v := range vs {
		out[i] = v.Dup
	}
	return out
}

// A traceback is one recombined record in the file, but the banner and the
// traceback are separate records over OTLP.
func TestDuplicateFileTracebackThenOTLPRecords(t *testing.T) {
	h := newHarness(t, createDefaultConfig())
	f := h.file(1, rec{at: 1, body: "[2026-11-23 14:00:01.000] " + oomBanner},
		rec{at: 1, body: "[2026-11-23 14:00:01.001] " + oomTraceback})
	assert.Equal(t, []bool{false, false}, dupFlags(verdicts(f)))
	o := h.otlp(5, rec{at: 1, body: oomBanner}, rec{at: 1, body: oomTraceback})
	assert.Equal(t, []bool{true, true}, dupFlags(verdicts(o)))
}

// Python's logging handler sends logger.exception() as a short body plus
// exception.stacktrace; the file holds both as text, here recombined into
// one record that arrives after the OTLP one.
func TestDuplicateStacktraceAttributeOTLPFirst(t *testing.T) {
	h := newHarness(t, createDefaultConfig())
	o := h.otlp(1, rec{at: 1, body: "Error handling request", stack: oomTraceback})
	assert.False(t, verdictOf(o[0]).Dup)
	f := h.file(1.2, rec{at: 1.2, body: "Error handling request\n" + oomTraceback + "\n"})
	assert.True(t, verdictOf(f[0]).Dup, "every line was seen over OTLP")
}

func TestDuplicateNormalization(t *testing.T) {
	h := newHarness(t, createDefaultConfig())
	f := h.file(1,
		rec{at: 1, body: "[2026-11-23 14:00:01.123] \x1b[32mgot prompt\x1b[0m  "},
		rec{at: 1, body: "2026-11-23T14:00:01: Requested to load SDXL"},               // PM2 prefix
		rec{at: 1, body: "2026-11-23T14:00:01.250+00:00: loaded completely 1 2 True"}, // PM2 with zone
		rec{at: 1, body: "\n\n[2026-11-23 14:00] Using pytorch attention\n\n"},
	)
	assert.Equal(t, []bool{false, false, false, false}, dupFlags(verdicts(f)))
	o := h.otlp(5,
		rec{at: 1, body: gotPrompt},
		rec{at: 1, body: loadSDXL},
		rec{at: 1, body: "loaded completely 1 2 True"},
		rec{at: 1, body: "Using pytorch attention"},
	)
	assert.Equal(t, []bool{true, true, true, true}, dupFlags(verdicts(o)))
}

// A line that repeats (`got prompt` every job) is counted: one copy from a
// source absorbs one copy from the other.
func TestDuplicateRepeatedLinesAreCounted(t *testing.T) {
	h := newHarness(t, createDefaultConfig())
	h.file(1, rec{at: 1, body: gotPrompt})
	h.file(2, rec{at: 2, body: gotPrompt})
	o := h.otlp(5, rec{at: 1, body: gotPrompt}, rec{at: 2, body: gotPrompt}, rec{at: 3, body: gotPrompt})
	assert.Equal(t, []bool{true, true, false}, dupFlags(verdicts(o)))
	// The third OTLP copy now waits for its file copy.
	f := h.file(6, rec{at: 6, body: gotPrompt})
	assert.True(t, verdictOf(f[0]).Dup)
	// A record repeating a line within itself needs as many copies.
	h.file(7, rec{at: 7, body: "same\nsame"})
	o = h.otlp(8, rec{at: 7, body: "same"}, rec{at: 7, body: "same"}, rec{at: 7, body: "same"})
	assert.Equal(t, []bool{true, true, false}, dupFlags(verdicts(o)))
}

func TestDuplicateNeedsEveryLine(t *testing.T) {
	h := newHarness(t, createDefaultConfig())
	h.file(1, rec{at: 1, body: "Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>"})
	o := h.otlp(5, rec{at: 1, body: "Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\nValueError: boom"})
	assert.False(t, verdictOf(o[0]).Dup, "ValueError: boom never came from the file")
}

func TestDuplicateWindowAndInstance(t *testing.T) {
	h := newHarness(t, createDefaultConfig())
	h.file(1, rec{at: 1, body: "line one"}, rec{at: 1, body: "line two"})
	// Another instance's copy is not a duplicate.
	o := h.otlpRes(2, map[string]string{"comfy.instance": "gpu1"}, rec{at: 1, body: "line one"})
	assert.False(t, verdictOf(o[0]).Dup)
	// Nor a copy that arrives after the window (60s).
	o = h.otlp(62, rec{at: 1, body: "line two"})
	assert.False(t, verdictOf(o[0]).Dup)
	// That late OTLP copy waits for a file copy in turn.
	f := h.file(63, rec{at: 63, body: "line two"})
	assert.True(t, verdictOf(f[0]).Dup)
	// A copy from the same source is not a duplicate.
	h.file(63.5, rec{at: 63.5, body: "line three"})
	f = h.file(63.6, rec{at: 63.6, body: "line three"})
	assert.False(t, verdictOf(f[0]).Dup)
	// Empty bodies are never duplicates.
	f = h.file(64, rec{at: 64, body: "  "})
	o = h.otlp(64.5, rec{at: 64, body: ""})
	assert.False(t, verdictOf(o[0]).Dup)
	assert.False(t, verdictOf(f[0]).Dup)
}

func TestDuplicateTqdmLinesNotRemembered(t *testing.T) {
	h := newHarness(t, createDefaultConfig())
	for i := range 100 {
		h.file(float64(i)/10, rec{at: float64(i) / 10, body: tqdmHalf})
	}
	assert.Zero(t, h.p.instances["gpu0"].lines.n, "file-only progress bars must not crowd the ring")
}

func TestDuplicatesDisabled(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Duplicates.Enabled = false
	h := newHarness(t, cfg)
	h.file(1, rec{at: 1, body: gotPrompt})
	o := h.otlp(2, rec{at: 1, body: gotPrompt})
	assert.False(t, verdictOf(o[0]).Dup)
}

func TestLineRingBounded(t *testing.T) {
	r := newLineRing(16)
	for i := range 100 {
		r.add(uint64(i), srcFile, int64(i), false)
	}
	assert.Equal(t, 16, r.n)
	assert.Len(t, r.idx, 16)
	all, _ := r.seen([]uint64{99}, srcOTLP)
	assert.True(t, all)
	all, _ = r.seen([]uint64{10}, srcOTLP)
	assert.False(t, all, "evicted")
	r.expire(95)
	assert.Equal(t, 5, r.n)
	assert.Len(t, r.idx, 5)
}

func TestNormalizeLine(t *testing.T) {
	for in, want := range map[string]string{
		"[2024-06-17 13:15:02.123] got prompt":             "got prompt",
		"[2024-06-17 13:15] got prompt":                    "got prompt",
		"2024-06-17T13:15:02: got prompt":                  "got prompt",
		"2024-06-17T13:15:02.123Z: got prompt":             "got prompt",
		"2024-06-17 13:15:00,123 - got prompt":             "got prompt",
		"\x1b[31mERROR\x1b[0m boom":                        "ERROR boom",
		"  \t":                                             "",
		" 10%|█ | 2/20\r 50%|█████ | 10/20\r":              "50%|█████ | 10/20",
		"2024 was a year":                                  "2024 was a year",
		"2024-06-17T13:15:02-07:00: got prompt":            "got prompt",
		"2024-06-17 13:15:02 +0000: got prompt":            "got prompt",
		"2024-06-17 13:15 got prompt":                      "got prompt",
		"[2024-06-17] got prompt":                          "got prompt",
		"2024-06-17T13:15:02:got prompt":                   "2024-06-17T13:15:02:got prompt",
		"[2024-06-17 x] got prompt":                        "[2024-06-17 x] got prompt",
		"2024-06-17 is the date":                           "2024-06-17 is the date",
		"[2024-06-17 13:15:02.123]    File \"x.py\", line": "File \"x.py\", line",
	} {
		assert.Equal(t, want, normalizeLine(in), "%q", in)
	}
}

func TestDuplicateHugeRecordBounded(t *testing.T) {
	h := newHarness(t, createDefaultConfig())
	var b strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&b, "  dump line %d\n", i)
	}
	h.file(1, rec{at: 1, body: "keep me"})
	h.file(1.1, rec{at: 1.1, body: b.String()})
	assert.Equal(t, 1+maxLinesPerRecord, h.p.instances["gpu0"].lines.n)
	o := h.otlp(5, rec{at: 1.1, body: b.String()}, rec{at: 1, body: "keep me"})
	assert.Equal(t, []bool{true, true}, dupFlags(verdicts(o)))
}
