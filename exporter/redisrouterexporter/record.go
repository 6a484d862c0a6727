package redisrouterexporter // import "github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter"

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
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
// only the last carriage-return state (what a terminal would show). Newlines
// are kept: a traceback stays whole.
func cleanText(s string) string {
	if strings.IndexByte(s, 0x1b) >= 0 {
		s = ansiRE.ReplaceAllString(s, "")
	}
	if strings.IndexByte(s, '\r') < 0 {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = lastCRState(l)
	}
	return strings.ToValidUTF8(strings.Join(lines, "\n"), "\uFFFD")
}

// cleanLine is cleanText for one-line messages, trimmed.
func cleanLine(s string) string { return strings.TrimSpace(cleanText(s)) }

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

// eventID is a stable id for a record, the same on every delivery attempt
// (retries and persistent-queue replays re-send the same record), so a
// consumer can drop duplicates. Inputs: the resource identity (all resource
// attributes, sorted), the record's timestamp, body, severity and trace ids,
// and either its file name+position (when file_log recorded them) or its
// observed timestamp.
func eventID(lr plog.LogRecord, resDigest []byte) string {
	h := sha256.New()
	h.Write(resDigest)
	var num [8]byte
	put := func(v uint64) { binary.BigEndian.PutUint64(num[:], v); h.Write(num[:]) }
	put(uint64(lr.Timestamp()))
	attrs := lr.Attributes()
	hasPos := false
	for _, k := range filePositionAttrs {
		if v, ok := attrs.Get(k); ok {
			hasPos = true
			h.Write([]byte(k + "=" + v.AsString() + "\x00"))
		}
	}
	for _, k := range fileNameAttrs {
		if v, ok := attrs.Get(k); ok {
			h.Write([]byte(k + "=" + v.AsString() + "\x00"))
		}
	}
	if !hasPos {
		put(uint64(lr.ObservedTimestamp()))
	}
	put(uint64(lr.SeverityNumber()))
	tid, sid := lr.TraceID(), lr.SpanID()
	h.Write(tid[:])
	h.Write(sid[:])
	h.Write([]byte(lr.Body().AsString()))
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:16])
}

// resourceDigest hashes the resource attributes (sorted), computed once per
// resource and mixed into each record's event id.
func resourceDigest(res pcommon.Map) []byte {
	h := sha256.New()
	writeSortedMap(h, res)
	return h.Sum(nil)
}

func writeSortedMap(h hash.Hash, m pcommon.Map) {
	keys := make([]string, 0, m.Len())
	m.Range(func(k string, _ pcommon.Value) bool { keys = append(keys, k); return true })
	slices.Sort(keys)
	for _, k := range keys {
		v, _ := m.Get(k)
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(v.AsString()))
		h.Write([]byte{0})
	}
	h.Write([]byte{1})
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
