package classifier

import (
	"math"
	"testing"
)

// want describes the expected verdict. Zero fields are not checked, except
// class; numbers use pointers so "absent" can be asserted with none.
type want struct {
	class     Class
	rule      string
	kind      string
	event     string
	current   *float64
	total     *float64
	percent   *float64
	rate      *float64
	rateUnit  string
	elapsed   *float64
	remaining *float64
	excType   string
	excMsg    string
	message   string
	stack     bool
}

func f(v float64) *float64 { return &v }

// none marks a number that must be absent.
var none = f(math.NaN())

type tcase struct {
	name string
	text string
	want want
}

func runCases(t *testing.T, c *Classifier, cases []tcase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.Classify(tc.text)
			w := tc.want
			if r.Class != w.class {
				t.Fatalf("class = %s (rule %q), want %s; text %q", r.Class, r.Rule, w.class, tc.text)
			}
			if w.rule != "" && r.Rule != w.rule {
				t.Errorf("rule = %q, want %q", r.Rule, w.rule)
			}
			kind := r.ProgressKind
			if r.Class == ClassFailure {
				kind = r.FailureKind
			}
			if w.kind != "" && kind != w.kind {
				t.Errorf("kind = %q, want %q", kind, w.kind)
			}
			if w.event != "" && r.ProgressEvent != w.event {
				t.Errorf("event = %q, want %q", r.ProgressEvent, w.event)
			}
			checkNum(t, "current", w.current, r.HasCurrent, r.Current)
			checkNum(t, "total", w.total, r.HasTotal, r.Total)
			checkNum(t, "percent", w.percent, r.HasPercent, r.Percent)
			checkNum(t, "rate", w.rate, r.HasRate, r.Rate)
			checkNum(t, "elapsed", w.elapsed, r.HasElapsed, r.Elapsed)
			checkNum(t, "remaining", w.remaining, r.HasRemaining, r.Remaining)
			if w.rateUnit != "" && r.RateUnit != w.rateUnit {
				t.Errorf("rate unit = %q, want %q", r.RateUnit, w.rateUnit)
			}
			if w.excType != "" && r.ExceptionType != w.excType {
				t.Errorf("exception.type = %q, want %q", r.ExceptionType, w.excType)
			}
			if w.excMsg != "" && r.ExceptionMessage != w.excMsg {
				t.Errorf("exception.message = %q, want %q", r.ExceptionMessage, w.excMsg)
			}
			if w.message != "" && r.Message != w.message {
				t.Errorf("message = %q, want %q", r.Message, w.message)
			}
			if w.stack && r.Stacktrace == "" {
				t.Errorf("stacktrace missing")
			}
		})
	}
}

func checkNum(t *testing.T, name string, want *float64, has bool, got float64) {
	t.Helper()
	switch {
	case want == nil:
	case math.IsNaN(*want):
		if has {
			t.Errorf("%s = %v, want absent", name, got)
		}
	case !has:
		t.Errorf("%s absent, want %v", name, *want)
	case math.Abs(got-*want) > 1e-6*math.Max(1, math.Abs(*want)):
		t.Errorf("%s = %v, want %v", name, got, *want)
	}
}

