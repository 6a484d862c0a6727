package redisrouterexporter // import "github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter"

// The transport: the go-redis client, one pipeline per batch, what a Redis
// error means (errorClass), the dead-letter writes, and the health the
// exporter reports (component status, redis_up).

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.uber.org/zap"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/payload"
)

// errKind is the kind of a Redis error, the `kind` attribute of the
// redis_errors metric.
type errKind uint8

const (
	kindNone       errKind = iota
	kindConnection         // dial, reset, EOF, pool exhausted, closed client, max clients
	kindTimeout            // read/write timeout, the batch's deadline
	kindLoading            // LOADING: Redis is loading its dataset
	kindReadonly           // READONLY, MASTERDOWN: a replica or a master without its replicas
	kindRedirect           // MOVED, ASK (Cluster)
	kindTryAgain           // TRYAGAIN, CLUSTERDOWN
	kindConfig             // our settings: unknown db, NOPERM for a command, TLS certificate
	kindAuth               // NOAUTH, WRONGPASS
	kindRefusedKey         // WRONGTYPE, NOPERM for the key or channel
	kindOther              // any other error reply (OOM, MISCONF, BUSY, syntax, ...)
	numKinds
)

var kindNames = [numKinds]string{
	kindNone: "none", kindConnection: "connection", kindTimeout: "timeout", kindLoading: "loading",
	kindReadonly: "readonly", kindRedirect: "redirect", kindTryAgain: "tryagain", kindConfig: "config",
	kindAuth: "auth", kindRefusedKey: "refused_key", kindOther: "other",
}

// errorClass is what to do about one command's error.
type errorClass struct {
	kind errKind
	// refused: sending the same command again cannot succeed (Redis refuses
	// this key or this command's arguments): a failure goes to the dead
	// letter stream, progress is dropped. Otherwise the record is retried.
	refused bool
	// deadLetterReason is the dead_lettered metric's reason.
	deadLetterReason string
}

// unhealthy: Redis is unreachable or refuses our connection or settings;
// the component reports an error status and redis_up is 0 until a batch or
// probe goes through.
func (c errorClass) unhealthy() bool {
	switch c.kind {
	case kindConnection, kindTimeout, kindLoading, kindReadonly, kindTryAgain, kindConfig, kindAuth:
		return true
	}
	return false
}

// classify judges err by go-redis's typed errors and the reply's prefix
// (the error code Redis puts first), never by the rest of the text, except
// where Redis uses one code for two cases: NOPERM names a "command" when the
// user may not run it (our configuration) and a key or channel otherwise,
// and ERR is the code of an unknown database ("ERR DB index is out of range",
// "ERR invalid DB index").
func classify(err error) errorClass {
	if err == nil {
		return errorClass{kind: kindNone}
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		code, rest, _ := strings.Cut(msg, " ")
		switch {
		case redis.IsLoadingError(err):
			return errorClass{kind: kindLoading}
		case redis.IsReadOnlyError(err), redis.IsMasterDownError(err):
			return errorClass{kind: kindReadonly}
		case isRedirect(err):
			return errorClass{kind: kindRedirect}
		case redis.IsTryAgainError(err), redis.IsClusterDownError(err):
			return errorClass{kind: kindTryAgain}
		case redis.IsAuthError(err):
			return errorClass{kind: kindAuth}
		case redis.IsMaxClientsError(err):
			return errorClass{kind: kindConnection}
		case code == "NOPERM":
			if strings.Contains(rest, " command") {
				return errorClass{kind: kindConfig}
			}
			return errorClass{kind: kindRefusedKey, refused: true, deadLetterReason: "noperm"}
		case code == "WRONGTYPE":
			return errorClass{kind: kindRefusedKey, refused: true, deadLetterReason: "wrongtype"}
		case code == "ERR" && (strings.HasPrefix(rest, "DB index") || strings.HasPrefix(rest, "invalid DB index")):
			return errorClass{kind: kindConfig}
		case code == "OOM", code == "MISCONF", code == "BUSY", code == "NOREPLICAS":
			// Redis cannot take writes right now; an operator fixes it.
			return errorClass{kind: kindOther}
		default:
			// A reply Redis will give again to the same command.
			return errorClass{kind: kindOther, refused: true, deadLetterReason: "other"}
		}
	}
	var (
		netErr  net.Error
		certErr *tls.CertificateVerificationError
		unkAuth x509.UnknownAuthorityError
		hostErr x509.HostnameError
	)
	switch {
	case errors.As(err, &certErr), errors.As(err, &unkAuth), errors.As(err, &hostErr):
		return errorClass{kind: kindConfig}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return errorClass{kind: kindTimeout}
	case errors.Is(err, redis.ErrPoolTimeout):
		return errorClass{kind: kindTimeout}
	case errors.As(err, &netErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, redis.ErrClosed), errors.Is(err, redis.ErrPoolExhausted):
		return errorClass{kind: kindConnection}
	}
	// Anything else go-redis returns without a reply (a canceled context,
	// a protocol surprise) is retried.
	return errorClass{kind: kindConnection}
}

