package comfyjobprocessor // import "github.com/comfy-sidecar/otelcol-comfy/processor/comfyjobprocessor"

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/comfy-sidecar/otelcol-comfy/processor/comfyjobprocessor/internal/metadata"
)

// Attribute names this processor writes (docs/attributes.md).
const (
	AttrInstance   = "comfy.instance"
	AttrSource     = "comfy.source"
	AttrJobID      = "comfy.job_id"
	AttrWorkflowID = "comfy.workflow_id"
	AttrEvidence   = "comfy.job.evidence"
	AttrDuplicate  = "comfy.duplicate"
)

// Attributes it reads besides the configured ones.
const (
	attrFileName   = "log.file.name"
	attrStacktrace = "exception.stacktrace"
)

// Lifecycle events set by comfypattern in comfy.progress.event.
const (
	eventPromptStarted  = "prompt_started"
	eventPromptExecuted = "prompt_executed"
	eventInterrupted    = "interrupted"
)

// instanceState is everything known about one ComfyUI instance.
type instanceState struct {
	name     string
	tl       timeline
	lines    *lineRing
	lastSeen int64
	// workerID is the platform's worker id when a record named it;
	// machineID the machine's, for deriving it otherwise.
	workerID, machineID string
	// The worker's state in Redis as last read.
	wsJob     string
	wsChanged int64
}

type logsProcessor struct {
	cfg       *Config
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder

	workerIDRE  *regexp.Regexp
	format      string         // instance.format for regexp.Expand
	instanceRE  *regexp.Regexp // worker_state.instance_pattern
	placeholder map[string]struct{}
	now         func() time.Time

	mu        sync.Mutex
	instances map[string]*instanceState
	hashes    []uint64  // scratch, under mu
	pending   []pending // scratch, under mu

	worker *workerState // nil unless worker_state.enabled

	evidenceOpts map[string]metric.AddOption
}

