package payload

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendTimestamp appends t as FormatTimestamp does, without allocating.
func AppendTimestamp(dst []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.AppendFormat(dst, TimestampLayout)
	}
	h, mi, s := t.Clock()
	ms := t.Nanosecond() / 1e6
	dst = appendDigits(dst, y, 4)
	dst = append(dst, '-')
	dst = appendDigits(dst, int(mo), 2)
	dst = append(dst, '-')
	dst = appendDigits(dst, d, 2)
	dst = append(dst, 'T')
	dst = appendDigits(dst, h, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, mi, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, s, 2)
	dst = append(dst, '.')
	dst = appendDigits(dst, ms, 3)
	return append(dst, 'Z')
}

// maxTimestampMs is 9999-12-31T23:59:59.999Z: past it, or before 1970,
// TimestampAppender leaves the work to AppendTimestamp.
const maxTimestampMs = 253402300799999

// TimestampAppender appends timestamps as AppendTimestamp does, reusing the
// date, hour and minute of the previous call when they are the same: the
// records of a batch mostly fall in one minute, and the calendar arithmetic
// is most of the cost of a timestamp. The zero value is ready to use; it is
// not safe for concurrent use.
type TimestampAppender struct {
	minute int64    // Unix minute that prefix renders
	prefix [17]byte // "2006-01-02T15:04:"
	valid  bool
}

// Append appends t's `timestamp` rendering to dst.
func (a *TimestampAppender) Append(dst []byte, t time.Time) []byte {
	ms := t.UnixMilli()
	if ms < 0 || ms > maxTimestampMs {
		return AppendTimestamp(dst, t)
	}
	if minute := ms / 60000; !a.valid || minute != a.minute {
		var buf [32]byte
		copy(a.prefix[:], AppendTimestamp(buf[:0], t))
		a.minute, a.valid = minute, true
	}
	dst = append(dst, a.prefix[:]...)
	dst = appendDigits(dst, int(ms/1000%60), 2)
	dst = append(dst, '.')
	dst = appendDigits(dst, int(ms%1000), 3)
	return append(dst, 'Z')
}

func appendDigits(dst []byte, v, width int) []byte {
	var buf [4]byte
	for i := width - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, buf[:width]...)
}

// AppendProgress appends the JSON encoding of p: the same document as
// EncodeProgress (same fields, same omitempty rules; decoders see equal
// values), written without reflection for the exporter's hot path.
// Non-finite numbers, which encoding/json rejects, are left out.
func AppendProgress(dst []byte, p *Progress) []byte {
	dst = append(dst, `{"timestamp":`...)
	dst = appendString(dst, p.Timestamp)
	dst = append(dst, `,"timestamp_ms":`...)
	dst = strconv.AppendInt(dst, p.TimestampMs, 10)
	dst = append(dst, `,"machine_id":`...)
	dst = appendString(dst, p.MachineID)
	dst = append(dst, `,"message":`...)
	msgStart := len(dst)
	dst = appendString(dst, p.Message)
	msgEnd := len(dst)

	d := &p.Progress
	dst = append(dst, `,"progress":{`...)
	first := true
	num := func(name string, v *float64) {
		if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
			return
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':')
		dst = appendFloat(dst, *v)
	}
	str := func(name, v string, omitEmpty bool) {
		if omitEmpty && v == "" {
			return
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':')
		dst = appendString(dst, v)
	}
	num("current", d.Current)
	num("total", d.Total)
	if d.Message == p.Message {
		// Mostly the same text (the UI reads both): copy its escaped form
		// instead of escaping it again.
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, `"message":`...)
		dst = append(dst, dst[msgStart:msgEnd]...)
	} else {
		str("message", d.Message, false)
	}
	num("percent", d.Percent)
	str("kind", d.Kind, true)
	str("event", d.Event, true)
	num("rate", d.Rate)
	str("rate_unit", d.RateUnit, true)
	num("elapsed_seconds", d.ElapsedSeconds)
	num("remaining_seconds", d.RemainingSeconds)
	str("rule", d.Rule, true)
	dst = append(dst, '}')

	opt := func(name, v string) {
		if v == "" {
			return
		}
		dst = append(dst, ',', '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':')
		dst = appendString(dst, v)
	}
	opt("job_id", p.JobID)
	opt("workflow_id", p.WorkflowID)
	opt("instance", p.Instance)
	opt("service_name", p.ServiceName)
	if p.Final {
		dst = append(dst, `,"final":true`...)
	}
	return append(dst, '}')
}

