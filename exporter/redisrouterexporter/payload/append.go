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
	dst = appendString(dst, p.Message)

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
	str("message", d.Message, false)
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
	abs := math.Abs(v)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		return strconv.AppendFloat(dst, v, 'e', -1, 64)
	}
	return strconv.AppendFloat(dst, v, 'f', -1, 64)
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
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Fast path: runs of printable ASCII that need no escaping.
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
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendFields appends the XADD field/value pairs of Fields() to dst as
// command arguments, in the same order, without the intermediate []string.
func (f *Failure) AppendFields(dst []any) []any {
	dst = append(dst,
		FieldEventType, EventTypeLog,
		FieldTimestamp, f.Timestamp,
		FieldMachineID, f.MachineID,
		FieldJobID, f.JobID,
		FieldLevel, LevelError,
		FieldMessage, f.Message,
		FieldEventID, f.EventID,
	)
	opt := func(k, v string) {
		if v != "" {
			dst = append(dst, k, v)
		}
	}
	opt(FieldKind, f.Kind)
	opt(FieldExceptionType, f.ExceptionType)
	opt(FieldExceptionMessage, f.ExceptionMessage)
	opt(FieldSeverity, f.Severity)
	opt(FieldServiceName, f.ServiceName)
	opt(FieldInstance, f.Instance)
	opt(FieldWorkflowID, f.WorkflowID)
	opt(FieldTraceID, f.TraceID)
	opt(FieldSpanID, f.SpanID)
	opt(FieldRule, f.Rule)
	return dst
}
