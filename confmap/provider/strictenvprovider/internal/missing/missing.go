// Package missing is the hand-over between the strict `env` provider and the
// configcheck converter: the provider records each required variable it found
// unset, the converter reports them all in one error once the whole
// configuration is resolved. The confmap resolver stops at the first provider
// error, so failing in the provider could only ever name one variable.
package missing // import "github.com/comfy-sidecar/otelcol-comfy/confmap/provider/strictenvprovider/internal/missing"

import (
	"slices"
	"sync"
)

var (
	mu    sync.Mutex
	names = map[string]struct{}{}
)

// Record notes that a required variable was unset or empty.
func Record(name string) {
	mu.Lock()
	names[name] = struct{}{}
	mu.Unlock()
}

// Take returns the recorded names, sorted, and forgets them, so a re-resolve
// (config reload) starts clean.
func Take() []string {
	mu.Lock()
	defer mu.Unlock()
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	clear(names)
	slices.Sort(out)
	return out
}
