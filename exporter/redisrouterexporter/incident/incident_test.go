package incident

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// r is one failure record as the failures pipeline delivers it.
type r struct {
	inst, job, kind string
	msg             string  // comfy.message
	body            string  // used when msg is empty
	at              float64 // seconds
	continues       bool
	noTime          bool
}

var t0 = time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)

func logsOf(recs ...r) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("machine.id", "m1")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for _, x := range recs {
		fill(lrs.AppendEmpty(), x)
	}
	return ld
}

func fill(lr plog.LogRecord, x r) {
	if x.inst == "" {
		x.inst = "gpu0"
	}
	a := lr.Attributes()
	a.PutStr("comfy.instance", x.inst)
	a.PutStr("comfy.class", "failure")
	if x.job != "" {
		a.PutStr("comfy.job_id", x.job)
	}
	if x.kind != "" {
		a.PutStr("comfy.failure.kind", x.kind)
	}
	if x.msg != "" {
		a.PutStr("comfy.message", x.msg)
		lr.Body().SetStr("[2026-11-23 14:00:00.000] " + x.msg)
	} else {
		lr.Body().SetStr(x.body)
	}
	if x.continues {
		a.PutBool("comfy.failure.continues", true)
	}
	if !x.noTime {
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(x.at * float64(time.Second)))))
	}
}

// want describes one expected incident.
type want struct {
	members []int // record indices (one resource, one scope)
	inst    string
	job     string
	kind    string
	text    string
	root    int // record index of the root-cause member; 0: not checked
}

const (
	oomBanner = "!!! Exception during processing !!! Allocation on device"
	oomTrace  = "Traceback (most recent call last):\n" +
		"  File \"/workspace/ComfyUI/execution.py\", line 496, in execute\n" +
		"    output_data, output_ui, has_subgraph, has_pending_tasks = await get_output_data(prompt_id, unique_id, obj, input_data_all, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)\n" +
		"  File \"/workspace/ComfyUI/comfy/sd.py\", line 740, in decode\n" +
		"    pixel_samples[x:x+batch_number] = self.process_output(self.first_stage_model.decode(samples).to(self.output_device).float())\n" +
		"torch.OutOfMemoryError: Allocation on device"
	valBlock = "Failed to validate prompt for output 9:\n" +
		"* CheckpointLoaderSimple 4:\n" +
		"  - Value not in list: ckpt_name: 'sd_xl_base_1.0.safetensors' not in ['v1-5-pruned-emaonly.safetensors']"
	importTrace = "Traceback (most recent call last):\n" +
		"  File \"/workspace/ComfyUI/nodes.py\", line 2131, in load_custom_node\n" +
		"    module_spec.loader.exec_module(module)\n" +
		"  File \"/workspace/ComfyUI/custom_nodes/comfyui_controlnet_aux/__init__.py\", line 2, in <module>\n" +
		"    import cv2\n" +
		"ModuleNotFoundError: No module named 'cv2'"
	importLine = "Cannot import /workspace/ComfyUI/custom_nodes/comfyui_controlnet_aux module for custom nodes: No module named 'cv2'"
	cudaBanner = "!!! Exception during processing !!! CUDA error: an illegal memory access was encountered"
	cudaTrace  = "Traceback (most recent call last):\n" +
		"  File \"/workspace/ComfyUI/comfy/ldm/modules/attention.py\", line 218, in attention_basic\n" +
		"    sim = sim.softmax(dim=-1)\n" +
		"torch.AcceleratorError: CUDA error: an illegal memory access was encountered"
)

func join(lines ...string) string { return strings.Join(lines, "\n") }

