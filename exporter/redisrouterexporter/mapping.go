package redisrouterexporter // import "github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter"

// The mapping from one log record to one Redis message: its key, its payload
// (Pub/Sub JSON) or stream fields, its event id. Pure: no I/O, no clock
// beyond the `now` passed in, no metrics. exporter.go decides per record
// which mapping applies; transport.go sends the result.

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/incident"
	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/payload"
)

// message is what one record becomes: one PUBLISH or one XADD.
type message struct {
	rec recordRef
	// members: the records of an incident (failures.incident), rec being
	// the first; nil when the message stands for rec alone.
	members  []recordRef
	progress bool
	key      string
	keyArg   any        // key boxed once per distinct key (see recordContext.key)
	body     payloadArg // PUBLISH payload
	failure  int        // XADD fields: index in batchBuffers.failures
	fallback bool       // failure without a job id, in the fallback stream
	// deadLetter is the dead-letter stream of this failure (same machine),
	// used only if Redis refuses key.
	deadLetter string
	throttle   string // throttle key, "" when not throttled

	// err is the outcome of its command, set by the transport.
	err error
}

// recordRef locates a record inside the plog.Logs being pushed.
type recordRef struct{ rl, sl, lr int }

// payloadArg hands a PUBLISH payload to go-redis without a copy or an
// allocation: go-redis writes an encoding.BinaryMarshaler as a bulk string,
// and a pointer fits an interface value as it is, where a []byte would be
// boxed on the heap once per record.
type payloadArg struct{ b []byte }

func (p *payloadArg) MarshalBinary() ([]byte, error) { return p.b, nil }

// mapper holds what the mapping needs from the configuration, prepared once.
type mapper struct {
	cfg        *Config
	channel    *keyTemplate
	stream     *keyTemplate
	fallback   *keyTemplate
	deadLetter *keyTemplate
	// streamNeedsJob: the stream template uses {job_id}, so a failure
	// without one goes to the fallback stream.
	streamNeedsJob bool
	noJob          map[string]bool // lower-cased failures.no_job_ids
	// grouper groups a push's failures into incidents; nil when
	// failures.incident is off.
	grouper *incident.Grouper

	// Placeholders by index (built-ins first) and, per attribute name, what
	// it means to the exporter (class, a comfypattern field, placeholders it
	// can fill): records are scanned once, one lookup per attribute.
	phNames   []string
	phIndex   map[string]int
	attrRoles *roleTable
}

func newMapper(cfg *Config) (*mapper, error) {
	m := &mapper{cfg: cfg, noJob: map[string]bool{}}
	for _, t := range []struct {
		field string
		src   string
		dst   **keyTemplate
	}{
		{"progress.channel", cfg.Progress.Channel, &m.channel},
		{"failures.stream", cfg.Failures.Stream, &m.stream},
		{"failures.fallback_stream", cfg.Failures.FallbackStream, &m.fallback},
		{"failures.dead_letter_stream", cfg.Failures.DeadLetterStream, &m.deadLetter},
	} {
		tmpl, err := parseTemplate(t.src)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.field, err)
		}
		*t.dst = tmpl
	}
	m.streamNeedsJob = m.stream.uses(PlaceholderJobID)
	for _, id := range cfg.Failures.NoJobIDs {
		m.noJob[strings.ToLower(strings.TrimSpace(id))] = true
	}
	m.grouper = newGrouper(cfg)
	m.indexPlaceholders()
	for _, t := range []*keyTemplate{m.channel, m.stream, m.fallback, m.deadLetter} {
		t.phIdx = make([]int, len(t.phs))
		for i, name := range t.phs {
			t.phIdx[i] = m.phIndex[name]
		}
	}
	return m, nil
}

// Indexes of the built-in placeholders in mapper.phNames.
const (
	phMachine = iota
	phJob
	phWorkflow
	phInstance
	phService
)

// phSlot: attribute name -> (placeholder index, position in its name list).
type phSlot struct{ ph, pos int }

