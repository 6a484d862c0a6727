package classifier

import (
	"sort"
	"strings"
)

// Extractors are the Go half of the rule language: parsers for shapes that
// regexes express badly. A rule names one in `extract:`; the extractor must
// accept the text for the rule to match, and fills in what it found. They
// run only on lines that already hold one of the rule's literals.

// extraction is what a rule found on a line.
type extraction struct {
	n        nums
	kind     string // refines the rule's kind ("" = keep)
	event    string // progress event ("" = the rule's)
	numbered bool   // carries a count or a percentage
}

// Extractors are called through a switch, not function values, so the
// compiler sees every call and the extraction stays on the stack.
type extractorID uint8

const (
	exNone extractorID = iota
	exTqdm
	exFraction
	exFractionOptional
	exKindFromWords
	exPercent
	exLifecycle
	exModelEvent
	exDownload
	exLoadEvent
	exExceptionLine
	exTracebackFrame
	exKilled
	exValidationHeader
	exExceptionAttributes
	exCountOf
)

type extractorDef struct {
	id    extractorID
	class Class
	doc   string
}

var extractors = map[string]extractorDef{
	"tqdm":                 {exTqdm, ClassProgress, "a tqdm state: `NN%|bar| n/total [elapsed<remaining, rate]`, with or without glyphs or a description, `NN% n/total [..]`, `0it [00:00, ?it/s]`; counts, sizes (`531M`), rate (s/it inverted), times; refines the kind (download, model_load, sampling, task)"},
	"fraction":             {exFraction, ClassProgress, "an `N/M` count that is not a path, date, URL or version, current <= total; sizes (`190.6/190.6 kB`) converted; refines the kind (download, sampling, count)"},
	"fraction_optional":    {exFractionOptional, ClassProgress, "like fraction, but the rule also matches without one"},
	"kind_from_words":      {exKindFromWords, ClassProgress, "refines the kind from the line's words: download (download, sizes), sampling (step, sample), else the rule's"},
	"percent":              {exPercent, ClassProgress, "a standalone `NN%` (0..100), not `%s`/`%20`"},
	"lifecycle":            {exLifecycle, ClassProgress, "ComfyUI's job lifecycle: `got prompt`, `Prompt executed in`, `Processing interrupted`; of several glued prints the last is live"},
	"model_event":          {exModelEvent, ClassProgress, "ComfyUI's model management lines: `Requested to load`, `Loading N new model(s)`, `loaded completely/partially/straight to`, `loading in lowvram mode`"},
	"download":             {exDownload, ClassProgress, "a download: its N/M when shown, else event download_started"},
	"load_event":           {exLoadEvent, ClassProgress, "event model_loaded when the line says loaded/done, else model_loading"},
	"exception_line":       {exExceptionLine, ClassFailure, "a Python exception line: `SomeError: message`, `pkg.mod.SomeException: message`, a bare dotted `asyncio.exceptions.CancelledError` (not `Error:` alone, not warnings)"},
	"traceback_frame":      {exTracebackFrame, ClassFailure, "a traceback frame `File \"…\", line N, in f` (also faulthandler's form without the comma) or a `raise SomeError(…)` source line"},
	"killed":               {exKilled, ClassFailure, "a shell's or the kernel's report of a killed process: `Killed`, `./run.sh: line 5: 1234 Killed python main.py`, `zsh: killed python`, `4242 killed     python main.py`, `[1]+  Killed  python main.py`"},
	"validation_header":    {exValidationHeader, ClassFailure, "a node line of ComfyUI's validation report: `* CheckpointLoaderSimple 4:`, `* (prompt):`"},
	"count_of":             {exCountOf, ClassProgress, "`<unit or verb> N of M` / `N out of M` (`step 3 of 20`, `Processing image 2 of 8`, `Processing 1 of 3`), current <= total; refines the kind like fraction"},
	"exception_attributes": {exExceptionAttributes, ClassFailure, "the record carries `exception.type` or `exception.stacktrace` attributes (Python's OpenTelemetry logging handler sends `logger.exception(...)` so)"},
}