func TestGroup(t *testing.T) {
	oomDetails := []string{
		"Currently allocated     : 4.68 GiB",
		"Requested               : 2.00 GiB",
		"Device limit            : 8.00 GiB",
		"Free (according to CUDA): 0 bytes",
		"PyTorch limit (set by user-supplied memory fraction): 17179869184.00 GiB",
	}
	tests := []struct {
		name string
		recs []r
		want []want
	}{
		{
			name: "OOM banner, traceback and unindented detail lines as separate records",
			recs: []r{
				{job: "job-b", kind: "exception", msg: oomBanner + "\n" + oomDetails[0], at: 7.000},
				{job: "job-b", kind: "oom", msg: oomTrace, at: 7.001},
				{job: "job-b", msg: oomDetails[1], at: 7.002},
				{job: "job-b", msg: oomDetails[2], at: 7.002},
				{job: "job-b", msg: oomDetails[3], at: 7.003},
				{job: "job-b", msg: oomDetails[4], at: 7.003},
				{job: "job-b", kind: "oom", msg: "Got an OOM, unloading all loaded models.", at: 7.010},
			},
			want: []want{{
				members: []int{0, 1, 2, 3, 4, 5, 6}, inst: "gpu0", job: "job-b", kind: "oom", root: 1,
				text: join(oomBanner+"\n"+oomDetails[0], oomTrace, oomDetails[1], oomDetails[2], oomDetails[3], oomDetails[4],
					"Got an OOM, unloading all loaded models."),
			}},
		},
		{
			name: "validation failure block, the summary lines as their own records",
			recs: []r{
				{job: "job-c", kind: "validation", msg: valBlock, at: 10.51},
				{job: "job-c", kind: "validation", msg: "Output will be ignored", at: 10.51},
				{job: "job-c", kind: "validation", msg: "invalid prompt: {'type': 'prompt_outputs_failed_validation', 'message': 'Prompt outputs failed validation', 'details': '', 'extra_info': {}}", at: 10.52},
			},
			want: []want{{
				members: []int{0, 1, 2}, inst: "gpu0", job: "job-c", kind: "validation",
				text: join(valBlock, "Output will be ignored", "invalid prompt: {'type': 'prompt_outputs_failed_validation', 'message': 'Prompt outputs failed validation', 'details': '', 'extra_info': {}}"),
			}},
		},
		{
			name: "import failures: traceback then Cannot import, twice",
			recs: []r{
				{kind: "exception", msg: importTrace, at: 1.0},
				{kind: "import", msg: importLine, at: 1.0},
				{kind: "exception", msg: strings.ReplaceAll(importTrace, "controlnet_aux", "impact_pack"), at: 1.2},
				{kind: "import", msg: strings.ReplaceAll(importLine, "controlnet_aux", "impact_pack"), at: 1.2},
			},
			want: []want{
				{members: []int{0, 1}, inst: "gpu0", kind: "import", root: 1, text: join(importTrace, importLine)},
				{members: []int{2, 3}, inst: "gpu0", kind: "import", text: join(strings.ReplaceAll(importTrace, "controlnet_aux", "impact_pack"), strings.ReplaceAll(importLine, "controlnet_aux", "impact_pack"))},
			},
		},
		{
			name: "two different incidents back to back in one job",
			recs: []r{
				{job: "j", kind: "exception", msg: oomBanner, at: 1.0},
				{job: "j", kind: "oom", msg: oomTrace, at: 1.0},
				{job: "j", kind: "exception", msg: cudaBanner, at: 1.1},
				{job: "j", kind: "cuda", msg: cudaTrace, at: 1.1},
			},
			want: []want{
				{members: []int{0, 1}, inst: "gpu0", job: "j", kind: "oom", text: join(oomBanner, oomTrace)},
				{members: []int{2, 3}, inst: "gpu0", job: "j", kind: "cuda", root: 3, text: join(cudaBanner, cudaTrace)},
			},
		},
		{
			name: "two instances interleaved",
			recs: []r{
				{inst: "gpu0", job: "a", kind: "exception", msg: oomBanner, at: 1.0},
				{inst: "gpu1", job: "b", kind: "exception", msg: cudaBanner, at: 1.0},
				{inst: "gpu0", job: "a", kind: "oom", msg: oomTrace, at: 1.01},
				{inst: "gpu1", job: "b", kind: "cuda", msg: cudaTrace, at: 1.01},
				{inst: "gpu0", job: "a", msg: oomDetails[0], at: 1.02},
			},
			want: []want{
				{members: []int{0, 2, 4}, inst: "gpu0", job: "a", kind: "oom", text: join(oomBanner, oomTrace, oomDetails[0])},
				{members: []int{1, 3}, inst: "gpu1", job: "b", kind: "cuda", text: join(cudaBanner, cudaTrace)},
			},
		},
		{
			name: "a detail after the gap starts its own incident",
			recs: []r{
				{kind: "exception", msg: oomBanner, at: 1.0},
				{kind: "oom", msg: oomTrace, at: 3.5},
			},
			want: []want{
				{members: []int{0}, inst: "gpu0", kind: "exception", text: oomBanner},
				{members: []int{1}, inst: "gpu0", kind: "oom", text: oomTrace},
			},
		},
		{
			name: "continues joins whatever the text and the gap",
			recs: []r{
				{kind: "crash", msg: "Windows fatal exception: access violation", at: 1.0},
				{msg: "Stack (most recent call first):", continues: true, at: 5.0},
				{msg: "#12 0x00007ffe5d2e8d7 (C:\\WINDOWS\\System32\\KERNEL32.DLL+0x2e8d7)", at: 5.1},
				{msg: "Press any key to continue . . .", at: 5.2},
			},
			want: []want{{
				members: []int{0, 1, 2, 3}, inst: "gpu0", kind: "crash",
				text: join("Windows fatal exception: access violation", "Stack (most recent call first):",
					"#12 0x00007ffe5d2e8d7 (C:\\WINDOWS\\System32\\KERNEL32.DLL+0x2e8d7)", "Press any key to continue . . ."),
			}},
		},
		{
			name: "another job's detail does not join; a detail without a job does",
			recs: []r{
				{job: "a", kind: "exception", msg: oomBanner, at: 1.0},
				{kind: "oom", msg: oomTrace, at: 1.0},
				{job: "b", msg: oomDetails[0], at: 1.1},
			},
			want: []want{
				{members: []int{0, 1}, inst: "gpu0", job: "a", kind: "oom", text: join(oomBanner, oomTrace)},
				{members: []int{2}, inst: "gpu0", job: "b", text: oomDetails[0]},
			},
		},
		{
			name: "a member whose text is already there is kept as a member, not repeated",
			recs: []r{
				{job: "a", kind: "oom", msg: oomTrace, at: 1.0},
				{job: "a", kind: "oom", msg: "torch.OutOfMemoryError: Allocation on device", at: 1.0},
				{job: "a", kind: "oom", msg: oomTrace, at: 1.0, continues: true},
			},
			want: []want{{members: []int{0, 1, 2}, inst: "gpu0", job: "a", kind: "oom", text: oomTrace}},
		},
		{
			name: "chained exceptions in separate records",
			recs: []r{
				{kind: "exception", msg: "Traceback (most recent call last):\n  File \"a.py\", line 1, in f\nKeyError: 'x'", at: 1},
				{kind: "exception", msg: "During handling of the above exception, another exception occurred:", at: 1},
				{kind: "exception", msg: "Traceback (most recent call last):\n  File \"a.py\", line 3, in f\nValueError: y", at: 1},
			},
			want: []want{{
				members: []int{0, 1, 2}, inst: "gpu0", kind: "exception",
				text: join("Traceback (most recent call last):\n  File \"a.py\", line 1, in f\nKeyError: 'x'",
					"During handling of the above exception, another exception occurred:",
					"Traceback (most recent call last):\n  File \"a.py\", line 3, in f\nValueError: y"),
			}},
		},
		{
			name: "body without comfy.message, timestamp prefix, no timestamps",
			recs: []r{
				{kind: "exception", body: "[2026-11-23 14:00:07.000] " + cudaBanner + "\n", noTime: true},
				{kind: "cuda", body: "[2026-11-23 14:00:07.001]   File \"x.py\", line 2, in y", noTime: true},
				{body: "[2026-11-23 14:00:07.002] For debugging consider passing CUDA_LAUNCH_BLOCKING=1", noTime: true},
			},
			want: []want{{
				members: []int{0, 1, 2}, inst: "gpu0", kind: "cuda",
				text: join("[2026-11-23 14:00:07.000] "+cudaBanner, "[2026-11-23 14:00:07.001]   File \"x.py\", line 2, in y",
					"[2026-11-23 14:00:07.002] For debugging consider passing CUDA_LAUNCH_BLOCKING=1"),
			}},
		},
		{
			name: "unknown job means no job",
			recs: []r{
				{job: "unknown", kind: "exception", msg: oomBanner, at: 1},
				{job: "job-1", kind: "oom", msg: oomTrace, at: 1},
			},
			want: []want{{members: []int{0, 1}, inst: "gpu0", job: "job-1", kind: "oom", text: join(oomBanner, oomTrace)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ld := logsOf(tt.recs...)
			got := Group(ld, DefaultOptions())
			require.Len(t, got, len(tt.want))
			seen := map[int]bool{}
			for i, w := range tt.want {
				g := got[i]
				var members []int
				for _, m := range g.Members {
					assert.Equal(t, 0, m.Resource)
					assert.Equal(t, 0, m.Scope)
					members = append(members, m.Record)
					assert.False(t, seen[m.Record], "record %d in two incidents", m.Record)
					seen[m.Record] = true
				}
				assert.Equal(t, w.members, members, "incident %d members", i)
				assert.Equal(t, w.inst, g.Instance, "incident %d instance", i)
				assert.Equal(t, w.job, g.JobID, "incident %d job", i)
				assert.Equal(t, w.kind, g.Kind, "incident %d kind", i)
				assert.Equal(t, w.text, g.Text, "incident %d text", i)
				assert.Equal(t, g.Members[0], g.First())
				if w.root > 0 {
					assert.Equal(t, w.root, g.Root.Record, "incident %d root", i)
				}
			}
			assert.Len(t, seen, len(tt.recs), "every record in exactly one incident")
		})
	}
}

func TestGroupRefsAcrossResources(t *testing.T) {
	ld := plog.NewLogs()
	for _, inst := range []string{"gpu0", "gpu1"} {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("comfy.instance", inst)
		rl.ScopeLogs().AppendEmpty() // an empty scope
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		fill(lrs.AppendEmpty(), r{inst: inst, kind: "exception", msg: oomBanner, at: 1})
		fill(lrs.AppendEmpty(), r{inst: inst, kind: "oom", msg: oomTrace, at: 1})
	}
	got := Group(ld, DefaultOptions())
	require.Len(t, got, 2)
	assert.Equal(t, []Ref{{0, 1, 0}, {0, 1, 1}}, got[0].Members)
	assert.Equal(t, []Ref{{1, 1, 0}, {1, 1, 1}}, got[1].Members)
	assert.Equal(t, oomTrace, got[1].Members[1].LogRecord(ld).Attributes().AsRaw()["comfy.message"])
	assert.Equal(t, pcommon.NewTimestampFromTime(t0.Add(time.Second)), got[0].Start)
}

func TestGroupInstanceFromResource(t *testing.T) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.instance.id", "gpu3")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.Body().SetStr("Killed")
	got := Group(ld, DefaultOptions())
	require.Len(t, got, 1)
	assert.Equal(t, "gpu3", got[0].Instance)
	assert.Equal(t, "Killed", got[0].Text)
}

