package redisrouterexporter // import "github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter"

// The per-record path, top to bottom: pushLogs maps each record to a
// message (plan, with mapping.go; with failures.incident on, each incident
// of failure records to one message, incidents.go), sends the batch in one
// pipeline (transport.go), then settles each message by its outcome:
// delivered, dead-lettered, dropped and counted, or handed back for retry
// (all the records it stands for).

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/internal/metadata"
	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/payload"
)

type redisExporter struct {
	cfg      *Config
	logger   *zap.Logger
	tel      *metadata.TelemetryBuilder
	met      *metrics
	mapper   *mapper
	tr       *transport
	throttle *throttler // nil: progress.throttle is 0

	// now is time.Now; tests replace it.
	now func() time.Time
}

func newRedisExporter(cfg *Config, set exporter.Settings) (*redisExporter, error) {
	m, err := newMapper(cfg)
	if err != nil {
		return nil, err
	}
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	met := newMetrics(tel, set.ID.String())
	e := &redisExporter{
		cfg:    cfg,
		logger: set.Logger,
		tel:    tel,
		met:    met,
		mapper: m,
		tr:     newTransport(cfg, set.Logger, met),
		now:    time.Now,
	}
	if cfg.Progress.Throttle > 0 {
		e.throttle = newThrottler(cfg.Progress.Throttle)
	}
	return e, nil
}

func (e *redisExporter) start(ctx context.Context, host component.Host) error {
	return e.tr.start(ctx, host)
}

func (e *redisExporter) shutdown(ctx context.Context) error {
	err := e.tr.shutdown(ctx)
	e.tel.Shutdown()
	return err
}

// pushLogs is exporterhelper's push function: one batch, one pipeline.
func (e *redisExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	now := e.now()
	buf := getBatchBuffers()
	defer putBatchBuffers(buf)

	// 1. Each record becomes one message (each incident, with
	// failures.incident), or is dropped and counted.
	msgs := e.plan(ctx, ld, now, buf)
	if len(msgs) == 0 {
		return nil
	}

	// 2. One round trip for the whole batch.
	e.tr.send(ctx, msgs, buf)

	// 3. Settle each message by its outcome; metrics count records.
	var (
		published, streamed, fallback, refused int64
		records                                int64 // records the messages stand for
		kinds                                  [numKinds]int64
		worst                                  errorClass // decides the health verdict
		worstErr                               error
		deadLetter                             []int // failures whose stream Redis refused
		retry                                  []recordRef
		retryErr                               error
	)
	for i := range msgs {
		m := &msgs[i]
		records += m.count()
		if m.err == nil {
			if m.progress {
				published++
				if m.throttle != "" {
					e.throttle.sent(m.throttle, now)
				}
			} else {
				streamed += m.count()
				if m.fallback {
					fallback += m.count()
				}
			}
			continue
		}
		cls := classify(m.err)
		kinds[cls.kind]++
		if cls.unhealthy() && !worst.unhealthy() {
			worst, worstErr = cls, m.err
		}
		switch {
		case cls.refused && m.progress:
			// Best effort: a channel Redis refuses is not retried.
			refused++
		case cls.refused:
			deadLetter = append(deadLetter, i)
		default:
			retry = m.records(retry)
			if retryErr == nil {
				retryErr = m.err
			}
		}
	}
	for k, n := range kinds {
		e.met.redisError(ctx, errKind(k), n)
	}
	e.met.published(ctx, published)
	e.met.streamed(ctx, streamed)
	e.met.fallback(ctx, fallback)
	e.met.dropped(ctx, reasonRefused, refused)

	// 4. A second round trip when needed: failures Redis refused go to
	// their machine's dead-letter stream; job streams that took entries
	// get their TTL.
	refusedErr := make([]error, len(deadLetter))
	for j, i := range deadLetter {
		refusedErr[j] = msgs[i].err
	}
	e.tr.followUp(ctx, msgs, deadLetter, e.tr.expireKeys(msgs, now), buf)
	for j, i := range deadLetter {
		m := &msgs[i]
		cls := classify(m.err)
		switch {
		case m.err == nil:
			e.met.deadLettered(ctx, classify(refusedErr[j]).deadLetterReason, m.count())
			e.logger.Warn("Redis refused a failure's stream; the record went to the dead-letter stream",
				zap.String("key", m.key), zap.String("dead_letter_stream", m.deadLetter), zap.String("error", e.tr.safeErr(refusedErr[j])))
		case cls.refused:
			e.met.redisError(ctx, cls.kind, 1)
			e.met.dropped(ctx, reasonDeadLetterRefused, m.count())
			e.logger.Error("Redis refused a failure's stream and its dead-letter stream; the record is dropped",
				zap.String("key", m.key), zap.String("dead_letter_stream", m.deadLetter),
				zap.String("error", e.tr.safeErr(refusedErr[j])), zap.String("dead_letter_error", e.tr.safeErr(m.err)))
		default:
			e.met.redisError(ctx, cls.kind, 1)
			if cls.unhealthy() && !worst.unhealthy() {
				worst, worstErr = cls, m.err
			}
			retry = m.records(retry)
			if retryErr == nil {
				retryErr = m.err
			}
		}
	}

	// 5. Health: any connection or configuration error marks Redis down;
	// a batch without one marks it up.
	e.tr.observeHealth(worst, worstErr, false)

	if len(retry) == 0 {
		return nil
	}
	e.met.failed(ctx, int64(len(retry)))
	err := fmt.Errorf("redisrouter: %d of %d records not delivered: %s", len(retry), records, e.tr.safeErr(retryErr))
	// Only the failed records go back to exporterhelper, so a retry does not
	// duplicate what already landed: all the records of each incident that
	// failed (grouped again on the retry, they make the same incident with
	// the same event id), none of an incident that landed.
	sortRefs(retry)
	return consumererror.NewLogs(err, subsetLogs(ld, retry))
}

