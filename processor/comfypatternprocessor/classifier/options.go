package classifier

// Options configure a Classifier. The struct carries mapstructure tags so the
// processor can embed it in its collector Config and comfyctl can load the
// same YAML; the package itself has no collector dependency.
type Options struct {
	// BuiltinRules turns the built-in ComfyUI rule set on (default true).
	BuiltinRules bool `mapstructure:"builtin_rules"`
	// DisabledRules names built-in rules to turn off.
	DisabledRules []string `mapstructure:"disabled_rules"`
	// Rules are user rules; they are tried before the built-in rules.
	Rules []RuleConfig `mapstructure:"rules"`
	// Ignore rules win over every other rule: a record they match is "other".
	Ignore []IgnoreRuleConfig `mapstructure:"ignore"`
}

// RuleConfig is a user-defined rule.
type RuleConfig struct {
	// Name is reported in comfy.rule. Required, unique.
	Name string `mapstructure:"name"`
	// Class is progress or failure.
	Class string `mapstructure:"class"`
	// Kind is reported as comfy.progress.kind or comfy.failure.kind.
	Kind string `mapstructure:"kind"`
	// Pattern is a Go (RE2) regular expression matched against the cleaned text.
	Pattern string `mapstructure:"pattern"`
	// Current and Total name the capture groups (by name or number) holding the
	// progress counts. Empty: groups named "current" and "total" if present.
	Current string `mapstructure:"current"`
	Total   string `mapstructure:"total"`
}

// IgnoreRuleConfig is a regex that marks matching records as "other",
// overriding failure and progress rules (for known-harmless noise).
type IgnoreRuleConfig struct {
	Name    string `mapstructure:"name"`
	Pattern string `mapstructure:"pattern"`
}

// DefaultOptions returns the defaults: built-in rules on, nothing added.
func DefaultOptions() Options {
	return Options{BuiltinRules: true}
}
