package redisrouterexporter // import "github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter"

import (
	"context"
	"errors"
	"fmt"
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
	body     []byte   // PUBLISH payload
	fields   []string // XADD field/value pairs
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
	_, _ = client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range ops {
			o := &ops[i]
			if o.progress {
				o.cmd = p.Publish(ctx, o.key, o.body)
			} else {
				o.cmd = p.XAdd(ctx, &redis.XAddArgs{Stream: o.key, MaxLen: e.cfg.Failures.MaxLen, Approx: true, Values: o.fields})
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
	for i := range ops {
		o := &ops[i]
		err := o.cmd.Err()
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
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource().Attributes()
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			scope := sl.Scope().Attributes()
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				rc := recordContext{e: e, lr: lr, scope: scope, res: res}
				ref := recordRef{i, j, k}
				class := RouteOther
				if v, ok := lr.Attributes().Get(e.cfg.ClassAttribute); ok {
					class = v.AsString()
				}
				switch {
				case class == RouteProgress && e.routes[RouteProgress]:
					if e.cfg.Progress.MaxAge > 0 && isStale(lr, now, e.cfg.Progress.MaxAge) {
						dropped[reasonStale]++
						continue
					}
					o, final := e.progressOp(&rc, now)
					o.rec = ref
					if e.throttle != nil && !final {
						tkey := o.key + "\x00" + rc.raw(PlaceholderJobID)
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

// recordContext resolves placeholders for one record, caching lookups.
type recordContext struct {
	e     *redisExporter
	lr    plog.LogRecord
	scope pcommon.Map
	res   pcommon.Map
	cache map[string]string
}

// raw returns the placeholder's value as found (record, scope, resource;
// names in configured order), "" when absent.
func (rc *recordContext) raw(ph string) string {
	if v, ok := rc.cache[ph]; ok {
		return v
	}
	v := lookupAttr(rc.e.cfg.Attributes[ph], rc.lr.Attributes(), rc.scope, rc.res)
	if rc.cache == nil {
		rc.cache = make(map[string]string, 4)
	}
	rc.cache[ph] = v
	return v
}

// machineID is the raw machine id or the configured default.
func (rc *recordContext) machineID() string {
	if v := rc.raw(PlaceholderMachineID); v != "" {
		return v
	}
	return rc.e.cfg.DefaultMachineID
}

// keyPart is the sanitised value for a key.
func (rc *recordContext) keyPart(ph string) string {
	v := rc.raw(ph)
	if ph == PlaceholderMachineID && v == "" {
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

func attrString(m pcommon.Map, k string) string {
	if v, ok := m.Get(k); ok {
		return v.AsString()
	}
	return ""
}

func attrFloat(m pcommon.Map, k string) *float64 {
	v, ok := m.Get(k)
	if !ok {
		return nil
	}
	var f float64
	switch v.Type() {
	case pcommon.ValueTypeDouble:
		f = v.Double()
	case pcommon.ValueTypeInt:
		f = float64(v.Int())
	default:
		return nil
	}
	return &f
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

func (e *redisExporter) progressOp(rc *recordContext, now time.Time) (op, bool) {
	attrs := rc.lr.Attributes()
	ts := recordTime(rc.lr, now)
	body := cleanLine(rc.lr.Body().AsString())
	msg := attrString(attrs, "comfy.message")
	if msg == "" {
		msg = body
	}
	if body == "" {
		body = msg
	}
	d := payload.ProgressDetail{
		Current:          attrFloat(attrs, "comfy.progress.current"),
		Total:            attrFloat(attrs, "comfy.progress.total"),
		Message:          msg,
		Percent:          attrFloat(attrs, "comfy.progress.percent"),
		Kind:             attrString(attrs, "comfy.progress.kind"),
		Event:            attrString(attrs, "comfy.progress.event"),
		Rate:             attrFloat(attrs, "comfy.progress.rate"),
		RateUnit:         attrString(attrs, "comfy.progress.rate_unit"),
		ElapsedSeconds:   attrFloat(attrs, "comfy.progress.elapsed_seconds"),
		RemainingSeconds: attrFloat(attrs, "comfy.progress.remaining_seconds"),
		Rule:             attrString(attrs, "comfy.rule"),
	}
	final := d.Kind == "lifecycle" || d.Event != "" ||
		(d.Current != nil && d.Total != nil && *d.Total > 0 && *d.Current >= *d.Total)
	p := payload.Progress{
		Timestamp:   payload.FormatTimestamp(ts),
		TimestampMs: ts.UnixMilli(),
		MachineID:   rc.machineID(),
		Message:     body,
		Progress:    d,
		JobID:       rc.raw(PlaceholderJobID),
		WorkflowID:  rc.raw(PlaceholderWorkflowID),
		Instance:    rc.raw(PlaceholderInstance),
		ServiceName: rc.raw(PlaceholderServiceName),
		Final:       final,
	}
	b, err := payload.EncodeProgress(&p)
	if err != nil { // cannot happen: only strings and finite numbers
		b = []byte(`{}`)
	}
	return op{progress: true, key: e.channel.render(rc.keyPart), body: b}, final
}

func (e *redisExporter) failureOp(rc *recordContext, now time.Time) op {
	lr := rc.lr
	attrs := lr.Attributes()
	msg := cleanText(lr.Body().AsString())
	if strings.TrimSpace(msg) == "" {
		msg = attrString(attrs, "comfy.message")
	}
	if msg == "" {
		msg = attrString(attrs, "exception.stacktrace")
	}
	sev := lr.SeverityText()
	if sev == "" && lr.SeverityNumber() != plog.SeverityNumberUnspecified {
		sev = lr.SeverityNumber().String()
	}
	f := payload.Failure{
		EventID:          eventID(lr, rc.scope, rc.res),
		Timestamp:        payload.FormatTimestamp(recordTime(lr, now)),
		MachineID:        rc.machineID(),
		JobID:            rc.raw(PlaceholderJobID),
		Message:          msg,
		Kind:             attrString(attrs, "comfy.failure.kind"),
		ExceptionType:    attrString(attrs, "exception.type"),
		ExceptionMessage: attrString(attrs, "exception.message"),
		Severity:         sev,
		ServiceName:      rc.raw(PlaceholderServiceName),
		Instance:         rc.raw(PlaceholderInstance),
		WorkflowID:       rc.raw(PlaceholderWorkflowID),
		Rule:             attrString(attrs, "comfy.rule"),
	}
	if id := lr.TraceID(); !id.IsEmpty() {
		f.TraceID = id.String()
	}
	if id := lr.SpanID(); !id.IsEmpty() {
		f.SpanID = id.String()
	}
	o := op{fields: f.Fields()}
	if e.stream.uses(PlaceholderJobID) && f.JobID == "" {
		o.key = e.fallback.render(rc.keyPart)
		o.fallback = true
	} else {
		o.key = e.stream.render(rc.keyPart)
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