// indexPlaceholders numbers the placeholders (built-ins first) and maps each
// attribute name to what it means.
func (m *mapper) indexPlaceholders() {
	m.phNames = []string{PlaceholderMachineID, PlaceholderJobID, PlaceholderWorkflowID, PlaceholderInstance, PlaceholderServiceName}
	for _, name := range m.cfg.placeholderNames() {
		if !slices.Contains(m.phNames, name) {
			m.phNames = append(m.phNames, name)
		}
	}
	m.phIndex = map[string]int{}
	roles := map[string]attrRole{}
	for name, f := range comfyFieldByName {
		roles[name] = attrRole{field: f}
	}
	for i, name := range m.phNames {
		m.phIndex[name] = i
		for pos, attr := range m.cfg.Attributes[name] {
			r := roles[attr]
			r.slots = append(r.slots, phSlot{ph: i, pos: pos})
			roles[attr] = r
		}
	}
	r := roles[classAttribute]
	r.class = true
	roles[classAttribute] = r
	m.attrRoles = newRoleTable(roles)
}

// attrRole is what a record attribute name means to the exporter; one name
// can be several things (comfy.instance is a field and a placeholder).
type attrRole struct {
	class bool       // comfy.class
	field comfyField // a comfypattern attribute, fieldNone otherwise
	slots []phSlot   // placeholders it can fill
}

// comfyField names the comfypattern attributes (docs/attributes.md) that the
// payloads carry.
type comfyField uint8

const (
	fieldNone comfyField = iota
	fieldMessage
	fieldRule
	fieldKind
	fieldEvent
	fieldRateUnit
	fieldCurrent
	fieldTotal
	fieldPercent
	fieldRate
	fieldElapsed
	fieldRemaining
	fieldFailureKind
	fieldExceptionType
	fieldExceptionMessage
	fieldRetryable
	fieldHumanMessage
	fieldCallToAction
)

var comfyFieldByName = map[string]comfyField{
	"comfy.message":                    fieldMessage,
	"comfy.rule":                       fieldRule,
	"comfy.progress.kind":              fieldKind,
	"comfy.progress.event":             fieldEvent,
	"comfy.progress.rate_unit":         fieldRateUnit,
	"comfy.progress.current":           fieldCurrent,
	"comfy.progress.total":             fieldTotal,
	"comfy.progress.percent":           fieldPercent,
	"comfy.progress.rate":              fieldRate,
	"comfy.progress.elapsed_seconds":   fieldElapsed,
	"comfy.progress.remaining_seconds": fieldRemaining,
	"comfy.failure.kind":               fieldFailureKind,
	"exception.type":                   fieldExceptionType,
	"exception.message":                fieldExceptionMessage,
	"comfy.failure.retryable":          fieldRetryable,
	"comfy.failure.human_message":      fieldHumanMessage,
	"comfy.failure.call_to_action":     fieldCallToAction,
}

// comfyAttrs are the record attributes comfypattern sets, read in one pass
// over the record's attributes.
type comfyAttrs struct {
	class, message, rule                      string
	hasMessage                                bool
	kind, event, rateUnit                     string
	failureKind, exceptionType, exceptionMsg  string
	retry, humanMessage, callToAction         string
	current, total, percent, rate             float64
	elapsed, remaining                        float64
	hasCurrent, hasTotal, hasPercent, hasRate bool
	hasElapsed, hasRemaining                  bool
}

func (a *comfyAttrs) set(f comfyField, v pcommon.Value) {
	num := func(dst *float64, has *bool) {
		switch v.Type() {
		case pcommon.ValueTypeDouble:
			*dst, *has = v.Double(), true
		case pcommon.ValueTypeInt:
			*dst, *has = float64(v.Int()), true
		}
	}
	switch f {
	case fieldMessage:
		a.message, a.hasMessage = v.AsString(), true
	case fieldRule:
		a.rule = v.AsString()
	case fieldKind:
		a.kind = v.AsString()
	case fieldEvent:
		a.event = v.AsString()
	case fieldRateUnit:
		a.rateUnit = v.AsString()
	case fieldCurrent:
		num(&a.current, &a.hasCurrent)
	case fieldTotal:
		num(&a.total, &a.hasTotal)
	case fieldPercent:
		num(&a.percent, &a.hasPercent)
	case fieldRate:
		num(&a.rate, &a.hasRate)
	case fieldElapsed:
		num(&a.elapsed, &a.hasElapsed)
	case fieldRemaining:
		num(&a.remaining, &a.hasRemaining)
	case fieldFailureKind:
		a.failureKind = v.AsString()
	case fieldExceptionType:
		a.exceptionType = v.AsString()
	case fieldExceptionMessage:
		a.exceptionMsg = v.AsString()
	case fieldRetryable:
		switch {
		case v.Type() == pcommon.ValueTypeBool && v.Bool(), v.Type() == pcommon.ValueTypeStr && strings.EqualFold(v.Str(), "true"):
			a.retry = "true"
		case v.Type() == pcommon.ValueTypeBool, v.Type() == pcommon.ValueTypeStr && strings.EqualFold(v.Str(), "false"):
			a.retry = "false"
		}
	case fieldHumanMessage:
		a.humanMessage = v.AsString()
	case fieldCallToAction:
		a.callToAction = v.AsString()
	}
}

