package comfyjobprocessor // import "github.com/comfy-sidecar/otelcol-comfy/processor/comfyjobprocessor"

import (
	"hash/maphash"
	"regexp"
	"slices"
	"strings"
)

// Sources of a record.
const (
	SourceFile = "file"
	SourceOTLP = "otlp"
)

const (
	srcFile uint8 = iota
	srcOTLP
)

var lineSeed = maphash.MakeSeed()

var (
	ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]`)
	// Timestamp prefixes that the file has and the OTLP body has not:
	// ComfyUI's `[2024-06-17 13:15:02.123] `, PM2's `2024-06-17T13:15:02: `
	// (with optional fraction and zone), Python logging's
	// `2024-06-17 13:15:00,123 `.
	tsPrefixRE = regexp.MustCompile(`^(?:\[\d{4}-\d\d-\d\d[ T][\d:.,]+\]\s?|\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d)?(?:[.,]\d+)?(?: ?(?:Z|[+-]\d\d:?\d\d))?(?:: | - | ))`)
)

// normalizeLine is what both sources agree on for one line: ANSI escapes
// removed, the last carriage-return state, no timestamp prefix, trimmed.
func normalizeLine(l string) string {
	if strings.IndexByte(l, 0x1b) >= 0 {
		l = ansiRE.ReplaceAllString(l, "")
	}
	if i := strings.LastIndexByte(strings.TrimRight(l, " \t\r"), '\r'); i >= 0 {
		l = l[i+1:]
	}
	l = strings.TrimSpace(l)
	// Cheap guard before the regex: prefixes start with '[' or a digit.
	if len(l) > 10 && (l[0] == '[' || (l[0] >= '0' && l[0] <= '9')) {
		if loc := tsPrefixRE.FindStringIndex(l); loc != nil {
			l = strings.TrimSpace(l[loc[1]:])
		}
	}
	return l
}

// isTqdm reports lines that only the file can carry (tqdm writes to the
// terminal, not through logging): remembering them would only crowd out
// lines the OTLP copy can match.
func isTqdm(l string) bool {
	return strings.Contains(l, "it/s]") || strings.Contains(l, "s/it]") || strings.Contains(l, "B/s]")
}

// appendLineHashes appends the hashes of text's normalized non-empty lines.
func appendLineHashes(dst []uint64, text string, skipTqdm bool) []uint64 {
	for len(text) > 0 {
		var l string
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			l, text = text[:i], text[i+1:]
		} else {
			l, text = text, ""
		}
		l = normalizeLine(l)
		if l == "" || (skipTqdm && isTqdm(l)) {
			continue
		}
		dst = append(dst, maphash.String(lineSeed, l))
	}
	return dst
}

// occurrence is one line of one record that no copy from the other source
// has matched yet.
type occurrence struct {
	h    uint64
	at   int64 // arrival, Unix nanoseconds
	src  uint8
	live bool
	job  bool // the record carrying it was attributed to a job
}

type lineKey struct {
	h   uint64
	src uint8
}

// lineRing remembers an instance's unmatched lines, bounded in count and age.
// Each line of one source absorbs at most one copy from the other source,
// so lines that repeat (`got prompt` every job) are counted, not merged.
type lineRing struct {
	ring []occurrence
	head int // oldest
	n    int
	// FIFO of ring positions per line and source, oldest first.
	idx map[lineKey][]int32
}

func newLineRing(size int) *lineRing {
	return &lineRing{ring: make([]occurrence, size), idx: map[lineKey][]int32{}}
}

// expire drops occurrences that arrived before horizon.
func (r *lineRing) expire(horizon int64) {
	for r.n > 0 && r.ring[r.head].at < horizon {
		r.popOldest()
	}
}

func (r *lineRing) popOldest() {
	o := &r.ring[r.head]
	if o.live {
		r.unindex(lineKey{o.h, o.src})
		o.live = false
	}
	r.head = (r.head + 1) % len(r.ring)
	r.n--
}

// unindex removes the oldest position of k: occurrences of one key are
// consumed and expired oldest first.
func (r *lineRing) unindex(k lineKey) {
	q := r.idx[k]
	if len(q) <= 1 {
		delete(r.idx, k)
		return
	}
	r.idx[k] = q[1:]
}

func (r *lineRing) add(h uint64, src uint8, at int64, job bool) {
	if r.n == len(r.ring) {
		r.popOldest()
	}
	pos := (r.head + r.n) % len(r.ring)
	r.ring[pos] = occurrence{h: h, at: at, src: src, live: true, job: job}
	r.n++
	k := lineKey{h, src}
	r.idx[k] = append(r.idx[k], int32(pos))
}

// seen reports whether every hash in hs (sorted; repeats count) has an
// unmatched occurrence from the other source, and whether any of those
// occurrences belonged to a record without a job.
func (r *lineRing) seen(hs []uint64, src uint8) (all, someWithoutJob bool) {
	if len(hs) == 0 {
		return false, false
	}
	other := 1 - src
	for i := 0; i < len(hs); {
		j := i + 1
		for j < len(hs) && hs[j] == hs[i] {
			j++
		}
		q := r.idx[lineKey{hs[i], other}]
		if len(q) < j-i {
			return false, false
		}
		for _, pos := range q[:j-i] {
			if !r.ring[pos].job {
				someWithoutJob = true
			}
		}
		i = j
	}
	return true, someWithoutJob
}

// consume marks the other source's occurrences of hs matched.
func (r *lineRing) consume(hs []uint64, src uint8) {
	other := 1 - src
	for _, h := range hs {
		k := lineKey{h, other}
		if q := r.idx[k]; len(q) > 0 {
			r.ring[q[0]].live = false
			r.unindex(k)
		}
	}
}

// sortHashes sorts in place; seen needs repeats adjacent.
func sortHashes(hs []uint64) { slices.Sort(hs) }
