// Package classifier classifies one ComfyUI log record as progress, failure or
// other. It is pure Go (no collector dependency) so the comfypattern processor
// and `comfyctl classify` run exactly the same code.
//
// The built-in rules are data (catalogue.yaml, see catalogue.go); this file is
// the engine. Cost model: a record is cleaned (no allocation for a plain
// line), every line is scanned once for the literals of all catalogue rules
// (catalogue.go: scan), and only the rules whose literals are present run,
// in catalogue order; the first that matches decides the line. Operator rules
// are regexes guarded by a required-literal prefilter.
package classifier

import (
	"fmt"
	"math/bits"
	"strings"
	"unicode/utf8"
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
	// Continues: this failure continues the failure just before it from the
	// same source (a traceback line, an OOM detail, "Press any key").
	Continues bool
	// Retryable, HumanMessage, CallToAction: what a worker can do about the
	// failure (from the failure kind, or the rule). HasRetryable is false
	// for operator kinds the catalogue does not describe.
	Retryable    bool
	HasRetryable bool
	HumanMessage string
	CallToAction string

	starts bool // the deciding rule begins a new failure
	noise  bool // known noise that carries a traceback (Exception ignored in …)
	// the deciding rule's own kind ("" for a continuation rule), before
	// the root cause refined it
	ruleKind string
}

// Record is one log record with the signals beyond its body.
type Record struct {
	Text string
	// Severity is the OTel severity number (0 = unset): evidence for rules
	// with min_severity, never a verdict alone.
	Severity int
	// HasException: the record carries exception.type or exception.stacktrace
	// attributes; ExceptionType/Message are their values.
	HasException     bool
	ExceptionType    string
	ExceptionMessage string
}

// Classifier is safe for concurrent use.
type Classifier struct {
	cat    *compiledCatalogue
	on     ruleMask
	rules  []*rule
	ignore []*rule

	// on, split by how the rules run (computed once in New)
	lineOn, firstOn, afterOn, recOn ruleMask
}

// New compiles opts. Errors name the offending field, e.g.
// `rules[2].pattern: error parsing regexp: ...`.
func New(opts Options) (*Classifier, error) {
	c := &Classifier{cat: builtinCompiled}
	if opts.BuiltinRules {
		for i := range c.cat.rules {
			c.on.set(i)
		}
	}
	for i, name := range opts.DisabledRules {
		id, ok := c.cat.byName[name]
		if !ok {
			return nil, fmt.Errorf("disabled_rules[%d]: unknown built-in rule %q (`comfyctl rules` lists them)", i, name)
		}
		c.on[id>>6] &^= 1 << (id & 63)
	}
	for i := range c.on {
		c.lineOn[i] = c.on[i] &^ (c.cat.afterMask[i] | c.cat.firstMask[i] | c.cat.recMask[i])
		c.firstOn[i] = c.on[i] & c.cat.firstMask[i]
		c.afterOn[i] = c.on[i] & c.cat.afterMask[i]
		c.recOn[i] = c.on[i] & c.cat.recMask[i]
	}
	seen := map[string]string{}
	for i := range opts.Rules {
		field := fmt.Sprintf("rules[%d]", i)
		r := &opts.Rules[i]
		if prev, dup := seen[r.Name]; dup && r.Name != "" {
			return nil, fmt.Errorf("%s.name: %q is already used by %s", field, r.Name, prev)
		}
		seen[r.Name] = field
		if len(r.Examples) > 0 {
			return nil, fmt.Errorf("%s.examples: only catalogue rules carry examples", field)
		}
		cr, err := compileRule(r, field, scopeRecord, false)
		if err != nil {
			return nil, err
		}
		c.rules = append(c.rules, cr)
	}
	for i, r := range opts.Ignore {
		field := fmt.Sprintf("ignore[%d]", i)
		if r.Pattern == "" {
			return nil, fmt.Errorf("%s.pattern: must not be empty", field)
		}
		name := r.Name
		if name == "" {
			name = field
		}
		cr, err := compileRule(&RuleConfig{Name: name, Class: string(ClassProgress), Pattern: r.Pattern}, field, scopeRecord, false)
		if err != nil {
			return nil, err
		}
		cr.class = ClassOther
		c.ignore = append(c.ignore, cr)
	}
	return c, nil
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
	rec := Record{Text: text}
	c.ClassifyRecord(&rec, nil, res)
}