// recordContext resolves one record's attributes and placeholders. It is
// reused across the records of a batch (reset), so the mapping allocates
// little per record.
type recordContext struct {
	m     *mapper
	lr    plog.LogRecord
	scope pcommon.Map
	res   pcommon.Map
	a     comfyAttrs

	recVal []string // placeholder values found on the record
	recPos []int    // position of the name that matched (lower wins)
	scVal  []string // placeholder values from scope, then resource
	scPos  []int    // scratch for scan
	resVal []string // placeholder values from the resource

	resDigest []byte      // hash of the resource attributes, once per resource; empty until needed
	digestOf  pcommon.Map // the resource resDigest was computed for, within this batch

	// Consecutive records mostly share their key (same machine, same job):
	// the last rendering per template is reused when its inputs match.
	keyCache []renderedKey

	ts    payload.TimestampAppender // reuses the date and minute across records
	idBuf []byte                    // event id hash input, reused
	keys  []string                  // attribute names, for sorting
}

func (m *mapper) newRecordContext() *recordContext {
	n := len(m.phNames)
	return &recordContext{
		m:      m,
		recVal: make([]string, n),
		recPos: make([]int, n),
		scVal:  make([]string, n),
		scPos:  make([]int, n),
		resVal: make([]string, n),
	}
}

// setResource starts a resource: its placeholder values, scanned once.
func (rc *recordContext) setResource(res pcommon.Map) {
	rc.res = res
	// A batch merged from many small requests (file_log's polls, SDK
	// exports) repeats the same resource once per request: comparing it
	// with the last one hashed is cheaper than sorting and hashing it again.
	if len(rc.resDigest) > 0 && !res.Equal(rc.digestOf) {
		rc.resDigest = rc.resDigest[:0]
	}
	clear(rc.resVal)
	rc.scan(res, rc.resVal, rc.scPos)
}

// setScope starts a scope: its values, else the resource's.
func (rc *recordContext) setScope(scope pcommon.Map) {
	rc.scope = scope
	clear(rc.scVal)
	rc.scan(scope, rc.scVal, rc.scPos)
	for ph, v := range rc.scVal {
		if v == "" {
			rc.scVal[ph] = rc.resVal[ph]
		}
	}
}

// reset reads lr's attributes in one pass.
func (rc *recordContext) reset(lr plog.LogRecord) {
	rc.lr = lr
	rc.a = comfyAttrs{}
	for i := range rc.recVal {
		rc.recVal[i] = ""
		rc.recPos[i] = math.MaxInt
	}
	for k, v := range lr.Attributes().All() {
		role := rc.m.attrRoles.get(k)
		if role == nil {
			continue
		}
		if role.class {
			rc.a.class = v.AsString()
		}
		if role.field != fieldNone {
			rc.a.set(role.field, v)
		}
		role.fill(v, rc.recVal, rc.recPos)
	}
}

// class is the record's comfy.class.
func (rc *recordContext) class() string { return rc.a.class }

// raw returns placeholder ph's value as found (record, then scope, then
// resource; names in configured order), "" when absent.
func (rc *recordContext) raw(ph int) string {
	if v := rc.recVal[ph]; v != "" {
		return v
	}
	return rc.scVal[ph]
}

// scan fills val with the placeholder values found in m: for each
// placeholder the non-blank value of the first name in its configured list
// (pos is scratch). One pass over m, one lookup per attribute.
func (rc *recordContext) scan(m pcommon.Map, val []string, pos []int) {
	for i := range pos {
		pos[i] = math.MaxInt
	}
	for k, v := range m.All() {
		if role := rc.m.attrRoles.get(k); role != nil {
			role.fill(v, val, pos)
		}
	}
}

