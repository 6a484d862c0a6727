// Package payload is the wire format between the redisrouter exporter and the
// consumers that read Redis: the UI (progress on Pub/Sub) and the job worker
// (failures on Streams). The exporter encodes with it and `comfyctl monitor`
// decodes with it, so the two can never drift apart.
//
// Compatibility: the fields the existing consumers read are
//
//	progress (Pub/Sub JSON): timestamp, machine_id, message,
//	                         progress{current,total,message}
//	failure  (Stream fields): event_type=log, timestamp, machine_id, job_id,
//	                          level=ERROR, message
//
// They are never renamed or dropped; everything else is additive.
package payload

import (
	"encoding/json"
	"strconv"
	"time"
)

// Default key templates. Placeholders are filled from record attributes by the
// exporter (see the exporter README); the monitor derives its SCAN/PSUBSCRIBE
// patterns from the same constants.
const (
	DefaultProgressChannel = "machine:{machine_id}:progress"
	DefaultFailureStream   = "job:events:{job_id}"
	// DefaultFallbackStream receives failures whose job id is unknown (for
	// example a traceback tailed from stdout), one stream per machine.
	DefaultFallbackStream = "machine:{machine_id}:failures"

	ProgressChannelPattern = "machine:*:progress"
	FailureStreamPattern   = "job:events:*"
	FallbackStreamPattern  = "machine:*:failures"

	EventTypeLog = "log"
	LevelError   = "ERROR"
)

// TimestampLayout is how `timestamp` is written: UTC, RFC 3339 with
// milliseconds, e.g. 2026-11-23T14:05:21.351Z.
const TimestampLayout = "2006-01-02T15:04:05.000Z07:00"

// FormatTimestamp renders t as the `timestamp` field.
func FormatTimestamp(t time.Time) string { return t.UTC().Format(TimestampLayout) }

// Progress is one message on machine:{machine_id}:progress.
type Progress struct {
	Timestamp   string `json:"timestamp"`
	TimestampMs int64  `json:"timestamp_ms"`
	MachineID   string `json:"machine_id"`
	Message     string `json:"message"`
	// Progress is always present (the UI reads progress.message even for
	// lifecycle events that have no numbers).
	Progress ProgressDetail `json:"progress"`

	JobID       string `json:"job_id,omitempty"`
	WorkflowID  string `json:"workflow_id,omitempty"`
	Instance    string `json:"instance,omitempty"`
	ServiceName string `json:"service_name,omitempty"`
	// Final is true for the last state of a bar (current == total) and for
	// lifecycle events; throttling never drops those.
	Final bool `json:"final,omitempty"`
}

// ProgressDetail carries the numbers. Pointers: absent when the line does not
// show them (a model-load or lifecycle event has no current/total).
type ProgressDetail struct {
	Current *float64 `json:"current,omitempty"`
	Total   *float64 `json:"total,omitempty"`
	Message string   `json:"message"`

	Percent *float64 `json:"percent,omitempty"`
	// Kind: sampling, download, model_load, lifecycle, fetch, ...
	Kind string `json:"kind,omitempty"`
	// Event names a lifecycle step: prompt_started, prompt_executed,
	// interrupted, model_load_requested, model_loaded, ...
	Event string `json:"event,omitempty"`
	// Rate is units per second (tqdm's s/it is inverted to it/s).
	Rate             *float64 `json:"rate,omitempty"`
	RateUnit         string   `json:"rate_unit,omitempty"`
	ElapsedSeconds   *float64 `json:"elapsed_seconds,omitempty"`
	RemainingSeconds *float64 `json:"remaining_seconds,omitempty"`
	Rule             string   `json:"rule,omitempty"`
}

// EncodeProgress marshals p for PUBLISH.
func EncodeProgress(p *Progress) ([]byte, error) { return json.Marshal(p) }

