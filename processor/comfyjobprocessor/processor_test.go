package comfyjobprocessor

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Realistic ComfyUI output.
const (
	gotPrompt     = "got prompt"
	loadSDXL      = "Requested to load SDXL"
	loaded        = "loaded completely 9484.8 4897.05 True"
	tqdmDone      = "100%|██████████| 20/20 [00:05<00:00,  3.68it/s]"
	tqdmHalf      = " 45%|████▌     | 9/20 [00:02<00:03,  3.50it/s]"
	oomBanner     = "!!! Exception during processing !!! CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 23.68 GiB of which 1.12 GiB is free."
	oomTraceback  = "Traceback (most recent call last):\n  File \"/workspace/ComfyUI/execution.py\", line 323, in execute\n    output_data, output_ui, has_subgraph = get_output_data(obj, input_data_all, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb)\n  File \"/workspace/ComfyUI/comfy/ldm/modules/attention.py\", line 218, in attention_basic\n    sim = sim.softmax(dim=-1)\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 23.68 GiB of which 1.12 GiB is free."
	validationErr = "Failed to validate prompt for output 9:\n* CheckpointLoaderSimple 4:\n  - Value not in list: ckpt_name: 'sd_xl_base_1.0.safetensors' not in ['v1-5-pruned-emaonly.safetensors']\nOutput will be ignored"
	invalidPrompt = "invalid prompt: {'type': 'prompt_outputs_failed_validation', 'message': 'Prompt outputs failed validation', 'details': '', 'extra_info': {}}"
)

func executed(sec string) string { return "Prompt executed in " + sec + " seconds" }

// TestOTLPOnlyThreeJobs: ComfyUI's SDK alone, `unknown` between jobs, the
// previous job's id kept after `Prompt executed`, three jobs in a row.
func TestOTLPOnlyThreeJobs(t *testing.T) {
	h := newHarness(t, createDefaultConfig())

	b1 := h.otlp(5,
		rec{at: 0.2, body: "Starting server", job: "unknown"},
		rec{at: 1.0, body: gotPrompt, job: "unknown", event: "prompt_started"},
		rec{at: 1.2, body: loadSDXL, job: "job-a"},
		rec{at: 3.0, body: executed("2.00"), job: "job-a", event: "prompt_executed"},
		rec{at: 3.5, body: "Unloaded partially: 781.53 MB freed", job: "job-a"}, // stale extra_data
	)
	assert.Equal(t, []verdict{
		{},
		{Job: "job-a", Evidence: EvidenceLifecycle}, // named by the records after it in the batch
		{Job: "job-a", Evidence: EvidenceRecord},
		{Job: "job-a", Evidence: EvidenceRecord},
		{}, // after the job's end the kept id is stale: no job
	}, verdicts(b1))
	assert.Equal(t, "wf-job-a", attrStr(b1[1], AttrWorkflowID))
	assert.Equal(t, "otlp", attrStr(b1[0], AttrSource))

	b2 := h.otlp(10,
		rec{at: 5.5, body: gotPrompt, job: "job-a", event: "prompt_started"}, // stale id on the next job's start
		rec{at: 6.0, body: loadSDXL, job: "job-b"},
		rec{at: 7.0, body: oomBanner, job: "job-b"},
		rec{at: 7.0, body: oomTraceback, job: "job-b"},
		rec{at: 7.1, body: executed("1.60"), job: "job-b", event: "prompt_executed"},
		rec{at: 8.0, body: "idle line", job: "unknown"},
	)
	assert.Equal(t, []verdict{
		{Job: "job-b", Evidence: EvidenceLifecycle},
		{Job: "job-b", Evidence: EvidenceRecord},
		{Job: "job-b", Evidence: EvidenceRecord},
		{Job: "job-b", Evidence: EvidenceRecord},
		{Job: "job-b", Evidence: EvidenceRecord},
		{},
	}, verdicts(b2))

	// A prompt that fails validation never runs: ComfyUI has no job id for
	// it (the kept one is job-b's). Without the worker's state it belongs to
	// no job; TestBothSourcesWithWorkerState names it.
	b3 := h.otlp(15,
		rec{at: 10.5, body: gotPrompt, job: "job-b", event: "prompt_started"},
		rec{at: 10.51, body: validationErr, job: "job-b"},
		rec{at: 10.52, body: invalidPrompt, job: "job-b"},
	)
	assert.Equal(t, []verdict{{}, {}, {}}, verdicts(b3))
	for _, lr := range append(append(b1, b2...), b3...) {
		assert.NotEqual(t, "unknown", attrStr(lr, AttrJobID))
	}
}

