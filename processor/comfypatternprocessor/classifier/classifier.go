// Package classifier classifies one ComfyUI log record as progress, failure or
// other. It is pure Go (no collector dependency) so the comfypattern processor
// and `comfyctl classify` run exactly the same code.
//
// Cost model: a record is cleaned (no allocation for a plain line), every line
// is scanned once for the literals the built-in rules need (keywords.go), and
// only the checks whose literals are present run. Regular expressions are
// used for two built-in rules, and only on lines that already hold their
// keywords; user rules are regexes guarded by a required-literal prefilter.
package classifier

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Class is the verdict for a record.
type Class string

const (
	ClassProgress Class = "progress"
	ClassFailure  Class = "failure"
	ClassOther    Class = "other"
)

// Result is what Classify found. Fields that do not apply are zero; Has*
// flags tell present numbers from zero values.
type Result struct {
	Class Class
	// Rule is the name of the rule that decided ("" when nothing matched).
	Rule string
	// Message is the cleaned text the rule matched (progress: the matched
	// line/state; failure: the whole cleaned record). Empty for other.
	Message string

	ProgressKind  string
	ProgressEvent string
	Current       float64
	Total         float64
	Percent       float64
	Rate          float64
	RateUnit      string
	Elapsed       float64
	Remaining     float64
	HasCurrent    bool
	HasTotal      bool
	HasPercent    bool
	HasRate       bool
	HasElapsed    bool
	HasRemaining  bool

	FailureKind      string
	ExceptionType    string
	ExceptionMessage string
	Stacktrace       string
}

type userRule struct {
	name    string
	class   Class
	kind    string
	re      *regexp.Regexp
	literal string // a literal every match contains ("" = none known)
	current int    // capture group index, -1 = none
	total   int
}

// Classifier is safe for concurrent use.
type Classifier struct {
	on     [numBuiltin]bool
	rules  []userRule
	ignore []userRule
}