// appendFloat formats like encoding/json: shortest representation, plain
// notation for 1e-6 <= |v| < 1e21, exponent notation otherwise.
func appendFloat(dst []byte, v float64) []byte {
	// Fast path for whole numbers (step and byte counts, most percents):
	// the same digits as the shortest 'f' form, without the float
	// formatting. -0 keeps the general path (encoding/json writes "-0").
	if v == math.Trunc(v) && math.Abs(v) < 1e15 && (v != 0 || !math.Signbit(v)) {
		return strconv.AppendInt(dst, int64(v), 10)
	}
	if b, ok := appendShortDecimal(dst, v); ok {
		return b
	}
	abs := math.Abs(v)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		dst = strconv.AppendFloat(dst, v, 'e', -1, 64)
		// As encoding/json: a two-digit negative exponent loses its
		// leading zero (e-07 -> e-7).
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
		return dst
	}
	return strconv.AppendFloat(dst, v, 'f', -1, 64)
}

// appendShortDecimal writes v when it has at most three decimals (tqdm
// rates and percents: 4.01, 62.5, 1.234), as the shortest form would, for a
// fraction of the cost of the general algorithm. If k/10^d (k an integer,
// d <= 3, the smallest such d) rounds to exactly v, that decimal reads back
// as v and, v being far below 2^53/10^3, no other decimal with d places
// does: it is the shortest representation.
func appendShortDecimal(dst []byte, v float64) ([]byte, bool) {
	if v == 0 || !(math.Abs(v) < 1e9) { // -0: the general path writes "-0"
		return dst, false
	}
	for d, scale := range [...]float64{10, 100, 1000} {
		k := math.Round(v * scale)
		if k/scale != v {
			continue
		}
		n := int64(math.Abs(k))
		if v < 0 {
			dst = append(dst, '-')
		}
		div := int64(scale)
		dst = strconv.AppendInt(dst, n/div, 10)
		dst = append(dst, '.')
		var digits [3]byte // d+1 decimals, leading zeros kept
		frac := n % div
		for w := d; w >= 0; w-- {
			digits[w] = byte('0' + frac%10)
			frac /= 10
		}
		return append(dst, digits[:d+1]...), true
	}
	return dst, false
}

const hexDigits = "0123456789abcdef"

// plainASCII marks the bytes appendString copies as they are.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString writes a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced by U+FFFD (as encoding/json
// does), U+2028/U+2029 escaped for JavaScript consumers.
//
// It is the exporter's hottest loop (a quarter of planning a progress
// record), so it skips plain ASCII 8 bytes at a time.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		for i+8 <= len(s) && plain8(s, i) {
			i += 8
		}
		for i < len(s) && plainASCII[s[i]] {
			i++
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			start = i + size
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			start = i + size
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// plain8 tells whether the 8 bytes of s at i are all plain ASCII (no control
// character, '"', '\\' or byte >= 0x80), testing them as one 64-bit word. A
// byte's top bit ends up set in special exactly when that byte, or one below
// it, is not plain: byte-wise subtraction only borrows out of a byte that is
// below the subtrahend, which is itself a hit.
func plain8(s string, i int) bool {
	_ = s[i+7]
	x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	special := x | // bytes >= 0x80
		(x - 0x20*lsb) | // control characters
		((x ^ '"'*lsb) - lsb) | // '"' (a zero byte after the xor)
		((x ^ '\\'*lsb) - lsb) // '\\'
	return special&msb == 0
}

// AppendFields appends the XADD field/value pairs of Fields() to dst as
// go-redis command arguments, in the same order. Names are constants; values
// are pointers to f's fields (go-redis writes a *string as the string), so
// nothing is copied or boxed per field: f must stay unchanged until the
// command is written.
func (f *Failure) AppendFields(dst []any) []any {
	dst = append(dst,
		FieldEventType, EventTypeLog,
		FieldTimestamp, &f.Timestamp,
		FieldMachineID, &f.MachineID,
		FieldJobID, &f.JobID,
		FieldLevel, LevelError,
		FieldMessage, &f.Message,
		FieldEventID, &f.EventID,
	)
	opt := func(k string, v *string) {
		if *v != "" {
			dst = append(dst, k, v)
		}
	}
	opt(FieldKind, &f.Kind)
	opt(FieldExceptionType, &f.ExceptionType)
	opt(FieldExceptionMessage, &f.ExceptionMessage)
	opt(FieldSeverity, &f.Severity)
	opt(FieldServiceName, &f.ServiceName)
	opt(FieldInstance, &f.Instance)
	opt(FieldWorkflowID, &f.WorkflowID)
	opt(FieldTraceID, &f.TraceID)
	opt(FieldSpanID, &f.SpanID)
	opt(FieldRule, &f.Rule)
	opt(FieldRetry, &f.Retry)
	opt(FieldHumanReadableMessage, &f.HumanReadableMessage)
	opt(FieldCallToAction, &f.CallToAction)
	opt(FieldPatternMatched, &f.PatternMatched)
	opt(FieldIncidentLines, &f.IncidentLines)
	opt(FieldOriginalKey, &f.OriginalKey)
	opt(FieldError, &f.Error)
	return dst
}