func defaultClassifier(t testing.TB) *Classifier {
	c, err := New(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTqdm(t *testing.T) {
	runCases(t, defaultClassifier(t), []tcase{
		// corpus lines
		{"final state after CR behind timestamp", "[2024-06-17 13:22] \r100%|██████████████████████| 22/22 [00:01<00:00, 15.16it/s]",
			want{class: ClassProgress, rule: "progress.tqdm", kind: "sampling", current: f(22), total: f(22), percent: f(100), rate: f(15.16), rateUnit: "it/s", elapsed: f(1), remaining: f(0)}},
		{"description prefix, two states", "[2024-06-17 13:22] \rLoading pipeline components...: 100%|██████████| 6/6 [00:01<00:00,  5.81it/s]\rLoading pipeline components...: 100%|████",
			want{class: ClassProgress, kind: "model_load", current: f(6), total: f(6), percent: f(100)}},
		{"s/it is inverted", "[2026-02-19 23:59:46.127] \r100%|█████| 4/4 [01:25<00:00, 21.03s/it]\r100%|█████| 4/4 [01:25<00:00, 21.34s/it]",
			want{class: ClassProgress, current: f(4), total: f(4), rate: f(1 / 21.34), rateUnit: "it/s", elapsed: f(85)}},
		{"float counts, nine states", "\r100%|███| 133.0/133.0 [00:00<00:00, 136.20it/s]\r100%|███| 30.0/30.0 [00:00<00:00, 30.62it/s]\r100%|████| 156.0/156.0 [00:01<00:00, 90.41it/s]",
			want{class: ClassProgress, current: f(156), total: f(156)}},
		{"truncated last state defers to the complete one", "[2024-05-31 15:13] \r100%|█████| 20/20 [00:04<00:00,  4.49it/s]\r100%|█████| 20/",
			want{class: ClassProgress, current: f(20), total: f(20), percent: f(100)}},
		{"size units", "[2024-05-31 16:25] \rres101.pth: 100%|██████| 531M/531M [04:48<00:00, 1.85MB/s]\rres101.pth: 100%|██████| 531M/5",
			want{class: ClassProgress, kind: "download", current: f(531e6), total: f(531e6), percent: f(100), rate: f(1.85e6), rateUnit: "B/s", elapsed: f(288)}},
		{"k suffix", "\rconfig.json: 100%|██████████| 4.60k/4.60k [00:00<00:00, 18.8MB/s]",
			want{class: ClassProgress, kind: "download", current: f(4600), total: f(4600)}},
		{"HF file bar without unit", "[2024-08-15 15:41] \rpreprocessor_config.json: 100%|██████████| 380/380 [00:00<00:00, 629kB/s]",
			want{class: ClassProgress, kind: "download", current: f(380), total: f(380), rate: f(629e3), rateUnit: "B/s"}},
		{"tiled VAE task bar, trailing space", "[2024-07-31 04:56] \r[Tiled VAE]: Executing Encoder Task Queue: 100%|██████████| 182/182 [00:02<00:00, 80.86it/s] ",
			want{class: ClassProgress, kind: "task", current: f(182), total: f(182)}},
		{"shards", "[2025-02-17 03:05:50.479] \rLoading checkpoint shards: 100%|██████| 4/4 [00:27<00:00,  6.64s/it]\rLoading checkpoint shards: 100%|███",
			want{class: ClassProgress, kind: "model_load", current: f(4), total: f(4)}},
		// generalisation
		{"mid-run state with remaining time", "\r 45%|████▌     | 9/20 [00:02<00:03,  3.50it/s]",
			want{class: ClassProgress, kind: "sampling", current: f(9), total: f(20), percent: f(45), remaining: f(3)}},
		{"ascii bar, hours", " 12%|#2        | 12/100 [1:02:03<7:35:10, 310.2s/it]",
			want{class: ClassProgress, current: f(12), total: f(100), elapsed: f(3723), remaining: f(27310)}},
		{"no bar glyphs at all", "Sampling: 50%|| 10/20 [00:05<00:05, 2.00it/s]",
			want{class: ClassProgress, kind: "sampling", current: f(10), total: f(20)}},
		{"unknown total", "0it [00:00, ?it/s]", want{class: ClassProgress, rule: "progress.tqdm", current: f(0), total: none, rate: none}},
		{"unknown total bytes", "Fetching: 12.3MB [00:02, 5.10MB/s]", want{class: ClassProgress, kind: "download", current: f(12.3e6)}},
		{"ANSI coloured bar", "\x1b[32m 75%|███████▌  | 15/20 [00:04<00:01,  3.71it/s]\x1b[0m", want{class: ClassProgress, current: f(15), total: f(20)}},
		{"postfix inside brackets", "100%|██████████| 8/8 [00:01<00:00,  6.25it/s, loss=0.1]", want{class: ClassProgress, current: f(8), rate: f(6.25)}},
		{"CRLF line", "\r 50%|█████     | 10/20 [00:02<00:02,  4.00it/s]\r\n", want{class: ClassProgress, current: f(10), total: f(20)}},
		{"only truncated bar", "Loading: 45%|████", want{class: ClassProgress, percent: f(45), current: none}},
	})
}

func TestCountsAndPercent(t *testing.T) {
	runCases(t, defaultClassifier(t), []tcase{
		{"FETCH registry", "[2025-07-07 08:51:00.145] FETCH ComfyRegistry Data: 5/91",
			want{class: ClassProgress, rule: "progress.fetch", kind: "fetch", current: f(5), total: f(91), message: "FETCH ComfyRegistry Data: 5/91"}},
		{"FETCH glued after empty bar", "[2025-07-07 08:47:14.584] \r0it [00:00, ?it/s][2025-07-07 08:47:14.834] FETCH ComfyRegistry Data: 60/91",
			want{class: ClassProgress, rule: "progress.fetch", current: f(60), total: f(91), message: "FETCH ComfyRegistry Data: 60/91"}},
		{"FETCH done", "[2025-10-28 14:17:56.240] FETCH ComfyRegistry Data [DONE]", want{class: ClassProgress, kind: "fetch", event: "fetch_done", current: none}},
		{"Processing N/M", "Processing 15/100", want{class: ClassProgress, rule: "progress.fraction", kind: "count", current: f(15), total: f(100), percent: f(15)}},
		{"Generating frame", "[2025-01-01 10:00:00.000] Generating frame 5/100", want{class: ClassProgress, current: f(5), total: f(100)}},
		{"bracketed count", "[3/10] Running KSampler", want{class: ClassProgress, current: f(3), total: f(10)}},
		{"pip rich bar", "      ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 190.6/190.6 kB 2.9 MB/s eta 0:00:00",
			want{class: ClassProgress, kind: "download", current: f(190600), total: f(190600)}},
		{"percent progress", "Upscaling image: 42%", want{class: ClassProgress, rule: "progress.percent", percent: f(42)}},
		{"work total", "[2025-05-02 17:02:03.048] Start infer 1 images.", want{class: ClassProgress, rule: "progress.work_total", total: f(1), current: none}},
		// not progress
		{"memory percentage", "GPU memory usage: 85%", want{class: ClassOther}},
		{"VRAM percent", "VRAM 12.5% used by model", want{class: ClassOther}},
		{"date with slashes", "Build date 2024/06/17 10:00", want{class: ClassOther}},
		{"path with digits", "Adding extra search path checkpoints /models/2024/06", want{class: ClassOther}},
		{"url", "Fetched https://example.com/v1/12/34 ok", want{class: ClassOther}},
		{"current above total", "ratio 16/9 screens", want{class: ClassOther}},
		{"format string", "use %s and %d for formatting", want{class: ClassOther}},
		{"FETCH DATA is not a count", "[2025-08-02 23:23:03.266] FETCH DATA from: https://raw.githubusercontent.com/ltdrdata/ComfyUI-Manager/main/custom-node-list.json[2025-08-02 23:23:03.384] Using pytorch attention in VAE",
			want{class: ClassOther}},
		{"tqdm overflow marker", "[2024-05-31 16:54] \r ... (more hidden) ...\r ... (more hidden) ...", want{class: ClassOther}},
		{"settings echo", "[2025-02-17 03:06:53.058] Sampling 61 frames in 16 latents at 720x480 with 30 inference steps", want{class: ClassOther}},
	})
}

func TestModelLoadLifecycleDownload(t *testing.T) {
	runCases(t, defaultClassifier(t), []tcase{
		{"got prompt", "[2024-06-17 13:22] got prompt", want{class: ClassProgress, rule: "progress.lifecycle", kind: "lifecycle", event: "prompt_started"}},
		{"executed", "[2026-02-21 23:20:29.201] Prompt executed in 286.19 seconds", want{class: ClassProgress, event: "prompt_executed"}},
		{"executed HH:MM:SS", "[2025-08-03 06:04:46.577] Prompt executed in 06:42:56", want{class: ClassProgress, event: "prompt_executed"}},
		{"glued: last is live", "[2024-04-03 22:51] Prompt executed in 0.00 secondsgot prompt", want{class: ClassProgress, event: "prompt_started"}},
		{"glued other order", "[2024-04-03 22:55] got promptPrompt executed in 0.03 seconds", want{class: ClassProgress, event: "prompt_executed"}},
		{"interrupted", "[2024-05-28 11:35] Processing interrupted", want{class: ClassProgress, event: "interrupted"}},
		{"requested", "[2024-06-17 13:22] Requested to load SD1ClipModel", want{class: ClassProgress, rule: "progress.model_load", kind: "model_load", event: "model_load_requested"}},
		{"loading N new models", "[2024-07-23 04:27] Loading 2 new models", want{class: ClassProgress, event: "model_loading"}},
		{"loaded completely", "[2026-02-21 23:34:17.967] loaded completely;  7672.25 MB loaded, full load: True", want{class: ClassProgress, event: "model_loaded", current: none}},
		{"loaded partially old format", "[2025-08-02 23:23:38.057] loaded partially 757.744920654297 757.7447509765625 0", want{class: ClassProgress, event: "model_loaded"}},
		{"lowvram", "[2024-02-03 17:04] loading in lowvram mode 486.5838899612427", want{class: ClassProgress, event: "model_loading"}},
		{"loaded straight", "[2024-07-23 04:28] loaded straight to GPU", want{class: ClassProgress, event: "model_loaded"}},
		{"SAM model", "[2024-07-23 04:28] Loads SAM model: /src/ComfyUI/models/sams/sam_vit_b_01ec64.pth (device:Prefer GPU)", want{class: ClassProgress, kind: "model_load"}},
		{"checkpoint done", "[2025-05-02 17:01:25.078] loading checkpoint done.", want{class: ClassProgress, event: "model_loaded"}},
		{"vision model loaded from", "[2024-06-17 13:22] \x1b[33mINFO: Clip Vision model loaded from /models/clip_vision/x.safetensors\x1b[0m", want{class: ClassProgress, kind: "model_load"}},
		{"motion module", "[AnimateDiffEvo] - \x1b[0;32mINFO\x1b[0m - Loading motion module v3_sd15_mm.ckpt", want{class: ClassProgress, kind: "model_load"}},
		{"new: loading LoRA", "Loading LoRA weights from /models/loras/detail.safetensors", want{class: ClassProgress, kind: "model_load"}},
		{"download HF", " Downloading from huggingface.co", want{class: ClassProgress, rule: "progress.download", kind: "download", event: "download_started"}},
		{"download torch hub", `Downloading: "https://download.pytorch.org/models/mobilenet_v2-b0353104.pth" to /root/.cache/torch/hub/checkpoints/mobilenet_v2-b0353104.pth`, want{class: ClassProgress, kind: "download"}},
		{"manager install model", "[2025-05-02 16:44:07.959] Install model 'LCM LoRA SDXL' from 'https://huggingface.co/x' into '/models/loras/x.safetensors'", want{class: ClassProgress, kind: "download"}},
		// not progress
		{"nodes loaded", "[2025-07-07 08:50:53.683] \x1b[92m[rgthree-comfy] Loaded 47 extraordinary nodes. 🎉\x1b[0m", want{class: ClassOther}},
		{"loaded safely", "[2025-07-07 08:50:47.989] Checkpoint files will always be loaded safely.", want{class: ClassOther}},
		{"lora key not loaded", "lora key not loaded unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_k.lora.down.weight", want{class: ClassOther}},
		{"unloading", "[Qwen3-TTS] Unloading 1 cached model(s)...", want{class: ClassOther}},
		{"loader cache", "[2024-02-03 17:03] \x1b[36mEfficient Loader Models Cache:\x1b[0m", want{class: ClassOther}},
		{"torch.load warning", "Warning torch.load doesn't support weights_only on this pytorch version, loading unsafely.", want{class: ClassOther}},
		{"lowvram hint", "Trying to enable lowvram mode because your GPU seems to have 4GB or less.", want{class: ClassOther}},
		{"skipping download", "Model already exists at /models/x, skipping download.", want{class: ClassOther}},
		{"manager git clone", "[2025-07-07 08:47:14.584] Download: git clone ", want{class: ClassOther}},
		{"failed to load model is not progress", "Could not load model weights for detailer", want{class: ClassOther}},
	})
}

func TestFailures(t *testing.T) {
	runCases(t, defaultClassifier(t), []tcase{
		{"multi-line OOM traceback", "[2026-02-21 23:35:37.173] Traceback (most recent call last):\n  File \"execution.py\", line 530, in execute\n    x = f()\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB",
			want{class: ClassFailure, rule: "failure.traceback", kind: "oom", excType: "torch.OutOfMemoryError", excMsg: "CUDA out of memory. Tried to allocate 20.00 MiB", stack: true}},
		{"lone traceback header", "Traceback (most recent call last):", want{class: ClassFailure, rule: "failure.traceback", kind: "exception"}},
		{"per-line timestamps in traceback", "Traceback (most recent call last):\n[2024-11-10 22:18:55.771]   File \"main.py\", line 90, in <module>\n[2024-11-10 22:18:55.777] AssertionError: Torch not compiled with CUDA enabled",
			want{class: ClassFailure, kind: "cuda", excType: "AssertionError", excMsg: "Torch not compiled with CUDA enabled"}},
		{"banner", "[2024-05-31 16:25] !!! Exception during processing!!! An error happened while trying to locate the file on the Hub",
			want{class: ClassFailure, rule: "failure.exception_banner", kind: "exception", excMsg: "An error happened while trying to locate the file on the Hub"}},
		{"banner via logging", "ERROR:root:!!! Exception during processing !!!", want{class: ClassFailure, rule: "failure.exception_banner"}},
		{"banner with OOM message", "[2026-02-21 23:35:37.054] !!! Exception during processing !!! Allocation on device 0 would exceed allowed memory. (out of memory)",
			want{class: ClassFailure, kind: "oom"}},
		{"thread", "[2025-02-16 13:20:08.983] Exception in thread Thread-1 (<lambda>):", want{class: ClassFailure, rule: "failure.exception_thread"}},
		{"chain", "During handling of the above exception, another exception occurred:", want{class: ClassFailure, rule: "failure.exception_chain"}},
		{"OOM spelled torch", "torch.OutOfMemoryError: Allocation on device ", want{class: ClassFailure, kind: "oom", excType: "torch.OutOfMemoryError"}},
		{"OOM spelled CUDA", "RuntimeError: CUDA out of memory. Tried to allocate 1.50 GiB (GPU 0; 8.00 GiB total capacity)", want{class: ClassFailure, kind: "oom", excType: "RuntimeError"}},
		{"Got an OOM", "[2026-02-21 23:35:37.179] Got an OOM, unloading all loaded models.", want{class: ClassFailure, rule: "failure.oom", kind: "oom"}},
		{"CUDA error", "RuntimeError: CUDA error: device-side assert triggered", want{class: ClassFailure, kind: "cuda", excType: "RuntimeError"}},
		{"CUDA error alone", "CUDA error: an illegal memory access was encountered", want{class: ClassFailure, rule: "failure.cuda", kind: "cuda"}},
		{"import failed", "[2024-07-23 04:27]    0.0 seconds (IMPORT FAILED): /src/ComfyUI/custom_nodes/ComfyUI-Dev-Utils", want{class: ClassFailure, rule: "failure.import", kind: "import"}},
		{"cannot import", "[2024-07-23 04:27] Cannot import /src/ComfyUI/custom_nodes/ComfyUI-Dev-Utils module for custom nodes: No module named 'aiohttp_sse'", want{class: ClassFailure, kind: "import"}},
		{"import traceback", "Traceback (most recent call last):\n  File \"/src/ComfyUI/nodes.py\", line 1931, in load_custom_node\n    module_spec.loader.exec_module(module)\nModuleNotFoundError: No module named 'aiohttp_sse'",
			want{class: ClassFailure, kind: "import", excType: "ModuleNotFoundError"}},
		{"validation block", "[2024-07-20 06:43] Failed to validate prompt for output 434:\n[2024-07-20 06:43] * CheckpointLoaderSimple 314:\n[2024-07-20 06:43]   - Value not in list: ckpt_name: 'x.safetensors' not in []",
			want{class: ClassFailure, rule: "failure.validation", kind: "validation"}},
		{"outputs failed validation", "Prompt outputs failed validation", want{class: ClassFailure, kind: "validation"}},
		{"invalid prompt", "[2024-02-03 17:23] invalid prompt: {'type': 'prompt_no_outputs', 'message': 'Prompt has no outputs'}", want{class: ClassFailure, kind: "validation"}},
		{"required input", "[2024-05-31 16:12]   - Required input is missing: model_name", want{class: ClassFailure, kind: "validation"}},
		{"node header", "[2025-10-28 14:17:08.887] * MultiTalkModelLoader 120:", want{class: ClassFailure, kind: "validation"}},
		{"value bigger than max", "  - Value 4096 bigger than max of 2048: width", want{class: ClassFailure, kind: "validation"}},
		{"Killed", "Killed", want{class: ClassFailure, rule: "failure.killed", kind: "crash"}},
		{"shell job killed", "./start.sh: line 12:  4711 Killed                  python main.py --listen", want{class: ClassFailure, kind: "crash"}},
		{"segfault", "Segmentation fault (core dumped)", want{class: ClassFailure, kind: "crash"}},
		{"fatal python", "Fatal Python error: Aborted", want{class: ClassFailure, kind: "crash"}},
		{"exception line", "NameError: name 'sys' is not defined", want{class: ClassFailure, rule: "failure.exception_line", excType: "NameError", excMsg: "name 'sys' is not defined"}},
		{"bare dotted exception", "[2025-02-16 13:20:08.984] asyncio.exceptions.CancelledError", want{class: ClassFailure, excType: "asyncio.exceptions.CancelledError"}},
		{"non-ASCII message", "ConnectionResetError: [WinError 10054] 远程主机强迫关闭了一个现有的连接。", want{class: ClassFailure, excType: "ConnectionResetError"}},
		{"frame line", `  File "/src/ComfyUI/execution.py", line 153, in recursive_execute`, want{class: ClassFailure, rule: "failure.traceback_frame"}},
		{"raise line", `[2024-11-10 22:18:55.777]     raise AssertionError("Torch not compiled with CUDA enabled")`, want{class: ClassFailure, kind: "cuda"}},
		{"request handler", "[2026-01-14 22:53:41.952] Error handling request from 172.18.0.1", want{class: ClassFailure, rule: "failure.request"}},
		{"controlnet_aux summary", "\x1b[36;20m[comfyui_controlnet_aux] | INFO -> Some nodes failed to load:\n\tFailed to import module dwpose because ModuleNotFoundError: No module named 'skimage'",
			want{class: ClassFailure, kind: "import"}},
	})
}

func TestOtherDespiteFailureWords(t *testing.T) {
	runCases(t, defaultClassifier(t), []tcase{
		{"tiled VAE retry", "Warning: Ran out of memory when regular VAE decoding, retrying with tiled VAE decoding.", want{class: ClassOther, rule: "ignore.recovered_oom"}},
		{"tiled VAE retry without Warning", "Ran out of memory when regular VAE decoding, retrying with tiled VAE decoding", want{class: ClassOther, rule: "ignore.recovered_oom"}},
		{"optional dependency", "[2024-07-31 04:55] [VideoHelperSuite] - \x1b[0;33mWARNING\x1b[0m - Failed to import imageio_ffmpeg", want{class: ClassOther}},
		{"optional python package", "\x1b[93mEfficiency Nodes Warning:\x1b[0m Failed to import python package 'simpleeval'; related nodes disabled.", want{class: ClassOther}},
		{"exception ignored with traceback", "[2024-05-31 15:05] Exception ignored in: <function _ProactorBasePipeTransport.__del__ at 0x0>\n[2024-05-31 15:05] Traceback (most recent call last):\nRuntimeError: Event loop is closed",
			want{class: ClassOther, rule: "ignore.exception_ignored"}},
		{"asyncio callback", "[2024-06-03 10:02] Exception in callback _ProactorBasePipeTransport._call_connection_lost(None)\nhandle: <Handle ...>", want{class: ClassOther, rule: "ignore.asyncio_callback"}},
		{"deprecation warning", "/site-packages/torch/_utils.py:831: UserWarning: TypedStorage is deprecated. It will be removed in the future", want{class: ClassOther}},
		{"future warning with error word", "BatchFuncs.py:129: FutureWarning: Setting an item of incompatible dtype is deprecated and will raise in a future error of pandas.", want{class: ClassOther}},
		{"error in path", "Adding extra search path custom_nodes /home/u/error_handling/fatal-nodes/failed", want{class: ClassOther}},
		{"quote", "\t\x1b[3m\x1b[93m\"Success is not final, failure is not fatal: It is the courage to continue that counts.\"\x1b[0m", want{class: ClassOther}},
		{"option help", "If you have memory or speed issues try using: --use-split-cross-attention", want{class: ClassOther}},
		{"bare Error header", "[2024-05-31 15:05] Error:", want{class: ClassOther}},
		{"Error: custom node notice", "Error: could not find ffmpeg, video nodes disabled", want{class: ClassOther}},
		{"ERROR level notice", "[2024-06-17 13:15] [AnimateDiffEvo] - \x1b[0;31mERROR\x1b[0m - No motion models found. Please download one", want{class: ClassOther}},
		{"exception name inside dict", `Found comfy_kitchen backend triton: {'available': False, 'unavailable_reason': "ImportError: No module named 'triton'"}`, want{class: ClassOther}},
		{"warning with error word", "WanVideoWrapper WARNING: FantasyPortrait nodes not available due to error in importing them: No module named 'onnx'", want{class: ClassOther}},
		{"network fallback", "[ComfyUI-Manager] Due to a network error, switching to local mode.", want{class: ClassOther}},
		{"cannot connect", "[2025-07-07 08:52:25.283] Cannot connect to comfyregistry.", want{class: ClassOther}},
		{"keyboard interrupt", "KeyboardInterrupt", want{class: ClassOther}},
		{"debug bangs", "[2024-04-03 22:27] samples is not None!!!!!!!!!!!!!!!!!!!!!!!!", want{class: ClassOther}},
		{"killed inside word", "Process was not Killedx", want{class: ClassOther}},
		{"warnings.warn continuation", "  warnings.warn(", want{class: ClassOther}},
		{"empty", "", want{class: ClassOther}},
		{"blank lines", "\r\n\r\n", want{class: ClassOther}},
	})
}

func TestUserRules(t *testing.T) {
	c, err := New(Options{
		BuiltinRules:  true,
		DisabledRules: []string{"failure.killed"},
		Rules: []RuleConfig{
			{Name: "steps", Class: "progress", Kind: "sampling", Pattern: `step (?P<current>\d+) of (?P<total>\d+)`},
			{Name: "tiles", Class: "progress", Kind: "upscale", Pattern: `tile (\d+)/(\d+) done`, Current: "1", Total: "2"},
			{Name: "panic", Class: "failure", Kind: "worker", Pattern: `WORKER PANIC: (.*)`},
		},
		Ignore: []IgnoreRuleConfig{{Name: "probe", Pattern: `(?i)probe.*out of memory`}},
	})
	if err != nil {
		t.Fatal(err)
	}
	runCases(t, c, []tcase{
		{"named groups", "[2025-01-01 10:00] step 3 of 12", want{class: ClassProgress, rule: "steps", kind: "sampling", current: f(3), total: f(12), percent: f(25), message: "step 3 of 12"}},
		{"numbered groups", "upscale tile 4/16 done", want{class: ClassProgress, rule: "tiles", kind: "upscale", current: f(4), total: f(16)}},
		{"user failure", "WORKER PANIC: lost GPU", want{class: ClassFailure, rule: "panic", kind: "worker"}},
		{"ignore wins over failure", "PROBE: CUDA out of memory (expected)", want{class: ClassOther, rule: "probe"}},
		{"disabled built-in", "Killed", want{class: ClassOther}},
		{"built-ins still on", "got prompt", want{class: ClassProgress, rule: "progress.lifecycle"}},
	})

	off, err := New(Options{BuiltinRules: false})
	if err != nil {
		t.Fatal(err)
	}
	if r := off.Classify("Traceback (most recent call last):"); r.Class != ClassOther {
		t.Errorf("built-in rules off: got %s", r.Class)
	}
}

func TestRequiredLiteral(t *testing.T) {
	for pattern, want := range map[string]string{
		`step (?P<current>\d+) of (?P<total>\d+)`: "step ",
		`WORKER PANIC: (.*)`:                      "WORKER PANIC: ",
		`(?i)probe`:                               "",
		`a|b`:                                     "",
		`x?`:                                      "",
	} {
		if got := requiredLiteral(pattern); got != want {
			t.Errorf("requiredLiteral(%q) = %q, want %q", pattern, got, want)
		}
	}
}

func TestBuiltinNamesUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range BuiltinCatalogue().Rules {
		if r.Name == "" || seen[r.Name] {
			t.Errorf("bad or duplicate rule name %q", r.Name)
		}
		seen[r.Name] = true
	}
}

// The "other" path must not allocate: it is most records.
func TestOtherPathDoesNotAllocate(t *testing.T) {
	c := defaultClassifier(t)
	for _, text := range []string{
		"[2024-06-17 13:15] Starting server",
		"[2024-06-17 13:15] \x1b[34mComfyroll Studio v1.76 : \x1b[92m 175 Nodes Loaded\x1b[0m",
		"** ComfyUI start up time: 2023-08-07 18:20:56.720218",
	} {
		c.Classify(text) // warm the pool
		if n := testing.AllocsPerRun(100, func() { c.Classify(text) }); n != 0 {
			t.Errorf("%q: %v allocations per record", text, n)
		}
	}
}

// Lines not in the labelled corpus, written from ComfyUI's and common custom
// nodes' source: the rules must generalise, not memorise the file.
func TestGeneralisation(t *testing.T) {
	runCases(t, defaultClassifier(t), []tcase{
		{"step N of M", "Sampling step 3 of 20", want{class: ClassProgress, rule: "progress.count_of", kind: "sampling", current: f(3), total: f(20)}},
		{"image N of M", "Processing image 2 of 8", want{class: ClassProgress, current: f(2), total: f(8)}},
		{"fetching files bar", "Fetching 5 files: 100%|██████████| 5/5 [00:00<00:00, 1234.56it/s]", want{class: ClassProgress, kind: "download", current: f(5)}},
		{"loading model from", "Loading model from /models/checkpoints/sd_xl_base_1.0.safetensors", want{class: ClassProgress, kind: "model_load"}},
		{"newer loaded completely", "loaded completely 9.5367431640625e+25 10835.4765625 True", want{class: ClassProgress, event: "model_loaded"}},
		{"text encoder load device", "CLIP/text encoder model load device: cuda:0, offload device: cpu, current: cpu, dtype: torch.float16", want{class: ClassOther}},
		{"model weight dtype", "model weight dtype torch.float16, manual cast: None", want{class: ClassOther}},
		{"total VRAM", "Total VRAM 24564 MB, total RAM 64221 MB", want{class: ClassOther}},
		{"GPU utilisation percent", "GPU utilization 99%", want{class: ClassOther}},
		{"error occurred when executing", "Error occurred when executing KSampler:", want{class: ClassFailure, rule: "failure.request"}},
		{"aiohttp via logging", "ERROR:aiohttp.server:Error handling request", want{class: ClassFailure, rule: "failure.request"}},
		{"cuda error out of memory", "RuntimeError: CUDA error: out of memory", want{class: ClassFailure, kind: "oom"}},
		{"MPS OOM", "RuntimeError: MPS backend out of memory (MPS allocated: 18.13 GB)", want{class: ClassFailure, kind: "oom"}},
		{"MemoryError", "MemoryError", want{class: ClassFailure, kind: "oom", excType: "MemoryError"}},
		{"safetensors", "safetensors_rust.SafetensorError: Error while deserializing header: HeaderTooLarge", want{class: ClassFailure, excType: "safetensors_rust.SafetensorError"}},
		{"Exception with message", "Exception: Could not find the model", want{class: ClassFailure, excType: "Exception"}},
		{"smaller than min", "  - Value -1 smaller than min of 0: seed", want{class: ClassFailure, kind: "validation"}},
		{"return type mismatch", "  - Return type mismatch between linked nodes: clip, received_type(MODEL) mismatch input_type(CLIP)", want{class: ClassFailure, kind: "validation"}},
		{"missing class_type", "invalid prompt: Cannot execute because a node is missing the class_type property.: Node ID '#3'", want{class: ClassFailure, kind: "validation"}},
		{"zsh killed", "zsh: killed     python main.py --listen", want{class: ClassFailure, kind: "crash"}},
		{"terminate called", "terminate called after throwing an instance of 'c10::Error'", want{class: ClassFailure, kind: "crash"}},
		{"windows access violation", "Windows fatal exception: access violation", want{class: ClassFailure, kind: "crash"}},
		{"OOM warning retried", "[WARNING] out of memory, retrying with lower batch size", want{class: ClassOther}},
		{"Error. notice", `Error. No naistyles.csv found. Put your naistyles.csv in the custom_nodes/ComfyUI_NAI-mod/CSV directory of ComfyUI.`, want{class: ClassOther}},
		{"runtime warning", "RuntimeWarning: invalid value encountered in cast", want{class: ClassOther}},
		{"Unload Model", "Unload Model: SDXL", want{class: ClassOther}},
		{"one of the", "Using one of the 3 available providers", want{class: ClassOther}},
		{"python logging timestamp prefix", "2024-06-17 13:15:00,123 Requested to load SDXL", want{class: ClassProgress, event: "model_load_requested"}},
	})
}