// runExtractor runs extractor id on line.
func runExtractor(id extractorID, line string, rec *Record, e *extraction) bool {
	switch id {
	case exTqdm:
		return extractTqdm(line, e)
	case exFraction:
		return extractFraction(line, e)
	case exFractionOptional:
		extractFraction(line, e)
		e.kind = ""
		return true
	case exKindFromWords:
		e.kind = fractionKind(line, e.n.sizes)
		return true
	case exPercent:
		return extractPercent(line, e)
	case exLifecycle:
		return extractLifecycle(line, e)
	case exModelEvent:
		return extractModelEvent(line, e)
	case exDownload:
		return extractDownload(line, e)
	case exLoadEvent:
		return extractLoadEvent(line, e)
	case exExceptionLine:
		_, _, ok := parseExceptionLine(line)
		if !ok {
			_, _, ok = parseExceptionLine(skipTag(line))
		}
		return ok
	case exTracebackFrame:
		return isTracebackFrame(line) || isTracebackFrame(skipTag(line))
	case exKilled:
		return isKilledLine(line)
	case exValidationHeader:
		return isValidationNodeHeader(line)
	case exExceptionAttributes:
		return rec != nil && rec.HasException
	case exCountOf:
		return extractCountOf(line, e)
	}
	return true
}

