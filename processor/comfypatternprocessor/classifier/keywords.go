package classifier

import "strings"

// One pass over a line finds every literal the built-in rules care about and
// returns them as a bit set; the rules then only look at lines whose bits say
// they can match. Keywords are grouped by first byte so the pass costs one
// table lookup per byte plus a prefix compare at the rare candidate bytes.

type kwMask uint64

const (
	kTraceback  kwMask = 1 << iota // Traceback (most recent call last)
	kBanner                        // !!! Exception during processing
	kThread                        // Exception in thread
	kIgnored                       // Exception ignored in
	kCallback                      // Exception in callback
	kChain                         // During handling of the above exception / The above exception was
	kOOM                           // OutOfMemoryError, out of memory, Got an OOM, Allocation on device
	kCUDA                          // CUDA error, CUBLAS_STATUS, ...
	kImport                        // IMPORT FAILED, module for custom nodes, ...
	kValidation                    // Failed to validate prompt, Value not in list, ...
	kKilled                        // Killed
	kCrash                         // Segmentation fault, core dumped, Fatal Python error
	kRequest                       // Error handling request, Error occurred when executing
	kWarn                          // Warning, WARNING, WARN
	kRecover                       // retrying, falling back
	kLife                          // got prompt, Prompt executed in, Processing interrupted
	kModel                         // Requested to load, new model, loaded completely, ...
	kLoad                          // "oad": load/Load/loading/Loaded (checked by regex)
	kDownload                      // Downloading, Install model '
	kFetch                         // FETCH ComfyRegistry Data
	kRate                          // it/s, s/it, B/s (tqdm stats)
	kStart                         // Start/start (work totals)
	kNegLoad                       // not load, failed to load, unloaded, ...
	kMemWord                       // memory, VRAM, usage, ... (percent is not progress)
	kSkip                          // skipping download, already exists

	fPercent // the line contains '%'
	fSlash   // the line contains '/'
)

var keywordList = []struct {
	s   string
	bit kwMask
}{
	{"Traceback (most recent call last)", kTraceback},
	{"!!! Exception during processing", kBanner},
	{"!!!Exception during processing", kBanner},
	{"Exception in thread", kThread},
	{"Exception ignored in", kIgnored},
	{"Exception in callback", kCallback},
	{"During handling of the above exception", kChain},
	{"The above exception was the direct cause", kChain},
	{"OutOfMemoryError", kOOM},
	{"out of memory", kOOM},
	{"Out of memory", kOOM},
	{"OUT OF MEMORY", kOOM},
	{"Got an OOM", kOOM},
	{"Allocation on device", kOOM},
	{"CUDA error", kCUDA},
	{"CUDA Error", kCUDA},
	{"CUBLAS_STATUS_", kCUDA},
	{"CUDNN_STATUS_", kCUDA},
	{"cuDNN error", kCUDA},
	{"device-side assert", kCUDA},
	{"not compiled with CUDA", kCUDA},
	{"NCCL error", kCUDA},
	{"no kernel image is available", kCUDA},
	{"IMPORT FAILED", kImport},
	{"module for custom nodes", kImport},
	{"Some nodes failed to load", kImport},
	{"Failed to import module", kImport},
	{"Full error log from", kImport},
	{"Failed to validate prompt", kValidation},
	{"failed validation", kValidation},
	{"Custom validation failed", kValidation},
	{"Exception when validating", kValidation},
	{"Value not in list", kValidation},
	{"Required input is missing", kValidation},
	{"invalid prompt", kValidation},
	{"Prompt has no outputs", kValidation},
	{"bigger than max", kValidation},
	{"smaller than min", kValidation},
	{"Failed to convert an input value", kValidation},
	{"Return type mismatch", kValidation},
	{"Output will be ignored", kValidation},
	{"Killed", kKilled},
	{"Segmentation fault", kCrash},
	{"core dumped", kCrash},
	{"Fatal Python error", kCrash},
	{"Bus error", kCrash},
	{"Illegal instruction", kCrash},
	{"Error handling request", kRequest},
	{"Error occurred when executing", kRequest},
	{"Warning", kWarn},
	{"WARNING", kWarn},
	{"WARN", kWarn},
	{"warning", kWarn},
	{"deprecated", kWarn},
	{"retrying", kRecover},
	{"Retrying", kRecover},
	{"falling back", kRecover},
	{"got prompt", kLife},
	{"Prompt executed in", kLife},
	{"Processing interrupted", kLife},
	{"Requested to load", kModel},
	{"new model", kModel},
	{"loaded completely", kModel},
	{"loaded partially", kModel},
	{"loaded straight to", kModel},
	{"loading in lowvram mode", kModel},
	{"oad", kLoad},
	{"Downloading", kDownload},
	{"Install model '", kDownload},
	{"FETCH ComfyRegistry Data", kFetch},
	{"it/s", kRate},
	{"s/it", kRate},
	{"B/s", kRate},
	{"Start", kStart},
	{"start", kStart},
	{"not load", kNegLoad},
	{"n't load", kNegLoad},
	{"ailed to load", kNegLoad},
	{"nable to load", kNegLoad},
	{"rror loading", kNegLoad},
	{"annot load", kNegLoad},
	{"not be loaded", kNegLoad},
	{"not loaded", kNegLoad},
	{"nloaded", kNegLoad},
	{"nloading", kNegLoad},
	{"emory", kMemWord},
	{"VRAM", kMemWord},
	{"vram", kMemWord},
	{"RAM", kMemWord},
	{"GPU", kMemWord},
	{"CPU", kMemWord},
	{"sage", kMemWord}, // usage, Usage
	{"util", kMemWord},
	{"Util", kMemWord},
	{"isk", kMemWord}, // disk, Disk
	{"swap", kMemWord},
	{"attery", kMemWord},
	{"skipping download", kSkip},
	{"already exists", kSkip},
}

type kwEntry struct {
	rest string // keyword without its first byte
	bit  kwMask
}

var kwByFirst [256][]kwEntry

func init() {
	for _, k := range keywordList {
		kwByFirst[k.s[0]] = append(kwByFirst[k.s[0]], kwEntry{rest: k.s[1:], bit: k.bit})
	}
}

// scanLine returns the keyword bits present in line.
func scanLine(line string) kwMask {
	var m kwMask
	for i := 0; i < len(line); i++ {
		b := line[i]
		switch b {
		case '%':
			m |= fPercent
			continue
		case '/':
			m |= fSlash
		}
		cands := kwByFirst[b]
		if len(cands) == 0 {
			continue
		}
		tail := line[i+1:]
		for _, k := range cands {
			if m&k.bit == 0 && strings.HasPrefix(tail, k.rest) {
				m |= k.bit
			}
		}
	}
	return m
}
