package redisrouterexporter // import "github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter"

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/internal/metadata"
	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/payload"
)

// Drop reasons (attribute `reason` of the dropped counter).
const (
	reasonStale     = "stale"
	reasonThrottled = "throttled"
	reasonNoRoute   = "no_route"
	reasonRejected  = "rejected"
)

type redisExporter struct {
	cfg    *Config
	logger *zap.Logger
	tel    *metadata.TelemetryBuilder

	routes   map[string]bool
	channel  *keyTemplate
	stream   *keyTemplate
	fallback *keyTemplate

	// now is time.Now; tests replace it.
	now func() time.Time

	mu     sync.Mutex
	client redis.UniversalClient

	throttle *throttler

	// Placeholders by index (built-ins first) and, per attribute name, the
	// placeholders it can fill: records are scanned once, not once per name.
	phNames  []string
	phIndex  map[string]int
	attrToPh map[string][]phSlot

	maxLenArg string // failures.maxlen, formatted once
}

func newRedisExporter(cfg *Config, set exporter.Settings) (*redisExporter, error) {
	e := &redisExporter{
		cfg:    cfg,
		logger: set.Logger,
		routes: map[string]bool{},
		now:    time.Now,
	}
	for _, r := range cfg.Routes {
		e.routes[r] = true
	}
	var err error
	if e.channel, err = parseTemplate(cfg.Progress.Channel); err != nil && e.routes[RouteProgress] {
		return nil, fmt.Errorf("progress.channel: %w", err)
	}
	if e.routes[RouteFailure] || e.routes[RouteOther] {
		if e.stream, err = parseTemplate(cfg.Failures.Stream); err != nil {
			return nil, fmt.Errorf("failures.stream: %w", err)
		}
		if e.fallback, err = parseTemplate(cfg.Failures.FallbackStream); err != nil {
			return nil, fmt.Errorf("failures.fallback_stream: %w", err)
		}
	}
	if cfg.Progress.Throttle > 0 {
		e.throttle = newThrottler(cfg.Progress.Throttle)
	}
	e.indexPlaceholders()
	for _, t := range []*keyTemplate{e.channel, e.stream, e.fallback} {
		if t != nil {
			t.phIdx = make([]int, len(t.phs))
			for i, name := range t.phs {
				t.phIdx[i] = e.phIndex[name]
			}
		}
	}
	e.maxLenArg = strconv.FormatInt(cfg.Failures.MaxLen, 10)
	if e.tel, err = metadata.NewTelemetryBuilder(set.TelemetrySettings); err != nil {
		return nil, err
	}
	return e, nil
}

// start creates the client. It does not wait for Redis: a sidecar must come
// up even when Redis is down (records wait in the sending queue); a
// background ping only logs whether Redis is reachable.
func (e *redisExporter) start(ctx context.Context, _ component.Host) error {
	opts, err := clientOptions(ctx, e.cfg)
	if err != nil {
		return err
	}
	routeRedisLogs(e.logger)
	client := redis.NewUniversalClient(opts)
	e.mu.Lock()
	e.client = client
	e.mu.Unlock()

	target := strings.Join(opts.Addrs, ",")
	go func() {
		pctx, cancel := context.WithTimeout(context.Background(), e.cfg.DialTimeout+time.Second)
		defer cancel()
		if err := client.Ping(pctx).Err(); err != nil {
			e.logger.Warn("Redis is not reachable yet; records wait in the sending queue and are retried",
				zap.String("addrs", target), zap.String("mode", e.cfg.Mode),
				zap.String("error", redactErr(err, string(e.cfg.Password), string(e.cfg.URL))))
			return
		}
		e.logger.Info("Connected to Redis", zap.String("addrs", target), zap.String("mode", e.cfg.Mode))
	}()
	return nil
}

func (e *redisExporter) shutdown(context.Context) error {
	e.mu.Lock()
	c := e.client
	e.client = nil
	e.mu.Unlock()
	if e.tel != nil {
		e.tel.Shutdown()
	}
	if c != nil {
		return c.Close()
	}
	return nil
}

