package harness

import (
	"context"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/payload"
	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/redistest"
)

// ProgressMsg is one message received on machine:*:progress.
type ProgressMsg struct {
	Channel  string
	Raw      string
	Progress *payload.Progress // nil when Raw did not decode
	Err      error
	Received time.Time
}

// Subscriber collects every message on machine:*:progress (PSUBSCRIBE), the
// way the UI does. go-redis resubscribes by itself after a Redis restart.
type Subscriber struct {
	client *redis.Client
	ps     *redis.PubSub
	mu     sync.Mutex
	msgs   []ProgressMsg
	notify chan struct{}
	done   chan struct{}
}

// Subscribe starts collecting and waits until the subscription is active.
func Subscribe(tb testing.TB, srv *redistest.Server) *Subscriber {
	tb.Helper()
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ps := client.PSubscribe(ctx, payload.ProgressChannelPattern)
	if _, err := ps.Receive(ctx); err != nil {
		tb.Fatalf("psubscribe: %v", err)
	}
	s := &Subscriber{client: client, ps: ps, notify: make(chan struct{}, 1), done: make(chan struct{})}
	ch := ps.Channel(redis.WithChannelSize(1 << 16))
	go func() {
		defer close(s.done)
		for m := range ch {
			now := time.Now()
			p, err := payload.DecodeProgress([]byte(m.Payload))
			s.mu.Lock()
			s.msgs = append(s.msgs, ProgressMsg{Channel: m.Channel, Raw: m.Payload, Progress: p, Err: err, Received: now})
			s.mu.Unlock()
			select {
			case s.notify <- struct{}{}:
			default:
			}
		}
	}()
	tb.Cleanup(s.Close)
	return s
}

// Close stops the subscriber.
func (s *Subscriber) Close() {
	_ = s.ps.Close()
	<-s.done
	_ = s.client.Close()
}

// Messages returns a copy of everything received so far.
func (s *Subscriber) Messages() []ProgressMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ProgressMsg(nil), s.msgs...)
}

// Len is the number of messages received so far.
func (s *Subscriber) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// Notify is signalled (coalesced) after each message.
func (s *Subscriber) Notify() <-chan struct{} { return s.notify }

// StreamEntry is one entry of a failure stream.
type StreamEntry struct {
	Stream  string
	ID      string
	Values  map[string]any
	Failure *payload.Failure
}

// Streams reads failure streams with SCAN + XRANGE, the way the job worker and
// `comfyctl monitor` do.
type Streams struct {
	client *redis.Client
}

// NewStreams connects a stream reader to srv.
func NewStreams(tb testing.TB, srv *redistest.Server) *Streams {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	tb.Cleanup(func() { _ = c.Close() })
	return &Streams{client: c}
}

// Client is the underlying go-redis client.
func (s *Streams) Client() *redis.Client { return s.client }

// Read returns every entry of every stream matching the patterns (default:
// job:events:* and machine:*:failures), by stream then ID.
func (s *Streams) Read(ctx context.Context, patterns ...string) ([]StreamEntry, error) {
	if len(patterns) == 0 {
		patterns = []string{payload.FailureStreamPattern, payload.FallbackStreamPattern}
	}
	var keys []string
	for _, pat := range patterns {
		var cursor uint64
		for {
			ks, next, err := s.client.Scan(ctx, cursor, pat, 1000).Result()
			if err != nil {
				return nil, err
			}
			keys = append(keys, ks...)
			if cursor = next; cursor == 0 {
				break
			}
		}
	}
	sort.Strings(keys)
	var out []StreamEntry
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		typ, err := s.client.Type(ctx, k).Result()
		if err != nil {
			return nil, err
		}
		if typ != "stream" {
			continue
		}
		msgs, err := s.client.XRange(ctx, k, "-", "+").Result()
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			out = append(out, StreamEntry{Stream: k, ID: m.ID, Values: m.Values, Failure: payload.FailureFromFields(m.Values)})
		}
	}
	return out, nil
}

// StreamsByKey groups entries by stream name.
func StreamsByKey(es []StreamEntry) map[string][]StreamEntry {
	m := map[string][]StreamEntry{}
	for _, e := range es {
		m[e.Stream] = append(m[e.Stream], e)
	}
	return m
}

// CountContaining counts entries whose message contains s.
func CountContaining(es []StreamEntry, s string) int {
	n := 0
	for _, e := range es {
		n += strings.Count(e.Failure.Message, s)
	}
	return n
}
