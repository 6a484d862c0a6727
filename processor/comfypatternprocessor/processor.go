package comfypatternprocessor // import "github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor"

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor/classifier"
	"github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor/internal/metadata"
)

// Attribute names: the contract with redisrouter (docs/attributes.md).
const (
	AttrClass             = "comfy.class"
	AttrRule              = "comfy.rule"
	AttrMessage           = "comfy.message"
	AttrProgressKind      = "comfy.progress.kind"
	AttrProgressEvent     = "comfy.progress.event"
	AttrProgressCurrent   = "comfy.progress.current"
	AttrProgressTotal     = "comfy.progress.total"
	AttrProgressPercent   = "comfy.progress.percent"
	AttrProgressRate      = "comfy.progress.rate"
	AttrProgressRateUnit  = "comfy.progress.rate_unit"
	AttrProgressElapsed   = "comfy.progress.elapsed_seconds"
	AttrProgressRemain    = "comfy.progress.remaining_seconds"
	AttrFailureKind       = "comfy.failure.kind"
	AttrFailureContinues  = "comfy.failure.continues"
	AttrFailureRetryable  = "comfy.failure.retryable"
	AttrFailureHumanMsg   = "comfy.failure.human_message"
	AttrFailureCallToAct  = "comfy.failure.call_to_action"
	AttrExceptionType     = "exception.type"
	AttrExceptionMessage  = "exception.message"
	AttrExceptionStack    = "exception.stacktrace"
	AttrTruncated         = "comfy.truncated"
	AttrOriginalSize      = "comfy.original_size"
	attrLogFileName       = "log.file.name"
	attrInstance          = "comfy.instance"
	attrServiceInstanceID = "service.instance.id"
	attrWorkerID          = "worker.id"
)

type logsProcessor struct {
	cfg        *Config
	logger     *zap.Logger
	classifier atomic.Pointer[classifier.Classifier]
	telemetry  *metadata.TelemetryBuilder

	// The per-source context; one batch at a time, in order.
	mu      sync.Mutex
	tracker *classifier.Tracker
	// the last source looked up in this batch (records of one file come in runs)
	lastKey   string
	lastState *classifier.SourceState

	// Metric options per class/kind, built once: attribute sets allocate.
	optsMu sync.RWMutex
	opts   map[classKind]metric.AddOption

	reload *rulesReloader
}

type classKind struct{ class, kind string }

func newLogsProcessor(set processor.Settings, cfg *Config) (*logsProcessor, error) {
	opts := cfg.Options
	if cfg.RulesFile != "" {
		var err error
		if opts, err = cfg.optionsWithFile(); err != nil {
			return nil, err
		}
	}
	c, err := classifier.New(opts)
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	p := &logsProcessor{
		cfg:       cfg,
		logger:    set.Logger,
		telemetry: tb,
		tracker:   classifier.NewTracker(cfg.Context.Window, cfg.Context.Expiry, cfg.Context.MaxSources),
		opts:      map[classKind]metric.AddOption{},
	}
	p.classifier.Store(c)
	if cfg.RulesFile != "" {
		p.reload = newRulesReloader(p)
	}
	return p, nil
}

func (p *logsProcessor) start(context.Context, component.Host) error {
	if p.reload != nil {
		p.reload.start()
	}
	return nil
}

func (p *logsProcessor) shutdown(context.Context) error {
	if p.reload != nil {
		p.reload.stop()
	}
	p.telemetry.Shutdown()
	return nil
}

type kindCount struct {
	key classKind
	n   int64
}

func (p *logsProcessor) processLogs(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
	// A batch has few distinct class/kind pairs: count them in a small slice
	// and record the metric once per pair.
	var counts [8]kindCount
	tally := counts[:0]
	var res classifier.Result
	var truncated int64
	c := p.classifier.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastKey, p.lastState = "", nil
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		resKey := resourceSource(rl.Resource().Attributes())
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				if p.classifyRecord(c, lrs.At(k), resKey, &res) {
					truncated++
				}
				key := classKind{class: string(res.Class), kind: kindOf(&res)}
				found := false
				for t := range tally {
					if tally[t].key == key {
						tally[t].n++
						found = true
						break
					}
				}
				if !found {
					tally = append(tally, kindCount{key: key, n: 1})
				}
			}
		}
	}
	for _, t := range tally {
		p.telemetry.ProcessorComfypatternRecordsClassified.Add(ctx, t.n, p.option(t.key))
	}
	if truncated > 0 {
		p.telemetry.ProcessorComfypatternRecordsTruncated.Add(ctx, truncated)
	}
	return ld, nil
}

