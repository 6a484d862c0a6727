// Package strictenvprovider is a drop-in replacement for the collector's
// stock `env` confmap provider (go.opentelemetry.io/collector/confmap/provider/envprovider)
// that fails the configuration when a required variable is missing.
//
// The stock provider only logs a warning for `${env:NAME}` when NAME is unset
// and substitutes an empty value, so a sidecar started without MACHINE_ID
// would run and publish to `machine::progress`. This provider returns an error
// that names the variable instead, and the collector refuses to start
// (`otelcol-comfy validate` fails the same way).
//
// Syntax (a superset of the stock provider's):
//
//	${env:NAME}                  required: unset or empty is an error naming NAME
//	${env:NAME:-DEFAULT}         optional: DEFAULT when NAME is unset or empty (the
//	                             stock provider keeps an empty value; shells do not)
//	${env:NAME:?COND}            required only when COND holds, else the empty string
//	${env:NAME:?COND:-DEFAULT}   required only when COND holds, else DEFAULT when unset/empty
//	${env:NAME...:|K=V|K=V}      then map the value: K becomes V; `*=V` matches any
//	                             other value and `*` in V stands for the value; a value
//	                             that matches no key is an error listing the keys
//
// COND is `VALUE=EXPECTED[|EXPECTED...]` and holds when VALUE equals one of
// the EXPECTED alternatives. VALUE is normally a nested reference that the
// confmap resolver expands first (it expands the innermost `${...}` first), so
//
//	endpoint: ${env:DASH0_ENDPOINT:?${env:TELEMETRY_TARGET:-dash0}=dash0:-unused.invalid:4317}
//
// requires DASH0_ENDPOINT only when TELEMETRY_TARGET is dash0 (its default)
// and lets an unused exporter validate with a placeholder otherwise.
//
// The map turns a choice into component IDs, e.g. the Dash0 tier's exporter,
// whose type differs when the target is disabled, and rejects a mistyped choice:
//
//	${env:TELEMETRY_TARGET:-dash0:|dash0=otlp_grpc/dash0|collector=otlp_grpc/collector|disabled=nop/disabled}
//
// As in the stock provider, the value is parsed as YAML (so `8888` is an int
// and `true` a bool where the field accepts them).
package strictenvprovider // import "github.com/comfy-sidecar/otelcol-comfy/confmap/provider/strictenvprovider"

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"

	"go.uber.org/zap"

	"go.opentelemetry.io/collector/confmap"
)

const schemeName = "env"

// namePattern is the stock provider's rule (confmap/internal/envvar, which
// cannot be imported from outside the confmap module).
const namePattern = `^[a-zA-Z_][a-zA-Z0-9_]*$`

var nameRegexp = regexp.MustCompile(namePattern)

type provider struct {
	logger *zap.Logger
}

// NewFactory returns a factory for the strict `env` scheme provider.
func NewFactory() confmap.ProviderFactory {
	return confmap.NewProviderFactory(newProvider)
}

func newProvider(ps confmap.ProviderSettings) confmap.Provider {
	logger := ps.Logger
	if logger == nil {
		// ocb's generated main creates providers with empty settings to
		// read their scheme; never dereference a nil logger.
		logger = zap.NewNop()
	}
	return &provider{logger: logger}
}

// reference is one parsed `env:` URI.
type reference struct {
	name       string
	defaultVal *string // nil: no `:-`
	condition  *string // nil: no `:?`
	mapping    *string // nil: no `:|`
}

func parseReference(opaque string) reference {
	var mapping *string
	if before, spec, ok := strings.Cut(opaque, ":|"); ok {
		opaque, mapping = before, &spec
	}
	ref := parseSelector(opaque)
	ref.mapping = mapping
	return ref
}

