package comfyjobprocessor // import "github.com/comfy-sidecar/otelcol-comfy/processor/comfyjobprocessor"

import "slices"

// Evidence values written to comfy.job.evidence.
const (
	EvidenceRecord      = "record"       // the record's own job id
	EvidenceOTLP        = "otlp"         // ids on other OTLP records of the instance
	EvidenceWorkerState = "worker_state" // the worker's hash or status channel in Redis
	EvidenceLifecycle   = "lifecycle"    // within got prompt … Prompt executed, before any id was seen
)

// interval is one job's span on an instance's timeline, in Unix nanoseconds
// of the records' own times. A job without a name yet (a `got prompt` seen
// before any id) has job == "". An open interval (end == 0) lasts until the
// next one starts.
type interval struct {
	job, workflow string
	start, end    int64
	evidence      string // of the name: EvidenceOTLP or EvidenceWorkerState
	idFirst       int64  // time of the first OTLP record naming the job
	lcStart       bool   // opened (or confirmed) by prompt_started
	lcEnd         bool   // closed by prompt_executed / interrupted
}

// timeline is an instance's job intervals sorted by start, at most max long.
type timeline struct {
	iv  []interval
	max int
}

// effEnd is the last instant interval i covers.
func (tl *timeline) effEnd(i int) int64 {
	e := tl.iv[i].end
	if i+1 < len(tl.iv) {
		next := tl.iv[i+1].start - 1
		if e == 0 || e > next {
			e = next
		}
	}
	if e == 0 {
		e = 1<<63 - 1
	}
	return e
}

// find returns the interval covering t, or -1.
func (tl *timeline) find(t int64) int {
	i := tl.before(t)
	if i >= 0 && t <= tl.effEnd(i) {
		return i
	}
	return -1
}

// before returns the last interval starting at or before t, or -1.
func (tl *timeline) before(t int64) int {
	// Intervals are few (bounded, usually < 64): a backward scan finds
	// recent times, the common case, in one or two steps.
	for i := len(tl.iv) - 1; i >= 0; i-- {
		if tl.iv[i].start <= t {
			return i
		}
	}
	return -1
}

func (tl *timeline) last() *interval {
	if len(tl.iv) == 0 {
		return nil
	}
	return &tl.iv[len(tl.iv)-1]
}

// insert adds iv in start order and forgets the oldest beyond max. It
// returns the index of the new interval.
func (tl *timeline) insert(iv interval) int {
	i := len(tl.iv)
	for i > 0 && tl.iv[i-1].start > iv.start {
		i--
	}
	tl.iv = slices.Insert(tl.iv, i, iv)
	if over := len(tl.iv) - tl.max; over > 0 {
		tl.iv = slices.Delete(tl.iv, 0, over)
		i -= over
	}
	return i
}

// endedByLifecycle reports whether job's interval was closed by the log's
// lifecycle before t: ComfyUI keeps the last prompt's extra_data, so an id
// seen after that end is stale.
func (tl *timeline) endedByLifecycle(job string, t int64) bool {
	for i := len(tl.iv) - 1; i >= 0; i-- {
		iv := &tl.iv[i]
		if iv.job == job {
			return iv.lcEnd && iv.end < t
		}
	}
	return false
}

func (tl *timeline) has(job string) bool { return tl.index(job) >= 0 }

// index returns the last interval of job, or -1.
func (tl *timeline) index(job string) int {
	for i := len(tl.iv) - 1; i >= 0; i-- {
		if tl.iv[i].job == job {
			return i
		}
	}
	return -1
}

// mergeSlack: evidence this close in time to a `got prompt` is about the
// same job. An interval opened by an OTLP id up to this long before it is
// that job (the SDK's timestamps and the file's observed times differ by
// the tail interval); a worker that took its job more than this long after
// a prompt started did not take that prompt.
const mergeSlack = int64(2e9)

// promptStarted applies a `got prompt` at t. wsJob is the job the worker's
// state names now ("" if none or unknown), since wsChanged.
func (tl *timeline) promptStarted(t int64, wsJob string, wsChanged int64) {
	// A job named by the worker (or by OTLP just before) whose `got prompt`
	// was not seen yet: this is its start. Its interval may be closed
	// already: the SDK's batch can arrive after the worker went idle.
	if i := tl.find(t); i >= 0 {
		iv := &tl.iv[i]
		if !iv.lcStart && iv.job != "" && (iv.evidence == EvidenceWorkerState || iv.start >= t-mergeSlack) {
			iv.lcStart = true
			return
		}
	}
	l := tl.last()
	if l != nil && t < l.start {
		// A late-read start, before the newest interval: it bounds
		// records between it and the next interval only.
		tl.insert(interval{start: t, lcStart: true})
		return
	}
	if l != nil && (l.end == 0 || l.end >= t) {
		// A new prompt without the previous one's end (a crash, or a
		// lost line): the previous job ends here, and its id on later
		// records is stale as after `Prompt executed`.
		l.end, l.lcEnd = max(l.start, t-1), true
	}
	iv := interval{start: t, lcStart: true}
	// The worker's current job, unless it is known already or the worker
	// took it after this prompt started (a late batch).
	if wsJob != "" && !tl.has(wsJob) && (wsChanged <= 0 || wsChanged <= t+mergeSlack) {
		iv.job, iv.evidence, iv.idFirst = wsJob, EvidenceWorkerState, t
	}
	tl.insert(iv)
}

