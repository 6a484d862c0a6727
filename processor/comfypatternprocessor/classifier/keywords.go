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
	kLifeStart                     // got prompt
	kLifeExec                      // Prompt executed in
	kLifeStop                      // Processing interrupted
	kModel                         // Requested to load, new model, loaded completely, ...
	kLoad                          // "oad": load/Load/loading/Loaded (checked by regex)
	kDownload                      // Downloading, Install model '
	kFetch                         // FETCH ComfyRegistry Data
	kRate                          // it/s, s/it, B/s (tqdm stats)
	kStart                         // Start/start (work totals)
	kOf                            // "of " (counts like "step 3 of 20")
	kNegLoad                       // not load, failed to load, unloaded, ...
	kMemWord                       // memory, VRAM, usage, ... (percent is not progress)
	kSkip                          // skipping download, already exists

	fPercent // the line contains '%'
	fSlash   // the line contains '/'

	kLife = kLifeStart | kLifeExec | kLifeStop
)

// keywordList is scanned on every line.
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
	{"killed", kKilled}, // zsh: "zsh: killed     python main.py"
	{"Segmentation fault", kCrash},
	{"core dumped", kCrash},
	{"Fatal Python error", kCrash},
	{"Bus error", kCrash},
	{"Illegal instruction", kCrash},
	{"terminate called after throwing", kCrash},
	{"double free or corruption", kCrash},
	{"Windows fatal exception", kCrash},
	{"Error handling request", kRequest},
	{"Error occurred when executing", kRequest},
	{"Warning", kWarn},
	{"WARNING", kWarn},
	{"WARN", kWarn},
	{"warning", kWarn},
	{"deprecated", kWarn},
	{"got prompt", kLifeStart},
	{"Prompt executed in", kLifeExec},
	{"Processing interrupted", kLifeStop},
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
	{"of ", kOf},
	{"Start", kStart},
	{"start", kStart},
}

// secondaryKeywords qualify a primary hit and are only looked for when it
// matters (see scanSecondary): OOM text that says it recovers, load verbs
// that are negated, percentages about memory, downloads that are skipped.
var secondaryKeywords = []struct {
	s   string
	bit kwMask
}{
	{"retrying", kRecover},
	{"Retrying", kRecover},
	{"falling back", kRecover},
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

var (
	kwByFirst  [256][]kwEntry
	kwFirstHit [256]bool // a keyword starts with this byte
)

func init() {
	for _, k := range keywordList {
		kwByFirst[k.s[0]] = append(kwByFirst[k.s[0]], kwEntry{rest: k.s[1:], bit: k.bit})
		kwFirstHit[k.s[0]] = true
	}
}

// scanLine returns the keyword bits present in line, plus the secondary
// bits that the primary ones make relevant.
func scanLine(line string) kwMask {
	var m kwMask
	for i := 0; i < len(line); i++ {
		b := line[i]
		if !kwFirstHit[b] {
			switch b {
			case '%':
				m |= fPercent
			case '/':
				m |= fSlash
			}
			continue
		}
		if i+1 >= len(line) {
			continue
		}
		next := line[i+1]
		tail := line[i+1:]
		for _, k := range kwByFirst[b] {
			// compare the second byte before the whole keyword: most
			// candidate positions fail there.
			if k.rest[0] == next && m&k.bit == 0 && strings.HasPrefix(tail, k.rest) {
				m |= k.bit
			}
		}
	}
	return m | scanSecondary(line, m)
}

func scanSecondary(line string, m kwMask) kwMask {
	var want kwMask
	if m&kOOM != 0 {
		want |= kRecover
	}
	if m&kLoad != 0 {
		want |= kNegLoad
	}
	if m&fPercent != 0 {
		want |= kMemWord
	}
	if m&kDownload != 0 {
		want |= kSkip
	}
	if want == 0 {
		return 0
	}
	var got kwMask
	for _, k := range secondaryKeywords {
		if want&k.bit != 0 && got&k.bit == 0 && strings.Contains(line, k.s) {
			got |= k.bit
		}
	}
	return got
}
