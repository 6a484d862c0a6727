package classifier

// The built-in ComfyUI rule set. Each rule has a stable name (reported in
// comfy.rule, usable in disabled_rules) and a fixed class and kind. The
// matching logic lives in classify.go; this table is the catalogue.

type ruleID int

const (
	// ignore rules: known-harmless noise that mentions failure words.
	rIgnoreExceptionIgnored ruleID = iota
	rIgnoreAsyncioCallback
	rIgnoreRecoveredOOM
	rIgnoreWarning

	// failure rules
	rTraceback
	rExceptionBanner
	rExceptionThread
	rExceptionChain
	rOOM
	rCUDA
	rImport
	rValidation
	rRequest
	rCrash
	rExceptionLine
	rTracebackFrame

	// progress rules
	rLifecycle
	rTqdm
	rFetch
	rModelLoad
	rDownload
	rFraction
	rPercent
	rWorkTotal

	numBuiltin
)

// BuiltinRule describes one built-in rule (for docs, validation, comfyctl).
type BuiltinRule struct {
	Name    string
	Class   Class
	Kind    string
	Matches string
}

var builtinRules = [numBuiltin]BuiltinRule{
	rIgnoreExceptionIgnored: {"ignore.exception_ignored", ClassOther, "", "a record starting with `Exception ignored in …` (Python's unraisable-exception hook at shutdown/GC), even with the traceback attached"},
	rIgnoreAsyncioCallback:  {"ignore.asyncio_callback", ClassOther, "", "a record starting with `Exception in callback …` (asyncio transport noise, e.g. a browser tab closing on Windows)"},
	rIgnoreRecoveredOOM:     {"ignore.recovered_oom", ClassOther, "", "out-of-memory text ComfyUI recovers from: `Warning: Ran out of memory when regular VAE decoding, retrying with tiled VAE decoding`, or any OOM line saying retrying/falling back"},
	rIgnoreWarning:          {"ignore.warning", ClassOther, "", "a warning line (`Warning`, `WARNING`, `WARN`, `deprecated`) that also holds failure words (import/validation/crash/OOM/CUDA): the warning wins"},

	rTraceback:       {"failure.traceback", ClassFailure, "exception", "`Traceback (most recent call last):` — a whole multi-line traceback or the lone header line"},
	rExceptionBanner: {"failure.exception_banner", ClassFailure, "exception", "ComfyUI's `!!! Exception during processing !!!` banner (also the older `processing!!!` spelling)"},
	rExceptionThread: {"failure.exception_thread", ClassFailure, "exception", "`Exception in thread …` (uncaught exception in a background thread)"},
	rExceptionChain:  {"failure.exception_chain", ClassFailure, "exception", "traceback chaining lines: `During handling of the above exception…`, `The above exception was the direct cause…`"},
	rOOM:             {"failure.oom", ClassFailure, "oom", "`torch.OutOfMemoryError`, `CUDA out of memory`, `Got an OOM`, `Allocation on device … (out of memory)`"},
	rCUDA:            {"failure.cuda", ClassFailure, "cuda", "`CUDA error`, `CUBLAS_STATUS_*`, `CUDNN_STATUS_*`, `cuDNN error`, `device-side assert`, `not compiled with CUDA`, `NCCL error`, `no kernel image is available`"},
	rImport:          {"failure.import", ClassFailure, "import", "failed custom-node imports: `(IMPORT FAILED)`, `Cannot import … module for custom nodes`, `Some nodes failed to load`, `Failed to import module … because`, `Full error log from …` (comfyui_controlnet_aux)"},
	rValidation:      {"failure.validation", ClassFailure, "validation", "prompt validation: `Failed to validate prompt`, `Prompt outputs failed validation`, `invalid prompt`, `Value not in list`, `Required input is missing`, `Custom validation failed`, `Value N bigger than max`/`smaller than min`, `Return type mismatch`, `Prompt has no outputs`, `Output will be ignored`, and the `* NodeName 12:` header lines of a validation report"},
	rRequest:         {"failure.request", ClassFailure, "exception", "`Error handling request` (aiohttp handler raised), `Error occurred when executing …`"},
	rCrash:           {"failure.crash", ClassFailure, "crash", "process death: `Killed` (OOM killer / shell job report, `zsh: killed`), `Segmentation fault`, `core dumped`, `Fatal Python error`, `Bus error`, `Illegal instruction`, `terminate called after throwing …`, `double free or corruption`, `Windows fatal exception`"},
	rExceptionLine:   {"failure.exception_line", ClassFailure, "exception", "a line that is a Python exception: `SomeError: message`, `pkg.mod.SomeException: message` or a bare dotted `asyncio.exceptions.CancelledError` (names ending in Error/Exception; not bare `Error:`, not warnings)"},
	rTracebackFrame:  {"failure.traceback_frame", ClassFailure, "exception", "a traceback line on its own: `File \"…\", line N, in …` or a `raise SomeError(…)` source line"},

	rLifecycle: {"progress.lifecycle", ClassProgress, "lifecycle", "`got prompt` (prompt_started), `Prompt executed in …` (prompt_executed), `Processing interrupted` (interrupted)"},
	rTqdm:      {"progress.tqdm", ClassProgress, "sampling", "tqdm bars in every shape: `NN%|███| n/total [elapsed<remaining, rate]` with or without glyphs or a description, it/s or s/it, float counts, k/M/G sizes, and `0it [00:00, ?it/s]`; kind sampling (no description), download (byte sizes/rates or a file name), model_load (`Loading … shards/components`) or task"},
	rFetch:     {"progress.fetch", ClassProgress, "fetch", "ComfyUI-Manager `FETCH ComfyRegistry Data: 25/92` and `FETCH ComfyRegistry Data [DONE]`"},
	rModelLoad: {"progress.model_load", ClassProgress, "model_load", "model loading: `Requested to load …`, `Loading N new model(s)`, `loaded completely/partially …`, `loaded straight to GPU`, `loading in lowvram mode`, and load verbs near model nouns (`Loading checkpoint…`, `Loads SAM model`, `Clip Vision model loaded from`)"},
	rDownload:  {"progress.download", ClassProgress, "download", "download starts: `Downloading …` (HF, torch hub, pip), ComfyUI-Manager `Install model '…'`"},
	rFraction:  {"progress.fraction", ClassProgress, "count", "an `N/M` count that is not a path, date or URL (`Processing 15/100`, `Generating frame 5/100`, pip `190.6/190.6 kB`), or `<unit> N of M` (`step 3 of 20`, `image 2 of 8`); current <= total"},
	rPercent:   {"progress.percent", ClassProgress, "percent", "a standalone `NN%` (0..100) on a line that does not talk about memory, VRAM, CPU/GPU use, disk or battery"},
	rWorkTotal: {"progress.work_total", ClassProgress, "count", "work announced with a total: `Start infer 1 images.`, `Starting generation of 4 images`"},
}

// BuiltinRules returns the catalogue of built-in rules, in evaluation order
// (ignore, failure, progress).
func BuiltinRules() []BuiltinRule {
	out := make([]BuiltinRule, len(builtinRules))
	copy(out, builtinRules[:])
	return out
}