// plan turns records into messages, in record order, in buf's buffers
// (with failures.incident, the failures' incidents follow the progress
// messages, in the order of their first records):
// comfy.class says what each record is; progress older than max_age and
// progress the throttle holds back are dropped; anything that is neither
// progress nor failure was not routed here and is dropped too (the routing
// connector sends each instance its class). Drops are counted.
func (e *redisExporter) plan(ctx context.Context, ld plog.Logs, now time.Time, buf *batchBuffers) []message {
	var stale, throttled, notRouted int64
	n := ld.LogRecordCount()
	if cap(buf.msgs) < n {
		buf.msgs = make([]message, 0, n)
	}
	msgs := buf.msgs[:0]
	buf.refs = buf.refs[:0]
	var latest map[string]int // throttle key -> index in msgs of the latest state
	rc := buf.rc(e.mapper)
	arena := buf.arena[:0]
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		rc.setResource(rl.Resource().Attributes())
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			rc.setScope(sl.Scope().Attributes())
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				rc.reset(lrs.At(k))
				ref := recordRef{i, j, k}
				switch rc.class() {
				case ClassProgress:
					if e.cfg.Progress.MaxAge > 0 && isStale(rc.lr, now, e.cfg.Progress.MaxAge) {
						stale++
						continue
					}
					if cap(arena) == 0 { // sized at the first payload: failure batches need none
						arena = make([]byte, 0, 512*n)
					}
					var m message
					var final bool
					m, final, arena = rc.progress(now, arena)
					m.rec = ref
					if e.throttle != nil && !final {
						tkey := m.key + "\x00" + rc.raw(phJob)
						if !e.throttle.allow(tkey, now) {
							throttled++
							continue
						}
						// Latest wins within the batch: a newer state of the
						// same bar replaces the planned one.
						if latest == nil {
							latest = map[string]int{}
						}
						if idx, ok := latest[tkey]; ok {
							msgs[idx].key = "" // superseded, removed below
							throttled++
						}
						m.throttle = tkey
						latest[tkey] = len(msgs)
					}
					msgs = append(msgs, m)
				case ClassFailure:
					if e.mapper.grouper != nil {
						// Mapped per incident once all are known (incidents.go).
						buf.refs = append(buf.refs, ref)
						continue
					}
					var m message
					m, buf.failures = rc.failure(now, buf.failures)
					m.rec = ref
					msgs = append(msgs, m)
				default:
					notRouted++
				}
			}
		}
	}
	if latest != nil {
		kept := msgs[:0]
		for _, m := range msgs {
			if m.key != "" {
				kept = append(kept, m)
			}
		}
		clear(msgs[len(kept):]) // so that clearing buf.msgs before pooling is enough
		msgs = kept
	}
	if len(buf.refs) > 0 {
		msgs = e.planIncidents(ld, buf.refs, now, buf, msgs)
	}
	// Back to buf, so the (possibly grown) buffers are pooled.
	buf.msgs, buf.arena = msgs, arena
	e.met.dropped(ctx, reasonStale, stale)
	e.met.dropped(ctx, reasonThrottled, throttled)
	e.met.dropped(ctx, reasonNotRouted, notRouted)
	return msgs
}

// batchBuffers are one push's scratch buffers: messages, progress payloads
// (one arena), stream fields, the commands and their argument lists, the
// record context. Pooled: a push of 500 progress records otherwise
// allocates ~250 kB that the GC must clear and return right away
// (docs/benchmarks.md).
type batchBuffers struct {
	msgs     []message
	arena    []byte
	args     []any
	cmds     []redis.Cmder
	failures []payload.Failure
	refs     []recordRef // failure records awaiting grouping
	members  []recordRef // the incidents' members, one slab
	ctx      *recordContext
}

// rc returns the pooled record context of mapper m.
func (b *batchBuffers) rc(m *mapper) *recordContext {
	if b.ctx == nil || b.ctx.m != m {
		b.ctx = m.newRecordContext()
	}
	return b.ctx
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
	if cap(b.arena) > maxPooledArena || cap(b.msgs) > maxPooledRecords || cap(b.refs) > maxPooledRecords {
		return
	}
	// Drop references (payloads, strings, records) before pooling.
	clear(b.msgs)
	clear(b.args)
	clear(b.failures)
	b.msgs, b.arena, b.args, b.failures = b.msgs[:0], b.arena[:0], b.args[:0], b.failures[:0]
	b.refs, b.members = b.refs[:0], b.members[:0]
	if b.ctx != nil {
		b.ctx.lr, b.ctx.scope, b.ctx.res, b.ctx.digestOf = plog.LogRecord{}, pcommon.Map{}, pcommon.Map{}, pcommon.Map{}
		// The next batch starts afresh: its records are not this batch's.
		b.ctx.resDigest = b.ctx.resDigest[:0]
	}
	batchPool.Put(b)
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
