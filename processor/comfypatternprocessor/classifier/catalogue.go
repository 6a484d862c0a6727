package classifier

import (
	"bytes"
	_ "embed"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The built-in ComfyUI rules are data: catalogue.yaml, embedded in the
// binary. This file loads and compiles it; classifier.go is the engine that
// runs it. Adding a rule for a new custom node's error is a catalogue entry
// with an example, not Go code.

//go:embed catalogue.yaml
var catalogueYAML []byte

// Catalogue is the parsed catalogue file.
type Catalogue struct {
	// FailureKinds say, per failure kind, whether retrying the job elsewhere
	// can help, with a short message and a call to action.
	FailureKinds []FailureKind `yaml:"failure_kinds"`
	// RootCauses refine a failure's kind from its whole text, in order: the
	// kind follows the root cause (an exception whose message is an OOM is oom).
	RootCauses []RootCause `yaml:"root_causes"`
	// Rules in precedence order: on each line the first matching rule decides.
	Rules []RuleConfig `yaml:"rules"`
}

// FailureKind is the actionable description of one failure kind.
type FailureKind struct {
	Kind         string `yaml:"kind"`
	Retryable    bool   `yaml:"retryable"`
	Message      string `yaml:"message"`
	CallToAction string `yaml:"call_to_action"`
}

// RootCause turns a failure of one of the From kinds (any kind when empty)
// into Kind when its text holds one of Literals.
type RootCause struct {
	Kind     string   `yaml:"kind"`
	From     []string `yaml:"from,omitempty"`
	Literals []string `yaml:"literals"`
}

// BuiltinCatalogue returns the embedded catalogue (a copy; for docs and
// `comfyctl rules`).
func BuiltinCatalogue() Catalogue {
	c, err := ParseCatalogue(catalogueYAML)
	if err != nil {
		panic(err) // covered by tests: the embedded file always parses
	}
	return c
}

// ParseCatalogue parses a catalogue file, rejecting unknown fields.
func ParseCatalogue(b []byte) (Catalogue, error) {
	var c Catalogue
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Catalogue{}, err
	}
	return c, nil
}

// RulesFile is the content of an operator rules file (`rules_file:`).
type RulesFile struct {
	Rules  []RuleConfig       `yaml:"rules"`
	Ignore []IgnoreRuleConfig `yaml:"ignore"`
}

// ParseRulesFile parses an operator rules file, rejecting unknown fields
// (errors carry the YAML line).
func ParseRulesFile(b []byte) (RulesFile, error) {
	var f RulesFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && err.Error() != "EOF" {
		return RulesFile{}, err
	}
	return f, nil
}

type scopeKind uint8

const (
	scopeLine scopeKind = iota
	scopeRecord
	scopeFirstLine
	scopeRawLine // a line with its indentation (traceback source lines)
)

// rule is one compiled rule (catalogue or operator).
type rule struct {
	name      string
	class     Class
	kind      string
	event     string
	scope     scopeKind
	after     bool   // only when continuing a failure of the same source
	afterRule string // ... decided by this rule
	starts    bool
	minSev    int
	re        *regexp.Regexp
	needRe    bool // false when the literal hit already proves the pattern
	literals  []string
	also      []string
	unless    []string
	extract   extractorID
	current   int // capture group, -1 = none
	total     int
	checkNum  bool // reject current > total (catalogue)

	retryable    *bool
	message, cta string
}

var severityNames = map[string]int{"TRACE": 1, "DEBUG": 5, "INFO": 9, "WARN": 13, "WARNING": 13, "ERROR": 17, "FATAL": 21}

