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

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]`)

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
	if len(l) > 10 && (l[0] == '[' || isDigit(l[0])) {
		l = strings.TrimSpace(stripTimestamp(l))
	}
	return l
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// digits reports whether l[i:i+n] are n digits.
func digits(l string, i, n int) bool {
	if i < 0 || i+n > len(l) {
		return false
	}
	for _, c := range []byte(l[i : i+n]) {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

// isDate: l starts with YYYY-MM-DD.
func isDate(l string) bool {
	return len(l) >= 10 && digits(l, 0, 4) && l[4] == '-' && digits(l, 5, 2) && l[7] == '-' && digits(l, 8, 2)
}

// stripTimestamp removes the timestamp prefixes the file has and the OTLP
// body has not: ComfyUI's `[2024-06-17 13:15:02.123] `, PM2's
// `2024-06-17T13:15:02: ` (with optional fraction and zone), Python
// logging's `2024-06-17 13:15:00,123 - ` or `… `. By hand: this runs on
// every line of both sources, and a regex here cost a fifth of the
// processor's time.
func stripTimestamp(l string) string {
	if l[0] == '[' {
		if !isDate(l[1:]) {
			return l
		}
		for i := 11; i < len(l) && i < 40; i++ {
			c := l[i]
			switch {
			case c == ']':
				return l[i+1:]
			case isDigit(c) || c == ':' || c == '.' || c == ',' || c == ' ' || c == 'T' || c == '-':
			default:
				return l
			}
		}
		return l
	}
	if !isDate(l) || len(l) < 16 || (l[10] != 'T' && l[10] != ' ') {
		return l
	}
	i := 11
	if !digits(l, i, 2) || l[i+2] != ':' || !digits(l, i+3, 2) {
		return l
	}
	i += 5
	if i+2 < len(l) && l[i] == ':' && digits(l, i+1, 2) {
		i += 3
	}
	if i < len(l) && (l[i] == '.' || l[i] == ',') {
		j := i + 1
		for j < len(l) && isDigit(l[j]) {
			j++
		}
		if j > i+1 {
			i = j
		}
	}
	j := i
	if j < len(l) && l[j] == ' ' {
		j++
	}
	if j < len(l) && l[j] == 'Z' {
		i = j + 1
	} else if j < len(l) && (l[j] == '+' || l[j] == '-') && digits(l, j+1, 2) {
		k := j + 3
		if k < len(l) && l[k] == ':' {
			k++
		}
		if digits(l, k, 2) {
			i = k + 2
		}
	}
	rest := l[i:]
	switch {
	case strings.HasPrefix(rest, ": "):
		return rest[2:]
	case strings.HasPrefix(rest, " - "):
		return rest[3:]
	case strings.HasPrefix(rest, " "):
		return rest[1:]
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
// At most limit hashes are appended.
func appendLineHashes(dst []uint64, text string, skipTqdm bool, limit int) []uint64 {
	for n := 0; len(text) > 0 && n < limit; {
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
		n++
	}
	return dst
}

// maxLinesPerRecord bounds the lines compared per record: one huge record
// (a 1 MiB dump) must not flush an instance's ring. Both copies of a record
// are cut the same way, so they still match.
const maxLinesPerRecord = 512

// occurrence is one line of one record that no copy from the other source
// has matched yet.
type occurrence struct {
	h    uint64
	at   int64 // arrival, Unix nanoseconds
	next int32 // next live occurrence of the same line and source, -1 at the end
	src  uint8
	live bool
	job  bool // the record carrying it was attributed to a job
}

type lineKey struct {
	h   uint64
	src uint8
}

// fifo links the live occurrences of one line and source, oldest first,
// through occurrence.next: no allocation per line.
type fifo struct{ head, tail, n int32 }

// lineRing remembers an instance's unmatched lines, bounded in count and age.
// Each line of one source absorbs at most one copy from the other source,
// so lines that repeat (`got prompt` every job) are counted, not merged.
type lineRing struct {
	ring []occurrence
	head int // oldest
	n    int
	idx  map[lineKey]fifo
}

func newLineRing(size int) *lineRing {
	return &lineRing{ring: make([]occurrence, size), idx: map[lineKey]fifo{}}
}

// expire drops occurrences that arrived before horizon.
func (r *lineRing) expire(horizon int64) {
	for r.n > 0 && r.ring[r.head].at < horizon {
		r.popOldest()
	}
}

func (r *lineRing) popOldest() {
	if o := &r.ring[r.head]; o.live {
		r.popFront(lineKey{o.h, o.src})
	}
	r.head = (r.head + 1) % len(r.ring)
	r.n--
}

// popFront unlinks the oldest live occurrence of k: occurrences of one key
// are consumed and expired oldest first, so the ring's oldest live one of a
// key is always its fifo's head.
func (r *lineRing) popFront(k lineKey) {
	q, ok := r.idx[k]
	if !ok {
		return
	}
	r.ring[q.head].live = false
	if q.n <= 1 {
		delete(r.idx, k)
		return
	}
	q.head = r.ring[q.head].next
	q.n--
	r.idx[k] = q
}

func (r *lineRing) add(h uint64, src uint8, at int64, job bool) {
	if r.n == len(r.ring) {
		r.popOldest()
	}
	pos := int32((r.head + r.n) % len(r.ring))
	r.ring[pos] = occurrence{h: h, at: at, next: -1, src: src, live: true, job: job}
	r.n++
	k := lineKey{h, src}
	if q, ok := r.idx[k]; ok {
		r.ring[q.tail].next = pos
		q.tail = pos
		q.n++
		r.idx[k] = q
	} else {
		r.idx[k] = fifo{head: pos, tail: pos, n: 1}
	}
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
		q, ok := r.idx[lineKey{hs[i], other}]
		if !ok || int(q.n) < j-i {
			return false, false
		}
		pos := q.head
		for range j - i {
			if !r.ring[pos].job {
				someWithoutJob = true
			}
			pos = r.ring[pos].next
		}
		i = j
	}
	return true, someWithoutJob
}

// consume marks the other source's occurrences of hs matched.
func (r *lineRing) consume(hs []uint64, src uint8) {
	other := 1 - src
	for _, h := range hs {
		r.popFront(lineKey{h, other})
	}
}

// sortHashes sorts in place; seen needs repeats adjacent.
func sortHashes(hs []uint64) { slices.Sort(hs) }