// resourceSource names the source of a resource's records over OTLP: the
// instance (comfy.instance, else service.instance.id, else worker.id, else
// service.name: one ComfyUI process per service on a machine).
func resourceSource(attrs pcommon.Map) string {
	for _, k := range [...]string{attrInstance, attrServiceInstanceID, attrWorkerID, "service.name"} {
		if v, ok := attrs.Get(k); ok && v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
			return v.Str()
		}
	}
	return ""
}

func kindOf(r *classifier.Result) string {
	switch r.Class {
	case classifier.ClassProgress:
		return r.ProgressKind
	case classifier.ClassFailure:
		return r.FailureKind
	}
	return "none"
}

func (p *logsProcessor) option(key classKind) metric.AddOption {
	p.optsMu.RLock()
	o, ok := p.opts[key]
	p.optsMu.RUnlock()
	if ok {
		return o
	}
	o = metric.WithAttributeSet(attribute.NewSet(attribute.String("class", key.class), attribute.String("kind", key.kind)))
	p.optsMu.Lock()
	p.opts[key] = o
	p.optsMu.Unlock()
	return o
}

// classifyRecord classifies one record with its source's context and writes
// the attributes; it reports whether the body was cut.
func (p *logsProcessor) classifyRecord(c *classifier.Classifier, lr plog.LogRecord, resKey string, res *classifier.Result) bool {
	body := lr.Body()
	attrs := lr.Attributes()
	var rec classifier.Record
	switch body.Type() {
	case pcommon.ValueTypeStr:
		rec.Text = body.Str()
	case pcommon.ValueTypeBytes:
		// Bytes bodies (some SDKs, raw stdout) are read as UTF-8 text.
		rec.Text = string(body.Bytes().AsRaw())
	case pcommon.ValueTypeEmpty:
	default:
		rec.Text = body.AsString()
	}
	rec.Severity = int(lr.SeverityNumber())
	if v, ok := attrs.Get(AttrExceptionType); ok {
		rec.HasException, rec.ExceptionType = true, v.AsString()
	}
	if _, ok := attrs.Get(AttrExceptionStack); ok {
		rec.HasException = true
	}
	if rec.HasException {
		if v, ok := attrs.Get(AttrExceptionMessage); ok {
			rec.ExceptionMessage = v.AsString()
		}
	}
	// The source: the log file, else the instance; records of no known
	// source are judged alone.
	key := resKey
	if v, ok := attrs.Get(attrLogFileName); ok && v.Type() == pcommon.ValueTypeStr {
		key = v.Str()
	} else if v, ok := attrs.Get(attrInstance); ok && v.Type() == pcommon.ValueTypeStr {
		key = v.Str()
	}
	var st *classifier.SourceState
	if key != "" {
		now := int64(lr.Timestamp())
		if now == 0 {
			now = int64(lr.ObservedTimestamp())
		}
		if p.lastState != nil && key == p.lastKey {
			st = p.tracker.Touch(p.lastState, now)
		} else {
			st = p.tracker.State(key, now)
			p.lastKey, p.lastState = key, st
		}
	}
	c.ClassifyRecord(&rec, st, res)
	writeAttributes(attrs, res, rec.Text)
	if max := p.cfg.MaxBodyBytes; max > 0 && body.Type() == pcommon.ValueTypeStr && len(rec.Text) > max {
		body.SetStr(cutBody(rec.Text, max))
		attrs.PutBool(AttrTruncated, true)
		attrs.PutInt(AttrOriginalSize, int64(len(rec.Text)))
		return true
	}
	return false
}