// boundHalf: classification looks at the first and the last boundHalf bytes
// of a record (the exception line ends a traceback), so a 5 MB body costs
// what a 128 KiB one does.
const boundHalf = 64 << 10

func bound(text string) string {
	if len(text) <= 2*boundHalf {
		return text
	}
	h := boundHalf
	for h > 0 && !utf8.RuneStart(text[h]) {
		h--
	}
	t := len(text) - boundHalf
	for t < len(text) && !utf8.RuneStart(text[t]) {
		t++
	}
	head, tail := text[:h], text[t:]
	// Judge whole lines only.
	if i := strings.LastIndexByte(head, '\n'); i > 0 {
		head = head[:i]
	}
	if i := strings.IndexByte(tail, '\n'); i >= 0 && i < len(tail)-1 {
		tail = tail[i+1:]
	}
	return head + "\n" + tail
}

// ClassifyRecord classifies rec, judged with the records before it from the
// same source when st is not nil (st is updated; see Tracker).
func (c *Classifier) ClassifyRecord(rec *Record, st *SourceState, res *Result) {
	*res = Result{}
	var ctx context
	if st != nil {
		ctx = context{prevFailure: st.prevFailure, prevWhole: st.prevWhole, prevKind: st.prevKind, prevRule: st.prevRule, prevNoise: st.prevNoise}
	}
	text := bound(rec.Text)
	var blank bool
	if !needsRebuild(text) {
		// The common case: one line, at most a prefix to trim; no buffer.
		cleaned := trimLinePrefix(text)
		c.classifyCleaned(cleaned, rec, &ctx, res)
		blank = st != nil && isBlank(cleaned)
	} else {
		s := scratchPool.Get().(*scratch)
		cleaned := rebuild(text, s)
		c.classifyCleaned(cleaned, rec, &ctx, res)
		if res.Class != ClassOther {
			// The strings point into the pooled buffer: copy them out together.
			copyOut(res, cleaned)
		}
		blank = st != nil && isBlank(cleaned)
		if cap(s.buf) <= 64<<10 {
			scratchPool.Put(s)
		}
	}
	if res.Class == ClassFailure && ctx.prevNoise != "" && !res.starts && (res.ruleKind == "exception" || res.ruleKind == "") &&
		strings.IndexByte(strings.TrimSpace(res.Message), '\n') < 0 {
		// The traceback of known noise ("Exception in callback …") printed
		// line by line: its lines are noise too (only traceback parts: an
		// import failure after it is a failure of its own).
		*res = Result{Class: ClassOther, Rule: ctx.prevNoise, noise: true}
	}
	startsTraceback := res.Class == ClassFailure && strings.HasPrefix(strings.TrimLeft(res.Message, " \t"), tracebackHeader)
	if res.Class == ClassFailure {
		res.Continues = ctx.prevFailure && !res.starts && !(startsTraceback && ctx.prevWhole)
	}
	if st != nil && !blank {
		// A blank line inside a traceback does not end it.
		st.prevWhole = startsTraceback && res.ExceptionType != ""
		st.prevFailure = res.Class == ClassFailure
		st.prevKind = res.FailureKind
		st.prevRule = res.Rule
		switch {
		case res.noise:
			// Python prints a line or two ("handle: <Handle …>") between the
			// noise's first line and its traceback.
			st.prevNoise, st.noiseGap = res.Rule, 2
		case res.Class == ClassOther && st.noiseGap > 0:
			st.noiseGap--
		default:
			st.prevNoise, st.noiseGap = "", 0
		}
	}
}