func newLogsProcessor(set processor.Settings, cfg *Config) (*logsProcessor, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	p := &logsProcessor{
		cfg:         cfg,
		logger:      set.Logger,
		telemetry:   tb,
		placeholder: map[string]struct{}{"": {}, "unknown": {}},
		now:         time.Now,
		instances:   map[string]*instanceState{},
	}
	for _, v := range cfg.Job.Placeholders {
		p.placeholder[strings.ToLower(strings.TrimSpace(v))] = struct{}{}
	}
	if len(cfg.Instance.WorkerIDAttributes) > 0 {
		p.workerIDRE = regexp.MustCompile(cfg.Instance.WorkerIDPattern) // checked by Validate
		p.format = dollarTemplate(cfg.Instance.Format)
	}
	p.evidenceOpts = map[string]metric.AddOption{}
	for _, e := range []string{EvidenceRecord, EvidenceOTLP, EvidenceWorkerState, EvidenceLifecycle} {
		p.evidenceOpts[e] = metric.WithAttributeSet(attribute.NewSet(attribute.String("evidence", e)))
	}
	if cfg.WorkerState.Enabled {
		p.instanceRE = regexp.MustCompile(cfg.WorkerState.InstancePattern)
		if p.worker, err = newWorkerState(p, cfg.WorkerState); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *logsProcessor) start(ctx context.Context, _ component.Host) error {
	if p.worker != nil {
		p.worker.start()
	}
	return nil
}

func (p *logsProcessor) shutdown(context.Context) error {
	if p.worker != nil {
		p.worker.stop()
	}
	p.telemetry.Shutdown()
	return nil
}

// isJob reports whether v is a real job id, not a "no job" placeholder.
func (p *logsProcessor) isJob(v string) bool {
	if _, ok := p.placeholder[v]; ok {
		return false
	}
	_, ok := p.placeholder[strings.ToLower(strings.TrimSpace(v))]
	return !ok
}

// pending is one record between the two passes over a batch.
type pending struct {
	lr           plog.LogRecord
	st           *instanceState
	t            int64
	src          uint8
	h0, h1       int // its line hashes: p.hashes[h0:h1], sorted
	dupCandidate bool
	ownValid     bool
	ownJob       string
	ownWorkflow  string
}

// processLogs makes two passes: the first learns from every record of the
// batch (lifecycle events, OTLP job ids), the second attributes them. So a
// `got prompt` gets the job id that the OTLP records after it in the same
// batch carry (the SDK sends five seconds of records at once).
func (p *logsProcessor) processLogs(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
	var ev [4]int64
	var unattributed, duplicates int64
	now := p.now().UnixNano()

	p.mu.Lock()
	p.hashes = p.hashes[:0]
	p.pending = p.pending[:0]
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource().Attributes()
		rc := resourceContext{res: res}
		rc.instance, rc.derived = p.instanceOf(res)
		rc.worker = firstStr(res, p.cfg.Instance.WorkerIDAttributes)
		rc.machine = firstStr(res, p.cfg.WorkerState.MachineIDAttributes)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				if pd, ok := p.learn(lrs.At(k), &rc, now); ok {
					p.pending = append(p.pending, pd)
				} else {
					unattributed++
				}
			}
		}
	}
	for i := range p.pending {
		e, dup := p.attribute(&p.pending[i], now)
		switch e {
		case EvidenceRecord:
			ev[0]++
		case EvidenceOTLP:
			ev[1]++
		case EvidenceWorkerState:
			ev[2]++
		case EvidenceLifecycle:
			ev[3]++
		default:
			unattributed++
		}
		if dup {
			duplicates++
		}
	}
	// Drop references to the batch's records.
	clear(p.pending)
	p.mu.Unlock()

	for i, e := range []string{EvidenceRecord, EvidenceOTLP, EvidenceWorkerState, EvidenceLifecycle} {
		if ev[i] > 0 {
			p.telemetry.ProcessorComfyjobRecordsAttributed.Add(ctx, ev[i], p.evidenceOpts[e])
		}
	}
	if unattributed > 0 {
		p.telemetry.ProcessorComfyjobRecordsUnattributed.Add(ctx, unattributed)
	}
	if duplicates > 0 {
		p.telemetry.ProcessorComfyjobDuplicatesMarked.Add(ctx, duplicates)
	}
	return ld, nil
}

// resourceContext is what a resource says, resolved once per resource.
type resourceContext struct {
	res             pcommon.Map
	instance        string
	derived         bool
	worker, machine string
}

// instanceOf resolves the instance from m's attributes: an instance
// attribute, else one derived from the worker id (derived = true).
func (p *logsProcessor) instanceOf(m pcommon.Map) (name string, derived bool) {
	if v := firstStr(m, p.cfg.Instance.Attributes); v != "" {
		return v, false
	}
	if p.workerIDRE == nil {
		return "", false
	}
	w := firstStr(m, p.cfg.Instance.WorkerIDAttributes)
	if w == "" {
		return "", false
	}
	return p.instanceFromWorkerID(w), true
}

// instanceFromWorkerID applies instance.worker_id_pattern and format.
func (p *logsProcessor) instanceFromWorkerID(w string) string {
	m := p.workerIDRE.FindStringSubmatchIndex(w)
	if m == nil {
		return ""
	}
	return string(p.workerIDRE.ExpandString(nil, p.format, w, m))
}

// dollarTemplate turns {name} into ${name} for regexp.Expand.
func dollarTemplate(t string) string {
	return placeholderRE.ReplaceAllString(strings.ReplaceAll(t, "$", "$$"), "$${$1}")
}

func firstStr(m pcommon.Map, names []string) string {
	for _, n := range names {
		if v, ok := m.Get(n); ok {
			if s := v.AsString(); s != "" {
				return s
			}
		}
	}
	return ""
}

// recordTime is when the record was written: its timestamp, else when it
// was read (file records), else now.
func recordTime(lr plog.LogRecord, now int64) int64 {
	if t := int64(lr.Timestamp()); t > 0 {
		return t
	}
	if t := int64(lr.ObservedTimestamp()); t > 0 {
		return t
	}
	return now
}