// promptEnded applies `Prompt executed` / `Processing interrupted` at t:
// the job running at t ends there (its own line included).
func (tl *timeline) promptEnded(t int64) {
	i := tl.before(t)
	if i < 0 {
		return
	}
	iv := &tl.iv[i]
	if iv.lcEnd {
		return
	}
	// The log's end is exact: it wins over the worker going idle later
	// (or earlier).
	iv.end = t
	iv.lcEnd = true
}

// otlpID applies an OTLP record of the instance naming job at t. It returns
// false when the id is stale (the job ended before t).
func (tl *timeline) otlpID(job, workflow string, t int64) bool {
	if tl.endedByLifecycle(job, t) {
		return false
	}
	i := tl.find(t)
	if i >= 0 {
		iv := &tl.iv[i]
		if k := tl.index(job); k >= 0 && k < i {
			// An earlier job's id inside a later job: kept extra_data.
			return false
		}
		switch {
		case iv.job == "":
			iv.job, iv.evidence, iv.idFirst = job, EvidenceOTLP, t
		case iv.job == job:
			if iv.evidence == EvidenceOTLP && t < iv.idFirst {
				iv.idFirst = t
			}
		case iv.evidence == EvidenceWorkerState:
			// The record names its job itself: stronger than the worker.
			iv.job, iv.evidence, iv.idFirst = job, EvidenceOTLP, t
		default:
			// Another OTLP-named job: the new one starts here.
			old := *iv
			iv.end, iv.lcEnd = max(iv.start, t-1), false
			i = tl.insert(interval{job: job, start: t, end: old.end, lcEnd: old.lcEnd, evidence: EvidenceOTLP, idFirst: t})
		}
		if workflow != "" && tl.iv[i].workflow == "" {
			tl.iv[i].workflow = workflow
		}
		return true
	}
	// No interval covers t. The job's own interval closed by the worker
	// going idle just before: extend it. Otherwise a job whose start we
	// did not see begins here.
	j := tl.before(t)
	if j >= 0 && tl.iv[j].job == job && !tl.iv[j].lcEnd {
		tl.iv[j].end = t
		return true
	}
	if k := tl.index(job); k >= 0 && k <= j {
		return false
	}
	tl.insert(interval{job: job, workflow: workflow, start: t, evidence: EvidenceOTLP, idFirst: t})
	return true
}

// workerJob applies the worker's state: job (or "" when idle) since changed
// (0 when unknown), learned at now; prev is the job the worker had before.
func (tl *timeline) workerJob(job, prev string, changed, now int64) {
	at := changed
	if at <= 0 || at > now {
		at = now
	}
	l := tl.last()
	if job == "" {
		// Idle: the worker's job is over, even when ComfyUI printed no
		// `Prompt executed` (a prompt that failed validation never runs).
		if l != nil && l.end == 0 && ((prev != "" && l.job == prev) || (l.evidence == EvidenceWorkerState && !l.lcStart)) {
			l.end = max(l.start, at)
		}
		return
	}
	if tl.has(job) {
		// Known already (possibly ended: the hash lags behind the log).
		return
	}
	if l != nil && l.job == "" && (l.end == 0 || (changed > 0 && changed < l.end)) &&
		(changed <= 0 || changed <= l.start+mergeSlack) {
		// The unnamed job running now, or one that already ended but
		// that the worker took before its end (Redis was read late).
		l.job, l.evidence, l.idFirst = job, EvidenceWorkerState, l.start
		return
	}
	if l != nil {
		if at <= l.start {
			at = now
		}
		if l.end == 0 || l.end >= at {
			l.end = max(l.start, at-1)
		}
	}
	tl.insert(interval{job: job, start: at, evidence: EvidenceWorkerState, idFirst: at})
}

// attribute returns the job covering t, its workflow and the evidence.
func (tl *timeline) attribute(t int64) (job, workflow, evidence string) {
	i := tl.find(t)
	if i < 0 || tl.iv[i].job == "" {
		return "", "", ""
	}
	iv := &tl.iv[i]
	evidence = iv.evidence
	if iv.lcStart && t < iv.idFirst {
		evidence = EvidenceLifecycle
	}
	return iv.job, iv.workflow, evidence
}
