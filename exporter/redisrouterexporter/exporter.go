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

// Drop reasons, indexes into a per-batch count; dropReasons holds the value
// of the dropped counter's `reason` attribute.
const (
	reasonStale = iota
	reasonThrottled
	reasonNoRoute
	reasonRejected
	numDropReasons
)

var dropReasons = [numDropReasons]string{
	reasonStale:     "stale",
	reasonThrottled: "throttled",
	reasonNoRoute:   "no_route",
	reasonRejected:  "rejected",
}

type redisExporter struct {
	cfg    *Config
	logger *zap.Logger
	tel    *metadata.TelemetryBuilder

	channel  *keyTemplate
	stream   *keyTemplate
	fallback *keyTemplate
	// streamNeedsJob: the stream template uses {job_id}, so a failure
	// without one goes to the fallback stream.
	streamNeedsJob bool

	// Which classes are sent (cfg.Routes), as fields: read for every record.
	sendProgress, sendFailure, sendOther bool

	// now is time.Now; tests replace it.
	now func() time.Time

	mu     sync.Mutex
	client redis.UniversalClient

	throttle *throttler

	// Placeholders by index (built-ins first) and, per attribute name, what
	// it means to the exporter (class, a comfypattern field, placeholders it
	// can fill): records are scanned once, one lookup per attribute.
	phNames   []string
	phIndex   map[string]int
	attrRoles *roleTable

	maxLenArg any // failures.maxlen, formatted and boxed once
}

