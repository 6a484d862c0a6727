package e2e

// Issue 12: every failure in its job's stream, once. One simulated ComfyUI
// instance driven the way the platform runs it: its output file
// (output-gpu0.log, the machine service's layout: stdout and stderr
// together) and its OTLP stream at once, with the platform's attribute names
// (emerge.job_id, `unknown` between jobs, worker.id on the resource), the
// worker's hash in Redis, and three jobs in a row: one succeeds, one dies of
// CUDA out of memory in the middle of a tqdm bar, one fails prompt
// validation. The same test runs with only the file and with only OTLP.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/comfy-sidecar/otelcol-comfy/tests/e2e/harness"
)

// comfyInstance plays one ComfyUI process: each logged line goes to its
// output file and/or over OTLP; tqdm states and print() go to the file only.
type comfyInstance struct {
	t       *testing.T
	file    *harness.LogFile
	client  *harness.Client
	mode    string // both, file, otlp
	job     string // current emerge.job_id ("unknown" between jobs)
	workflw string
	st      *stack
	worker  string
}

// log is a Python logging call: the file gets the line, the SDK a record.
func (c *comfyInstance) log(ctx context.Context, text string) {
	if c.mode != "otlp" {
		if err := c.file.Line(text); err != nil {
			c.t.Fatal(err)
		}
	}
	if c.mode != "file" {
		c.client.Emit(ctx, harness.Rec{Body: text, Attrs: map[string]string{"emerge.job_id": c.job, "emerge.workflow_id": c.workflw}})
	}
}

// raw is output that never passes through logging (tqdm, print()).
func (c *comfyInstance) raw(text string) {
	if c.mode == "otlp" {
		return
	}
	if _, err := c.file.Write([]byte(text)); err != nil {
		c.t.Fatal(err)
	}
}

// setWorker writes the worker's state as the platform's worker does: the
// hash worker:{worker_id} and a worker_status message.
func (c *comfyInstance) setWorker(ctx context.Context, status, job string) {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	cli := c.st.streams.Client()
	old, _ := cli.HGet(ctx, "worker:"+c.worker, "status").Result()
	if err := cli.HSet(ctx, "worker:"+c.worker, "status", status, "current_job_id", job, "last_status_change", now).Err(); err != nil {
		c.t.Fatal(err)
	}
	msg, _ := json.Marshal(map[string]string{"worker_id": c.worker, "old_status": old, "new_status": status, "current_job_id": job, "timestamp": now})
	_ = cli.Publish(ctx, "worker_status", string(msg)).Err()
}

func (c *comfyInstance) tqdm(steps, upTo int, pace time.Duration) {
	for s := 0; s <= upTo; s++ {
		state := fmt.Sprintf("\r%3d%%|%-10s| %d/%d [00:0%d<00:02,  9.00it/s]", s*100/steps, strings.Repeat("█", s*10/steps), s, steps, s%10)
		if s == steps {
			state += "\n"
		}
		c.raw(state)
		time.Sleep(pace)
	}
}

const (
	oomMessage = "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 23.65 GiB of which 1.06 GiB is free. Of the allocated memory 20.12 GiB is allocated by PyTorch"
	// ComfyUI execution.py: logging.error(traceback.format_exc()) after the banner.
	oomTraceback = "Traceback (most recent call last):\n" +
		"  File \"/workspace/ComfyUI/execution.py\", line 327, in execute\n" +
		"    output_data, output_ui, has_subgraph = get_output_data(obj, input_data_all, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb)\n" +
		"  File \"/workspace/ComfyUI/comfy/ldm/modules/attention.py\", line 241, in attention_split\n" +
		"    s1 = einsum('b i d, b j d -> b i j', q[:, i:end], k) * scale\n" +
		"torch.OutOfMemoryError: " + oomMessage
	// ComfyUI execution.py validate_prompt + server.py: one logging call per line.
	validationLines = "Failed to validate prompt for output 9:\n" +
		"* CheckpointLoaderSimple 4:\n" +
		"  - Value not in list: ckpt_name: 'sdxl_missing.safetensors' not in ['sd_xl_base_1.0.safetensors']\n" +
		"Output will be ignored\n" +
		"invalid prompt: {'type': 'prompt_outputs_failed_validation', 'message': 'Prompt outputs failed validation', 'details': '', 'extra_info': {}}"
)

