package classifier

// Options configure a Classifier. The struct carries mapstructure tags so the
// processor can embed it in its collector Config and comfyctl can load the
// same YAML; the package itself has no collector dependency.
type Options struct {
	// BuiltinRules turns the built-in ComfyUI rule catalogue on (default true).
	BuiltinRules bool `mapstructure:"builtin_rules"`
	// DisabledRules names catalogue rules to turn off.
	DisabledRules []string `mapstructure:"disabled_rules"`
	// Rules are operator rules; they are tried before the catalogue.
	Rules []RuleConfig `mapstructure:"rules"`
	// Ignore rules win over every other rule: a record they match is "other".
	Ignore []IgnoreRuleConfig `mapstructure:"ignore"`
}

// RuleConfig is one rule of the rule language shared by the built-in
// catalogue (catalogue.yaml) and operator rules (`rules:` in the config or
// in a rules file). Only name, class and one of pattern/literals/extract are
// required; the other fields refine when the rule applies and what it
// reports.
type RuleConfig struct {
	// Name is reported in comfy.rule. Required, unique.
	Name string `mapstructure:"name" yaml:"name"`
	// Class is progress or failure (the catalogue also has other: known
	// noise that must not be read as a failure or progress).
	Class string `mapstructure:"class" yaml:"class"`
	// Kind is reported as comfy.progress.kind or comfy.failure.kind.
	// Default: "custom" for operator rules; a continuation rule without a
	// kind takes the kind of the failure it continues.
	Kind string `mapstructure:"kind" yaml:"kind,omitempty"`
	// Pattern is a Go (RE2) regular expression that must match the cleaned
	// text (a line or the whole record, see Scope).
	Pattern string `mapstructure:"pattern" yaml:"pattern,omitempty"`
	// Literals: the rule is only tried when one of these substrings is in
	// the text (case-sensitive). Empty: the longest literal the pattern
	// requires, if any. All literals of all catalogue rules are found in one
	// pass over each line.
	Literals []string `mapstructure:"literals" yaml:"literals,omitempty"`
	// Also: one of these substrings must be present as well (a second
	// literal group, checked before the pattern runs).
	Also []string `mapstructure:"also" yaml:"also,omitempty"`
	// Unless: the rule does not apply when one of these substrings is present.
	Unless []string `mapstructure:"unless" yaml:"unless,omitempty"`
	// Extract names a built-in Go extractor that must also accept the text
	// and fills in what regexes express badly (tqdm state, N/M fractions,
	// Python exception lines); see Extractors().
	Extract string `mapstructure:"extract" yaml:"extract,omitempty"`
	// Event is reported as comfy.progress.event (progress rules).
	Event string `mapstructure:"event" yaml:"event,omitempty"`
	// Current and Total name the capture groups (by name or number) holding
	// the progress counts. Empty: groups named "current" and "total" if present.
	Current string `mapstructure:"current" yaml:"current,omitempty"`
	Total   string `mapstructure:"total" yaml:"total,omitempty"`
	// Scope is what the rule looks at: "line" (each line of the record,
	// trimmed; the catalogue's default), "raw_line" (each line with its
	// indentation), "record" (the whole cleaned record; the default for
	// operator rules) or "first_line".
	Scope string `mapstructure:"scope" yaml:"scope,omitempty"`
	// After "failure": the rule only applies when the record continues a
	// failure of the same source (the record just before it was one); a
	// failure rule's name: only when that rule decided the record before.
	After string `mapstructure:"after" yaml:"after,omitempty"`
	// Starts marks a failure rule whose match begins a new failure rather
	// than continuing the one before it (e.g. ComfyUI's exception banner).
	Starts bool `mapstructure:"starts" yaml:"starts,omitempty"`
	// MinSeverity (TRACE..FATAL): the rule only applies when the record's
	// severity is at least this. Severity is evidence, never alone a verdict:
	// the pattern must match as well.
	MinSeverity string `mapstructure:"min_severity" yaml:"min_severity,omitempty"`
	// Retryable, Message and CallToAction override the failure kind's
	// defaults (comfy.failure.retryable, .human_message, .call_to_action).
	Retryable    *bool  `mapstructure:"retryable" yaml:"retryable,omitempty"`
	Message      string `mapstructure:"message" yaml:"message,omitempty"`
	CallToAction string `mapstructure:"call_to_action" yaml:"call_to_action,omitempty"`
	// Examples document the rule with real output (catalogue only; each is
	// a test case).
	Examples []Example `mapstructure:"examples" yaml:"examples,omitempty"`
}

// Example is a real line a catalogue rule must classify, with provenance.
type Example struct {
	Text string `mapstructure:"text" yaml:"text"`
	// Source cites where the line came from (ComfyUI source file, custom
	// node repository, public issue or committed log).
	Source string `mapstructure:"source" yaml:"source"`
	// Prev is the record before it from the same source (continuation rules).
	Prev string `mapstructure:"prev" yaml:"prev,omitempty"`
}

// IgnoreRuleConfig is a regex that marks matching records as "other",
// overriding failure and progress rules (for known-harmless noise).
type IgnoreRuleConfig struct {
	Name    string `mapstructure:"name" yaml:"name"`
	Pattern string `mapstructure:"pattern" yaml:"pattern"`
}

// DefaultOptions returns the defaults: built-in rules on, nothing added.
func DefaultOptions() Options {
	return Options{BuiltinRules: true}
}