func TestGroupOptions(t *testing.T) {
	opts := DefaultOptions()
	opts.KindPriority = []string{"exception", "oom"}
	opts.Gap = 10 * time.Second
	recs := []r{
		{kind: "oom", msg: oomBanner, at: 1},
		{kind: "exception", msg: oomTrace, at: 8},
		{kind: "my_kind", msg: "  File \"x.py\"", at: 9},
	}
	got := Group(logsOf(recs...), opts)
	require.Len(t, got, 1)
	assert.Equal(t, "exception", got[0].Kind)

	// Kinds not in the list rank after listed ones, before none.
	opts = DefaultOptions()
	got = Group(logsOf(r{msg: oomBanner, at: 1}, r{kind: "my_kind", msg: oomTrace, at: 1}), opts)
	require.Len(t, got, 1)
	assert.Equal(t, "my_kind", got[0].Kind)

	// No detail prefixes: only indentation, exception lines and continues join.
	opts = DefaultOptions()
	opts.DetailPrefixes = nil
	got = Group(logsOf(r{msg: oomBanner, at: 1}, r{msg: oomTrace, at: 1}, r{msg: "torch.OutOfMemoryError: x", at: 1}), opts)
	assert.Len(t, got, 2)

	assert.Nil(t, Group(plog.NewLogs(), DefaultOptions()))
}

