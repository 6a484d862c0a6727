package comfyjobprocessor

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/comfy-sidecar/otelcol-comfy/processor/comfyjobprocessor/internal/metadatatest"
	"github.com/comfy-sidecar/otelcol-comfy/processor/comfyjobprocessor/internal/redistest"
)

const workerKey = "worker:m1-worker-comfyui-0"

func workerConfig(addr string) *Config {
	cfg := createDefaultConfig()
	cfg.WorkerState.Enabled = true
	cfg.WorkerState.Endpoint = addr
	cfg.WorkerState.PollInterval = 20 * time.Millisecond
	return cfg
}

func redisClient(t *testing.T, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// setWorker writes the worker's hash as the platform's worker does:
// busy with job (idle when job is ""), changed at the simulated second.
func setWorker(t *testing.T, c *redis.Client, job string, changed float64) {
	t.Helper()
	status := "busy"
	if job == "" {
		status = "idle"
	}
	require.NoError(t, c.HSet(context.Background(), workerKey,
		"status", status, "current_job_id", job,
		"last_status_change", strconv.FormatInt(at(changed).UnixMilli(), 10)).Err())
}

// waitWorker waits until the processor has read the worker's job.
func (h *harness) waitWorker(instance, job string) {
	h.t.Helper()
	require.Eventually(h.t, func() bool {
		h.p.mu.Lock()
		defer h.p.mu.Unlock()
		st, ok := h.p.instances[instance]
		return ok && st.wsJob == job
	}, 5*time.Second, 5*time.Millisecond, "worker state %q not read", job)
}

// TestBothSourcesWithWorkerState is the platform's setup: one instance
// writes its file and sends OTLP at once, the worker's hash names the job,
// `unknown` between jobs, three jobs in a row (success, CUDA OOM in the
// middle of a tqdm bar, failed prompt validation). Every file line gets its
// job as it is read; every OTLP copy is marked; nothing names `unknown`.
func TestBothSourcesWithWorkerState(t *testing.T) {
	srv := redistest.Start(t)
	c := redisClient(t, srv.Addr())
	h := newHarness(t, workerConfig(srv.Addr()))

	var published, marked []verdict
	collect := func(vs []verdict) []verdict {
		for _, v := range vs {
			if v.Dup {
				marked = append(marked, v)
			} else {
				published = append(published, v)
			}
		}
		return vs
	}

	collect(verdicts(h.file(0.5, rec{at: 0.5, body: "[2026-11-23 14:00:00.480] Starting server"})))
	// Job A succeeds.
	setWorker(t, c, "job-a", 0.9)
	h.waitWorker("gpu0", "job-a")
	fa := collect(verdicts(h.file(1.03,
		rec{at: 1.03, body: "[2026-11-23 14:00:01.000] got prompt", event: "prompt_started"},
		rec{at: 1.03, body: "[2026-11-23 14:00:01.010] " + loadSDXL},
	)))
	fa = append(fa, collect(verdicts(h.file(3.03,
		rec{at: 2.0, body: tqdmDone},
		rec{at: 3.03, body: "[2026-11-23 14:00:03.000] " + executed("2.00"), event: "prompt_executed"},
	)))...)
	for _, v := range fa {
		assert.Equal(t, verdict{Job: "job-a", Evidence: EvidenceWorkerState}, v)
	}
	setWorker(t, c, "", 3.1)
	h.waitWorker("gpu0", "")
	oa := collect(verdicts(h.otlp(5,
		rec{at: 0.48, body: "Starting server", job: "unknown"},
		rec{at: 1.0, body: gotPrompt, job: "unknown", event: "prompt_started"},
		rec{at: 1.01, body: loadSDXL, job: "job-a"},
		rec{at: 3.0, body: executed("2.00"), job: "job-a", event: "prompt_executed"},
	)))
	assert.Equal(t, []bool{true, true, true, true}, dupFlags(oa))

	// Job B: CUDA out of memory in the middle of the bar.
	setWorker(t, c, "job-b", 5.4)
	h.waitWorker("gpu0", "job-b")
	fb := collect(verdicts(h.file(7.03,
		rec{at: 5.53, body: "[2026-11-23 14:00:05.500] got prompt", event: "prompt_started"},
		rec{at: 5.6, body: "[2026-11-23 14:00:05.580] " + loadSDXL},
		rec{at: 6.5, body: tqdmHalf},
		rec{at: 7.03, body: "[2026-11-23 14:00:07.000] " + oomBanner},
		rec{at: 7.03, body: "[2026-11-23 14:00:07.001] " + oomTraceback},
		rec{at: 7.1, body: "[2026-11-23 14:00:07.080] " + executed("1.58"), event: "prompt_executed"},
	)))
	for _, v := range fb {
		assert.Equal(t, verdict{Job: "job-b", Evidence: EvidenceWorkerState}, v)
	}
	setWorker(t, c, "", 7.2)
	h.waitWorker("gpu0", "")
	ob := collect(verdicts(h.otlp(10,
		rec{at: 5.5, body: gotPrompt, job: "job-a", event: "prompt_started"}, // kept extra_data
		rec{at: 5.58, body: loadSDXL, job: "job-b"},
		rec{at: 7.0, body: oomBanner, job: "job-b"},
		rec{at: 7.001, body: oomTraceback, job: "job-b"},
		rec{at: 7.08, body: executed("1.58"), job: "job-b", event: "prompt_executed"},
	)))
	assert.Equal(t, []bool{true, true, true, true, true}, dupFlags(ob))
	assert.Equal(t, "job-b", ob[0].Job, "the kept id of job-a is stale at job-b's start")

	// Job C: the prompt fails validation, so it never runs and ComfyUI
	// prints no `Prompt executed`; the worker going idle ends it.
	setWorker(t, c, "job-c", 10.4)
	h.waitWorker("gpu0", "job-c")
	fc := collect(verdicts(h.file(10.6,
		rec{at: 10.53, body: "[2026-11-23 14:00:10.500] got prompt", event: "prompt_started"},
		rec{at: 10.55, body: "[2026-11-23 14:00:10.510] " + validationErr},
		rec{at: 10.56, body: "[2026-11-23 14:00:10.520] " + invalidPrompt},
	)))
	for _, v := range fc {
		assert.Equal(t, verdict{Job: "job-c", Evidence: EvidenceWorkerState}, v)
	}
	setWorker(t, c, "", 10.7)
	h.waitWorker("gpu0", "")
	after := collect(verdicts(h.file(11, rec{at: 11, body: "[2026-11-23 14:00:11.000] idle again"})))
	assert.Equal(t, []verdict{{}}, after)
	oc := collect(verdicts(h.otlp(15,
		rec{at: 10.5, body: gotPrompt, job: "job-b", event: "prompt_started"},
		rec{at: 10.51, body: validationErr, job: "job-b"},
		rec{at: 10.52, body: invalidPrompt, job: "job-b"},
		rec{at: 11, body: "idle again", job: "job-b"},
	)))
	assert.Equal(t, []bool{true, true, true, true}, dupFlags(oc))
	assert.Equal(t, "job-c", oc[1].Job)

	// Published once each: every file line; none of the OTLP copies.
	assert.Len(t, published, 1+len(fa)+len(fb)+len(fc)+1)
	assert.Len(t, marked, len(oa)+len(ob)+len(oc))
	for _, v := range append(published, marked...) {
		assert.NotEqual(t, "unknown", v.Job)
	}
}

// The status channel delivers a change before the next poll.
func TestWorkerStatusChannel(t *testing.T) {
	srv := redistest.Start(t)
	c := redisClient(t, srv.Addr())
	cfg := workerConfig(srv.Addr())
	cfg.WorkerState.PollInterval = time.Hour
	cfg.WorkerState.LookupTimeout = 0
	h := newHarness(t, cfg)
	h.file(0.5, rec{at: 0.5, body: "Starting server"})

	// The subscription starts asynchronously: publish until it is read.
	msg := fmt.Sprintf(`{"worker_id":"m1-worker-comfyui-0","old_status":"idle","new_status":"busy","current_job_id":"job-7","timestamp":%d}`, at(1).UnixMilli())
	require.Eventually(t, func() bool {
		c.Publish(context.Background(), "worker_status", msg)
		h.p.mu.Lock()
		defer h.p.mu.Unlock()
		return h.p.instances["gpu0"].wsJob == "job-7"
	}, 5*time.Second, 20*time.Millisecond)
	r := h.file(1.2, rec{at: 1.2, body: "got prompt", event: "prompt_started"})
	assert.Equal(t, verdict{Job: "job-7", Evidence: EvidenceWorkerState}, verdictOf(r[0]))

	// A worker the sidecar has not seen a record of yet (gpu1) is known
	// from its id.
	msg = fmt.Sprintf(`{"worker_id":"m1-worker-comfyui-1","old_status":"idle","new_status":"busy","current_job_id":"job-9","timestamp":"%s"}`, at(2).Format(time.RFC3339Nano))
	require.NoError(t, c.Publish(context.Background(), "worker_status", msg).Err())
	h.waitWorker("gpu1", "job-9")
	r = h.fileOf("gpu1", 2.5, rec{at: 2.5, body: "Requested to load Flux"})
	assert.Equal(t, verdict{Job: "job-9", Evidence: EvidenceWorkerState}, verdictOf(r[0]))

	// Idle ends it.
	msg = fmt.Sprintf(`{"worker_id":"m1-worker-comfyui-1","old_status":"busy","new_status":"idle","current_job_id":null,"timestamp":%d}`, at(3).UnixMilli())
	require.NoError(t, c.Publish(context.Background(), "worker_status", msg).Err())
	h.waitWorker("gpu1", "")
	r = h.fileOf("gpu1", 3.5, rec{at: 3.5, body: "after"})
	assert.Equal(t, verdict{}, verdictOf(r[0]))
}

// A `got prompt` arriving before the poll has seen the worker's new job:
// one bounded read names it at once.
func TestWorkerLookupAtPromptStart(t *testing.T) {
	srv := redistest.Start(t)
	c := redisClient(t, srv.Addr())
	cfg := workerConfig(srv.Addr())
	cfg.WorkerState.PollInterval = time.Hour
	cfg.WorkerState.Channel = ""
	h := newHarness(t, cfg)
	h.file(0.5, rec{at: 0.5, body: "Starting server"})
	setWorker(t, c, "job-x", 0.9)
	r := h.file(1.0, rec{at: 1.0, body: "got prompt", event: "prompt_started"}, rec{at: 1.0, body: loadSDXL})
	assert.Equal(t, []verdict{
		{Job: "job-x", Evidence: EvidenceWorkerState},
		{Job: "job-x", Evidence: EvidenceWorkerState},
	}, verdicts(r))
}

// Redis down: records flow, errors are counted, and once Redis is back the
// state is read again. The last known state stays during the outage.
func TestWorkerStateRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	c := redisClient(t, srv.Addr())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cfg := workerConfig(srv.Addr())
	cfg.WorkerState.Timeout = 100 * time.Millisecond
	h := newHarnessWith(t, cfg, metadatatest.NewSettings(tel))

	h.file(0.5, rec{at: 0.5, body: "Starting server"})
	setWorker(t, c, "job-1", 0.9)
	h.waitWorker("gpu0", "job-1")
	srv.Stop()

	require.Eventually(t, func() bool {
		m, err := tel.GetMetric("otelcol_processor_comfyjob_worker_state_errors")
		if err != nil {
			return false
		}
		for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
			if dp.Value > 0 {
				return true
			}
		}
		return false
	}, 5*time.Second, 10*time.Millisecond)

	// The pipeline goes on with the last known job; the lookup at a prompt
	// start is skipped while Redis fails.
	r := h.file(1.0, rec{at: 1.0, body: "got prompt", event: "prompt_started"}, rec{at: 1.1, body: loadSDXL})
	assert.Equal(t, []verdict{
		{Job: "job-1", Evidence: EvidenceWorkerState},
		{Job: "job-1", Evidence: EvidenceWorkerState},
	}, verdicts(r))
	r = h.file(2.0, rec{at: 2.0, body: executed("1.0"), event: "prompt_executed"})
	assert.Equal(t, "job-1", verdictOf(r[0]).Job)

	require.NoError(t, srv.Start())
	setWorker(t, c, "job-2", 3.0)
	h.waitWorker("gpu0", "job-2")
	r = h.file(3.5, rec{at: 3.5, body: "got prompt", event: "prompt_started"})
	assert.Equal(t, verdict{Job: "job-2", Evidence: EvidenceWorkerState}, verdictOf(r[0]))
}