func isRedirect(err error) bool {
	if _, ok := redis.IsMovedError(err); ok {
		return true
	}
	_, ok := redis.IsAskError(err)
	return ok
}

// Commands go-redis must never send twice: MaxRetries is off, and NoRetry
// also stops the Cluster client from resending a pipeline after a read
// timeout (it still follows MOVED/ASK, which Redis did not execute).
type noRetryCmd struct{ *redis.Cmd }

func (noRetryCmd) NoRetry() bool { return true }

type noRetryIntCmd struct{ *redis.IntCmd }

func (noRetryIntCmd) NoRetry() bool { return true }

type transport struct {
	cfg     *Config
	logger  *zap.Logger
	secrets []string
	met     *metrics

	maxLenArg any // failures.maxlen, formatted and boxed once
	ttl       time.Duration

	mu     sync.Mutex
	client redis.UniversalClient
	host   component.Host

	// health: the last verdict reported, to report changes only.
	healthMu    sync.Mutex
	healthKnown bool
	healthy     bool
	healthErr   string
	// commandDenied: the last verdict came from a batch that the ACL
	// forbids (NOPERM for a command). A PING can still pass then, so only a
	// batch that goes through clears it, not the prober.
	commandDenied bool

	// expired: when each job stream's TTL was last set (see expireKeys).
	expiredMu sync.Mutex
	expired   map[string]time.Time
	expiredGC time.Time

	lastUse atomic.Int64 // unix nanos of the last batch, for the prober
	stop    chan struct{}
	done    sync.WaitGroup
}

func newTransport(cfg *Config, logger *zap.Logger, met *metrics) *transport {
	return &transport{
		cfg:       cfg,
		logger:    logger,
		secrets:   []string{string(cfg.Password), string(cfg.URL), string(cfg.SentinelPassword)},
		met:       met,
		maxLenArg: strconv.FormatInt(cfg.Failures.MaxLen, 10),
		ttl:       cfg.Failures.TTL,
		expired:   map[string]time.Time{},
	}
}

// start creates the client. It does not wait for Redis: a sidecar must come
// up even when Redis is down (records wait in the sending queue). A prober
// pings Redis at once and then every probe_interval while no batch went
// out, so the status and redis_up are right for an idle tier too.
func (t *transport) start(ctx context.Context, host component.Host) error {
	opts, err := clientOptions(ctx, t.cfg)
	if err != nil {
		return err
	}
	routeRedisLogs(t.logger)
	client := redis.NewUniversalClient(opts)
	t.mu.Lock()
	t.client, t.host = client, host
	t.stop = make(chan struct{})
	t.mu.Unlock()

	t.done.Add(1)
	go t.probeLoop(client, strings.Join(opts.Addrs, ","))
	return nil
}

func (t *transport) shutdown(context.Context) error {
	t.mu.Lock()
	c, stop := t.client, t.stop
	t.client, t.stop = nil, nil
	t.mu.Unlock()
	if stop != nil {
		close(stop)
	}
	t.done.Wait()
	if c != nil {
		return c.Close()
	}
	return nil
}

func (t *transport) getClient() redis.UniversalClient {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.client
}