// learn is the first pass over a record: source, instance, its lines, and
// the evidence it carries. ok is false for a record without an instance.
func (p *logsProcessor) learn(lr plog.LogRecord, rc *resourceContext, now int64) (pd pending, ok bool) {
	attrs := lr.Attributes()
	// Up to six attributes are added: grow once.
	attrs.EnsureCapacity(attrs.Len() + 6)
	src, srcName := srcOTLP, SourceOTLP
	if _, ok := attrs.Get(attrFileName); ok {
		src, srcName = srcFile, SourceFile
	}
	attrs.PutStr(AttrSource, srcName)

	name, derived := p.instanceOf(attrs)
	if name == "" {
		name, derived = rc.instance, rc.derived
	}
	if name == "" {
		p.attributeOwn(attrs, rc.res)
		return pd, false
	}
	if derived {
		attrs.PutStr(AttrInstance, name)
	}
	st := p.instance(name, now)
	if w := firstStr(attrs, p.cfg.Instance.WorkerIDAttributes); w != "" {
		st.workerID = w
	} else if rc.worker != "" {
		st.workerID = rc.worker
	}
	if rc.machine != "" {
		st.machineID = rc.machine
	} else if m := firstStr(attrs, p.cfg.WorkerState.MachineIDAttributes); m != "" {
		st.machineID = m
	}
	pd = pending{lr: lr, st: st, t: recordTime(lr, now), src: src}

	// Both sources: are all lines of this record already seen from the
	// other one? Then it is the later copy, and must not replay a
	// lifecycle event the first copy applied.
	if st.lines != nil {
		pd.h0 = len(p.hashes)
		p.hashes = p.appendLineHashes(p.hashes, lr, src)
		pd.h1 = len(p.hashes)
		hs := p.hashes[pd.h0:pd.h1]
		sortHashes(hs)
		st.lines.expire(now - int64(p.cfg.Duplicates.Window))
		pd.dupCandidate, _ = st.lines.seen(hs, src)
	}
	if ev := p.cfg.Job.LifecycleAttribute; ev != "" && !pd.dupCandidate {
		if v, ok := attrs.Get(ev); ok {
			switch v.Str() {
			case eventPromptStarted:
				st.tl.promptStarted(pd.t, st.wsJob, st.wsChanged)
				if p.worker != nil {
					p.worker.lookupAtStart(st, pd.t)
				}
			case eventPromptExecuted, eventInterrupted:
				st.tl.promptEnded(pd.t)
			}
		}
	}
	pd.ownJob = firstStr(attrs, p.cfg.Job.IDAttributes)
	if pd.ownJob == "" {
		pd.ownJob = firstStr(rc.res, p.cfg.Job.IDAttributes)
	}
	pd.ownWorkflow = firstStr(attrs, p.cfg.Job.WorkflowIDAttributes)
	if pd.ownWorkflow == "" {
		pd.ownWorkflow = firstStr(rc.res, p.cfg.Job.WorkflowIDAttributes)
	}
	if !p.isJob(pd.ownWorkflow) {
		pd.ownWorkflow = ""
	}
	pd.ownValid = p.isJob(pd.ownJob)
	if pd.ownValid && src == srcOTLP {
		// False when stale: ComfyUI keeps the last prompt's extra_data,
		// and the log's lifecycle ended that job before this record.
		pd.ownValid = st.tl.otlpID(pd.ownJob, pd.ownWorkflow, pd.t)
	} else if pd.ownValid && st.tl.endedByLifecycle(pd.ownJob, pd.t) {
		pd.ownValid = false
	}
	return pd, true
}