func TestParseTime(t *testing.T) {
	want := at(1.5).UnixNano()
	for _, s := range []string{
		strconv.FormatInt(at(1.5).UnixMilli(), 10),
		strconv.FormatInt(at(1.5).UnixMicro(), 10),
		strconv.FormatInt(at(1.5).UnixNano(), 10),
		fmt.Sprintf("%.3f", float64(at(1.5).UnixMilli())/1000),
		at(1.5).Format(time.RFC3339Nano),
	} {
		assert.InDelta(t, want, parseTime(s), 1e3, s)
	}
	assert.Zero(t, parseTime("yesterday"))
	assert.Zero(t, parseTime(""))
}

func TestWorkerIDDerivation(t *testing.T) {
	cfg := workerConfig("127.0.0.1:1")
	p, err := newLogsProcessor(processortestSettings(), cfg)
	require.NoError(t, err)
	defer p.shutdown(context.Background())
	st := &instanceState{name: "gpu2", machineID: "m-42"}
	assert.Equal(t, "m-42-worker-comfyui-2", p.worker.workerID(st))
	st.workerID = "explicit"
	assert.Equal(t, "explicit", p.worker.workerID(st), "a worker.id seen on records wins")
	assert.Equal(t, "", p.worker.workerID(&instanceState{name: "gpu2"}), "no machine id")
	assert.Equal(t, "", p.worker.workerID(&instanceState{name: "cpu", machineID: "m"}), "not an instance name")
	assert.Equal(t, "worker:m-42-worker-comfyui-2", p.worker.key("m-42-worker-comfyui-2"))
}

