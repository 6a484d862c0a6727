package redisrouterexporter // import "github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter"

import (
	"sync"
	"time"
)

// throttler remembers when each channel+job last got an update.
type throttler struct {
	interval time.Duration
	mu       sync.Mutex
	last     map[string]time.Time
	lastGC   time.Time
}

func newThrottler(interval time.Duration) *throttler {
	return &throttler{interval: interval, last: map[string]time.Time{}}
}

func (t *throttler) allow(key string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	last, ok := t.last[key]
	return !ok || now.Sub(last) >= t.interval
}

func (t *throttler) sent(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last[key] = now
	// Forget finished jobs: entries older than a minute (or 10 intervals)
	// cannot throttle anything any more.
	horizon := max(time.Minute, 10*t.interval)
	if now.Sub(t.lastGC) > horizon {
		for k, v := range t.last {
			if now.Sub(v) > horizon {
				delete(t.last, k)
			}
		}
		t.lastGC = now
	}
}