// attributeOwn gives a record of no known instance its own job id when it is
// a real one: without an instance there is no timeline to learn from or to
// consult, but a record that names its job still belongs to it.
func (p *logsProcessor) attributeOwn(attrs, res pcommon.Map) {
	job := firstStr(attrs, p.cfg.Job.IDAttributes)
	if job == "" {
		job = firstStr(res, p.cfg.Job.IDAttributes)
	}
	if !p.isJob(job) {
		return
	}
	attrs.PutStr(AttrJobID, job)
	wf := firstStr(attrs, p.cfg.Job.WorkflowIDAttributes)
	if wf == "" {
		wf = firstStr(res, p.cfg.Job.WorkflowIDAttributes)
	}
	if p.isJob(wf) {
		attrs.PutStr(AttrWorkflowID, wf)
	}
	attrs.PutStr(AttrEvidence, EvidenceRecord)
}

// attribute is the second pass: the record's job and its duplicate mark.
func (p *logsProcessor) attribute(pd *pending, now int64) (evidence string, dup bool) {
	st, attrs := pd.st, pd.lr.Attributes()
	var job, workflow string
	if pd.ownValid {
		job, workflow, evidence = pd.ownJob, pd.ownWorkflow, EvidenceRecord
		if workflow == "" {
			if j, wf, _ := st.tl.attribute(pd.t); j == job {
				workflow = wf
			}
		}
	} else {
		job, workflow, evidence = st.tl.attribute(pd.t)
	}
	if job != "" {
		attrs.PutStr(AttrJobID, job)
		if workflow != "" {
			attrs.PutStr(AttrWorkflowID, workflow)
		}
		attrs.PutStr(AttrEvidence, evidence)
	}

	// The later copy is marked, unless it names the job the first copy
	// lacked: that copy went to the machine stream, this one must reach
	// the job's.
	if st.lines == nil || pd.h1 == pd.h0 {
		return evidence, false
	}
	hs := p.hashes[pd.h0:pd.h1]
	if all, withoutJob := st.lines.seen(hs, pd.src); all {
		st.lines.consume(hs, pd.src)
		if !(withoutJob && job != "") {
			attrs.PutBool(AttrDuplicate, true)
			return evidence, true
		}
		return evidence, false
	}
	for _, h := range hs {
		st.lines.add(h, pd.src, now, job != "")
	}
	return evidence, false
}

// appendLineHashes appends the record's line hashes: the body's
// lines and, for OTLP, the exception.stacktrace attribute's lines, which
// the file has as text.
func (p *logsProcessor) appendLineHashes(hs []uint64, lr plog.LogRecord, src uint8) []uint64 {
	body := lr.Body()
	var text string
	switch body.Type() {
	case pcommon.ValueTypeStr:
		text = body.Str()
	case pcommon.ValueTypeBytes:
		text = string(body.Bytes().AsRaw())
	case pcommon.ValueTypeEmpty:
	default:
		text = body.AsString()
	}
	start := len(hs)
	hs = appendLineHashes(hs, text, src == srcFile, maxLinesPerRecord)
	if src == srcOTLP {
		if v, ok := lr.Attributes().Get(attrStacktrace); ok {
			hs = appendLineHashes(hs, v.AsString(), false, maxLinesPerRecord-(len(hs)-start))
		}
	}
	return hs
}

// instance returns the state of name, creating it (and forgetting the
// least recently seen instance beyond max_instances).
func (p *logsProcessor) instance(name string, now int64) *instanceState {
	st, ok := p.instances[name]
	if !ok {
		if len(p.instances) >= p.cfg.MaxInstances {
			var oldest *instanceState
			for _, s := range p.instances {
				if oldest == nil || s.lastSeen < oldest.lastSeen {
					oldest = s
				}
			}
			delete(p.instances, oldest.name)
		}
		st = &instanceState{name: name, tl: timeline{max: p.cfg.Job.MaxJobsPerInstance}}
		if p.cfg.Duplicates.Enabled {
			st.lines = newLineRing(p.cfg.Duplicates.MaxLinesPerInstance)
		}
		if p.worker != nil {
			st.machineID = p.cfg.WorkerState.MachineID
		}
		p.instances[name] = st
	}
	st.lastSeen = now
	return st
}