// OTLP only, with the worker's hash: the SDK's batch arrives after the
// worker finished job-c (which failed validation) and took job-d. Records
// are placed by their own time on what the poll saw, not by the worker's
// state when the batch arrives.
func TestOTLPOnlyLateBatchWithWorkerState(t *testing.T) {
	srv := redistest.Start(t)
	c := redisClient(t, srv.Addr())
	h := newHarness(t, workerConfig(srv.Addr()))
	h.otlp(0.5, rec{at: 0.4, body: "Starting server", job: "unknown"})

	h.setClock(10.45)
	setWorker(t, c, "job-c", 10.4)
	h.waitWorker("gpu0", "job-c")
	h.setClock(10.8)
	setWorker(t, c, "", 10.7)
	h.waitWorker("gpu0", "")
	h.setClock(12)
	setWorker(t, c, "job-d", 11.9)
	h.waitWorker("gpu0", "job-d")

	got := verdicts(h.otlp(15,
		rec{at: 10.5, body: gotPrompt, job: "unknown", event: "prompt_started"},
		rec{at: 10.51, body: validationErr, job: "unknown"},
		rec{at: 10.52, body: invalidPrompt, job: "unknown"},
		rec{at: 11.0, body: "idle", job: "unknown"},
		rec{at: 11.95, body: gotPrompt, job: "unknown", event: "prompt_started"},
		rec{at: 12.0, body: loadSDXL, job: "job-d"},
	))
	assert.Equal(t, []verdict{
		{Job: "job-c", Evidence: EvidenceWorkerState},
		{Job: "job-c", Evidence: EvidenceWorkerState},
		{Job: "job-c", Evidence: EvidenceWorkerState},
		{},
		{Job: "job-d", Evidence: EvidenceWorkerState},
		{Job: "job-d", Evidence: EvidenceRecord},
	}, got)
}