// op is one Redis command planned for one log record.
type op struct {
	rec      recordRef
	progress bool
	key      string
	body     []byte // PUBLISH payload
	args     []any  // the whole XADD command
	fallback bool
	throttle string // throttle key, "" when not throttled
	cmd      redis.Cmder
}

// recordRef locates a record inside the plog.Logs being pushed.
type recordRef struct{ rl, sl, lr int }

func (e *redisExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	e.mu.Lock()
	client := e.client
	e.mu.Unlock()
	if client == nil {
		return errors.New("redisrouter exporter is not started")
	}

	now := e.now()
	ops, dropped := e.plan(ld, now)
	for reason, n := range dropped {
		if n > 0 {
			e.tel.ExporterRedisrouterDropped.Add(ctx, int64(n), metric.WithAttributes(attribute.String("reason", reason)))
		}
	}
	if len(ops) == 0 {
		return nil
	}

	expire := e.expireKeys(ops)
	start := time.Now()
	// One round trip: all commands of the batch in one pipeline. Per-command
	// errors are read back below; Pipelined's own error is just the first.
	_, pipeErr := client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range ops {
			o := &ops[i]
			if o.progress {
				o.cmd = p.Publish(ctx, o.key, o.body)
			} else {
				// Do with prebuilt arguments: XAdd would re-box every field.
				o.cmd = p.Do(ctx, o.args...)
			}
		}
		for _, k := range expire {
			p.Expire(ctx, k, e.cfg.Failures.TTL)
		}
		return nil
	})
	e.tel.ExporterRedisrouterBatchDuration.Record(ctx, time.Since(start).Seconds())

	var published, streamed, fallback, rejected int64
	var failed []recordRef
	var retryErr, permErr error
	connErr := connectionLevelError(pipeErr, ops)
	for i := range ops {
		o := &ops[i]
		err := o.cmd.Err()
		if err == nil && connErr != nil && !executed(o) {
			err = connErr
		}
		if err == nil {
			if o.progress {
				published++
				if o.throttle != "" {
					e.throttle.sent(o.throttle, now)
				}
			} else {
				streamed++
				if o.fallback {
					fallback++
				}
			}
			continue
		}
		if isPermanent(err) {
			rejected++
			if permErr == nil {
				permErr = err
			}
			continue
		}
		failed = append(failed, o.rec)
		if retryErr == nil {
			retryErr = err
		}
	}
	// An EXPIRE failure is not worth re-sending the records for (that would
	// duplicate the entries): the next XADD to the key sets it again.

	if published > 0 {
		e.tel.ExporterRedisrouterPublished.Add(ctx, published)
	}
	if streamed > 0 {
		e.tel.ExporterRedisrouterStreamed.Add(ctx, streamed)
	}
	if fallback > 0 {
		e.tel.ExporterRedisrouterFallback.Add(ctx, fallback)
	}
	if rejected > 0 {
		e.tel.ExporterRedisrouterDropped.Add(ctx, rejected, metric.WithAttributes(attribute.String("reason", reasonRejected)))
		e.logger.Error("Redis rejected records; they are dropped (retrying cannot help)",
			zap.Int64("records", rejected), zap.String("error", e.safeErr(permErr)))
	}
	if len(failed) == 0 {
		return nil
	}
	e.tel.ExporterRedisrouterFailed.Add(ctx, int64(len(failed)))
	err := fmt.Errorf("redisrouter: %d of %d records not delivered: %s", len(failed), len(ops), e.safeErr(retryErr))
	// Only the failed records go back to exporterhelper, so a retry does not
	// duplicate what already landed.
	return consumererror.NewLogs(err, subsetLogs(ld, failed))
}

func (e *redisExporter) safeErr(err error) string {
	if err == nil {
		return ""
	}
	return redactErr(err, string(e.cfg.Password), string(e.cfg.URL), string(e.cfg.SentinelPassword))
}