func (t *transport) probeLoop(client redis.UniversalClient, addrs string) {
	defer t.done.Done()
	t.mu.Lock()
	stop := t.stop
	t.mu.Unlock()
	first := true
	probe := func() {
		ctx, cancel := context.WithTimeout(context.Background(), t.cfg.DialTimeout+t.cfg.ReadTimeout)
		defer cancel()
		err := client.Ping(ctx).Err()
		if redis.IsPermissionError(err) {
			err = nil // connected and authenticated: PING is just not in the user's ACL
		}
		if first {
			first = false
			if err != nil {
				t.logger.Warn("Redis is not reachable yet; records wait in the sending queue and are retried",
					zap.String("addrs", addrs), zap.String("mode", t.cfg.Mode), zap.String("error", t.safeErr(err)))
			} else {
				t.logger.Info("Connected to Redis", zap.String("addrs", addrs), zap.String("mode", t.cfg.Mode))
			}
		}
		cls := classify(err)
		if err != nil {
			t.met.redisError(context.Background(), cls.kind, 1)
		}
		t.observeHealth(cls, err, true)
	}
	probe()
	tick := time.NewTicker(t.cfg.ProbeInterval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			if time.Since(time.Unix(0, t.lastUse.Load())) >= t.cfg.ProbeInterval {
				probe()
			}
		}
	}
}

// observeHealth reports a change of Redis's health: the component status
// (shown by the health endpoint) and the redis_up gauge. err is the error
// that decided it (nil: healthy).
func (t *transport) observeHealth(cls errorClass, err error, probe bool) {
	healthy := !cls.unhealthy()
	msg := ""
	if !healthy {
		msg = kindNames[cls.kind] + ": " + t.safeErr(err)
	}
	t.healthMu.Lock()
	if probe && healthy && t.commandDenied {
		t.healthMu.Unlock()
		return
	}
	if !probe {
		t.commandDenied = cls.kind == kindConfig && redis.IsPermissionError(err)
	}
	changed := !t.healthKnown || healthy != t.healthy || msg != t.healthErr
	t.healthKnown, t.healthy, t.healthErr = true, healthy, msg
	t.healthMu.Unlock()
	if !changed {
		return
	}
	t.mu.Lock()
	host := t.host
	t.mu.Unlock()
	up := int64(0)
	if healthy {
		up = 1
	}
	t.met.redisUp(context.Background(), up)
	if host == nil {
		return
	}
	if healthy {
		componentstatus.ReportStatus(host, componentstatus.NewEvent(componentstatus.StatusOK))
		t.logger.Info("Redis accepts our commands again")
		return
	}
	componentstatus.ReportStatus(host, componentstatus.NewRecoverableErrorEvent(errors.New("redis "+msg)))
	if cls.kind == kindConfig || cls.kind == kindAuth {
		t.logger.Error("Redis refuses our configuration; records are retried until it is fixed", zap.String("error", msg))
	} else {
		t.logger.Warn("Redis is unavailable; records are retried", zap.String("error", msg))
	}
}

// send writes one PUBLISH or XADD per message in one pipeline, one round
// trip, and sets each message's err.
func (t *transport) send(ctx context.Context, msgs []message, buf *batchBuffers) {
	client := t.getClient()
	if client == nil {
		for i := range msgs {
			msgs[i].err = redis.ErrClosed
		}
		return
	}
	t.lastUse.Store(time.Now().UnixNano())
	// Argument lists of the whole batch, cut from one slice sized up front:
	// 3 per PUBLISH, at most 6 + MaxFailureFields per XADD.
	nFailures := len(buf.failures)
	need := 3*(len(msgs)-nFailures) + (6+payload.MaxFailureFields)*nFailures
	if cap(buf.args) < need {
		buf.args = make([]any, 0, need)
	}
	if cap(buf.cmds) < len(msgs) {
		buf.cmds = make([]redis.Cmder, len(msgs))
	}
	cmds := buf.cmds[:len(msgs)]
	start := time.Now()
	// Per-command errors are read back below; Pipelined's own error is just
	// the first of them, or a connection-level error.
	_, pipeErr := client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range msgs {
			m := &msgs[i]
			n := len(buf.args)
			if m.progress {
				buf.args = append(buf.args, "publish", m.keyArg, &m.body)
				cmd := redis.NewIntCmd(ctx, buf.args[n:n+3:n+3]...)
				_ = p.Process(ctx, noRetryIntCmd{cmd})
				cmds[i] = cmd
			} else {
				buf.args = append(buf.args, "xadd", m.keyArg, "maxlen", "~", t.maxLenArg, "*")
				buf.args = buf.failures[m.failure].AppendFields(buf.args)
				cmd := redis.NewCmd(ctx, buf.args[n:len(buf.args):len(buf.args)]...)
				_ = p.Process(ctx, noRetryCmd{cmd})
				cmds[i] = cmd
			}
		}
		return nil
	})
	t.met.batchDuration(ctx, time.Since(start))
	connErr := connectionLevelError(pipeErr, cmds)
	for i := range msgs {
		err := cmds[i].Err()
		if err == nil && connErr != nil && !executed(cmds[i], msgs[i].progress) {
			err = connErr
		}
		msgs[i].err = err
	}
	clear(cmds)
}