func TestJobs(t *testing.T) {
	for _, mode := range []string{"both", "file", "otlp"} {
		t.Run(mode, func(t *testing.T) { runJobs3(t, mode) })
	}
}

func runJobs3(t *testing.T, mode string) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	machine := "jobs-" + mode
	st := newStack(t, stackOptions{machineID: machine, env: map[string]string{"WORKER_STATE_ENABLED": "true"}})
	path := filepath.Join(st.sidecar.LogDir, "output-gpu0.log")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	st.sidecar.StartHealthy(startTimeout)
	lf, err := harness.OpenLogFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	worker := machine + "-worker-comfyui-0"
	// The platform's ComfyUI: resource attributes of the process, the SDK's
	// batch processor (every 2 s here; 5 s on the platform).
	client := harness.NewClient(t, harness.Job{}, harness.ClientOptions{Endpoint: st.sidecar.OTLPEndpoint(), Batch: 2 * time.Second,
		Resource: map[string]string{"service.namespace": "emerge", "machine.id": machine, "service.instance.id": "gpu0", "worker.id": worker, "comfy.instance": "gpu0"}})
	c := &comfyInstance{t: t, file: lf, client: client, mode: mode, job: "unknown", workflw: "unknown", st: st, worker: worker}
	uid := uidFor()
	jobA, jobB, jobC := "job-"+uid+"-ok", "job-"+uid+"-oom", "job-"+uid+"-invalid"
	c.setWorker(ctx, "idle", "")
	c.log(ctx, "Starting server") // outside any job
	start := func(job string) {
		c.setWorker(ctx, "busy", job)
		time.Sleep(50 * time.Millisecond)
		c.job, c.workflw = job, "wf-"+job
		c.log(ctx, "got prompt")
	}
	finish := func() {
		c.job, c.workflw = "unknown", "unknown"
		time.Sleep(100 * time.Millisecond)
		c.setWorker(ctx, "idle", "")
		c.log(ctx, "[ComfyUI-Manager] All startup tasks have been completed.")
		time.Sleep(300 * time.Millisecond)
	}

	// Job A: succeeds.
	start(jobA)
	c.log(ctx, "model weight dtype torch.float16, manual cast: None")
	c.log(ctx, "Requested to load SDXL")
	c.log(ctx, "loaded completely 9722.3 4897.05 True")
	c.tqdm(20, 20, 20*time.Millisecond)
	c.log(ctx, "Prompt executed in 2.51 seconds")
	finish()

	// Job B: CUDA out of memory in the middle of the bar.
	start(jobB)
	c.log(ctx, "Requested to load SDXL")
	c.tqdm(20, 7, 20*time.Millisecond)
	c.raw("\n")
	c.log(ctx, "!!! Exception during processing !!! "+oomMessage)
	c.log(ctx, oomTraceback)
	c.log(ctx, "Got an OOM, unloading all loaded models.")
	c.log(ctx, "Prompt executed in 3.02 seconds")
	finish()

	// Job C: the prompt fails validation (no Prompt executed follows).
	start(jobC)
	for _, l := range strings.Split(validationLines, "\n") {
		c.log(ctx, l)
	}
	finish()
	_ = client.Flush(ctx)

	// Wait for both failures to reach their streams, then for stragglers.
	var entries []harness.StreamEntry
	err = harness.Eventually(ctx, 60*time.Second, 250*time.Millisecond, func() error {
		es, err := st.streams.Read(ctx, "job:events:*", "machine:*:failures")
		if err != nil {
			return err
		}
		entries = es
		by := harness.StreamsByKey(es)
		if len(by["job:events:"+jobB]) == 0 || len(by["job:events:"+jobC]) == 0 {
			return fmt.Errorf("job streams so far: %v", keysOf(by))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sleepCtx(ctx, 4*time.Second) // an OTLP copy or a second entry would arrive by now
	entries, err = st.streams.Read(ctx, "job:events:*", "machine:*:failures")
	if err != nil {
		t.Fatal(err)
	}
	by := harness.StreamsByKey(entries)

	if n := len(by["job:events:"+jobA]); n != 0 {
		t.Errorf("job A succeeded, but its stream holds %d entries: %v", n, messages(by["job:events:"+jobA]))
	}
	checkIncident(t, by["job:events:"+jobB], jobB, "oom", []string{"Tried to allocate 2.00 GiB", "attention_split"})
	checkIncident(t, by["job:events:"+jobC], jobC, "validation", []string{"Value not in list", "Failed to validate prompt"})
	if _, ok := by["job:events:unknown"]; ok {
		t.Errorf("job:events:unknown exists: `unknown` means no job")
	}
	for _, e := range by["machine:"+machine+":failures"] {
		m := fmt.Sprint(e.Values["message"])
		for _, s := range []string{"Tried to allocate", "Value not in list", "Failed to validate", "Got an OOM"} {
			if strings.Contains(m, s) {
				t.Errorf("a job's failure landed in the machine stream: %q", firstLine(m))
			}
		}
	}

	// Progress: every message carries its job id, none arrives twice.
	seen := map[string]int{}
	jobs := map[string]bool{jobA: true, jobB: true, jobC: true}
	nProgress := 0
	for _, m := range st.sub.Messages() {
		if m.Progress == nil || m.Progress.MachineID != machine {
			continue
		}
		nProgress++
		if !jobs[m.Progress.JobID] {
			t.Errorf("progress without its job id (job_id=%q): %q", m.Progress.JobID, m.Progress.Message)
		}
		seen[m.Progress.JobID+"|"+m.Progress.Message]++
	}
	for k, n := range seen {
		if n > 1 {
			t.Errorf("progress published %d times: %s", n, k)
		}
	}
	if nProgress == 0 {
		t.Errorf("no progress messages at all")
	}
	for _, j := range []string{jobA, jobB, jobC} {
		if seen[j+"|got prompt"] != 1 {
			t.Errorf("job %s: `got prompt` published %d times, want 1", j, seen[j+"|got prompt"])
		}
	}
	t.Logf("%s: %d progress messages, streams %v", mode, nProgress, keysOf(by))
}

func checkIncident(t *testing.T, es []harness.StreamEntry, job, kind string, want []string) {
	t.Helper()
	if len(es) != 1 {
		t.Errorf("job %s: %d stream entries, want one per incident: %v", job, len(es), messages(es))
		if len(es) == 0 {
			return
		}
	}
	e := es[0]
	if got := fmt.Sprint(e.Values["failure_kind"]); got != kind {
		t.Errorf("job %s: failure_kind %q, want %q", job, got, kind)
	}
	if got := fmt.Sprint(e.Values["job_id"]); got != job {
		t.Errorf("job %s: entry job_id %q", job, got)
	}
	msg := fmt.Sprint(e.Values["message"])
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("job %s: the entry's message lacks %q (the whole text of the incident):\n%s", job, w, msg)
		}
	}
	checkContractFields(t, e)
}

func keysOf(m map[string][]harness.StreamEntry) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s(%d)", k, len(v)))
	}
	return out
}

func messages(es []harness.StreamEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, fmt.Sprintf("[%v] %s", e.Values["failure_kind"], firstLine(fmt.Sprint(e.Values["message"]))))
	}
	return out
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