// expireKeys lists each job stream of the batch once.
func (e *redisExporter) expireKeys(ops []op) []string {
	if e.cfg.Failures.TTL <= 0 {
		return nil
	}
	seen := map[string]bool{}
	var keys []string
	for i := range ops {
		if ops[i].progress || ops[i].fallback || seen[ops[i].key] {
			continue
		}
		seen[ops[i].key] = true
		keys = append(keys, ops[i].key)
	}
	return keys
}

// connectionLevelError returns Pipelined's error when it is not the error of
// one of the commands: go-redis then failed before sending (dial, TLS, AUTH
// on connection init) and leaves the commands' own errors nil, so a nil
// command error does not prove delivery.
func connectionLevelError(pipeErr error, ops []op) error {
	if pipeErr == nil {
		return nil
	}
	for i := range ops {
		if ops[i].cmd.Err() == pipeErr {
			return nil
		}
	}
	return pipeErr
}

// executed tells whether a command without error really ran. An XADD that
// ran returns the entry id. A PUBLISH's count cannot tell (0 subscribers is
// a valid answer), so it is taken as not run: re-publishing progress is
// harmless, losing a failure is not.
func executed(o *op) bool {
	if c, ok := o.cmd.(*redis.Cmd); ok && !o.progress {
		return c.Val() != nil
	}
	return false
}

// isPermanent: Redis refused the command itself (wrong key type, syntax):
// sending it again cannot succeed. Connection errors, LOADING, READONLY,
// CLUSTERDOWN, OOM, auth errors... are retried: an operator can fix those.
func isPermanent(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	msg := rerr.Error()
	if strings.HasPrefix(msg, "WRONGTYPE") {
		return true
	}
	if strings.HasPrefix(msg, "ERR ") {
		for _, s := range []string{"syntax error", "wrong number of arguments", "invalid", "not an integer", "out of range", "The ID specified"} {
			if strings.Contains(msg, s) {
				return true
			}
		}
	}
	return false
}

// plan turns records into Redis commands, in record order.
func (e *redisExporter) plan(ld plog.Logs, now time.Time) ([]op, map[string]int) {
	dropped := map[string]int{}
	ops := make([]op, 0, ld.LogRecordCount())
	var throttled map[string]int // throttle key -> index in ops of the latest candidate
	// Reused for every record: resolved per record, consumed before the next.
	rc := recordContext{
		e:      e,
		recVal: make([]string, len(e.phNames)),
		recPos: make([]int, len(e.phNames)),
		scVal:  make([]string, len(e.phNames)),
		scDone: make([]bool, len(e.phNames)),
	}
	// Progress payloads are appended to one buffer per batch.
	arena := make([]byte, 0, 512*ld.LogRecordCount())
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		rc.res = rl.Resource().Attributes()
		rc.resDigest = nil
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			rc.scope = sl.Scope().Attributes()
			clear(rc.scDone) // scope/resource values are resolved once per scope
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				rc.reset(lrs.At(k))
				ref := recordRef{i, j, k}
				class := rc.a.class
				if class == "" {
					class = RouteOther
				}
				switch {
				case class == RouteProgress && e.routes[RouteProgress]:
					if e.cfg.Progress.MaxAge > 0 && isStale(rc.lr, now, e.cfg.Progress.MaxAge) {
						dropped[reasonStale]++
						continue
					}
					var o op
					var final bool
					o, final, arena = e.progressOp(&rc, now, arena)
					o.rec = ref
					if e.throttle != nil && !final {
						tkey := o.key + "\x00" + rc.raw(phJob)
						if !e.throttle.allow(tkey, now) {
							dropped[reasonThrottled]++
							continue
						}
						// Latest wins within the batch: a newer state of the
						// same bar replaces the planned one.
						if throttled == nil {
							throttled = map[string]int{}
						}
						if idx, ok := throttled[tkey]; ok {
							ops[idx].key = "" // superseded, removed below
							dropped[reasonThrottled]++
						}
						o.throttle = tkey
						throttled[tkey] = len(ops)
					}
					ops = append(ops, o)
				case class == RouteFailure && e.routes[RouteFailure], class == RouteOther && e.routes[RouteOther]:
					o := e.failureOp(&rc, now)
					o.rec = ref
					ops = append(ops, o)
				default:
					dropped[reasonNoRoute]++
				}
			}
		}
	}
	if throttled != nil {
		kept := ops[:0]
		for _, o := range ops {
			if o.key != "" {
				kept = append(kept, o)
			}
		}
		ops = kept
	}
	return ops, dropped
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

