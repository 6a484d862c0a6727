package redisrouterexporter // import "github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter"

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// ansiRE matches CSI sequences (colours, cursor moves) and OSC sequences.
var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]`)

// cleanText strips ANSI escapes, turns CRLF into LF and keeps, for each line,
// only the last carriage-return state (what a terminal would show), and
// makes the text valid UTF-8. Newlines are kept: a traceback stays whole.
func cleanText(s string) string {
	return strings.ToValidUTF8(stripTerminal(s), "\uFFFD")
}

// stripTerminal is cleanText without the UTF-8 repair, for callers whose
// encoder repairs it anyway.
func stripTerminal(s string) string {
	if strings.IndexByte(s, 0x1b) >= 0 {
		s = ansiRE.ReplaceAllString(s, "")
	}
	if strings.IndexByte(s, '\r') < 0 {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = lastCRState(l)
	}
	return strings.Join(lines, "\n")
}

// cleanLine is stripTerminal for one-line messages, trimmed. It leaves
// invalid UTF-8 to the JSON encoder, which replaces it (payload.AppendProgress).
func cleanLine(s string) string { return strings.TrimSpace(stripTerminal(s)) }

func lastCRState(l string) string {
	if strings.IndexByte(l, '\r') < 0 {
		return l
	}
	parts := strings.Split(l, "\r")
	for i := len(parts) - 1; i >= 0; i-- {
		if strings.TrimSpace(parts[i]) != "" {
			return parts[i]
		}
	}
	return ""
}

// filePositionAttrs identify where file_log read a record. When present they
// (with the file name) pin the record better than the observed timestamp,
// which changes if the file is read again after a restart.
var filePositionAttrs = []string{"log.file.record_offset", "log.file.record_number", "log.file.offset"}
var fileNameAttrs = []string{"log.file.path", "log.file.name"}

// eventHasher computes event ids. An event id is stable per record, the
// same on every delivery attempt (retries and persistent-queue replays
// re-send the same record), so a consumer can drop duplicates. Inputs: the resource identity (all resource
// attributes, sorted), the record's timestamp, body, severity and trace ids,
// and either its file name+position (when file_log recorded them) or its
// observed timestamp.
//
// The hash input is built in one buffer reused across the records of a
// batch and hashed at once: the same bytes, so the same ids, as the first
// release's part-by-part hashing (TestEventIDIsStableAcrossReleases).
type eventHasher struct {
	buf  []byte
	keys []string // resource attribute names, for sorting
}

func (eh *eventHasher) id(lr plog.LogRecord, resDigest []byte) string {
	b := append(eh.buf[:0], resDigest...)
	b = binary.BigEndian.AppendUint64(b, uint64(lr.Timestamp()))
	attrs := lr.Attributes()
	hasPos := false
	attr := func(k string, v pcommon.Value) {
		b = append(b, k...)
		b = append(b, '=')
		b = append(b, v.AsString()...)
		b = append(b, 0)
	}
	for _, k := range filePositionAttrs {
		if v, ok := attrs.Get(k); ok {
			hasPos = true
			attr(k, v)
		}
	}
	for _, k := range fileNameAttrs {
		if v, ok := attrs.Get(k); ok {
			attr(k, v)
		}
	}
	if !hasPos {
		b = binary.BigEndian.AppendUint64(b, uint64(lr.ObservedTimestamp()))
	}
	b = binary.BigEndian.AppendUint64(b, uint64(lr.SeverityNumber()))
	tid, sid := lr.TraceID(), lr.SpanID()
	b = append(b, tid[:]...)
	b = append(b, sid[:]...)
	b = append(b, lr.Body().AsString()...)
	eh.buf = b
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// resourceDigest appends to dst the hash of the resource attributes m,
// sorted by name (name, 0, value as a string, 0 for each, then 1), computed
// once per resource and mixed into each record's event id.
func (eh *eventHasher) resourceDigest(m pcommon.Map, dst []byte) []byte {
	eh.keys = eh.keys[:0]
	for k := range m.All() {
		eh.keys = append(eh.keys, k)
	}
	slices.Sort(eh.keys)
	b := eh.buf[:0]
	for _, k := range eh.keys {
		v, _ := m.Get(k)
		b = append(b, k...)
		b = append(b, 0)
		b = append(b, v.AsString()...)
		b = append(b, 0)
	}
	b = append(b, 1)
	eh.buf = b
	sum := sha256.Sum256(b)
	return append(dst, sum[:]...)
}

// throttler remembers when each channel+job last got an update.
type throttler struct {
	interval time.Duration
	mu       sync.Mutex
	last     map[string]time.Time
	lastGC   time.Time
}

func newThrottler(interval time.Duration) *throttler {
	return &throttler{interval: interval, last: map[string]time.Time{}}
}

func (t *throttler) allow(key string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	last, ok := t.last[key]
	return !ok || now.Sub(last) >= t.interval
}

func (t *throttler) sent(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last[key] = now
	// Forget finished jobs: entries older than a minute (or 10 intervals)
	// cannot throttle anything any more.
	horizon := max(time.Minute, 10*t.interval)
	if now.Sub(t.lastGC) > horizon {
		for k, v := range t.last {
			if now.Sub(v) > horizon {
				delete(t.last, k)
			}
		}
		t.lastGC = now
	}
}