// fill records v for the placeholders this attribute can fill, where its
// name ranks before the one already found (pos). Blank values do not count.
func (r *attrRole) fill(v pcommon.Value, val []string, pos []int) {
	for _, sl := range r.slots {
		if sl.pos < pos[sl.ph] {
			if s := strings.TrimSpace(v.AsString()); s != "" {
				val[sl.ph] = s
				pos[sl.ph] = sl.pos
			}
		}
	}
}

// machineID is the raw machine id or the configured default.
func (rc *recordContext) machineID() string {
	if v := rc.raw(phMachine); v != "" {
		return v
	}
	return rc.m.cfg.DefaultMachineID
}

// jobID is the raw job id, "" when it is absent or one of the values that
// mean "no job" (failures.no_job_ids).
func (rc *recordContext) jobID() string {
	v := rc.raw(phJob)
	if v == "" || rc.m.noJob[strings.ToLower(v)] {
		return ""
	}
	return v
}

// keyPart is the sanitised value of a placeholder (by name) for a key.
func (rc *recordContext) keyPart(name string) string {
	ph := rc.m.phIndex[name]
	v := rc.raw(ph)
	switch {
	case ph == phMachine && v == "":
		v = rc.m.cfg.DefaultMachineID
	case ph == phJob:
		v = rc.jobID()
	}
	if v == "" {
		return "unknown"
	}
	return sanitizeKeyPart(v, rc.m.cfg.MaxKeyPartLength)
}

type renderedKey struct {
	tmpl   *keyTemplate
	inputs []string
	key    string
	boxed  any // key as an interface value, for go-redis's argument list
}

// key renders t for the current record, reusing the previous rendering when
// the record's placeholder values are the same. It returns the key also
// boxed, so that a batch of records for one channel boxes it once.
func (rc *recordContext) key(t *keyTemplate) (string, any) {
	var rk *renderedKey
	for i := range rc.keyCache {
		if rc.keyCache[i].tmpl == t {
			rk = &rc.keyCache[i]
			break
		}
	}
	if rk != nil {
		same := true
		for i, ph := range t.phIdx {
			if rc.raw(ph) != rk.inputs[i] {
				same = false
				break
			}
		}
		if same {
			return rk.key, rk.boxed
		}
	} else {
		rc.keyCache = append(rc.keyCache, renderedKey{tmpl: t})
		rk = &rc.keyCache[len(rc.keyCache)-1]
	}
	rk.inputs = rk.inputs[:0]
	for _, ph := range t.phIdx {
		rk.inputs = append(rk.inputs, rc.raw(ph))
	}
	rk.key = t.render(rc.keyPart)
	rk.boxed = rk.key
	return rk.key, rk.boxed
}

// text is the record's message: comfy.message when the processor set it
// (it does only when it differs from the body), else the body as a string
// (a bytes body as UTF-8, not base64).
func (rc *recordContext) text() string {
	if rc.a.hasMessage {
		return rc.a.message
	}
	return bodyText(rc.lr.Body())
}

func bodyText(v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str()
	case pcommon.ValueTypeBytes:
		return strings.ToValidUTF8(string(v.Bytes().AsRaw()), "\uFFFD")
	case pcommon.ValueTypeEmpty:
		return ""
	default:
		return v.AsString()
	}
}

// recordTime is the record timestamp, else observed, else now.
func recordTime(lr plog.LogRecord, now time.Time) time.Time {
	if t := lr.Timestamp(); t != 0 {
		return t.AsTime()
	}
	if t := lr.ObservedTimestamp(); t != 0 {
		return t.AsTime()
	}
	return now
}

// isStale: the newer of observed and record timestamp is older than maxAge.
// A record with neither timestamp is taken as fresh.
func isStale(lr plog.LogRecord, now time.Time, maxAge time.Duration) bool {
	ts := lr.ObservedTimestamp()
	if t := lr.Timestamp(); t > ts {
		ts = t
	}
	if ts == 0 {
		return false
	}
	return now.Sub(ts.AsTime()) > maxAge
}

func ptrIf(v *float64, ok bool) *float64 {
	if ok {
		return v
	}
	return nil
}