// Indexes of the built-in placeholders in redisExporter.phNames.
const (
	phMachine = iota
	phJob
	phWorkflow
	phInstance
	phService
	numBuiltinPlaceholders
)

// phSlot: attribute name -> (placeholder index, position in its name list).
type phSlot struct{ ph, pos int }

// indexPlaceholders numbers the placeholders (built-ins first) and maps each
// attribute name to the placeholders it can fill.
func (e *redisExporter) indexPlaceholders() {
	e.phNames = []string{PlaceholderMachineID, PlaceholderJobID, PlaceholderWorkflowID, PlaceholderInstance, PlaceholderServiceName}
	for _, name := range e.cfg.placeholderNames() {
		if !slices.Contains(e.phNames, name) {
			e.phNames = append(e.phNames, name)
		}
	}
	e.phIndex = map[string]int{}
	e.attrToPh = map[string][]phSlot{}
	for i, name := range e.phNames {
		e.phIndex[name] = i
		for pos, attr := range e.cfg.Attributes[name] {
			e.attrToPh[attr] = append(e.attrToPh[attr], phSlot{ph: i, pos: pos})
		}
	}
}

// comfyAttrs are the record attributes comfypattern sets (docs/attributes.md),
// read in one pass over the record's attributes.
type comfyAttrs struct {
	class, message, rule                      string
	kind, event, rateUnit                     string
	failureKind, exceptionType, exceptionMsg  string
	current, total, percent, rate             float64
	elapsed, remaining                        float64
	hasCurrent, hasTotal, hasPercent, hasRate bool
	hasElapsed, hasRemaining                  bool
}

// recordContext resolves one record's attributes and placeholders. It is
// reused across records (reset) to keep the hot path allocation-light.
type recordContext struct {
	e     *redisExporter
	lr    plog.LogRecord
	scope pcommon.Map
	res   pcommon.Map
	a     comfyAttrs

	recVal []string // placeholder values found on the record
	recPos []int    // position of the name that matched (lower wins)
	scVal  []string // placeholder values from scope, then resource
	scDone []bool

	resDigest []byte // hash of the resource attributes, once per resource

	// Consecutive records mostly share their key (same machine, same job):
	// the last rendering per template is reused when its inputs match.
	keyCache []renderedKey // one per template (at most three)
}

type renderedKey struct {
	tmpl   *keyTemplate
	inputs []string
	key    string
}

// key renders t for the current record, reusing the previous rendering when
// the record's placeholder values are the same.
func (rc *recordContext) key(t *keyTemplate) string {
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
			return rk.key
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
	return rk.key
}

func (rc *recordContext) reset(lr plog.LogRecord) {
	rc.lr = lr
	rc.a = comfyAttrs{}
	for i := range rc.recVal {
		rc.recVal[i] = ""
		rc.recPos[i] = math.MaxInt
	}
	classAttr := rc.e.cfg.ClassAttribute
	for k, v := range lr.Attributes().All() {
		if k == classAttr {
			rc.a.class = v.AsString()
		}
		if strings.HasPrefix(k, "comfy.") || strings.HasPrefix(k, "exception.") {
			rc.a.set(k, v)
		}
		if slots, ok := rc.e.attrToPh[k]; ok {
			for _, sl := range slots {
				if sl.pos < rc.recPos[sl.ph] {
					if s := strings.TrimSpace(v.AsString()); s != "" {
						rc.recVal[sl.ph] = s
						rc.recPos[sl.ph] = sl.pos
					}
				}
			}
		}
	}
}