// followUp is the second round trip of a failures batch, when needed:
// the dead letters (the failures at idx, whose stream Redis refused: each
// goes to its machine's dead-letter stream with the key and the error; each
// message's err becomes that XADD's outcome) and the EXPIREs of the job
// streams that took entries. EXPIRE waits for the XADD's outcome so that it
// never sets a TTL on a key of another type that happens to have a job
// stream's name. An EXPIRE failure is not worth re-sending records for
// (that would duplicate entries): the next batch for the job sets it again.
func (t *transport) followUp(ctx context.Context, msgs []message, idx []int, expire []string, buf *batchBuffers) {
	if len(idx) == 0 && len(expire) == 0 {
		return
	}
	client := t.getClient()
	if client == nil {
		for _, i := range idx {
			msgs[i].err = redis.ErrClosed
		}
		return
	}
	cmds := make([]redis.Cmder, len(idx))
	_, pipeErr := client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for j, i := range idx {
			m := &msgs[i]
			f := &buf.failures[m.failure]
			f.OriginalKey, f.Error = m.key, t.safeErr(m.err)
			args := append(make([]any, 0, 6+payload.MaxFailureFields), "xadd", m.deadLetter, "maxlen", "~", t.maxLenArg, "*")
			cmd := redis.NewCmd(ctx, f.AppendFields(args)...)
			_ = p.Process(ctx, noRetryCmd{cmd})
			cmds[j] = cmd
		}
		for _, k := range expire {
			_ = p.Process(ctx, noRetryCmd{redis.NewCmd(ctx, "expire", k, int64(t.ttl/time.Second))})
		}
		return nil
	})
	connErr := connectionLevelError(pipeErr, cmds)
	for j, i := range idx {
		err := cmds[j].Err()
		if err == nil && connErr != nil && !executed(cmds[j], false) {
			err = connErr
		}
		msgs[i].err = err
	}
}

// expireKeys lists once each job stream that took an entry of the batch
// and whose TTL was not set within the last ttl/60 (at least a second). So
// a busy job's stream gets one EXPIRE a minute (for ttl 1h), not one per
// batch (a tenth of the commands of a large failures batch), and it
// expires between 59 and 60 minutes after its last entry. (A stream deleted
// by hand and written again within that minute gets its TTL at its next
// batch after it.)
func (t *transport) expireKeys(msgs []message, now time.Time) []string {
	if t.ttl <= 0 {
		return nil
	}
	refresh := max(t.ttl/60, time.Second)
	t.expiredMu.Lock()
	defer t.expiredMu.Unlock()
	var keys []string
	for i := range msgs {
		m := &msgs[i]
		if m.progress || m.fallback || m.err != nil {
			continue
		}
		if last, ok := t.expired[m.key]; ok && now.Sub(last) < refresh {
			continue
		}
		t.expired[m.key] = now
		keys = append(keys, m.key)
	}
	// Forget streams whose TTL is due for a refresh anyway: finished jobs.
	if now.Sub(t.expiredGC) > refresh {
		for k, last := range t.expired {
			if now.Sub(last) >= refresh {
				delete(t.expired, k)
			}
		}
		t.expiredGC = now
	}
	return keys
}

// connectionLevelError returns Pipelined's error when it is not the error of
// one of the commands: go-redis then failed before sending (dial, TLS, AUTH
// or SELECT on connection init) and may leave the commands' own errors nil,
// so a nil command error does not prove delivery.
func connectionLevelError(pipeErr error, cmds []redis.Cmder) error {
	if pipeErr == nil {
		return nil
	}
	for _, c := range cmds {
		if c.Err() == pipeErr {
			return nil
		}
	}
	return pipeErr
}

// executed tells whether a command without error really ran. An XADD that
// ran returns the entry id. A PUBLISH's count cannot tell (0 subscribers is
// a valid answer), so it is taken as not run: re-publishing progress is
// harmless, losing a failure is not.
func executed(cmd redis.Cmder, progress bool) bool {
	if c, ok := cmd.(*redis.Cmd); ok && !progress {
		return c.Val() != nil
	}
	return false
}

func (t *transport) safeErr(err error) string {
	if err == nil {
		return ""
	}
	return redactErr(err, t.secrets...)
}