// compileRule compiles one rule; field names errors with prefix (e.g. "rules[2]").
func compileRule(r *RuleConfig, field string, defaultScope scopeKind, catalogue bool) (*rule, error) {
	if r.Name == "" {
		return nil, fmt.Errorf("%s.name: must not be empty", field)
	}
	out := &rule{name: r.Name, kind: r.Kind, event: r.Event, starts: r.Starts, current: -1, total: -1, checkNum: catalogue,
		retryable: r.Retryable, message: r.Message, cta: r.CallToAction, unless: r.Unless, also: r.Also}
	switch r.Class {
	case string(ClassProgress), string(ClassFailure):
		out.class = Class(r.Class)
	case string(ClassOther):
		if !catalogue {
			return nil, fmt.Errorf("%s.class: use an ignore rule to mark records as other", field)
		}
		out.class = ClassOther
	default:
		return nil, fmt.Errorf("%s.class: must be progress or failure, got %q", field, r.Class)
	}
	if out.kind == "" && out.class != ClassOther && !(r.After != "" && catalogue) {
		if catalogue {
			return nil, fmt.Errorf("%s.kind: must not be empty", field)
		}
		out.kind = "custom"
	}
	switch r.Scope {
	case "":
		out.scope = defaultScope
	case "line":
		out.scope = scopeLine
	case "record":
		out.scope = scopeRecord
	case "first_line":
		out.scope = scopeFirstLine
	case "raw_line":
		out.scope = scopeRawLine
	default:
		return nil, fmt.Errorf("%s.scope: must be line, raw_line, record or first_line, got %q", field, r.Scope)
	}
	switch {
	case r.After == "":
	case r.After == "failure", strings.HasPrefix(r.After, "failure."):
		out.after = true
		if r.After != "failure" {
			out.afterRule = r.After
		}
		if out.class != ClassFailure {
			return nil, fmt.Errorf("%s.after: only failure rules can continue a failure", field)
		}
	default:
		return nil, fmt.Errorf("%s.after: must be failure, a failure rule's name or empty, got %q", field, r.After)
	}
	if r.MinSeverity != "" {
		sev, ok := severityNames[strings.ToUpper(r.MinSeverity)]
		if !ok {
			return nil, fmt.Errorf("%s.min_severity: must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL, got %q", field, r.MinSeverity)
		}
		out.minSev = sev
	}
	if r.Extract != "" {
		ex, ok := extractors[r.Extract]
		if !ok {
			return nil, fmt.Errorf("%s.extract: unknown extractor %q (known: %s)", field, r.Extract, strings.Join(ExtractorNames(), ", "))
		}
		if ex.class != out.class {
			return nil, fmt.Errorf("%s.extract: extractor %q is for %s rules", field, r.Extract, ex.class)
		}
		out.extract = ex.id
	}
	if r.Pattern == "" && r.Extract == "" && len(r.Literals) == 0 {
		return nil, fmt.Errorf("%s.pattern: must not be empty", field)
	}
	for i, l := range r.Literals {
		if l == "" {
			return nil, fmt.Errorf("%s.literals[%d]: must not be empty", field, i)
		}
	}
	for i, l := range r.Unless {
		if l == "" {
			return nil, fmt.Errorf("%s.unless[%d]: must not be empty", field, i)
		}
	}
	for i, l := range r.Also {
		if l == "" {
			return nil, fmt.Errorf("%s.also[%d]: must not be empty", field, i)
		}
	}
	out.literals = r.Literals
	if r.Pattern != "" {
		re, err := regexp.Compile(r.Pattern)
		if err != nil {
			return nil, fmt.Errorf("%s.pattern: %w", field, err)
		}
		out.re, out.needRe = re, true
		if len(out.literals) == 0 {
			if lit, complete := plainLiteral(r.Pattern); complete {
				// The whole pattern is a literal: finding it is the match.
				out.literals, out.needRe = []string{lit}, false
			} else if l := requiredLiteral(r.Pattern); l != "" {
				out.literals = []string{l}
			}
		}
		if out.current, err = groupIndex(re, r.Current, "current"); err != nil {
			return nil, fmt.Errorf("%s.current: %w", field, err)
		}
		if out.total, err = groupIndex(re, r.Total, "total"); err != nil {
			return nil, fmt.Errorf("%s.total: %w", field, err)
		}
	} else if r.Current != "" || r.Total != "" {
		return nil, fmt.Errorf("%s: current/total name capture groups of a pattern", field)
	}
	if out.class != ClassProgress && (r.Current != "" || r.Total != "") {
		return nil, fmt.Errorf("%s: current/total apply to progress rules only", field)
	}
	if out.class != ClassProgress && r.Event != "" {
		return nil, fmt.Errorf("%s.event: applies to progress rules only", field)
	}
	if out.class != ClassFailure && (r.Retryable != nil || r.Message != "" || r.CallToAction != "" || r.Starts) {
		return nil, fmt.Errorf("%s: retryable/message/call_to_action/starts apply to failure rules only", field)
	}
	return out, nil
}

// plainLiteral reports whether pattern is one case-sensitive literal.
func plainLiteral(pattern string) (string, bool) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return "", false
	}
	re = re.Simplify()
	if re.Op == syntax.OpLiteral && re.Flags&syntax.FoldCase == 0 {
		return string(re.Rune), true
	}
	return "", false
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

// ruleMask has one bit per catalogue rule.
type ruleMask [maskWords]uint64

const maskWords = 2

func (m *ruleMask) set(i int)     { m[i>>6] |= 1 << (i & 63) }
func (m ruleMask) has(i int) bool { return m[i>>6]&(1<<(i&63)) != 0 }
func (m ruleMask) and(o ruleMask) ruleMask {
	for i := range m {
		m[i] &= o[i]
	}
	return m
}
func (m ruleMask) or(o ruleMask) ruleMask {
	for i := range m {
		m[i] |= o[i]
	}
	return m
}
func (m ruleMask) empty() bool {
	for _, w := range m {
		if w != 0 {
			return false
		}
	}
	return true
}

type litEntry struct {
	rest string // the literal without its first two bytes
	mask ruleMask
}

// compiledCatalogue is the catalogue ready to run: its rules and the table
// that finds all their literals in one pass over a line.
type compiledCatalogue struct {
	rules     []*rule
	byName    map[string]int
	kinds     map[string]FailureKind
	causes    []RootCause
	pairSlot  *[1 << 16]uint16 // two first bytes -> index in pairLits (0 = none)
	pairLits  [][]litEntry     // literals by their first two bytes (rest without those)
	pair      [1 << 10]uint64  // bit b<<8|next: a literal starts with these two bytes
	single    [256]ruleMask    // one-byte literals ('/', '%', '#')
	hasSingle [256]bool
	always    ruleMask // rules without literals: candidates on every line
	afterMask ruleMask // continuation rules
	firstMask ruleMask // first_line rules
	recMask   ruleMask // record rules
}