// TestBothSourcesOTLPEvidence: the file copy arrives first; before the
// first SDK batch names the job, file lines have no job. Their OTLP copies
// then carry it and are published (not marked), so the job's failures
// reach its stream; once the job is named, file lines get it at once.
func TestBothSourcesOTLPEvidence(t *testing.T) {
	h := newHarness(t, createDefaultConfig())

	f1 := h.file(1.03, rec{at: 1.03, body: "[2026-11-23 14:00:01.000] got prompt", event: "prompt_started"})
	f2 := h.file(1.5, rec{at: 1.5, body: "[2026-11-23 14:00:01.480] " + loadSDXL})
	assert.Equal(t, []verdict{{}}, verdicts(f1))
	assert.Equal(t, []verdict{{}}, verdicts(f2))
	assert.Equal(t, "file", attrStr(f1[0], AttrSource))

	o1 := h.otlp(5,
		rec{at: 1.0, body: gotPrompt, job: "unknown", event: "prompt_started"},
		rec{at: 1.48, body: loadSDXL, job: "job-a"},
	)
	// got prompt: the OTLP copy's time is before the file copy was read, so
	// neither names a job: a duplicate. The model load names job-a, which
	// its file copy lacked: published.
	assert.Equal(t, []verdict{{Dup: true}, {Job: "job-a", Evidence: EvidenceRecord}}, verdicts(o1))

	f3 := h.file(6.03,
		rec{at: 6.0, body: tqdmHalf},
		rec{at: 6.03, body: "[2026-11-23 14:00:06.010] " + oomBanner},
		rec{at: 6.03, body: oomTraceback},
		rec{at: 6.1, body: "[2026-11-23 14:00:06.090] " + executed("5.09"), event: "prompt_executed"},
	)
	assert.Equal(t, []verdict{
		{Job: "job-a", Evidence: EvidenceOTLP},
		{Job: "job-a", Evidence: EvidenceOTLP},
		{Job: "job-a", Evidence: EvidenceOTLP},
		{Job: "job-a", Evidence: EvidenceOTLP},
	}, verdicts(f3))

	o2 := h.otlp(10,
		rec{at: 6.01, body: oomBanner, job: "job-a"},
		rec{at: 6.02, body: oomTraceback, job: "job-a"},
		rec{at: 6.09, body: executed("5.09"), job: "job-a", event: "prompt_executed"},
		rec{at: 7.0, body: "after the job", job: "job-a"},
	)
	assert.Equal(t, []verdict{
		{Job: "job-a", Evidence: EvidenceRecord, Dup: true},
		{Job: "job-a", Evidence: EvidenceRecord, Dup: true},
		{Job: "job-a", Evidence: EvidenceRecord, Dup: true},
		{}, // stale id after the file's `Prompt executed`
	}, verdicts(o2))
}

// TestLateRecords: a record written while a job ran belongs to it, even
// when it arrives after the next job started.
func TestLateRecords(t *testing.T) {
	h := newHarness(t, createDefaultConfig())
	h.otlp(5,
		rec{at: 1.0, body: gotPrompt, job: "unknown", event: "prompt_started"},
		rec{at: 1.5, body: loadSDXL, job: "job-a"},
		rec{at: 3.0, body: executed("2.00"), job: "job-a", event: "prompt_executed"},
		rec{at: 4.0, body: gotPrompt, job: "job-a", event: "prompt_started"},
		rec{at: 4.5, body: loadSDXL, job: "job-b"},
	)
	// A file line with its own (parsed) timestamp, read late: job-a's time.
	late := h.file(20, rec{at: 20, fileTS: 2.0, body: "[2026-11-23 14:00:02.000] model weight dtype torch.float16"})
	assert.Equal(t, []verdict{{Job: "job-a", Evidence: EvidenceOTLP}}, verdicts(late))
	// An SDK record from job-b's time without an id (logged before the
	// prompt's extra_data was set), delivered after a retry.
	lateOTLP := h.otlp(25, rec{at: 4.2, body: "Using pytorch attention in VAE", job: "unknown"})
	assert.Equal(t, []verdict{{Job: "job-b", Evidence: EvidenceLifecycle}}, verdicts(lateOTLP))
	// Between the jobs: no job.
	between := h.otlp(26, rec{at: 3.5, body: "between", job: "unknown"})
	assert.Equal(t, []verdict{{}}, verdicts(between))
	// Now (file observed time): job-b still runs.
	now := h.file(26.5, rec{at: 26.5, body: tqdmHalf})
	assert.Equal(t, []verdict{{Job: "job-b", Evidence: EvidenceOTLP}}, verdicts(now))
}