// cutBody keeps the head and the tail of s (a traceback's exception line is
// at its end) with a marker between them, in at most max bytes, cutting on
// UTF-8 boundaries.
func cutBody(s string, max int) string {
	marker := fmt.Sprintf("\n[… %d bytes cut by comfypattern …]\n", len(s)-max)
	budget := max - len(marker)
	if budget < 0 {
		budget = 0
	}
	h := budget / 2
	for h > 0 && !utf8.RuneStart(s[h]) {
		h--
	}
	t := len(s) - (budget - h)
	for t < len(s) && !utf8.RuneStart(s[t]) {
		t++
	}
	return s[:h] + marker + s[t:]
}

// writeAttributes adds the verdict. No attribute repeats the body:
// comfy.message only when the cleaned text differs from it, and
// exception.stacktrace is never copied from it (one the SDK sent is kept).
func writeAttributes(attrs pcommon.Map, r *classifier.Result, body string) {
	writeMessage := r.Class != classifier.ClassOther && r.Message != "" && r.Message != strings.TrimSpace(body)
	// Grow the attribute slice once instead of doubling it per Put.
	attrs.EnsureCapacity(attrs.Len() + attributeCount(r, writeMessage))
	attrs.PutStr(AttrClass, string(r.Class))
	if r.Rule != "" {
		attrs.PutStr(AttrRule, r.Rule)
	}
	if writeMessage {
		attrs.PutStr(AttrMessage, r.Message)
	}
	switch r.Class {
	case classifier.ClassProgress:
		attrs.PutStr(AttrProgressKind, r.ProgressKind)
		if r.ProgressEvent != "" {
			attrs.PutStr(AttrProgressEvent, r.ProgressEvent)
		}
		if r.HasCurrent {
			attrs.PutDouble(AttrProgressCurrent, r.Current)
		}
		if r.HasTotal {
			attrs.PutDouble(AttrProgressTotal, r.Total)
		}
		if r.HasPercent {
			attrs.PutDouble(AttrProgressPercent, r.Percent)
		}
		if r.HasRate {
			attrs.PutDouble(AttrProgressRate, r.Rate)
			attrs.PutStr(AttrProgressRateUnit, r.RateUnit)
		}
		if r.HasElapsed {
			attrs.PutDouble(AttrProgressElapsed, r.Elapsed)
		}
		if r.HasRemaining {
			attrs.PutDouble(AttrProgressRemain, r.Remaining)
		}
	case classifier.ClassFailure:
		attrs.PutStr(AttrFailureKind, r.FailureKind)
		if r.Continues {
			attrs.PutBool(AttrFailureContinues, true)
		}
		if r.HasRetryable {
			attrs.PutBool(AttrFailureRetryable, r.Retryable)
		}
		if r.HumanMessage != "" {
			attrs.PutStr(AttrFailureHumanMsg, r.HumanMessage)
		}
		if r.CallToAction != "" {
			attrs.PutStr(AttrFailureCallToAct, r.CallToAction)
		}
		// The SDK's exception fields are the truth: never overwrite them.
		if r.ExceptionType != "" {
			if _, ok := attrs.Get(AttrExceptionType); !ok {
				attrs.PutStr(AttrExceptionType, r.ExceptionType)
			}
		}
		if r.ExceptionMessage != "" {
			if _, ok := attrs.Get(AttrExceptionMessage); !ok {
				attrs.PutStr(AttrExceptionMessage, r.ExceptionMessage)
			}
		}
	}
}

// attributeCount is the number of attributes writeAttributes adds for r.
func attributeCount(r *classifier.Result, message bool) int {
	n := 1
	count := func(bs ...bool) {
		for _, b := range bs {
			if b {
				n++
			}
		}
	}
	count(r.Rule != "", message)
	switch r.Class {
	case classifier.ClassProgress:
		n++
		count(r.ProgressEvent != "", r.HasCurrent, r.HasTotal, r.HasPercent, r.HasRate, r.HasRate, r.HasElapsed, r.HasRemaining)
	case classifier.ClassFailure:
		n++
		count(r.Continues, r.HasRetryable, r.HumanMessage != "", r.CallToAction != "", r.ExceptionType != "", r.ExceptionMessage != "")
	}
	return n
}
