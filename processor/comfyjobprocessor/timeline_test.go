package comfyjobprocessor

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func sec(s float64) int64 { return int64(s * 1e9) }

type probe struct {
	at                float64
	job, wantEvidence string
}

func check(t *testing.T, tl *timeline, probes ...probe) {
	t.Helper()
	for _, p := range probes {
		job, _, ev := tl.attribute(sec(p.at))
		assert.Equal(t, p.job, job, "job at %.2fs", p.at)
		if p.wantEvidence != "" {
			assert.Equal(t, p.wantEvidence, ev, "evidence at %.2fs", p.at)
		}
	}
}

func TestTimelineLifecycleAndOTLP(t *testing.T) {
	tl := &timeline{max: 8}
	tl.promptStarted(sec(1), "", 0)
	check(t, tl, probe{at: 1.5, job: ""}) // unnamed yet
	assert.True(t, tl.otlpID("a", "wf", sec(2)))
	tl.promptEnded(sec(3))
	check(t, tl,
		probe{at: 0.5, job: ""},
		probe{at: 1.0, job: "a", wantEvidence: EvidenceLifecycle},
		probe{at: 2.5, job: "a", wantEvidence: EvidenceOTLP},
		probe{at: 3.0, job: "a"}, // the end line itself
		probe{at: 3.1, job: ""},
	)
	assert.False(t, tl.otlpID("a", "wf", sec(4)), "stale after the end")
	assert.True(t, tl.otlpID("a", "wf", sec(2.9)), "not stale before it")
	// A new prompt without an end closes the previous job.
	tl.promptStarted(sec(5), "", 0)
	tl.otlpID("b", "", sec(5.5))
	tl.promptStarted(sec(8), "", 0)
	tl.otlpID("c", "", sec(8.5))
	check(t, tl, probe{at: 7.9, job: "b"}, probe{at: 8.0, job: "c"}, probe{at: 100, job: "c"})
}

func TestTimelineWorkerState(t *testing.T) {
	tl := &timeline{max: 8}
	// The worker takes a job before ComfyUI prints `got prompt`.
	tl.workerJob("a", "", sec(1), sec(1.1))
	tl.promptStarted(sec(1.2), "a", sec(1))
	assert.Len(t, tl.iv, 1, "got prompt confirms the worker's job")
	tl.promptEnded(sec(3))
	tl.workerJob("", "a", sec(3.2), sec(3.3))
	check(t, tl, probe{at: 1.0, job: "a", wantEvidence: EvidenceWorkerState}, probe{at: 3.1, job: ""})
	// A stale hash after the end does not reopen the job.
	tl.workerJob("a", "", sec(1), sec(4))
	check(t, tl, probe{at: 4.5, job: ""})
	// An OTLP id beats the worker's.
	tl.workerJob("b", "", sec(5), sec(5))
	assert.True(t, tl.otlpID("b2", "", sec(5.5)))
	check(t, tl, probe{at: 5.2, job: "b2"})
	// Idle ends a job the worker named even without `Prompt executed`.
	tl.promptStarted(sec(7), "", 0)
	tl.workerJob("c", "", sec(6.9), sec(7.1))
	tl.workerJob("", "c", sec(7.5), sec(7.6))
	check(t, tl, probe{at: 7.2, job: "c"}, probe{at: 7.6, job: ""})
	// The worker took d long after an unnamed prompt started: not d's.
	tl.promptStarted(sec(10), "", 0)
	tl.workerJob("d", "", sec(20), sec(20))
	check(t, tl, probe{at: 15, job: ""}, probe{at: 20, job: "d"})
}

func TestTimelineBoundedAndLateStarts(t *testing.T) {
	tl := &timeline{max: 3}
	for i, j := range []string{"a", "b", "c", "d"} {
		s := float64(i * 10)
		tl.promptStarted(sec(s), "", 0)
		tl.otlpID(j, "", sec(s+1))
		tl.promptEnded(sec(s + 2))
	}
	assert.Len(t, tl.iv, 3)
	check(t, tl, probe{at: 1, job: ""}, probe{at: 11, job: "b"}, probe{at: 31, job: "d"})
	// A start read late, between b and c: bounds records up to c's start.
	tl.promptStarted(sec(15), "", 0)
	tl.otlpID("x", "", sec(16))
	check(t, tl, probe{at: 17, job: "x"}, probe{at: 20.5, job: "c"})
}

// A job that ends without `Prompt executed` (the process crashed, a line
// was lost): the next `got prompt` ends it, and its id on later records is
// stale; it neither names nor splits the next job.
func TestTimelineStaleIDAfterImplicitEnd(t *testing.T) {
	tl := &timeline{max: 8}
	tl.promptStarted(sec(1), "", 0)
	assert.True(t, tl.otlpID("a", "", sec(2)))
	tl.promptStarted(sec(5), "", 0)
	assert.False(t, tl.otlpID("a", "", sec(5.5)), "a's kept id in b's time")
	assert.True(t, tl.otlpID("b", "", sec(6)))
	assert.False(t, tl.otlpID("a", "", sec(7)))
	check(t, tl, probe{at: 5.5, job: "b", wantEvidence: EvidenceLifecycle}, probe{at: 7, job: "b"}, probe{at: 3, job: "a"})
	assert.Len(t, tl.iv, 2)
}