var builtinCompiled = mustCompileBuiltin()

func mustCompileBuiltin() *compiledCatalogue {
	c, err := compileCatalogue(catalogueYAML)
	if err != nil {
		panic("classifier: catalogue.yaml: " + err.Error())
	}
	return c
}

func compileCatalogue(b []byte) (*compiledCatalogue, error) {
	cat, err := ParseCatalogue(b)
	if err != nil {
		return nil, err
	}
	if len(cat.Rules) > maskWords*64 {
		return nil, fmt.Errorf("rules: at most %d rules, got %d", maskWords*64, len(cat.Rules))
	}
	cc := &compiledCatalogue{byName: map[string]int{}, kinds: map[string]FailureKind{}, causes: cat.RootCauses}
	for _, k := range cat.FailureKinds {
		cc.kinds[k.Kind] = k
	}
	lits := map[string]ruleMask{}
	var order []string
	for i := range cat.Rules {
		r := &cat.Rules[i]
		field := fmt.Sprintf("rules[%d] (%s)", i, r.Name)
		cr, err := compileRule(r, field, scopeLine, true)
		if err != nil {
			return nil, err
		}
		if _, dup := cc.byName[r.Name]; dup {
			return nil, fmt.Errorf("%s.name: duplicate", field)
		}
		if cr.class == ClassFailure && cr.kind != "" {
			if _, ok := cc.kinds[cr.kind]; !ok {
				return nil, fmt.Errorf("%s.kind: %q is not in failure_kinds", field, cr.kind)
			}
		}
		cc.byName[r.Name] = i
		cc.rules = append(cc.rules, cr)
		switch {
		case cr.after:
			cc.afterMask.set(i)
		case cr.scope == scopeFirstLine:
			cc.firstMask.set(i)
		case cr.scope == scopeRecord:
			cc.recMask.set(i)
		}
		if len(cr.literals) == 0 || cr.scope == scopeRecord {
			cc.always.set(i)
			continue
		}
		for _, l := range cr.literals {
			m, seen := lits[l]
			if !seen {
				order = append(order, l)
			}
			m.set(i)
			lits[l] = m
		}
	}
	cc.pairSlot = new([1 << 16]uint16)
	cc.pairLits = [][]litEntry{nil}
	for _, l := range order {
		if len(l) == 1 {
			cc.single[l[0]] = cc.single[l[0]].or(lits[l])
			cc.hasSingle[l[0]] = true
			for nb := 0; nb < 256; nb++ {
				k := uint(l[0])<<8 | uint(nb)
				cc.pair[k>>6] |= 1 << (k & 63)
			}
			continue
		}
		k := uint(l[0])<<8 | uint(l[1])
		cc.pair[k>>6] |= 1 << (k & 63)
		slot := cc.pairSlot[k]
		if slot == 0 {
			slot = uint16(len(cc.pairLits))
			cc.pairSlot[k] = slot
			cc.pairLits = append(cc.pairLits, nil)
		}
		cc.pairLits[slot] = append(cc.pairLits[slot], litEntry{rest: l[2:], mask: lits[l]})
	}
	for _, rc := range cat.RootCauses {
		if _, ok := cc.kinds[rc.Kind]; !ok {
			return nil, fmt.Errorf("root_causes: kind %q is not in failure_kinds", rc.Kind)
		}
	}
	return cc, nil
}

// scan returns the rules whose literals occur in line (plus the rules that
// have none): one table lookup per byte, a compare at candidate bytes.
func (cc *compiledCatalogue) scan(line string) ruleMask {
	// Two words in registers: array values would go through memory.
	m0, m1 := cc.always[0], cc.always[1]
	pair := &cc.pair
	n := len(line)
	if n == 0 {
		return ruleMask{m0, m1}
	}
	for i := 0; i < n-1; i++ {
		// One test per byte: may a literal start at these two bytes?
		k := uint16(line[i])<<8 | uint16(line[i+1])
		if pair[k>>6]&(1<<(k&63)) == 0 {
			continue
		}
		b := line[i]
		if cc.hasSingle[b] {
			m0 |= cc.single[b][0]
			m1 |= cc.single[b][1]
		}
		// The literals starting with these two bytes; the third byte
		// inline before the call to compare the rest.
		tail := line[i+2:]
		entries := cc.pairLits[cc.pairSlot[k]]
		for j := range entries {
			e := &entries[j]
			if len(tail) >= len(e.rest) && (len(e.rest) == 0 || tail[0] == e.rest[0]) && tail[:len(e.rest)] == e.rest {
				m0 |= e.mask[0]
				m1 |= e.mask[1]
			}
		}
	}
	if b := line[n-1]; cc.hasSingle[b] {
		m0 |= cc.single[b][0]
		m1 |= cc.single[b][1]
	}
	return ruleMask{m0, m1}
}
