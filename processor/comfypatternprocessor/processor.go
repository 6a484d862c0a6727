package comfypatternprocessor // import "github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor/classifier"
	"github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor/internal/metadata"
)

// Attribute names: the contract with redisrouter (docs/attributes.md).
const (
	AttrClass            = "comfy.class"
	AttrRule             = "comfy.rule"
	AttrMessage          = "comfy.message"
	AttrProgressKind     = "comfy.progress.kind"
	AttrProgressEvent    = "comfy.progress.event"
	AttrProgressCurrent  = "comfy.progress.current"
	AttrProgressTotal    = "comfy.progress.total"
	AttrProgressPercent  = "comfy.progress.percent"
	AttrProgressRate     = "comfy.progress.rate"
	AttrProgressRateUnit = "comfy.progress.rate_unit"
	AttrProgressElapsed  = "comfy.progress.elapsed_seconds"
	AttrProgressRemain   = "comfy.progress.remaining_seconds"
	AttrFailureKind      = "comfy.failure.kind"
	AttrExceptionType    = "exception.type"
	AttrExceptionMessage = "exception.message"
	AttrExceptionStack   = "exception.stacktrace"
)

type logsProcessor struct {
	classifier *classifier.Classifier
	telemetry  *metadata.TelemetryBuilder

	// Metric options per class/kind, built once: attribute sets allocate.
	optsMu sync.RWMutex
	opts   map[classKind]metric.AddOption
}

type classKind struct{ class, kind string }

func newLogsProcessor(set processor.Settings, cfg *Config) (*logsProcessor, error) {
	c, err := classifier.New(cfg.Options)
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &logsProcessor{classifier: c, telemetry: tb, opts: map[classKind]metric.AddOption{}}, nil
}

func (p *logsProcessor) shutdown(context.Context) error {
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
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				p.classifyRecord(lrs.At(k), &res)
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
	return ld, nil
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

// classifyRecord classifies one record and writes the attributes. A body
// that is not a string is classified by its string form (AsString).
func (p *logsProcessor) classifyRecord(lr plog.LogRecord, res *classifier.Result) {
	body := lr.Body()
	var text string
	switch body.Type() {
	case pcommon.ValueTypeStr:
		text = body.Str()
	case pcommon.ValueTypeEmpty:
	default:
		text = body.AsString()
	}
	p.classifier.ClassifyInto(text, res)
	writeAttributes(lr.Attributes(), res)
}

func writeAttributes(attrs pcommon.Map, r *classifier.Result) {
	// Grow the attribute slice once instead of doubling it per Put.
	attrs.EnsureCapacity(attrs.Len() + attributeCount(r))
	attrs.PutStr(AttrClass, string(r.Class))
	if r.Rule != "" {
		attrs.PutStr(AttrRule, r.Rule)
	}
	switch r.Class {
	case classifier.ClassProgress:
		attrs.PutStr(AttrMessage, r.Message)
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
		attrs.PutStr(AttrMessage, r.Message)
		attrs.PutStr(AttrFailureKind, r.FailureKind)
		if r.ExceptionType != "" {
			attrs.PutStr(AttrExceptionType, r.ExceptionType)
		}
		if r.ExceptionMessage != "" {
			attrs.PutStr(AttrExceptionMessage, r.ExceptionMessage)
		}
		if r.Stacktrace != "" {
			attrs.PutStr(AttrExceptionStack, r.Stacktrace)
		}
	}
}

// attributeCount is the number of attributes writeAttributes adds for r.
func attributeCount(r *classifier.Result) int {
	n := 1
	if r.Rule != "" {
		n++
	}
	count := func(bs ...bool) {
		for _, b := range bs {
			if b {
				n++
			}
		}
	}
	switch r.Class {
	case classifier.ClassProgress:
		n += 2
		count(r.ProgressEvent != "", r.HasCurrent, r.HasTotal, r.HasPercent, r.HasRate, r.HasRate, r.HasElapsed, r.HasRemaining)
	case classifier.ClassFailure:
		n += 2
		count(r.ExceptionType != "", r.ExceptionMessage != "", r.Stacktrace != "")
	}
	return n
}