func (a *comfyAttrs) set(k string, v pcommon.Value) {
	num := func(dst *float64, has *bool) {
		switch v.Type() {
		case pcommon.ValueTypeDouble:
			*dst, *has = v.Double(), true
		case pcommon.ValueTypeInt:
			*dst, *has = float64(v.Int()), true
		}
	}
	switch k {
	case "comfy.message":
		a.message = v.AsString()
	case "comfy.rule":
		a.rule = v.AsString()
	case "comfy.progress.kind":
		a.kind = v.AsString()
	case "comfy.progress.event":
		a.event = v.AsString()
	case "comfy.progress.rate_unit":
		a.rateUnit = v.AsString()
	case "comfy.progress.current":
		num(&a.current, &a.hasCurrent)
	case "comfy.progress.total":
		num(&a.total, &a.hasTotal)
	case "comfy.progress.percent":
		num(&a.percent, &a.hasPercent)
	case "comfy.progress.rate":
		num(&a.rate, &a.hasRate)
	case "comfy.progress.elapsed_seconds":
		num(&a.elapsed, &a.hasElapsed)
	case "comfy.progress.remaining_seconds":
		num(&a.remaining, &a.hasRemaining)
	case "comfy.failure.kind":
		a.failureKind = v.AsString()
	case "exception.type":
		a.exceptionType = v.AsString()
	case "exception.message":
		a.exceptionMsg = v.AsString()
	}
}

// raw returns placeholder ph's value as found (record, then scope, then
// resource; names in configured order), "" when absent.
func (rc *recordContext) raw(ph int) string {
	if v := rc.recVal[ph]; v != "" {
		return v
	}
	if !rc.scDone[ph] {
		names := rc.e.cfg.Attributes[rc.e.phNames[ph]]
		rc.scVal[ph] = lookupAttr(names, rc.scope, rc.res)
		rc.scDone[ph] = true
	}
	return rc.scVal[ph]
}

// resourceDigest hashes the resource identity once per resource.
func (rc *recordContext) resourceDigest() []byte {
	if rc.resDigest == nil {
		rc.resDigest = resourceDigest(rc.res)
	}
	return rc.resDigest
}

// machineID is the raw machine id or the configured default.
func (rc *recordContext) machineID() string {
	if v := rc.raw(phMachine); v != "" {
		return v
	}
	return rc.e.cfg.DefaultMachineID
}

// keyPart is the sanitised value of a placeholder (by name) for a key.
func (rc *recordContext) keyPart(name string) string {
	ph := rc.e.phIndex[name]
	v := rc.raw(ph)
	if ph == phMachine && v == "" {
		v = rc.e.cfg.DefaultMachineID
	}
	s := sanitizeKeyPart(v, rc.e.cfg.MaxKeyPartLength)
	if s == "" {
		return "unknown"
	}
	return s
}