// tracebackHeader opens every Python traceback.
const tracebackHeader = "Traceback (most recent call last)"

// context is what the records before this one from the same source say.
type context struct {
	prevFailure bool
	prevWhole   bool
	prevKind    string
	prevRule    string // the rule that decided the record before
	prevNoise   string // the noise rule the record before was decided by
}

func (c *Classifier) classifyCleaned(text string, rec *Record, ctx *context, out *Result) {
	// Operator ignore rules win over everything.
	for _, r := range c.ignore {
		if c.userMatch(r, text, rec, ctx, nil) != "" {
			out.Class, out.Rule = ClassOther, r.name
			return
		}
	}
	// Operator rules before the catalogue: operators override the defaults.
	for _, r := range c.rules {
		var e extraction
		m := c.userMatch(r, text, rec, ctx, &e)
		if m == "" {
			continue
		}
		out.Class, out.Rule = r.class, r.name
		if r.class == ClassFailure {
			out.FailureKind = r.kind
			if r.kind == "" {
				out.FailureKind = ctx.kindOr("exception")
			}
			out.Message = strings.TrimSpace(text)
			c.failureDetails(text, out, false)
			c.actionable(out, r)
			return
		}
		fillProgress(out, r, &e, strings.TrimSpace(m))
		if !out.HasCurrent && !out.HasTotal && !out.HasPercent {
			if cur, tot, _, ok := findFraction(out.Message); ok {
				out.Current, out.Total, out.HasCurrent, out.HasTotal = cur, tot, true, true
			} else if p, ok := findPercent(out.Message); ok {
				out.Percent, out.HasPercent = p, true
			}
		}
		setPercent(out)
		return
	}
	c.builtin(text, rec, ctx, out)
}

// userMatch tries an operator rule in its scope and returns the matched
// text ("" = no match).
func (c *Classifier) userMatch(r *rule, text string, rec *Record, ctx *context, e *extraction) string {
	if !hasAnyLiteral(text, r.literals) {
		return ""
	}
	var tmp extraction
	if e == nil {
		e = &tmp
	}
	if r.scope == scopeRecord {
		return tryRule(r, text, rec, ctx, e)
	}
	first := true
	for rest := text; rest != ""; {
		var line string
		line, rest = cutLine(rest)
		t := strings.TrimSpace(line)
		if t == "" {
			continue
		}
		if hasAnyLiteral(t, r.literals) {
			*e = extraction{}
			if m := tryRule(r, t, rec, ctx, e); m != "" {
				return m
			}
		}
		if first && r.scope == scopeFirstLine {
			return ""
		}
		first = false
	}
	return ""
}

func hasAnyLiteral(s string, lits []string) bool {
	if len(lits) == 0 {
		return true
	}
	for _, l := range lits {
		if strings.Contains(s, l) {
			return true
		}
	}
	return false
}

