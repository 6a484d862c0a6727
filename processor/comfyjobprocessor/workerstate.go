package comfyjobprocessor // import "github.com/comfy-sidecar/otelcol-comfy/processor/comfyjobprocessor"

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
)

// workerState follows the job workers' state in Redis: it polls each known
// worker's hash and listens to the status channel. Redis is read-only here,
// and its absence never blocks or fails the pipeline: errors are logged
// (at most every logEvery) and counted, and the last known state stays.
type workerState struct {
	p      *logsProcessor
	cfg    WorkerStateConfig
	client *redis.Client

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// ps is the current subscription: Receive does not watch its context,
	// so stop closes it to end the loop.
	psMu sync.Mutex
	ps   *redis.PubSub

	// failingUntil (Unix ns): inline lookups are skipped until then.
	failingUntil atomic.Int64
	lastLog      atomic.Int64
	opts         map[string]metric.AddOption
}

const (
	logEvery       = 30 * time.Second
	lookupCooldown = 5 * time.Second
)

func redisOptions(cfg WorkerStateConfig) (*redis.Options, error) {
	var o *redis.Options
	if cfg.URL != "" {
		var err error
		if o, err = redis.ParseURL(string(cfg.URL)); err != nil {
			return nil, err
		}
	} else {
		o = &redis.Options{Addr: cfg.Endpoint, DB: cfg.DB}
	}
	if cfg.Username != "" {
		o.Username = cfg.Username
	}
	if cfg.Password != "" {
		o.Password = string(cfg.Password)
	}
	return o, nil
}

func newWorkerState(p *logsProcessor, cfg WorkerStateConfig) (*workerState, error) {
	o, err := redisOptions(cfg)
	if err != nil {
		return nil, err
	}
	o.DialTimeout = cfg.Timeout
	o.ReadTimeout = cfg.Timeout
	o.WriteTimeout = cfg.Timeout
	// Fail fast and retry at the next poll instead of inside a call.
	o.MaxRetries = -1
	o.PoolSize = 4
	w := &workerState{p: p, cfg: cfg, client: redis.NewClient(o), opts: map[string]metric.AddOption{}}
	for _, op := range []string{"poll", "subscribe", "lookup"} {
		w.opts[op] = metric.WithAttributeSet(attribute.NewSet(attribute.String("operation", op)))
	}
	return w, nil
}

func (w *workerState) start() {
	w.ctx, w.cancel = context.WithCancel(context.Background())
	if w.cfg.PollInterval > 0 {
		w.wg.Add(1)
		go w.pollLoop()
	}
	if w.cfg.Channel != "" {
		w.wg.Add(1)
		go w.subscribeLoop()
	}
}

func (w *workerState) stop() {
	if w.cancel != nil {
		w.cancel()
		w.psMu.Lock()
		if w.ps != nil {
			_ = w.ps.Close()
		}
		w.psMu.Unlock()
		w.wg.Wait()
	}
	_ = w.client.Close()
}

func (w *workerState) fail(op string, err error) {
	w.p.telemetry.ProcessorComfyjobWorkerStateErrors.Add(context.Background(), 1, w.opts[op])
	w.failingUntil.Store(time.Now().Add(lookupCooldown).UnixNano())
	now := time.Now().UnixNano()
	if last := w.lastLog.Load(); now-last >= int64(logEvery) && w.lastLog.CompareAndSwap(last, now) {
		w.p.logger.Warn("Cannot read the workers' state in Redis; keeping the last known state",
			zap.String("operation", op), zap.Error(err))
	}
}

// workerID derives the platform's worker id for an instance (under p.mu).
func (w *workerState) workerID(st *instanceState) string {
	if st.workerID != "" {
		return st.workerID
	}
	if st.machineID == "" {
		return ""
	}
	m := w.p.instanceRE.FindStringSubmatchIndex(st.name)
	if m == nil {
		return ""
	}
	tmpl := strings.ReplaceAll(w.cfg.WorkerIDTemplate, "{machine_id}", strings.ReplaceAll(st.machineID, "$", "$$"))
	return string(w.p.instanceRE.ExpandString(nil, dollarTemplate(tmpl), st.name, m))
}

func (w *workerState) key(workerID string) string {
	return strings.ReplaceAll(w.cfg.Key, "{worker_id}", workerID)
}

func (w *workerState) pollLoop() {
	defer w.wg.Done()
	t := time.NewTicker(w.cfg.PollInterval)
	defer t.Stop()
	for {
		w.pollOnce(w.ctx)
		select {
		case <-w.ctx.Done():
			return
		case <-t.C:
		}
	}
}

type polled struct {
	instance, worker string
	cmd              *redis.SliceCmd
}

// pollOnce reads every known worker's hash in one pipeline.
func (w *workerState) pollOnce(ctx context.Context) {
	w.p.mu.Lock()
	targets := make([]polled, 0, len(w.p.instances))
	for _, st := range w.p.instances {
		if id := w.workerID(st); id != "" {
			targets = append(targets, polled{instance: st.name, worker: id})
		}
	}
	w.p.mu.Unlock()
	if len(targets) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	pipe := w.client.Pipeline()
	for i := range targets {
		targets[i].cmd = pipe.HMGet(cctx, w.key(targets[i].worker), w.cfg.JobField, w.changedField())
	}
	if _, err := pipe.Exec(cctx); err != nil && !errors.Is(err, redis.Nil) {
		if ctx.Err() == nil {
			w.fail("poll", err)
		}
		return
	}
	w.failingUntil.Store(0)
	now := w.p.now().UnixNano()
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	for _, tg := range targets {
		job, changed := hashValues(tg.cmd.Val())
		if st, ok := w.p.instances[tg.instance]; ok {
			w.apply(st, job, changed, now)
		}
	}
}

