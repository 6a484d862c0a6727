package main

// The failure tier: follow every job:events:{job_id} stream and every
// machine:{machine_id}:failures fallback stream, including streams that
// appear while the monitor runs.
//
// Redis has no "subscribe to new streams", so the monitor SCANs for keys of
// type stream every --scan-interval and reads all known streams with one
// XREAD BLOCK. Positions are kept per stream as concrete entry ids, never
// "$": with many streams in one XREAD, "$" would be re-evaluated on every call
// and entries added between two calls would be skipped; concrete ids also let
// the monitor resume exactly where it was after a Redis restart.
//
// Where reading starts:
//   - streams found by the first SCAN (they existed when the monitor
//     started): after their last entry, like tail -f, but never after the
//     monitor's start time, so an entry written between the start and that
//     first SCAN is shown; --from-start reads them from the beginning; when
//     Redis could not be reached at start, after the monitor's start time;
//   - streams found later: from their first entry, so the failure that
//     created the stream (a new job's first error) is never missed.

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/payload"
)

type failureFollower struct {
	rdb  *redis.Client
	o    *monitorOptions
	p    *printer
	conn *connState

	patterns    []string
	last        map[string]string // stream key -> id of the last entry read
	initialized bool              // the first SCAN has completed
	startedAt   time.Time
	scanFailed  bool // a SCAN failed before the first one succeeded
	lastScan    time.Time
	seen        *recentSet
}

func newFailureFollower(rdb *redis.Client, o *monitorOptions, p *printer, conn *connState) *failureFollower {
	return &failureFollower{
		rdb: rdb, o: o, p: p, conn: conn,
		patterns:  failurePatterns(o),
		last:      map[string]string{},
		seen:      newRecentSet(8192),
		startedAt: time.Now(),
	}
}

// failurePatterns are the SCAN patterns: all job streams (or the one for
// --job) and the fallback streams (all, or --machine's). Failures without a
// job id only exist in fallback streams, so --job leaves those out.
func failurePatterns(o *monitorOptions) []string {
	if o.job != "" {
		return []string{patternWith(o.failureStream, "job_id", o.job)}
	}
	pats := []string{templatePattern(o.failureStream)}
	if o.fallbackStream != "" {
		pats = append(pats, patternWith(o.fallbackStream, "machine_id", o.machine))
	}
	return pats
}

func (f *failureFollower) run(ctx context.Context) {
	var bo backoff
	for ctx.Err() == nil {
		if !f.initialized || time.Since(f.lastScan) >= f.o.scanInterval {
			if err := f.scan(ctx); err != nil {
				if stopping(ctx) {
					return
				}
				f.scanFailed = true
				f.conn.failed(err)
				if !sleepCtx(ctx, bo.next()) {
					return
				}
				continue
			}
			f.conn.ok()
			bo.reset()
		}
		if len(f.last) == 0 {
			if !sleepCtx(ctx, f.o.scanInterval) {
				return
			}
			continue
		}
		if err := f.read(ctx); err != nil {
			if stopping(ctx) {
				return
			}
			f.conn.failed(err)
			if !sleepCtx(ctx, bo.next()) {
				return
			}
			continue
		}
		f.conn.ok()
		bo.reset()
	}
}