// progress maps a progress record to a PUBLISH: the JSON is appended to
// arena (one buffer per batch). final: the last state of a bar or a
// lifecycle event, which throttling never drops.
func (rc *recordContext) progress(now time.Time, arena []byte) (msg message, final bool, _ []byte) {
	a := &rc.a
	ts := recordTime(rc.lr, now)
	text := cleanLine(rc.text())
	final = a.kind == "lifecycle" || a.event != "" ||
		(a.hasCurrent && a.hasTotal && a.total > 0 && a.current >= a.total)
	var tsBuf [32]byte
	p := payload.Progress{
		Timestamp:   string(rc.ts.Append(tsBuf[:0], ts)),
		TimestampMs: ts.UnixMilli(),
		MachineID:   rc.machineID(),
		Message:     text,
		Progress: payload.ProgressDetail{
			Current:          ptrIf(&a.current, a.hasCurrent),
			Total:            ptrIf(&a.total, a.hasTotal),
			Message:          text,
			Percent:          ptrIf(&a.percent, a.hasPercent),
			Kind:             a.kind,
			Event:            a.event,
			Rate:             ptrIf(&a.rate, a.hasRate),
			RateUnit:         a.rateUnit,
			ElapsedSeconds:   ptrIf(&a.elapsed, a.hasElapsed),
			RemainingSeconds: ptrIf(&a.remaining, a.hasRemaining),
			Rule:             a.rule,
		},
		JobID:       rc.raw(phJob),
		WorkflowID:  rc.raw(phWorkflow),
		Instance:    rc.raw(phInstance),
		ServiceName: rc.raw(phService),
		Final:       final,
	}
	start := len(arena)
	arena = payload.AppendProgress(arena, &p)
	msg.progress = true
	// Full slice expression: a later append to the arena never writes into
	// this payload's capacity.
	msg.body = payloadArg{b: arena[start:len(arena):len(arena)]}
	msg.key, msg.keyArg = rc.key(rc.m.channel)
	return msg, final, arena
}

// failure maps a failure record to an XADD; its fields are appended to
// failures (one slice per batch) and the message points at them by index.
func (rc *recordContext) failure(now time.Time, failures []payload.Failure) (message, []payload.Failure) {
	lr := rc.lr
	a := &rc.a
	text := cleanText(rc.text())
	if strings.TrimSpace(text) == "" {
		// A body-less record (an SDK's logger.exception with an empty
		// message): the traceback is the useful text.
		for _, k := range []string{"exception.stacktrace", "exception.message"} {
			if v, ok := lr.Attributes().Get(k); ok && v.AsString() != "" {
				text = cleanText(v.AsString())
				break
			}
		}
	}
	sev := lr.SeverityText()
	if sev == "" && lr.SeverityNumber() != plog.SeverityNumberUnspecified {
		sev = lr.SeverityNumber().String()
	}
	job := rc.jobID()
	var tsBuf [32]byte
	f := payload.Failure{
		EventID:              rc.eventID(),
		Timestamp:            string(rc.ts.Append(tsBuf[:0], recordTime(lr, now))),
		MachineID:            rc.machineID(),
		JobID:                job,
		Message:              text,
		Kind:                 a.failureKind,
		ExceptionType:        a.exceptionType,
		ExceptionMessage:     a.exceptionMsg,
		Severity:             sev,
		ServiceName:          rc.raw(phService),
		Instance:             rc.raw(phInstance),
		WorkflowID:           rc.raw(phWorkflow),
		Rule:                 a.rule,
		Retry:                a.retry,
		HumanReadableMessage: a.humanMessage,
		CallToAction:         a.callToAction,
		PatternMatched:       a.rule,
	}
	if id := lr.TraceID(); !id.IsEmpty() {
		f.TraceID = id.String()
	}
	if id := lr.SpanID(); !id.IsEmpty() {
		f.SpanID = id.String()
	}
	msg := message{failure: len(failures)}
	if rc.m.streamNeedsJob && job == "" {
		msg.key, msg.keyArg = rc.key(rc.m.fallback)
		msg.fallback = true
	} else {
		msg.key, msg.keyArg = rc.key(rc.m.stream)
	}
	msg.deadLetter, _ = rc.key(rc.m.deadLetter)
	return msg, append(failures, f)
}

// File position attributes that file_log attaches (include_file_name,
// include_file_path, include_file_record_offset).
const (
	attrFileName   = "log.file.name"
	attrFilePath   = "log.file.path"
	attrFileOffset = "log.file.record_offset"
)