func parseSelector(opaque string) reference {
	name, rest, hasSuffix := strings.Cut(opaque, ":")
	if !hasSuffix {
		return reference{name: opaque}
	}
	ref := reference{name: name}
	switch {
	case strings.HasPrefix(rest, "-"):
		def := rest[1:]
		ref.defaultVal = &def
	case strings.HasPrefix(rest, "?"):
		cond, def, hasDefault := strings.Cut(rest[1:], ":-")
		ref.condition = &cond
		if hasDefault {
			ref.defaultVal = &def
		}
	default:
		// Not one of our operators: keep the whole text as the name so the
		// name check below rejects it, like the stock provider does.
		ref.name = opaque
	}
	return ref
}

// applyMapping looks value up in `K=V|K=V...`.
func applyMapping(name, value, spec string) (string, error) {
	keys := []string{}
	wildcard := ""
	hasWildcard := false
	for _, pair := range strings.Split(spec, "|") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			return "", fmt.Errorf("environment variable %q: mapping entry %q must be KEY=VALUE", name, pair)
		}
		if k == "*" {
			wildcard, hasWildcard = v, true
			continue
		}
		if k == value {
			return v, nil
		}
		keys = append(keys, k)
	}
	if hasWildcard {
		return strings.ReplaceAll(wildcard, "*", value), nil
	}
	return "", fmt.Errorf("environment variable %q is %q; it must be one of: %s", name, value, strings.Join(keys, ", "))
}

// conditionHolds evaluates `VALUE=EXPECTED[|EXPECTED...]`.
func conditionHolds(cond string) (bool, error) {
	value, expected, ok := strings.Cut(cond, "=")
	if !ok {
		return false, fmt.Errorf("condition %q must be VALUE=EXPECTED[|EXPECTED...]", cond)
	}
	for _, alt := range strings.Split(expected, "|") {
		if value == alt {
			return true, nil
		}
	}
	return false, nil
}

func (p *provider) Retrieve(_ context.Context, uri string, _ confmap.WatcherFunc) (*confmap.Retrieved, error) {
	if !strings.HasPrefix(uri, schemeName+":") {
		return nil, fmt.Errorf("%q uri is not supported by %q provider", uri, schemeName)
	}
	ref := parseReference(uri[len(schemeName)+1:])
	if !nameRegexp.MatchString(ref.name) {
		return nil, fmt.Errorf("environment variable %q has invalid name: must match regex %s", ref.name, namePattern)
	}

	required := ref.defaultVal == nil
	if ref.condition != nil {
		holds, err := conditionHolds(*ref.condition)
		if err != nil {
			return nil, fmt.Errorf("environment variable %q: %w", ref.name, err)
		}
		required = holds
	}

	val, exists := os.LookupEnv(ref.name)
	switch {
	case required && !exists:
		return nil, fmt.Errorf("environment variable %q is required but not set%s", ref.name, because(ref))
	case required && val == "":
		// An empty MACHINE_ID or token is as useless as a missing one.
		return nil, fmt.Errorf("environment variable %q is required but empty%s", ref.name, because(ref))
	case val == "" && ref.defaultVal != nil:
		// Shell semantics of `:-`: an empty variable takes the default too
		// (the stock provider keeps the empty value). Env files and compose
		// `KEY=` lines leave variables empty, and an empty port or start_at
		// is never what was meant.
		val = *ref.defaultVal
	case val == "" && exists:
		p.logger.Info("Configuration references empty environment variable", zap.String("name", ref.name))
	}
	if ref.mapping != nil {
		mapped, err := applyMapping(ref.name, val, *ref.mapping)
		if err != nil {
			return nil, err
		}
		val = mapped
	}
	if val == "" {
		// The empty string, not nil (NewRetrievedFromYAML turns an empty
		// byte slice into nil, which would unset the field).
		return confmap.NewRetrieved("")
	}
	return confmap.NewRetrievedFromYAML([]byte(val))
}

func because(ref reference) string {
	if ref.condition == nil {
		return ""
	}
	return fmt.Sprintf(" (required because condition %q holds)", *ref.condition)
}

func (*provider) Scheme() string {
	return schemeName
}

func (*provider) Shutdown(context.Context) error {
	return nil
}