// DecodeProgress parses a PUBLISH payload.
func DecodeProgress(b []byte) (*Progress, error) {
	var p Progress
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Failure is one entry of job:events:{job_id} (or the fallback stream).
type Failure struct {
	EventID   string // stable per record: consumers drop duplicates by it
	Timestamp string
	MachineID string
	JobID     string
	Message   string // the whole traceback when the record holds one

	Kind             string // oom, cuda, exception, validation, import, crash, ...
	ExceptionType    string
	ExceptionMessage string
	Severity         string // the record's severity text or number name
	ServiceName      string
	Instance         string
	WorkflowID       string
	TraceID          string
	SpanID           string
	Rule             string

	// The fields the platform's own log streamer wrote, for workers that
	// read them: Retry is "true"/"false" (from comfy.failure.retryable),
	// empty when unknown.
	Retry                string
	HumanReadableMessage string
	CallToAction         string
	PatternMatched       string

	// IncidentLines is the number of records the entry stands for (a
	// banner, its traceback and its detail lines become one entry), as a
	// decimal string; empty when incident grouping is off.
	IncidentLines string

	// Dead-letter entries only: the stream Redis refused and its error.
	OriginalKey string
	Error       string
}

// Stream field names. The first six are the compatibility contract.
const (
	FieldEventType        = "event_type"
	FieldTimestamp        = "timestamp"
	FieldMachineID        = "machine_id"
	FieldJobID            = "job_id"
	FieldLevel            = "level"
	FieldMessage          = "message"
	FieldEventID          = "event_id"
	FieldKind             = "failure_kind"
	FieldExceptionType    = "exception_type"
	FieldExceptionMessage = "exception_message"
	FieldSeverity         = "severity"
	FieldServiceName      = "service_name"
	FieldInstance         = "instance"
	FieldWorkflowID       = "workflow_id"
	FieldTraceID          = "trace_id"
	FieldSpanID           = "span_id"
	FieldRule             = "rule"

	FieldRetry                = "retry"
	FieldHumanReadableMessage = "human_readable_message"
	FieldCallToAction         = "call_to_action"
	FieldPatternMatched       = "pattern_matched"
	FieldIncidentLines        = "incident_lines"

	FieldOriginalKey = "original_key"
	FieldError       = "error"
)

// MaxFailureFields is the most arguments AppendFields appends: 24 field
// names and their values.
const MaxFailureFields = 48

// Fields returns the XADD field/value pairs in a fixed order (the one
// AppendFields defines). Empty optional fields are left out; the contract
// fields are always present.
func (f *Failure) Fields() []string {
	args := f.AppendFields(make([]any, 0, MaxFailureFields))
	out := make([]string, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			out[i] = v
		case *string:
			out[i] = *v
		}
	}
	return out
}

// FailureFromFields reads a stream entry's values (as go-redis returns them).
func FailureFromFields(m map[string]any) *Failure {
	s := func(k string) string {
		switch v := m[k].(type) {
		case string:
			return v
		case []byte:
			return string(v)
		case nil:
			return ""
		case int64:
			return strconv.FormatInt(v, 10)
		default:
			b, _ := json.Marshal(v)
			return string(b)
		}
	}
	return &Failure{
		EventID: s(FieldEventID), Timestamp: s(FieldTimestamp), MachineID: s(FieldMachineID),
		JobID: s(FieldJobID), Message: s(FieldMessage), Kind: s(FieldKind),
		ExceptionType: s(FieldExceptionType), ExceptionMessage: s(FieldExceptionMessage),
		Severity: s(FieldSeverity), ServiceName: s(FieldServiceName), Instance: s(FieldInstance),
		WorkflowID: s(FieldWorkflowID), TraceID: s(FieldTraceID), SpanID: s(FieldSpanID), Rule: s(FieldRule),
		Retry: s(FieldRetry), HumanReadableMessage: s(FieldHumanReadableMessage), CallToAction: s(FieldCallToAction),
		PatternMatched: s(FieldPatternMatched), IncidentLines: s(FieldIncidentLines), OriginalKey: s(FieldOriginalKey), Error: s(FieldError),
	}
}