func TestInstanceAndSource(t *testing.T) {
	h := newHarness(t, createDefaultConfig())

	// Instance on the resource (the deploy files' OTEL_RESOURCE_ATTRIBUTES).
	r := h.otlpRes(1, map[string]string{"comfy.instance": "gpu1"}, rec{at: 1, body: "x", job: "j1"})
	assert.Equal(t, "", attrStr(r[0], AttrInstance), "not copied from the resource")
	assert.Equal(t, "j1", attrStr(r[0], AttrJobID))

	// Only the platform's worker.id: derived and written on the record.
	r = h.otlpRes(2, map[string]string{"worker.id": "m1-worker-comfyui-3"}, rec{at: 2, body: "y", job: "j3"})
	assert.Equal(t, "gpu3", attrStr(r[0], AttrInstance))
	assert.Equal(t, "otlp", attrStr(r[0], AttrSource))

	// Job context is per instance: gpu3's job does not leak to gpu1.
	r = h.otlpRes(3, map[string]string{"comfy.instance": "gpu1"}, rec{at: 3, body: "z"})
	assert.Equal(t, "j1", attrStr(r[0], AttrJobID))
	r = h.fileOf("gpu3", 3.1, rec{at: 3.1, body: "w"})
	assert.Equal(t, "j3", attrStr(r[0], AttrJobID))
	assert.Equal(t, "file", attrStr(r[0], AttrSource))

	// A worker id that does not match the pattern, and no instance at all.
	r = h.otlpRes(4, map[string]string{"worker.id": "something-else"}, rec{at: 4, body: "v", job: "j9"})
	assert.Equal(t, "", attrStr(r[0], AttrInstance))
	assert.Equal(t, "j9", attrStr(r[0], AttrJobID), "no instance: no job context, but its own id is its job")
	assert.Equal(t, "otlp", attrStr(r[0], AttrSource))

	// The record's own instance wins over the resource's.
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("comfy.instance", "gpu1")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.Attributes().PutStr("comfy.instance", "gpu3")
	lr.Body().SetStr("u")
	out := h.consume(5, ld)
	assert.Equal(t, "j3", attrStr(out[0], AttrJobID))
}

func TestInstanceSettings(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Instance.Attributes = []string{"service.instance.id"}
	cfg.Instance.WorkerIDAttributes = []string{"emerge.worker"}
	cfg.Instance.WorkerIDPattern = `^w(?P<index>\d+)@`
	cfg.Instance.Format = "card{index}"
	h := newHarness(t, cfg)
	r := h.otlpRes(1, map[string]string{"emerge.worker": "w7@host"}, rec{at: 1, body: "x"})
	assert.Equal(t, "card7", attrStr(r[0], AttrInstance))
	r = h.otlpRes(2, map[string]string{"service.instance.id": "gpu2", "emerge.worker": "w7@host"}, rec{at: 2, body: "y"})
	assert.Equal(t, "", attrStr(r[0], AttrInstance), "found by attribute, nothing derived")
}

func TestPlaceholderIDs(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Job.Placeholders = append(cfg.Job.Placeholders, "no-job")
	h := newHarness(t, cfg)
	for i, id := range []string{"unknown", "UNKNOWN", "", " ", "None", "null", "undefined", "no-job"} {
		r := h.otlp(float64(i+1), rec{at: float64(i + 1), body: "line " + id, job: id})
		assert.Equal(t, verdict{}, verdictOf(r[0]), "id %q", id)
	}
	r := h.otlp(20, rec{at: 20, body: "real", job: "4f9c-job"})
	assert.Equal(t, verdict{Job: "4f9c-job", Evidence: EvidenceRecord}, verdictOf(r[0]))
}

func TestMaxInstancesForgetsLeastRecent(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.MaxInstances = 2
	h := newHarness(t, cfg)
	h.otlpRes(1, map[string]string{"comfy.instance": "gpu0"}, rec{at: 1, body: "a", job: "j0"})
	h.otlpRes(2, map[string]string{"comfy.instance": "gpu1"}, rec{at: 2, body: "b", job: "j1"})
	h.otlpRes(3, map[string]string{"comfy.instance": "gpu2"}, rec{at: 3, body: "c", job: "j2"})
	assert.Len(t, h.p.instances, 2)
	assert.NotContains(t, h.p.instances, "gpu0")
	r := h.fileOf("gpu1", 4, rec{at: 4, body: "d"})
	assert.Equal(t, "j1", attrStr(r[0], AttrJobID))
}

func TestTimelineBounded(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Job.MaxJobsPerInstance = 4
	h := newHarness(t, cfg)
	for i := range 10 {
		s := float64(i * 10)
		h.otlp(s+5,
			rec{at: s + 1, body: gotPrompt, event: "prompt_started"},
			rec{at: s + 2, body: loadSDXL, job: "job-" + string(rune('a'+i))},
			rec{at: s + 3, body: executed("2.0"), event: "prompt_executed"},
		)
	}
	assert.Len(t, h.p.instances["gpu0"].tl.iv, 4)
	r := h.file(100, rec{at: 100, fileTS: 92, body: "late"})
	assert.Equal(t, "job-j", attrStr(r[0], AttrJobID))
}

// TestNoInstanceKeepsItsOwnJob: a record whose resource names no instance
// (no comfy.instance, no worker.id) has no timeline, but its own real job id
// is still its job; `unknown` is still no job.
func TestNoInstanceKeepsItsOwnJob(t *testing.T) {
	h := newHarness(t, createDefaultConfig())
	lrs := h.otlpRes(1, map[string]string{"service.name": "comfyui", "service.instance.id": "some-uuid"},
		rec{at: 0.5, body: gotPrompt, job: "job-x", event: "prompt_started"},
		rec{at: 0.6, body: loadSDXL, job: "unknown"},
	)
	assert.Equal(t, []verdict{{Job: "job-x", Evidence: EvidenceRecord}, {}}, verdicts(lrs))
	assert.Equal(t, "wf-job-x", attrStr(lrs[0], AttrWorkflowID))
}