// ExtractorNames lists the extractors a rule can name in `extract:`.
func ExtractorNames() []string {
	names := make([]string, 0, len(extractors))
	for n := range extractors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ExtractorDoc describes an extractor (for the README and `comfyctl rules`).
func ExtractorDoc(name string) (class Class, doc string, ok bool) {
	d, ok := extractors[name]
	return d.class, d.doc, ok
}

func extractTqdm(line string, e *extraction) bool {
	n, ok, _ := parseTqdm(line)
	if !ok {
		return false
	}
	e.n, e.numbered, e.kind = n, true, tqdmKind(&n)
	return true
}

func extractFraction(line string, e *extraction) bool {
	cur, tot, sized, ok := findFraction(line)
	if !ok {
		return false
	}
	e.n.current, e.n.total, e.n.hasCurrent, e.n.hasTotal, e.n.sizes = cur, tot, true, true, sized
	e.numbered = true
	e.kind = fractionKind(line, sized)
	return true
}

func extractPercent(line string, e *extraction) bool {
	p, ok := findPercent(line)
	if !ok {
		return false
	}
	e.n.percent, e.n.hasPercent, e.numbered = p, true, true
	if strings.Contains(line, "ownload") {
		e.kind = "download"
	}
	return true
}

var lifecycleEvents = [...]struct{ text, event string }{
	{"got prompt", "prompt_started"},
	{"Prompt executed in", "prompt_executed"},
	{"Processing interrupted", "interrupted"},
}

func extractLifecycle(line string, e *extraction) bool {
	// Glued prints ("Prompt executed in 0.00 secondsgot prompt"): the last one is live.
	best := -1
	for _, ev := range lifecycleEvents {
		i := strings.Index(line, ev.text)
		if i < 0 {
			continue
		}
		// the last occurrence (forward search is the fast one)
		for {
			j := strings.Index(line[i+len(ev.text):], ev.text)
			if j < 0 {
				break
			}
			i += len(ev.text) + j
		}
		if i > best {
			best, e.event = i, ev.event
		}
	}
	return best >= 0
}

func extractModelEvent(line string, e *extraction) bool {
	switch {
	case strings.Contains(line, "Requested to load"):
		e.event = "model_load_requested"
	case strings.Contains(line, "new model"):
		if !strings.Contains(line, "Loading") && !strings.Contains(line, "loading") {
			return false
		}
		e.event = "model_loading"
	case strings.Contains(line, "loading in lowvram mode"):
		e.event = "model_loading"
	case strings.Contains(line, "loaded completely"), strings.Contains(line, "loaded partially"), strings.Contains(line, "loaded straight to"):
		e.event = "model_loaded"
	default:
		return false
	}
	return true
}

func extractDownload(line string, e *extraction) bool {
	if cur, tot, _, ok := findFraction(line); ok {
		e.n.current, e.n.total, e.n.hasCurrent, e.n.hasTotal, e.numbered = cur, tot, true, true, true
		return true
	}
	e.event = "download_started"
	return true
}

func extractLoadEvent(line string, e *extraction) bool {
	e.event = "model_loading"
	if strings.Contains(line, "loaded") || strings.Contains(line, "Loaded") || strings.Contains(line, " done") {
		e.event = "model_loaded"
	}
	return true
}

// isKilledLine: the shell's or the kernel's report of a killed process.
func isKilledLine(line string) bool {
	i := strings.Index(line, "Killed")
	if i < 0 {
		// lower case only as a shell's report: "zsh: killed  python main.py",
		// "4242 killed     python main.py"
		i = strings.Index(line, "killed")
		if i < 0 {
			return false
		}
		before := strings.TrimRight(line[:i], " \t")
		if before == "" || !(before[len(before)-1] == ':' || isDigit(before[len(before)-1])) {
			return false
		}
	}
	after := line[i+6:]
	if after != "" && after[0] != ' ' && after[0] != '\t' {
		return false
	}
	before := strings.TrimRight(line[:i], " \t")
	if before == "" {
		return true
	}
	// "... 1234 Killed" (job report), "...: Killed", "[1]+  Killed"
	switch last := before[len(before)-1]; {
	case isDigit(last), last == ':', last == '+', last == '-' && strings.HasPrefix(before, "["):
		return true
	}
	return false
}

// isValidationNodeHeader matches the node lines of ComfyUI's validation
// report: "* CheckpointLoaderSimple 314:", "* (prompt):".
func isValidationNodeHeader(line string) bool {
	if len(line) < 5 || line[0] != '*' || line[1] != ' ' || line[len(line)-1] != ':' {
		return false
	}
	body := line[2 : len(line)-1]
	if body == "(prompt)" {
		return true
	}
	sp := strings.LastIndexByte(body, ' ')
	return sp > 0 && digits(body[sp+1:])
}

// isTracebackFrame: `File "x.py", line 12, in f` (faulthandler: `File "x.py",
// line 12 in f`) or `raise SomeError(...)`.
func isTracebackFrame(line string) bool {
	if strings.HasPrefix(line, "File \"") {
		return strings.Contains(line, "\", line ")
	}
	if strings.HasPrefix(line, "raise ") && len(line) > 6 && (isLetter(line[6]) || line[6] == '_') {
		return true
	}
	return false
}

// parseExceptionLine recognises "Type: message" and bare "pkg.Type" lines
// where Type ends in Error or Exception (Python's last traceback line).
func parseExceptionLine(line string) (typ, msg string, ok bool) {
	i := 0
	for i < len(line) && (isIdent(line[i]) || line[i] == '.') {
		i++
	}
	if i == 0 || i > 120 || !isLetter(line[0]) && line[0] != '_' {
		return "", "", false
	}
	name := line[:i]
	base := name
	if d := strings.LastIndexByte(name, '.'); d >= 0 {
		base = name[d+1:]
	}
	if base == "" || !(strings.HasSuffix(base, "Error") || strings.HasSuffix(base, "Exception")) || base[0] < 'A' || base[0] > 'Z' {
		return "", "", false
	}
	rest := line[i:]
	switch {
	case rest == "":
		// bare class: only dotted or compound names ("asyncio.exceptions.CancelledError", "KeyError")
		if base == "Error" || base == "Exception" {
			return "", "", false
		}
		return name, "", true
	case rest[0] == ':':
		msg = strings.TrimSpace(rest[1:])
		if base == "Error" && name == base {
			return "", "", false // "Error: ..." is how custom nodes print warnings
		}
		if base == "Exception" && msg == "" {
			return "", "", false
		}
		return name, msg, true
	}
	return "", "", false
}

// tqdmKind guesses what a tqdm bar measures from its description and units.
func tqdmKind(n *nums) string {
	d := n.desc
	switch {
	case n.sizes || strings.HasSuffix(n.rateUnit, "B/s") || looksLikeFileName(d) ||
		strings.HasPrefix(d, "Download") || strings.HasPrefix(d, "Fetching"):
		return "download"
	case strings.Contains(d, "Loading") || strings.Contains(d, "loading") || strings.Contains(d, "Load "):
		return "model_load"
	case d == "" || strings.Contains(d, "ampl") || strings.Contains(d, "tep") || strings.Contains(d, "enois"):
		return "sampling"
	}
	return "task"
}

// looksLikeFileName: "res101.pth", "config.json" (huggingface_hub names its
// download bars after the file).
func looksLikeFileName(s string) bool {
	if s == "" || strings.ContainsAny(s, " \t") {
		return false
	}
	dot := strings.LastIndexByte(s, '.')
	if dot <= 0 || dot == len(s)-1 || len(s)-dot > 13 {
		return false
	}
	for i := dot + 1; i < len(s); i++ {
		if !isIdent(s[i]) {
			return false
		}
	}
	return true
}

func fractionKind(line string, sized bool) string {
	switch {
	case sized || strings.Contains(line, "ownload") || strings.Contains(line, "Install model '"):
		return "download"
	case strings.Contains(line, "tep"), strings.Contains(line, "ampl"):
		return "sampling"
	}
	return "count"
}

// skipTag drops one leading "[tag] " that wrappers put before a line of
// ComfyUI's output ("[ComfyUI] ", the sd-webui-comfyui extension's prefix);
// "" when there is none.
func skipTag(line string) string {
	if len(line) < 4 || line[0] != '[' {
		return ""
	}
	e := strings.IndexByte(line, ']')
	if e < 2 || e > 40 || e+1 >= len(line) || line[e+1] != ' ' {
		return ""
	}
	return strings.TrimLeft(line[e+1:], " ")
}

// countUnits are the words that make "N of M" a count of work.
var countUnits = map[string]bool{
	"step": true, "steps": true, "frame": true, "frames": true, "image": true, "images": true,
	"batch": true, "batches": true, "tile": true, "tiles": true, "chunk": true, "chunks": true,
	"epoch": true, "epochs": true, "iteration": true, "iterations": true, "segment": true, "segments": true,
	"item": true, "items": true, "file": true, "files": true, "video": true, "videos": true,
	"part": true, "parts": true, "sample": true, "samples": true, "prompt": true, "prompts": true,
	"node": true, "nodes": true, "shard": true, "shards": true, "job": true, "task": true,
	"processing": true, "generating": true, "rendering": true, "upscaling": true, "downloading": true,
	"sampling": true, "encoding": true, "decoding": true, "saving": true,
}

// extractCountOf reads "<unit> N of M" and "<unit> N out of M" by hand (a
// regex with a case-insensitive word list is slow on long lines).
func extractCountOf(line string, e *extraction) bool {
	for off := 0; off < len(line); {
		k := strings.Index(line[off:], " of ")
		if k < 0 {
			return false
		}
		at := off + k
		off = at + 4
		before := line[:at]
		after := line[at+4:]
		if strings.HasSuffix(before, " out") {
			before = before[:len(before)-4]
		}
		// N right before, a unit word before N
		d := len(before)
		for d > 0 && isDigit(before[d-1]) {
			d--
		}
		if d == len(before) || d == 0 {
			continue
		}
		num := before[d:]
		rest := before[:d]
		if strings.HasSuffix(rest, "#") {
			rest = rest[:len(rest)-1]
		}
		if !strings.HasSuffix(rest, " ") {
			continue
		}
		rest = strings.TrimRight(rest, " ")
		w := len(rest)
		for w > 0 && isLetter(rest[w-1]) {
			w--
		}
		if w > 0 && isIdent(rest[w-1]) {
			continue
		}
		if !countUnits[strings.ToLower(rest[w:])] {
			continue
		}
		m := 0
		for m < len(after) && isDigit(after[m]) {
			m++
		}
		if m == 0 || (m < len(after) && isIdent(after[m])) {
			continue
		}
		cur, _, ok1 := parseScaled(num)
		tot, _, ok2 := parseScaled(after[:m])
		if !ok1 || !ok2 || tot <= 0 || cur > tot {
			continue
		}
		e.n.current, e.n.total, e.n.hasCurrent, e.n.hasTotal, e.numbered = cur, tot, true, true, true
		e.kind = fractionKind(line, false)
		return true
	}
	return false
}