// tryRule checks everything but the literals (the caller found them) and
// returns the matched text, "" when the rule does not apply.
func tryRule(r *rule, s string, rec *Record, ctx *context, e *extraction) string {
	if r.after && (!ctx.prevFailure || (r.afterRule != "" && ctx.prevRule != r.afterRule)) {
		return ""
	}
	if r.minSev > 0 && (rec == nil || rec.Severity < r.minSev) {
		return ""
	}
	for _, u := range r.unless {
		if strings.Contains(s, u) {
			return ""
		}
	}
	if len(r.also) > 0 && !hasAnyLiteral(s, r.also) {
		return ""
	}
	matched := s
	if r.needRe {
		if r.class == ClassProgress && (r.current >= 0 || r.total >= 0 || !r.checkNum) {
			// Counts to read, or an operator rule reporting the matched text.
			m := r.re.FindStringSubmatchIndex(s)
			if m == nil {
				return ""
			}
			matched = s[m[0]:m[1]]
			if v, ok := groupFloat(s, m, r.current); ok {
				e.n.current, e.n.hasCurrent, e.numbered = v, true, true
			}
			if v, ok := groupFloat(s, m, r.total); ok {
				e.n.total, e.n.hasTotal, e.numbered = v, true, true
			}
		} else if !r.re.MatchString(s) {
			return ""
		}
	}
	if r.extract != exNone && !runExtractor(r.extract, s, rec, e) {
		return ""
	}
	if r.checkNum && e.n.hasCurrent && e.n.hasTotal && (e.n.total <= 0 || e.n.current > e.n.total) {
		return ""
	}
	if matched == "" {
		matched = " " // matched the empty string: still a match
	}
	return matched
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

func (ctx *context) kindOr(def string) string {
	if ctx.prevFailure && ctx.prevKind != "" {
		return ctx.prevKind
	}
	return def
}

// forEach calls f for each rule in m in catalogue order until f returns false.
func forEach(m ruleMask, f func(i int) bool) {
	for w := range m {
		for b := m[w]; b != 0; b &= b - 1 {
			if !f(w<<6 | bits.TrailingZeros64(b)) {
				return
			}
		}
	}
}

// builtin runs the catalogue over the cleaned record.
func (c *Classifier) builtin(text string, rec *Record, ctx *context, out *Result) {
	cat := c.cat
	var (
		failRule   *rule
		ignoreName string
		prog       extraction
		progRule   *rule
		progLine   string
		first      = true
		deferred   ruleMask
	)
	for rest := text; rest != "" && failRule == nil; {
		var line string
		line, rest = cutLine(rest)
		trimmed := strings.TrimSpace(line)
		if trimmed == "" {
			continue
		}
		raw := trimRightSpace(line)
		m := cat.scan(raw)
		if first {
			first = false
			// Noise that carries a whole traceback is decided by its first line.
			decided := false
			forEach(m.and(c.firstOn), func(i int) bool {
				var e extraction
				if tryRule(cat.rules[i], trimmed, rec, ctx, &e) != "" {
					// Only a lone first line leaves its traceback to the
					// records after it; a record holding it is complete.
					out.Class, out.Rule, out.noise = ClassOther, cat.rules[i].name, strings.TrimSpace(rest) == ""
					decided = true
					return false
				}
				return true
			})
			if decided {
				return
			}
		}
		deferred = deferred.or(m.and(c.afterOn))
		forEach(m.and(c.lineOn), func(i int) bool {
			r := cat.rules[i]
			var e extraction
			s := trimmed
			if r.scope == scopeRawLine {
				s = raw
			}
			if tryRule(r, s, rec, ctx, &e) == "" {
				return true
			}
			switch r.class {
			case ClassOther:
				if ignoreName == "" {
					ignoreName = r.name
				}
			case ClassFailure:
				failRule = r
			case ClassProgress:
				// The last line with numbers is the live one; otherwise the last hit.
				if progRule == nil || e.numbered || !prog.numbered {
					prog, progRule, progLine = e, r, trimmed
				}
			}
			return false
		})
	}
	if failRule == nil && progRule == nil && ignoreName == "" && ctx.prevFailure && !deferred.empty() {
		// Lines that carry no failure word but continue the failure before
		// them: traceback source lines, OOM details, "Press any key".
		for rest := text; rest != "" && failRule == nil; {
			var line string
			line, rest = cutLine(rest)
			line = trimRightSpace(line)
			if line == "" {
				continue
			}
			forEach(deferred, func(i int) bool {
				var e extraction
				if hasAnyLiteral(line, cat.rules[i].literals) && tryRule(cat.rules[i], line, rec, ctx, &e) != "" {
					failRule = cat.rules[i]
					return false
				}
				return true
			})
		}
	}
	if failRule == nil && progRule == nil {
		forEach(c.recOn, func(i int) bool {
			var e extraction
			if tryRule(cat.rules[i], text, rec, ctx, &e) != "" {
				failRule = cat.rules[i]
				return false
			}
			return true
		})
	}
	if failRule != nil {
		out.Class, out.Rule, out.FailureKind = ClassFailure, failRule.name, failRule.kind
		if out.FailureKind == "" {
			out.FailureKind = ctx.kindOr("exception")
		}
		out.starts, out.ruleKind = failRule.starts, failRule.kind
		out.Message = strings.TrimSpace(text)
		c.failureDetails(text, out, true)
		if rec != nil && rec.HasException {
			// The SDK's fields are the truth; the text may only hold a short message.
			if rec.ExceptionType != "" {
				out.ExceptionType = rec.ExceptionType
			}
			if rec.ExceptionMessage != "" {
				out.ExceptionMessage = rec.ExceptionMessage
			}
			c.refineKind(rec.ExceptionType+": "+rec.ExceptionMessage, out)
		}
		c.actionable(out, failRule)
		return
	}
	if progRule != nil {
		fillProgress(out, progRule, &prog, progLine)
		setPercent(out)
		return
	}
	out.Class = ClassOther
	out.Rule = ignoreName
}

func fillProgress(out *Result, r *rule, e *extraction, line string) {
	*out = Result{
		Class:         ClassProgress,
		Rule:          r.name,
		Message:       line,
		ProgressKind:  r.kind,
		ProgressEvent: r.event,
		Current:       e.n.current,
		Total:         e.n.total,
		Percent:       e.n.percent,
		Rate:          e.n.rate,
		RateUnit:      e.n.rateUnit,
		Elapsed:       e.n.elapsed,
		Remaining:     e.n.remaining,
		HasCurrent:    e.n.hasCurrent,
		HasTotal:      e.n.hasTotal,
		HasPercent:    e.n.hasPercent,
		HasRate:       e.n.hasRate,
		HasElapsed:    e.n.hasElapsed,
		HasRemaining:  e.n.hasRemaining,
	}
	if e.kind != "" && r.checkNum {
		out.ProgressKind = e.kind
	}
	if e.event != "" {
		out.ProgressEvent = e.event
	}
}

// actionable sets retryable, the human message and the call to action from
// the rule (when its kind stands) or else the failure kind.
func (c *Classifier) actionable(out *Result, r *rule) {
	if k, ok := c.cat.kinds[out.FailureKind]; ok {
		out.Retryable, out.HasRetryable, out.HumanMessage, out.CallToAction = k.Retryable, true, k.Message, k.CallToAction
	}
	if r != nil && r.kind == out.FailureKind {
		if r.retryable != nil {
			out.Retryable, out.HasRetryable = *r.retryable, true
		}
		if r.message != "" {
			out.HumanMessage = r.message
		}
		if r.cta != "" {
			out.CallToAction = r.cta
		}
	}
}

// failureDetails fills exception.* and refines the kind from the text.
func (c *Classifier) failureDetails(text string, res *Result, refine bool) {
	lastType, lastMsg := "", ""
	bannerMsg := ""
	for rest := text; rest != ""; {
		var line string
		line, rest = cutLine(rest)
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
	if refine {
		c.refineKind(text, res)
	}
}

// refineKind applies the catalogue's root causes: the kind follows the
// cause, whatever line matched first.
func (c *Classifier) refineKind(text string, res *Result) {
	for _, rc := range c.cat.causes {
		if len(rc.From) > 0 && !containsString(rc.From, res.FailureKind) {
			continue
		}
		if hasAnyLiteral(text, rc.Literals) && len(rc.Literals) > 0 {
			res.FailureKind = rc.Kind
			return
		}
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
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

// trimRightSpace drops trailing blanks (strings.TrimRight builds a set per call).
func trimRightSpace(s string) string {
	for len(s) > 0 {
		switch s[len(s)-1] {
		case ' ', '\t', '\r':
			s = s[:len(s)-1]
		default:
			return s
		}
	}
	return s
}

// cutLine splits text at its first newline: the line before it (without the
// newline) and the rest after it ("" when there is none).
func cutLine(text string) (line, rest string) {
	if nl := strings.IndexByte(text, '\n'); nl >= 0 {
		return text[:nl], text[nl+1:]
	}
	return text, ""
}