// scan discovers streams matching the patterns.
func (f *failureFollower) scan(ctx context.Context) error {
	var found []string
	for _, pat := range f.patterns {
		var cursor uint64
		for {
			keys, next, err := f.rdb.ScanType(ctx, cursor, pat, 1000, "stream").Result()
			if err != nil {
				return err
			}
			found = append(found, keys...)
			if cursor = next; cursor == 0 {
				break
			}
		}
	}
	for _, k := range found {
		if _, known := f.last[k]; known {
			continue
		}
		start := "0-0"
		switch {
		case f.initialized || f.o.fromStart:
		case f.scanFailed:
			// Redis was unreachable when the monitor started: what was
			// written since (say, an exporter flushing its queue when
			// Redis came back) is news. Entry ids are Redis's clock in ms.
			start = strconv.FormatInt(f.startedAt.UnixMilli(), 10) + "-0"
		default:
			msgs, err := f.rdb.XRevRangeN(ctx, k, "+", "-", 1).Result()
			if err != nil {
				return err
			}
			if len(msgs) > 0 {
				start = msgs[0].ID
				// Entry ids are Redis's clock; with the clocks apart this
				// falls back to plain tail -f, never to showing more than
				// a few seconds of history.
				// The whole start millisecond counts as before the start.
				if at := strconv.FormatInt(f.startedAt.UnixMilli(), 10) + "-18446744073709551615"; streamIDLess(at, start) {
					start = at
				}
			}
		}
		f.last[k] = start
		if f.o.verbose {
			f.p.status("info", f.conn.prefix()+"following "+k+" from "+start)
		}
	}
	f.initialized = true
	f.lastScan = time.Now()
	return nil
}

// read waits up to one scan interval for entries on all known streams.
func (f *failureFollower) read(ctx context.Context) error {
	keys := make([]string, 0, len(f.last))
	for k := range f.last {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := make([]string, 0, 2*len(keys))
	args = append(args, keys...)
	for _, k := range keys {
		args = append(args, f.last[k])
	}
	res, err := f.rdb.XRead(ctx, &redis.XReadArgs{Streams: args, Count: 100, Block: f.o.scanInterval}).Result()
	if err == redis.Nil {
		return nil
	}
	if err != nil {
		if strings.HasPrefix(err.Error(), "WRONGTYPE") {
			// A followed key was deleted and re-created as another type:
			// drop it instead of failing every read from now on.
			f.dropNonStreams(ctx, keys)
			return nil
		}
		return err
	}
	for _, st := range res {
		for _, m := range st.Messages {
			f.last[st.Stream] = m.ID
			f.emit(st.Stream, m)
		}
	}
	return nil
}

func (f *failureFollower) emit(stream string, m redis.XMessage) {
	fl := payload.FailureFromFields(m.Values)
	// At-least-once delivery may write an entry twice; the exporter gives
	// both copies the same event_id.
	if fl.EventID != "" && !f.seen.add(stream+"\x00"+fl.EventID) {
		return
	}
	if f.o.machine != "" && fl.MachineID != f.o.machine {
		return
	}
	if f.o.job != "" && fl.JobID != f.o.job {
		return
	}
	f.p.failure(newFailureEvent(stream, m.ID, fl))
}

func (f *failureFollower) dropNonStreams(ctx context.Context, keys []string) {
	for _, k := range keys {
		t, err := f.rdb.Type(ctx, k).Result()
		if err == nil && t != "stream" && t != "none" {
			delete(f.last, k)
		}
	}
}

// recentSet remembers the last n keys added, for duplicate suppression with
// bounded memory.
type recentSet struct {
	set  map[string]struct{}
	ring []string
	next int
}

func newRecentSet(n int) *recentSet {
	return &recentSet{set: make(map[string]struct{}, n), ring: make([]string, n)}
}

// add reports whether k was new.
func (r *recentSet) add(k string) bool {
	if _, ok := r.set[k]; ok {
		return false
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.set, old)
	}
	r.ring[r.next] = k
	r.next = (r.next + 1) % len(r.ring)
	r.set[k] = struct{}{}
	return true
}

// streamIDLess compares two stream entry ids ("ms-seq") numerically.
func streamIDLess(a, b string) bool {
	am, as := splitStreamID(a)
	bm, bs := splitStreamID(b)
	return am < bm || am == bm && as < bs
}

func splitStreamID(id string) (ms, seq uint64) {
	m, sq, _ := strings.Cut(id, "-")
	ms, _ = strconv.ParseUint(m, 10, 64)
	seq, _ = strconv.ParseUint(sq, 10, 64)
	return ms, seq
}