// eventID is a stable id of the record (32 hex digits: 128 bits of
// SHA-256), the same on every delivery attempt and for the same line read
// again, so a consumer can drop the duplicates at-least-once delivery brings.
//
//   - A tailed line (log.file.record_offset with log.file.path or
//     log.file.name): machine, instance, file path and name, offset and
//     body. Re-read after a restart or a crash, the line has the same
//     offset and body; the body guards against a copytruncated file that
//     reuses offsets for new lines.
//   - Any other record (OTLP): timestamp, severity, body, attributes and
//     resource attributes (maps in sorted key order), trace and span id:
//     the same record resent gives the same id. Never the observed time,
//     which a resend or a re-read changes.
func (rc *recordContext) eventID() string {
	lr := rc.lr
	attrs := lr.Attributes()
	b := rc.idBuf[:0]
	off, hasOff := attrs.Get(attrFileOffset)
	path, hasPath := attrs.Get(attrFilePath)
	name, hasName := attrs.Get(attrFileName)
	if hasOff && (hasPath || hasName) {
		b = append(b, 'F')
		b = appendLenString(b, rc.machineID())
		b = appendLenString(b, rc.raw(phInstance))
		if hasPath {
			b = appendValue(b, path, &rc.keys)
		}
		b = append(b, '|')
		if hasName {
			b = appendValue(b, name, &rc.keys)
		}
		b = appendValue(b, off, &rc.keys)
		b = appendValue(b, lr.Body(), &rc.keys)
	} else {
		b = append(b, 'O')
		b = binary.BigEndian.AppendUint64(b, uint64(lr.Timestamp()))
		b = binary.BigEndian.AppendUint64(b, uint64(lr.SeverityNumber()))
		b = appendLenString(b, lr.SeverityText())
		b = appendValue(b, lr.Body(), &rc.keys)
		b = appendMap(b, attrs, &rc.keys)
		b = append(b, rc.resourceDigest()...)
		tid, sid := lr.TraceID(), lr.SpanID()
		b = append(b, tid[:]...)
		b = append(b, sid[:]...)
	}
	rc.idBuf = b
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// resourceDigest hashes the resource attributes once per resource.
func (rc *recordContext) resourceDigest() []byte {
	if len(rc.resDigest) == 0 {
		b := appendMap(nil, rc.res, &rc.keys)
		sum := sha256.Sum256(b)
		rc.resDigest = append(rc.resDigest, sum[:]...)
		rc.digestOf = rc.res
	}
	return rc.resDigest
}

// appendValue appends an unambiguous encoding of v: a type tag, then
// length-prefixed strings and bytes, fixed-width numbers, maps in sorted
// key order, so equal values (whatever their map order) encode alike and
// different values differently.
func appendValue(b []byte, v pcommon.Value, keys *[]string) []byte {
	b = append(b, byte('a'+v.Type()))
	switch v.Type() {
	case pcommon.ValueTypeStr:
		b = appendLenString(b, v.Str())
	case pcommon.ValueTypeInt:
		b = binary.BigEndian.AppendUint64(b, uint64(v.Int()))
	case pcommon.ValueTypeDouble:
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(v.Double()))
	case pcommon.ValueTypeBool:
		if v.Bool() {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	case pcommon.ValueTypeBytes:
		raw := v.Bytes().AsRaw()
		b = binary.AppendUvarint(b, uint64(len(raw)))
		b = append(b, raw...)
	case pcommon.ValueTypeMap:
		b = appendMap(b, v.Map(), nil) // nested: its own scratch
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		b = binary.AppendUvarint(b, uint64(s.Len()))
		for i := 0; i < s.Len(); i++ {
			b = appendValue(b, s.At(i), nil)
		}
	}
	return b
}

func appendMap(b []byte, m pcommon.Map, scratch *[]string) []byte {
	var keys []string
	if scratch != nil {
		keys = (*scratch)[:0]
	}
	for k := range m.All() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		v, _ := m.Get(k)
		b = appendLenString(b, k)
		b = appendValue(b, v, nil)
	}
	if scratch != nil {
		*scratch = keys[:0]
	}
	return b
}

func appendLenString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// ansiRE matches CSI sequences (colours, cursor moves) and OSC sequences.
var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]`)

// cleanText strips ANSI escapes, turns CRLF into LF and keeps, for each line,
// only the last carriage-return state (what a terminal would show), and
// makes the text valid UTF-8. Newlines are kept: a traceback stays whole.
func cleanText(s string) string {
	return strings.ToValidUTF8(stripTerminal(s), "\uFFFD")
}

// stripTerminal is cleanText without the UTF-8 repair.
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