// New compiles opts. Errors name the offending field, e.g.
// `rules[2].pattern: error parsing regexp: ...`.
func New(opts Options) (*Classifier, error) {
	c := &Classifier{}
	for i := range c.on {
		c.on[i] = opts.BuiltinRules
	}
	for i, name := range opts.DisabledRules {
		found := false
		for id := range builtinRules {
			if builtinRules[id].Name == name {
				c.on[id] = false
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("disabled_rules[%d]: unknown built-in rule %q (see the README for the names)", i, name)
		}
	}
	seen := map[string]string{}
	for i, r := range opts.Rules {
		field := fmt.Sprintf("rules[%d]", i)
		if r.Name == "" {
			return nil, fmt.Errorf("%s.name: must not be empty", field)
		}
		if prev, dup := seen[r.Name]; dup {
			return nil, fmt.Errorf("%s.name: %q is already used by %s", field, r.Name, prev)
		}
		seen[r.Name] = field
		var class Class
		switch r.Class {
		case string(ClassProgress), string(ClassFailure):
			class = Class(r.Class)
		case string(ClassOther):
			return nil, fmt.Errorf("%s.class: use an ignore rule to mark records as other", field)
		default:
			return nil, fmt.Errorf("%s.class: must be progress or failure, got %q", field, r.Class)
		}
		if r.Pattern == "" {
			return nil, fmt.Errorf("%s.pattern: must not be empty", field)
		}
		re, err := regexp.Compile(r.Pattern)
		if err != nil {
			return nil, fmt.Errorf("%s.pattern: %w", field, err)
		}
		ur := userRule{name: r.Name, class: class, kind: r.Kind, re: re, literal: requiredLiteral(r.Pattern), current: -1, total: -1}
		if ur.kind == "" {
			ur.kind = "custom"
		}
		if ur.current, err = groupIndex(re, r.Current, "current"); err != nil {
			return nil, fmt.Errorf("%s.current: %w", field, err)
		}
		if ur.total, err = groupIndex(re, r.Total, "total"); err != nil {
			return nil, fmt.Errorf("%s.total: %w", field, err)
		}
		if class != ClassProgress && (r.Current != "" || r.Total != "") {
			return nil, fmt.Errorf("%s: current/total apply to progress rules only", field)
		}
		c.rules = append(c.rules, ur)
	}
	for i, r := range opts.Ignore {
		field := fmt.Sprintf("ignore[%d]", i)
		if r.Pattern == "" {
			return nil, fmt.Errorf("%s.pattern: must not be empty", field)
		}
		re, err := regexp.Compile(r.Pattern)
		if err != nil {
			return nil, fmt.Errorf("%s.pattern: %w", field, err)
		}
		name := r.Name
		if name == "" {
			name = field
		}
		c.ignore = append(c.ignore, userRule{name: name, class: ClassOther, re: re, literal: requiredLiteral(r.Pattern), current: -1, total: -1})
	}
	return c, nil
}

// groupIndex resolves a capture group given by name or number. Empty spec:
// the group named def if the pattern has one, else none (-1).
func groupIndex(re *regexp.Regexp, spec, def string) (int, error) {
	if spec == "" {
		if i := re.SubexpIndex(def); i > 0 {
			return i, nil
		}
		return -1, nil
	}
	if n, err := strconv.Atoi(spec); err == nil {
		if n < 1 || n > re.NumSubexp() {
			return -1, fmt.Errorf("capture group %d does not exist (pattern has %d)", n, re.NumSubexp())
		}
		return n, nil
	}
	if i := re.SubexpIndex(spec); i > 0 {
		return i, nil
	}
	return -1, fmt.Errorf("no capture group named %q in pattern", spec)
}

// Classify classifies one record. text is the record body as written by
// ComfyUI (ANSI, CR/CRLF, timestamp prefixes and several lines allowed).
func (c *Classifier) Classify(text string) Result {
	var res Result
	c.ClassifyInto(text, &res)
	return res
}

// ClassifyInto is Classify writing into *res (overwritten entirely), which
// saves copying the Result on the hot path.
func (c *Classifier) ClassifyInto(text string, res *Result) {
	*res = Result{}
	s := scratchPool.Get().(*scratch)
	cleaned, built := clean(text, s)
	c.classifyCleaned(cleaned, res)
	if built && res.Class != ClassOther {
		// The strings point into the pooled buffer: copy them out together.
		copyOut(res, cleaned)
	}
	if cap(s.buf) <= 64<<10 {
		scratchPool.Put(s)
	}
}

func (c *Classifier) classifyCleaned(text string, out *Result) {
	// User ignore rules win over everything.
	for i := range c.ignore {
		r := &c.ignore[i]
		if (r.literal == "" || strings.Contains(text, r.literal)) && r.re.MatchString(text) {
			out.Class, out.Rule = ClassOther, r.name
			return
		}
	}
	// User rules before built-ins: operators override the defaults.
	for i := range c.rules {
		r := &c.rules[i]
		if r.literal != "" && !strings.Contains(text, r.literal) {
			continue
		}
		m := r.re.FindStringSubmatchIndex(text)
		if m == nil {
			continue
		}
		res := out
		res.Class, res.Rule = r.class, r.name
		if r.class == ClassFailure {
			res.FailureKind = r.kind
			res.Message = strings.TrimSpace(text)
			c.failureDetails(text, res, false)
			return
		}
		res.ProgressKind = r.kind
		res.Message = strings.TrimSpace(text[m[0]:m[1]])
		if v, ok := groupFloat(text, m, r.current); ok {
			res.Current, res.HasCurrent = v, true
		}
		if v, ok := groupFloat(text, m, r.total); ok {
			res.Total, res.HasTotal = v, true
		}
		if !res.HasCurrent && !res.HasTotal {
			if cur, tot, _, ok := findFraction(res.Message); ok {
				res.Current, res.Total, res.HasCurrent, res.HasTotal = cur, tot, true, true
			} else if p, ok := findPercent(res.Message); ok {
				res.Percent, res.HasPercent = p, true
			}
		}
		setPercent(res)
		return
	}
	c.builtin(text, out)
}

func groupFloat(text string, m []int, g int) (float64, bool) {
	if g < 0 || 2*g+1 >= len(m) || m[2*g] < 0 {
		return 0, false
	}
	v, _, ok := parseScaled(strings.TrimSpace(text[m[2*g]:m[2*g+1]]))
	return v, ok
}

func setPercent(r *Result) {
	if !r.HasPercent && r.HasCurrent && r.HasTotal && r.Total > 0 {
		r.Percent, r.HasPercent = 100*r.Current/r.Total, true
	}
}

// builtin runs the built-in rule set over the cleaned record.
func (c *Classifier) builtin(text string, out *Result) {
	var (
		failRule    ruleID = -1
		ignoreRule  ruleID = -1
		prog        progressHit
		haveProg    bool
		firstLine   = true
		rest        = text
		needDetails bool
	)
	for len(rest) > 0 || firstLine {
		line := rest
		if nl := strings.IndexByte(rest, '\n'); nl >= 0 {
			line, rest = rest[:nl], rest[nl+1:]
		} else {
			rest = ""
		}
		trimmed := strings.TrimSpace(line)
		if trimmed == "" {
			if len(rest) == 0 {
				break
			}
			continue
		}
		m := scanLine(trimmed)
		if firstLine {
			firstLine = false
			// Noise that carries a whole traceback: decided by its first line.
			if m&kIgnored != 0 && c.on[rIgnoreExceptionIgnored] && strings.HasPrefix(trimmed, "Exception ignored in") {
				out.Class, out.Rule = ClassOther, builtinRules[rIgnoreExceptionIgnored].Name
				return
			}
			if m&kCallback != 0 && c.on[rIgnoreAsyncioCallback] && strings.HasPrefix(trimmed, "Exception in callback") {
				out.Class, out.Rule = ClassOther, builtinRules[rIgnoreAsyncioCallback].Name
				return
			}
		}
		if failRule < 0 {
			id, ign := c.failureLine(trimmed, m)
			if id >= 0 {
				failRule = id
				needDetails = true
			} else if ign >= 0 && ignoreRule < 0 {
				ignoreRule = ign
			}
		}
		if failRule < 0 {
			if h, ok := c.progressLine(trimmed, m); ok {
				// The last line with numbers is the live one; otherwise the last hit.
				if !haveProg || h.numbered || !prog.numbered {
					prog, haveProg = h, true
				}
			}
		}
	}
	if failRule >= 0 {
		out.Class, out.Rule, out.FailureKind = ClassFailure, builtinRules[failRule].Name, builtinRules[failRule].Kind
		out.Message = strings.TrimSpace(text)
		if needDetails {
			c.failureDetails(text, out, true)
		}
		return
	}
	if haveProg {
		prog.fill(out)
		return
	}
	out.Class = ClassOther
	if ignoreRule >= 0 {
		out.Rule = builtinRules[ignoreRule].Name
	}
}

// failureLine returns the failure rule matching one line, or -1 and maybe
// the ignore rule that suppressed a failure keyword.
func (c *Classifier) failureLine(line string, m kwMask) (ruleID, ruleID) {
	on := &c.on
	if m&kTraceback != 0 && on[rTraceback] {
		return rTraceback, -1
	}
	if m&kBanner != 0 && on[rExceptionBanner] {
		return rExceptionBanner, -1
	}
	if m&kThread != 0 && on[rExceptionThread] && strings.HasPrefix(line, "Exception in thread") {
		return rExceptionThread, -1
	}
	if m&kChain != 0 && on[rExceptionChain] {
		return rExceptionChain, -1
	}
	const weak = kOOM | kCUDA | kImport | kValidation | kKilled | kCrash | kRequest
	if m&weak != 0 {
		if m&kWarn != 0 && on[rIgnoreWarning] {
			if m&kOOM != 0 && on[rIgnoreRecoveredOOM] {
				return -1, rIgnoreRecoveredOOM
			}
			return -1, rIgnoreWarning
		}
		if m&kOOM != 0 {
			if m&kRecover != 0 && on[rIgnoreRecoveredOOM] {
				return -1, rIgnoreRecoveredOOM
			}
			if on[rOOM] {
				return rOOM, -1
			}
		}
		if m&kCUDA != 0 && on[rCUDA] {
			return rCUDA, -1
		}
		if m&kImport != 0 && on[rImport] {
			return rImport, -1
		}
		if m&kValidation != 0 && on[rValidation] {
			return rValidation, -1
		}
		if m&kRequest != 0 && on[rRequest] {
			return rRequest, -1
		}
		if on[rCrash] && (m&kCrash != 0 || (m&kKilled != 0 && isKilledLine(line))) {
			return rCrash, -1
		}
	}
	if on[rValidation] && isValidationNodeHeader(line) {
		return rValidation, -1
	}
	if on[rExceptionLine] {
		if _, _, ok := parseExceptionLine(line); ok {
			return rExceptionLine, -1
		}
	}
	if on[rTracebackFrame] && isTracebackFrame(line) {
		return rTracebackFrame, -1
	}
	return -1, -1
}

// isKilledLine: the shell's or the kernel's report of a killed process:
// "Killed", "Killed python main.py", "./run.sh: line 5:  1234 Killed  python main.py".
func isKilledLine(line string) bool {
	i := strings.Index(line, "Killed")
	if i < 0 {
		// lower case only as the shell's report: "zsh: killed     python main.py"
		i = strings.Index(line, "killed")
		if i < 0 || !strings.HasSuffix(strings.TrimRight(line[:i], " \t"), ":") {
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
	// "... 1234 Killed" (job report) or "...: Killed"
	last := before[len(before)-1]
	return isDigit(last) || last == ':'
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

// isTracebackFrame: `File "x.py", line 12, in f` or `raise SomeError(...)`.
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
	if !(strings.HasSuffix(base, "Error") || strings.HasSuffix(base, "Exception")) || base[0] < 'A' || base[0] > 'Z' {
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
		if base == "Error" {
			return "", "", false // "Error: ..." is how custom nodes print warnings
		}
		if base == "Exception" && msg == "" {
			return "", "", false
		}
		return name, msg, true
	}
	return "", "", false
}

// failureDetails fills exception.* and refines the kind from the text.
func (c *Classifier) failureDetails(text string, res *Result, refine bool) {
	lastType, lastMsg := "", ""
	bannerMsg := ""
	rest := text
	for len(rest) > 0 {
		line := rest
		if nl := strings.IndexByte(rest, '\n'); nl >= 0 {
			line, rest = rest[:nl], rest[nl+1:]
		} else {
			rest = ""
		}
		t := strings.TrimSpace(line)
		if typ, msg, ok := parseExceptionLine(t); ok {
			lastType, lastMsg = typ, msg
		} else if bannerMsg == "" {
			if i := strings.Index(t, "Exception during processing"); i >= 0 {
				after := strings.TrimLeft(t[i+len("Exception during processing"):], " ")
				after = strings.TrimLeft(after, "!")
				bannerMsg = strings.TrimSpace(after)
			}
		}
	}
	if lastType != "" {
		res.ExceptionType, res.ExceptionMessage = lastType, lastMsg
	} else if bannerMsg != "" {
		res.ExceptionMessage = bannerMsg
	}
	if i := strings.Index(text, "Traceback (most recent call last)"); i >= 0 {
		res.Stacktrace = strings.TrimSpace(text[i:])
	}
	if !refine {
		return
	}
	// The kind follows the cause, whatever line matched first: an exception
	// banner whose message is an OOM is an oom failure.
	if strings.Contains(text, "OutOfMemoryError") || strings.Contains(text, "out of memory") ||
		strings.Contains(text, "Got an OOM") || strings.Contains(text, "Out of memory") ||
		strings.HasSuffix(res.ExceptionType, "MemoryError") {
		res.FailureKind = "oom"
	} else if strings.Contains(text, "CUDA error") || strings.Contains(text, "CUBLAS_STATUS_") ||
		strings.Contains(text, "device-side assert") || strings.Contains(text, "not compiled with CUDA") {
		res.FailureKind = "cuda"
	} else if res.FailureKind == "exception" && (strings.Contains(text, "load_custom_node") || strings.Contains(text, "module for custom nodes")) {
		res.FailureKind = "import"
	}
}

// copyOut copies every string of res that may point into the pooled
// cleaning buffer, with one allocation for the cleaned text.
func copyOut(res *Result, cleaned string) {
	own := strings.Clone(cleaned)
	re := func(s string) string {
		if s == "" {
			return s
		}
		if off, ok := offsetIn(s, cleaned); ok {
			return own[off : off+len(s)]
		}
		return s
	}
	res.Message = re(res.Message)
	res.ExceptionType = re(res.ExceptionType)
	res.ExceptionMessage = re(res.ExceptionMessage)
	res.Stacktrace = re(res.Stacktrace)
	res.RateUnit = re(res.RateUnit)
}