func TestIsDetail(t *testing.T) {
	p := DefaultOptions().DetailPrefixes
	for line, want := range map[string]bool{
		"Traceback (most recent call last):":           true,
		"  File \"x.py\", line 1, in f":                true,
		"torch.OutOfMemoryError: CUDA out of memory.":  true,
		"KeyboardInterrupt":                            true,
		"Currently allocated     : 4.68 GiB":           true,
		"#12 0x00007ffe5d2e8d7 (KERNEL32.DLL+0x2e8d7)": true,
		"* CheckpointLoaderSimple 4:":                  true,
		"!!! Exception during processing !!! boom":     false,
		"Failed to validate prompt for output 9:":      false,
		"Killed":                       false,
		"An error occurred: something": false,
		"#hashtag":                     false,
		"":                             false,
		"Error occurred when executing KSampler: boom": false,
		"ValueError": true,
		"RuntimeError: CUDA error: device-side assert trig": true,
	} {
		assert.Equal(t, want, isDetail(leadLine(line), p), "%q", line)
	}
}

func TestContainsBlock(t *testing.T) {
	assert.True(t, containsBlock("a\nbc\nd", "bc"))
	assert.True(t, containsBlock("a\nbc\nd", "a\nbc"))
	assert.False(t, containsBlock("a\nbcd", "bc"))
	assert.False(t, containsBlock("xbc\nbcx", "bc"))
	assert.True(t, containsBlock("xbc\nbc", "bc"))
	assert.False(t, containsBlock("", "bc"))
}

func BenchmarkGroup(b *testing.B) {
	var recs []r
	for i := range 50 {
		at := float64(i)
		recs = append(recs,
			r{job: "j", kind: "exception", msg: oomBanner, at: at},
			r{job: "j", kind: "oom", msg: oomTrace, at: at},
			r{job: "j", msg: "Currently allocated     : 4.68 GiB", at: at},
		)
	}
	ld := logsOf(recs...)
	g := NewGrouper(DefaultOptions())
	b.ReportAllocs()
	for b.Loop() {
		if len(g.Group(ld)) != 50 {
			b.Fatal("want 50 incidents")
		}
	}
}
