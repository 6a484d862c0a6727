// Package strictenvprovider is the collector's `env` confmap provider with one
// difference: a required variable that is unset or empty fails start-up and
// `validate`.
//
// The syntax is the stock one, nothing else:
//
//	${env:NAME}            required: NAME must be set and non-empty
//	${env:NAME:-DEFAULT}   optional: DEFAULT when NAME is unset or empty
//
// The stock provider (go.opentelemetry.io/collector/confmap/provider/envprovider)
// logs a warning for an unset `${env:NAME}` and substitutes an empty value, so
// a sidecar started without MACHINE_ID would run and publish to
// `machine::progress`. This provider records the name instead, and the
// configcheck converter (package configcheck, listed under `converters:` in
// builder-config.yaml) fails the configuration naming every missing variable
// at once. Without that converter (e.g. `comfyctl classify --config ...`,
// which only reads the comfypattern section) a missing variable resolves to
// the empty string, as with the stock provider.
//
// As in the stock provider, a value is parsed as YAML (so `8888` is an int and
// `true` a bool where the field takes one). Unlike it, an empty variable takes
// its `:-` default, as a shell does: env files and compose `KEY=` lines leave
// variables empty, and an empty port is never what was meant.
package strictenvprovider // import "github.com/comfy-sidecar/otelcol-comfy/confmap/provider/strictenvprovider"

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"

	"go.uber.org/zap"

	"go.opentelemetry.io/collector/confmap"

	"github.com/comfy-sidecar/otelcol-comfy/confmap/provider/strictenvprovider/internal/missing"
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

func (p *provider) Retrieve(_ context.Context, uri string, _ confmap.WatcherFunc) (*confmap.Retrieved, error) {
	if !strings.HasPrefix(uri, schemeName+":") {
		return nil, fmt.Errorf("%q uri is not supported by %q provider", uri, schemeName)
	}
	// The stock split: NAME, then an optional `:-DEFAULT`. Any other suffix
	// stays in the name and fails the name check, as in the stock provider.
	name, defaultVal, hasDefault := strings.Cut(uri[len(schemeName)+1:], ":-")
	if !nameRegexp.MatchString(name) {
		return nil, fmt.Errorf("environment variable %q has invalid name: must match regex %s", name, namePattern)
	}

	val, exists := os.LookupEnv(name)
	switch {
	case val == "" && hasDefault:
		val = defaultVal
	case val == "":
		missing.Record(name)
		p.logger.Warn("Required environment variable is unset or empty", zap.String("name", name), zap.Bool("set", exists))
	}
	if val == "" {
		// The empty string, not nil (NewRetrievedFromYAML turns an empty
		// byte slice into nil, which would unset the field).
		return confmap.NewRetrieved("")
	}
	return confmap.NewRetrievedFromYAML([]byte(val))
}

func (*provider) Scheme() string {
	return schemeName
}

func (*provider) Shutdown(context.Context) error {
	return nil
}