func lookupAttr(names []string, maps ...pcommon.Map) string {
	for _, m := range maps {
		for _, n := range names {
			if v, ok := m.Get(n); ok {
				if s := strings.TrimSpace(v.AsString()); s != "" {
					return s
				}
			}
		}
	}
	return ""
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

func ptrIf(v *float64, ok bool) *float64 {
	if ok {
		return v
	}
	return nil
}

func (e *redisExporter) progressOp(rc *recordContext, now time.Time, arena []byte) (op, bool, []byte) {
	a := &rc.a
	ts := recordTime(rc.lr, now)
	body := cleanLine(rc.lr.Body().AsString())
	msg := a.message
	if msg == "" {
		msg = body
	}
	if body == "" {
		body = msg
	}
	d := payload.ProgressDetail{
		Current:          ptrIf(&a.current, a.hasCurrent),
		Total:            ptrIf(&a.total, a.hasTotal),
		Message:          msg,
		Percent:          ptrIf(&a.percent, a.hasPercent),
		Kind:             a.kind,
		Event:            a.event,
		Rate:             ptrIf(&a.rate, a.hasRate),
		RateUnit:         a.rateUnit,
		ElapsedSeconds:   ptrIf(&a.elapsed, a.hasElapsed),
		RemainingSeconds: ptrIf(&a.remaining, a.hasRemaining),
		Rule:             a.rule,
	}
	final := a.kind == "lifecycle" || a.event != "" ||
		(a.hasCurrent && a.hasTotal && a.total > 0 && a.current >= a.total)
	var tsBuf [32]byte
	p := payload.Progress{
		Timestamp:   string(payload.AppendTimestamp(tsBuf[:0], ts)),
		TimestampMs: ts.UnixMilli(),
		MachineID:   rc.machineID(),
		Message:     body,
		Progress:    d,
		JobID:       rc.raw(phJob),
		WorkflowID:  rc.raw(phWorkflow),
		Instance:    rc.raw(phInstance),
		ServiceName: rc.raw(phService),
		Final:       final,
	}
	start := len(arena)
	arena = payload.AppendProgress(arena, &p)
	// Full slice expression: a later append to the arena never writes into
	// this payload's capacity.
	body2 := arena[start:len(arena):len(arena)]
	return op{progress: true, key: rc.key(e.channel), body: body2}, final, arena
}

func (e *redisExporter) failureOp(rc *recordContext, now time.Time) op {
	lr := rc.lr
	a := &rc.a
	msg := cleanText(lr.Body().AsString())
	if strings.TrimSpace(msg) == "" {
		msg = a.message
	}
	if msg == "" {
		if v, ok := lr.Attributes().Get("exception.stacktrace"); ok {
			msg = v.AsString()
		}
	}
	sev := lr.SeverityText()
	if sev == "" && lr.SeverityNumber() != plog.SeverityNumberUnspecified {
		sev = lr.SeverityNumber().String()
	}
	var tsBuf [32]byte
	f := payload.Failure{
		EventID:          eventID(lr, rc.resourceDigest()),
		Timestamp:        string(payload.AppendTimestamp(tsBuf[:0], recordTime(lr, now))),
		MachineID:        rc.machineID(),
		JobID:            rc.raw(phJob),
		Message:          msg,
		Kind:             a.failureKind,
		ExceptionType:    a.exceptionType,
		ExceptionMessage: a.exceptionMsg,
		Severity:         sev,
		ServiceName:      rc.raw(phService),
		Instance:         rc.raw(phInstance),
		WorkflowID:       rc.raw(phWorkflow),
		Rule:             a.rule,
	}
	if id := lr.TraceID(); !id.IsEmpty() {
		f.TraceID = id.String()
	}
	if id := lr.SpanID(); !id.IsEmpty() {
		f.SpanID = id.String()
	}
	o := op{}
	if e.stream.uses(PlaceholderJobID) && f.JobID == "" {
		o.key = rc.key(e.fallback)
		o.fallback = true
	} else {
		o.key = rc.key(e.stream)
	}
	o.args = make([]any, 0, 6+2*16)
	o.args = append(o.args, "xadd", o.key, "maxlen", "~", e.maxLenArg, "*")
	o.args = f.AppendFields(o.args)
	return o
}

// subsetLogs copies the referenced records (in order) with their resource
// and scope into a new plog.Logs.
func subsetLogs(ld plog.Logs, refs []recordRef) plog.Logs {
	out := plog.NewLogs()
	lastRL, lastSL := -1, -1
	var orl plog.ResourceLogs
	var osl plog.ScopeLogs
	for _, r := range refs {
		rl := ld.ResourceLogs().At(r.rl)
		if r.rl != lastRL {
			orl = out.ResourceLogs().AppendEmpty()
			rl.Resource().CopyTo(orl.Resource())
			orl.SetSchemaUrl(rl.SchemaUrl())
			lastRL, lastSL = r.rl, -1
		}
		sl := rl.ScopeLogs().At(r.sl)
		if r.sl != lastSL {
			osl = orl.ScopeLogs().AppendEmpty()
			sl.Scope().CopyTo(osl.Scope())
			osl.SetSchemaUrl(sl.SchemaUrl())
			lastSL = r.sl
		}
		sl.LogRecords().At(r.lr).CopyTo(osl.LogRecords().AppendEmpty())
	}
	return out
}