// changedField is the hash field with the change time; HMGET needs a name,
// so a disabled one asks for the job field twice.
func (w *workerState) changedField() string {
	if w.cfg.ChangedField == "" {
		return w.cfg.JobField
	}
	return w.cfg.ChangedField
}

func hashValues(vals []any) (job string, changed int64) {
	if len(vals) > 0 {
		job, _ = vals[0].(string)
	}
	if len(vals) > 1 {
		if s, ok := vals[1].(string); ok {
			changed = parseTime(s)
		}
	}
	return job, changed
}

// apply records the worker's state for st (under p.mu).
func (w *workerState) apply(st *instanceState, job string, changed, now int64) {
	if !w.p.isJob(job) {
		job = ""
	}
	if w.cfg.ChangedField == "" {
		changed = 0
	}
	if job == st.wsJob && changed == st.wsChanged {
		return
	}
	// A hash read older than what the status channel already said is
	// stale (the poll and the subscription race); a hash without a change
	// time, or no hash at all, says nothing newer than a dated message.
	if st.wsChanged > 0 && (changed > 0 && changed < st.wsChanged || changed == 0 && job == "") {
		return
	}
	prev := st.wsJob
	st.wsJob, st.wsChanged = job, changed
	st.tl.workerJob(job, prev, changed, now)
}

// lookupAtStart reads the worker's hash inline when a prompt starts and
// the state known so far names no new job: the poll may not have seen the
// job the worker just took. Bounded by lookup_timeout and skipped while
// Redis is failing. Called under p.mu.
func (w *workerState) lookupAtStart(st *instanceState, t int64) {
	if w.cfg.LookupTimeout <= 0 || time.Now().UnixNano() < w.failingUntil.Load() {
		return
	}
	// A start read late (an SDK batch, a file read after a restart): the
	// worker's state now says nothing about it.
	if w.p.now().UnixNano()-t > mergeSlack {
		return
	}
	if l := st.tl.last(); l == nil || l.job != "" {
		return
	}
	id := w.workerID(st)
	if id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.LookupTimeout)
	defer cancel()
	vals, err := w.client.HMGet(ctx, w.key(id), w.cfg.JobField, w.changedField()).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		w.fail("lookup", err)
		return
	}
	job, changed := hashValues(vals)
	w.apply(st, job, changed, max(t, w.p.now().UnixNano()))
}

// statusMessage is the worker_status channel's JSON.
type statusMessage struct {
	WorkerID     string          `json:"worker_id"`
	NewStatus    string          `json:"new_status"`
	CurrentJobID *string         `json:"current_job_id"`
	Timestamp    json.RawMessage `json:"timestamp"`
}

func (w *workerState) subscribeLoop() {
	defer w.wg.Done()
	backoff := 100 * time.Millisecond
	for w.ctx.Err() == nil {
		ps := w.client.Subscribe(w.ctx, w.cfg.Channel)
		w.psMu.Lock()
		w.ps = ps
		w.psMu.Unlock()
		if w.ctx.Err() != nil {
			// stop ran before ps was stored: it could not close it.
			_ = ps.Close()
		}
		for w.ctx.Err() == nil {
			msg, err := ps.Receive(w.ctx)
			if err != nil {
				if w.ctx.Err() == nil {
					w.fail("subscribe", err)
				}
				break
			}
			backoff = 100 * time.Millisecond
			if m, ok := msg.(*redis.Message); ok {
				w.onStatus(m.Payload)
			}
		}
		w.psMu.Lock()
		w.ps = nil
		w.psMu.Unlock()
		_ = ps.Close()
		select {
		case <-w.ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// onStatus applies one worker_status message. The worker id maps to an
// instance by instance.worker_id_pattern, or by a worker id seen on records.
func (w *workerState) onStatus(payload string) {
	var m statusMessage
	if err := json.Unmarshal([]byte(payload), &m); err != nil || m.WorkerID == "" {
		return
	}
	job := ""
	if m.CurrentJobID != nil {
		job = *m.CurrentJobID
	}
	if m.NewStatus == "idle" {
		job = ""
	}
	var changed int64
	if len(m.Timestamp) > 0 {
		var s string
		if json.Unmarshal(m.Timestamp, &s) != nil {
			s = string(m.Timestamp)
		}
		changed = parseTime(s)
	}
	now := w.p.now().UnixNano()
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	var st *instanceState
	for _, s := range w.p.instances {
		if w.workerID(s) == m.WorkerID {
			st = s
			break
		}
	}
	if st == nil && w.p.workerIDRE != nil {
		if name := w.p.instanceFromWorkerID(m.WorkerID); name != "" {
			st = w.p.instance(name, now)
			st.workerID = m.WorkerID
		}
	}
	if st != nil {
		// The channel says when; the hash field may be disabled.
		if !w.p.isJob(job) {
			job = ""
		}
		if job == st.wsJob && changed == st.wsChanged {
			return
		}
		prev := st.wsJob
		st.wsJob, st.wsChanged = job, changed
		st.tl.workerJob(job, prev, changed, now)
	}
}

var digitsRE = regexp.MustCompile(`^\d+(?:\.\d+)?$`)

// parseTime reads a time as the platform writes it: Unix seconds,
// milliseconds, microseconds or nanoseconds (told apart by magnitude), or
// RFC 3339. 0 when unreadable.
func parseTime(s string) int64 {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	if digitsRE.MatchString(s) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0
		}
		switch {
		case f > 1e17:
			return int64(f)
		case f > 1e14:
			return int64(f * 1e3)
		case f > 1e11:
			return int64(f * 1e6)
		default:
			return int64(f * 1e9)
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UnixNano()
	}
	return 0
}
