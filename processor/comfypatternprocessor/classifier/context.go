package classifier

import "time"

// A record may be judged with the records just before it from the same
// source (the same log file, or the same instance over OTLP): the lines of a
// failure that carry no failure word (a traceback's source lines, an OOM's
// "Currently allocated" detail, the launcher's "Press any key to continue")
// are failures when they follow one. SourceState is what one source's
// previous records say; Tracker keeps it per source, bounded.

// SourceState is the context of one source. The zero value is a source
// with no history.
type SourceState struct {
	prevFailure bool
	// prevWhole: the record before was a whole Python traceback, from its
	// `Traceback (most recent call last):` to its exception line. A new
	// traceback after it is a new failure, not its continuation (it
	// continues a banner, or a traceback cut before its exception line).
	prevWhole bool
	prevKind  string
	prevRule  string
	prevNoise string
	noiseGap  int   // other records still allowed inside the noise
	last      int64 // unix nanos of the last record, 0 = unknown
	used      uint64
}

// Reset forgets the source's history: the next record starts afresh (e.g.
// it is not the line right after the previous one).
func (s *SourceState) Reset() {
	used, last := s.used, s.last
	*s = SourceState{used: used, last: last}
}

// Tracker keeps the SourceState of up to MaxSources sources. A source
// silent for longer than Window starts afresh (a traceback is printed at
// once; minutes later its lines are no longer context); sources idle for
// longer than Expiry are dropped, and the least recently used goes when the
// tracker is full. Not safe for concurrent use: the caller serialises.
type Tracker struct {
	window, expiry time.Duration
	max            int
	m              map[string]*SourceState
	clock          uint64
}

// NewTracker returns a tracker; zero values select 10s, 10m and 1024.
func NewTracker(window, expiry time.Duration, maxSources int) *Tracker {
	if window <= 0 {
		window = 10 * time.Second
	}
	if expiry <= 0 {
		expiry = 10 * time.Minute
	}
	if maxSources <= 0 {
		maxSources = 1024
	}
	return &Tracker{window: window, expiry: expiry, max: maxSources, m: make(map[string]*SourceState)}
}

// State returns the state of source key at time now (unix nanos; 0 =
// unknown, no time-based expiry). The pointer is valid until the next call.
func (t *Tracker) State(key string, now int64) *SourceState {
	st, ok := t.m[key]
	if !ok {
		if len(t.m) >= t.max {
			t.evict(now)
		}
		st = &SourceState{}
		t.m[string([]byte(key))] = st // own the key: it may alias a pdata buffer
	}
	return t.Touch(st, now)
}

// Touch is State for a state the caller just got from State for the same
// key (saves the map lookup for a run of records of one source).
func (t *Tracker) Touch(st *SourceState, now int64) *SourceState {
	if now != 0 && st.last != 0 && now-st.last > int64(t.window) {
		st.prevFailure, st.prevKind, st.prevRule, st.prevNoise = false, "", "", ""
	}
	t.clock++
	st.used = t.clock
	if now != 0 {
		st.last = now
	}
	return st
}

// Len is the number of sources tracked.
func (t *Tracker) Len() int { return len(t.m) }

// evict drops expired sources, and the least recently used one if none expired.
func (t *Tracker) evict(now int64) {
	var lruKey string
	var lru uint64
	found := false
	for k, st := range t.m {
		if now != 0 && st.last != 0 && now-st.last > int64(t.expiry) {
			delete(t.m, k)
			continue
		}
		if !found || st.used < lru {
			lruKey, lru, found = k, st.used, true
		}
	}
	if len(t.m) >= t.max && found {
		delete(t.m, lruKey)
	}
}