func newRedisExporter(cfg *Config, set exporter.Settings) (*redisExporter, error) {
	e := &redisExporter{
		cfg:    cfg,
		logger: set.Logger,
		now:    time.Now,
	}
	for _, r := range cfg.Routes {
		switch r {
		case RouteProgress:
			e.sendProgress = true
		case RouteFailure:
			e.sendFailure = true
		case RouteOther:
			e.sendOther = true
		}
	}
	var err error
	if e.channel, err = parseTemplate(cfg.Progress.Channel); err != nil && e.sendProgress {
		return nil, fmt.Errorf("progress.channel: %w", err)
	}
	if e.sendFailure || e.sendOther {
		if e.stream, err = parseTemplate(cfg.Failures.Stream); err != nil {
			return nil, fmt.Errorf("failures.stream: %w", err)
		}
		if e.fallback, err = parseTemplate(cfg.Failures.FallbackStream); err != nil {
			return nil, fmt.Errorf("failures.fallback_stream: %w", err)
		}
		e.streamNeedsJob = e.stream.uses(PlaceholderJobID)
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
	keyArg   any        // key boxed once per distinct key (see recordContext.key)
	body     payloadArg // PUBLISH payload
	failure  int        // XADD fields: index in batchBuffers.failures
	fallback bool
	throttle string // throttle key, "" when not throttled
	cmd      redis.Cmder
}

// payloadArg hands a PUBLISH payload to go-redis without a copy or an
// allocation: go-redis writes an encoding.BinaryMarshaler as a bulk string,
// and a pointer fits an interface value as it is, where a []byte would be
// boxed on the heap once per record.
type payloadArg struct{ b []byte }

func (p *payloadArg) MarshalBinary() ([]byte, error) { return p.b, nil }

// batchBuffers are the per-push scratch buffers: the planned commands, the
// progress payloads (one arena), the stream fields and the commands'
// argument lists. They are pooled because a push of 500 progress records
// otherwise allocates ~250 kB that the GC must clear and return right away,
// a large share of the exporter's cost at high rates.
type batchBuffers struct {
	ops      []op
	arena    []byte
	args     []any
	failures []payload.Failure // kept apart from ops: progress ops stay small
}

// The pool keeps buffers for batches up to these sizes: an unusually large
// batch is served, then its buffers are left to the GC instead of being held.
const (
	maxPooledArena   = 4 << 20
	maxPooledRecords = 16384
)

var batchPool = sync.Pool{New: func() any { return new(batchBuffers) }}

func getBatchBuffers() *batchBuffers { return batchPool.Get().(*batchBuffers) }

func putBatchBuffers(b *batchBuffers) {
	if cap(b.arena) > maxPooledArena || cap(b.ops) > maxPooledRecords {
		return
	}
	// Drop references (commands, payloads, strings) before pooling.
	clear(b.ops)
	clear(b.args)
	clear(b.failures)
	b.ops, b.arena, b.args, b.failures = b.ops[:0], b.arena[:0], b.args[:0], b.failures[:0]
	batchPool.Put(b)
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
	buf := getBatchBuffers()
	defer putBatchBuffers(buf)
	ops, dropped := e.plan(ld, now, buf)
	for reason, n := range dropped {
		if n > 0 {
			e.tel.ExporterRedisrouterDropped.Add(ctx, int64(n), metric.WithAttributes(attribute.String("reason", dropReasons[reason])))
		}
	}
	if len(ops) == 0 {
		return nil
	}

	expire := e.expireKeys(ops)
	// Argument lists of the whole batch, cut from one slice sized up front:
	// 3 per PUBLISH, at most 6 + MaxFailureFields per XADD.
	nFailures := len(buf.failures)
	need := 3*(len(ops)-nFailures) + (6+payload.MaxFailureFields)*nFailures
	if cap(buf.args) < need {
		buf.args = make([]any, 0, need)
	}
	start := time.Now()
	// One round trip: all commands of the batch in one pipeline. Per-command
	// errors are read back below; Pipelined's own error is just the first.
	_, pipeErr := client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range ops {
			o := &ops[i]
			if o.progress {
				// PUBLISH as Publish builds it, with the argument list cut
				// from one batch slice and nothing boxed per record: one
				// allocation (the command) instead of four.
				n := len(buf.args)
				buf.args = append(buf.args, "publish", o.keyArg, &o.body)
				cmd := redis.NewIntCmd(ctx, buf.args[n:n+3:n+3]...)
				_ = p.Process(ctx, cmd)
				o.cmd = cmd
			} else {
				// XADD through Do with the arguments built here: XAdd
				// would copy and box every field of every record.
				n := len(buf.args)
				buf.args = append(buf.args, "xadd", o.keyArg, "maxlen", "~", e.maxLenArg, "*")
				buf.args = buf.failures[o.failure].AppendFields(buf.args)
				o.cmd = p.Do(ctx, buf.args[n:len(buf.args):len(buf.args)]...)
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
		e.tel.ExporterRedisrouterDropped.Add(ctx, rejected, metric.WithAttributes(attribute.String("reason", dropReasons[reasonRejected])))
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

// plan turns records into Redis commands, in record order, in buf's
// buffers.
func (e *redisExporter) plan(ld plog.Logs, now time.Time, buf *batchBuffers) ([]op, [numDropReasons]int) {
	var dropped [numDropReasons]int
	n := ld.LogRecordCount()
	if cap(buf.ops) < n {
		buf.ops = make([]op, 0, n)
	}
	ops := buf.ops[:0]
	var throttled map[string]int // throttle key -> index in ops of the latest candidate
	// Reused for every record: resolved per record, consumed before the next.
	rc := recordContext{
		e:      e,
		recVal: make([]string, len(e.phNames)),
		recPos: make([]int, len(e.phNames)),
		scVal:  make([]string, len(e.phNames)),
		scPos:  make([]int, len(e.phNames)),
		resVal: make([]string, len(e.phNames)),
	}
	// Progress payloads are appended to one buffer per batch.
	arena := buf.arena[:0]
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		rc.res = rl.Resource().Attributes()
		rc.resDigest = rc.resDigest[:0]
		// Placeholder values from the resource: one scan per resource.
		clear(rc.resVal)
		rc.scan(rc.res, rc.resVal, rc.scPos)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			rc.scope = sl.Scope().Attributes()
			// Scope values, else the resource's: one scan per scope.
			clear(rc.scVal)
			rc.scan(rc.scope, rc.scVal, rc.scPos)
			for ph, v := range rc.scVal {
				if v == "" {
					rc.scVal[ph] = rc.resVal[ph]
				}
			}
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				rc.reset(lrs.At(k))
				ref := recordRef{i, j, k}
				class := rc.a.class
				if class == "" {
					class = RouteOther
				}
				switch {
				case class == RouteProgress && e.sendProgress:
					if e.cfg.Progress.MaxAge > 0 && isStale(rc.lr, now, e.cfg.Progress.MaxAge) {
						dropped[reasonStale]++
						continue
					}
					var o op
					var final bool
					if cap(arena) == 0 { // sized at the first payload: failure-only batches need none
						arena = make([]byte, 0, 512*n)
					}
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
				case class == RouteFailure && e.sendFailure, class == RouteOther && e.sendOther:
					o := e.failureOp(&rc, now, buf)
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
		clear(ops[len(kept):]) // so that clearing buf.ops before pooling is enough
		ops = kept
	}
	// Back to buf, so the (possibly grown) buffers are pooled.
	buf.ops, buf.arena = ops, arena
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
	roles := map[string]attrRole{}
	for name, f := range comfyFieldByName {
		roles[name] = attrRole{field: f}
	}
	for i, name := range e.phNames {
		e.phIndex[name] = i
		for pos, attr := range e.cfg.Attributes[name] {
			r := roles[attr]
			r.slots = append(r.slots, phSlot{ph: i, pos: pos})
			roles[attr] = r
		}
	}
	r := roles[e.cfg.ClassAttribute]
	r.class = true
	roles[e.cfg.ClassAttribute] = r
	e.attrRoles = newRoleTable(roles)
}

// attrRole is what a record attribute name means to the exporter; one name
// can be several things (comfy.instance is a field and a placeholder).
type attrRole struct {
	class bool       // the class attribute (comfy.class)
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
	scPos  []int    // scratch for scan
	resVal []string // placeholder values from the resource

	resDigest []byte // hash of the resource attributes, once per resource; empty until needed

	// Consecutive records mostly share their key (same machine, same job):
	// the last rendering per template is reused when its inputs match.
	keyCache []renderedKey // one per template (at most three)

	ts  payload.TimestampAppender // reuses the date and minute across records
	ids eventHasher               // reuses one SHA-256 state across records
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

func (rc *recordContext) reset(lr plog.LogRecord) {
	rc.lr = lr
	rc.a = comfyAttrs{}
	for i := range rc.recVal {
		rc.recVal[i] = ""
		rc.recPos[i] = math.MaxInt
	}
	for k, v := range lr.Attributes().All() {
		role := rc.e.attrRoles.get(k)
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
		a.message = v.AsString()
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
	}
}

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
		if role := rc.e.attrRoles.get(k); role != nil {
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

// resourceDigest hashes the resource identity once per resource.
func (rc *recordContext) resourceDigest() []byte {
	if len(rc.resDigest) == 0 {
		rc.resDigest = rc.ids.resourceDigest(rc.res, rc.resDigest)
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
		Timestamp:   string(rc.ts.Append(tsBuf[:0], ts)),
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
	key, keyArg := rc.key(e.channel)
	return op{progress: true, key: key, keyArg: keyArg, body: payloadArg{b: body2}}, final, arena
}

func (e *redisExporter) failureOp(rc *recordContext, now time.Time, buf *batchBuffers) op {
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
	o := op{failure: len(buf.failures)}
	buf.failures = append(buf.failures, payload.Failure{
		EventID:          rc.ids.id(lr, rc.resourceDigest()),
		Timestamp:        string(rc.ts.Append(tsBuf[:0], recordTime(lr, now))),
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
	})
	f := &buf.failures[o.failure]
	if id := lr.TraceID(); !id.IsEmpty() {
		f.TraceID = id.String()
	}
	if id := lr.SpanID(); !id.IsEmpty() {
		f.SpanID = id.String()
	}
	if e.streamNeedsJob && f.JobID == "" {
		o.key, o.keyArg = rc.key(e.fallback)
		o.fallback = true
	} else {
		o.key, o.keyArg = rc.key(e.stream)
	}
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
