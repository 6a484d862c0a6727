package strictenvprovider

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func newTestProvider() confmap.Provider {
	return NewFactory().Create(confmap.ProviderSettings{})
}

func retrieveRaw(t *testing.T, uri string) (any, error) {
	t.Helper()
	ret, err := newTestProvider().Retrieve(context.Background(), uri, nil)
	if err != nil {
		return nil, err
	}
	return ret.AsRaw()
}

func TestValidateProviderScheme(t *testing.T) {
	assert.NoError(t, confmaptest.ValidateProviderScheme(newTestProvider()))
}

func TestUnsupportedScheme(t *testing.T) {
	_, err := retrieveRaw(t, "https://example.com")
	require.Error(t, err)
}

func TestInvalidName(t *testing.T) {
	for _, uri := range []string{"env:", "env:9LIVES", "env:A-B", "env:NAME:foo"} {
		_, err := retrieveRaw(t, uri)
		assert.ErrorContains(t, err, "invalid name", uri)
	}
}

func TestSetVariableIsParsedAsYAML(t *testing.T) {
	t.Setenv("STRICT_TEST_INT", "8888")
	t.Setenv("STRICT_TEST_STR", "gpu-box-1")
	t.Setenv("STRICT_TEST_MAP", "{a: 1}")
	v, err := retrieveRaw(t, "env:STRICT_TEST_INT")
	require.NoError(t, err)
	assert.Equal(t, 8888, v)
	v, err = retrieveRaw(t, "env:STRICT_TEST_STR")
	require.NoError(t, err)
	assert.Equal(t, "gpu-box-1", v)
	v, err = retrieveRaw(t, "env:STRICT_TEST_MAP")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"a": 1}, v)
}

func TestInvalidYAMLIsAString(t *testing.T) {
	t.Setenv("STRICT_TEST_BAD", "[invalid,")
	v, err := retrieveRaw(t, "env:STRICT_TEST_BAD")
	require.NoError(t, err)
	assert.Equal(t, "[invalid,", v)
}

func TestMissingRequiredVariableNamesIt(t *testing.T) {
	_, err := retrieveRaw(t, "env:STRICT_TEST_SURELY_UNSET")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"STRICT_TEST_SURELY_UNSET"`)
	assert.Contains(t, err.Error(), "required but not set")
}

func TestEmptyRequiredVariableIsAnError(t *testing.T) {
	t.Setenv("STRICT_TEST_EMPTY", "")
	_, err := retrieveRaw(t, "env:STRICT_TEST_EMPTY")
	assert.ErrorContains(t, err, `"STRICT_TEST_EMPTY" is required but empty`)
}

func TestDefaults(t *testing.T) {
	v, err := retrieveRaw(t, "env:STRICT_TEST_SURELY_UNSET:-0.0.0.0:4317")
	require.NoError(t, err)
	assert.Equal(t, "0.0.0.0:4317", v)

	v, err = retrieveRaw(t, "env:STRICT_TEST_SURELY_UNSET:-")
	require.NoError(t, err)
	assert.Equal(t, "", v, "an empty default is the empty string, not nil")

	v, err = retrieveRaw(t, "env:STRICT_TEST_SURELY_UNSET:-100ms")
	require.NoError(t, err)
	assert.Equal(t, "100ms", v)

	// Shell semantics: an empty variable takes the default (an env file's
	// `START_AT=` line must not blank the field).
	t.Setenv("STRICT_TEST_SET_EMPTY", "")
	v, err = retrieveRaw(t, "env:STRICT_TEST_SET_EMPTY:-fallback")
	require.NoError(t, err)
	assert.Equal(t, "fallback", v)
	v, err = retrieveRaw(t, "env:STRICT_TEST_SET_EMPTY:-")
	require.NoError(t, err)
	assert.Equal(t, "", v)

	// A set variable wins over its default.
	t.Setenv("STRICT_TEST_SET", "value")
	v, err = retrieveRaw(t, "env:STRICT_TEST_SET:-fallback")
	require.NoError(t, err)
	assert.Equal(t, "value", v)
}

func TestConditionalRequirement(t *testing.T) {
	// Condition holds: behaves like a required variable.
	_, err := retrieveRaw(t, "env:STRICT_TEST_SURELY_UNSET:?dash0=dash0:-unused.invalid:4317")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"STRICT_TEST_SURELY_UNSET" is required but not set`)
	assert.Contains(t, err.Error(), `dash0=dash0`)

	// One of several alternatives.
	_, err = retrieveRaw(t, "env:STRICT_TEST_SURELY_UNSET:?remote-collector=collector|remote-collector")
	assert.ErrorContains(t, err, "required but not set")

	// Condition does not hold: the default, or the empty string.
	v, err := retrieveRaw(t, "env:STRICT_TEST_SURELY_UNSET:?collector=dash0:-unused.invalid:4317")
	require.NoError(t, err)
	assert.Equal(t, "unused.invalid:4317", v)
	v, err = retrieveRaw(t, "env:STRICT_TEST_SURELY_UNSET:?collector=dash0")
	require.NoError(t, err)
	assert.Equal(t, "", v)

	// Set: the value, whatever the condition.
	t.Setenv("STRICT_TEST_TOKEN", "secret")
	for _, uri := range []string{"env:STRICT_TEST_TOKEN:?dash0=dash0", "env:STRICT_TEST_TOKEN:?collector=dash0:-x"} {
		v, err = retrieveRaw(t, uri)
		require.NoError(t, err)
		assert.Equal(t, "secret", v, uri)
	}

	_, err = retrieveRaw(t, "env:STRICT_TEST_TOKEN:?nonsense")
	assert.ErrorContains(t, err, "VALUE=EXPECTED")
}

func TestMapping(t *testing.T) {
	const spec = ":|dash0=otlp_grpc/dash0|collector=otlp_grpc/collector|disabled=nop/disabled"
	v, err := retrieveRaw(t, "env:STRICT_TEST_SURELY_UNSET:-dash0"+spec)
	require.NoError(t, err)
	assert.Equal(t, "otlp_grpc/dash0", v, "the default is mapped too")

	t.Setenv("STRICT_TEST_TARGET", "disabled")
	v, err = retrieveRaw(t, "env:STRICT_TEST_TARGET:-dash0"+spec)
	require.NoError(t, err)
	assert.Equal(t, "nop/disabled", v)

	t.Setenv("STRICT_TEST_TARGET", "dahs0")
	_, err = retrieveRaw(t, "env:STRICT_TEST_TARGET:-dash0"+spec)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"STRICT_TEST_TARGET" is "dahs0"; it must be one of: dash0, collector, disabled`)

	v, err = retrieveRaw(t, "env:STRICT_TEST_TARGET:|disabled=nop/disabled|*=otlp_grpc/*")
	require.NoError(t, err)
	assert.Equal(t, "otlp_grpc/dahs0", v, "wildcard substitutes the value")

	_, err = retrieveRaw(t, "env:STRICT_TEST_SURELY_UNSET:|a=b")
	assert.ErrorContains(t, err, "required but not set", "a mapping does not make a variable optional")

	// An unset optional variable maps through its (empty) default.
	const optional = "env:STRICT_TEST_SURELY_UNSET:-:|=nop/no-redis|*=redisrouter/local"
	v, err = retrieveRaw(t, optional)
	require.NoError(t, err)
	assert.Equal(t, "nop/no-redis", v)
	t.Setenv("STRICT_TEST_URL", "redis://127.0.0.1:6379")
	v, err = retrieveRaw(t, "env:STRICT_TEST_URL:-:|=nop/no-redis|*=redisrouter/local")
	require.NoError(t, err)
	assert.Equal(t, "redisrouter/local", v)

	_, err = retrieveRaw(t, "env:STRICT_TEST_TARGET:|nonsense")
	assert.ErrorContains(t, err, "KEY=VALUE")
}

// mapProvider serves a fixed configuration under the "test" scheme so the
// resolver below exercises nested expansion exactly as the collector does.
type mapProvider struct{ conf map[string]any }

func (m mapProvider) Retrieve(context.Context, string, confmap.WatcherFunc) (*confmap.Retrieved, error) {
	return confmap.NewRetrieved(m.conf)
}
func (mapProvider) Scheme() string                 { return "test" }
func (mapProvider) Shutdown(context.Context) error { return nil }

func resolve(t *testing.T, conf map[string]any) (*confmap.Conf, error) {
	t.Helper()
	r, err := confmap.NewResolver(confmap.ResolverSettings{
		URIs: []string{"test:config"},
		ProviderFactories: []confmap.ProviderFactory{
			NewFactory(),
			confmap.NewProviderFactory(func(confmap.ProviderSettings) confmap.Provider { return mapProvider{conf: conf} }),
		},
		DefaultScheme: "env",
	})
	require.NoError(t, err)
	return r.Resolve(context.Background())
}

// The sidecar picks its telemetry target with TELEMETRY_TARGET: only the
// chosen target's variables may be required.
func TestResolverTelemetryTargetSelection(t *testing.T) {
	conf := map[string]any{
		"dash0":     "${env:STRICT_DASH0_ENDPOINT:?${env:STRICT_TARGET:-dash0}=dash0:-unused.invalid:4317}",
		"collector": "${env:STRICT_COLLECTOR_ENDPOINT:?${env:STRICT_TARGET:-dash0}=collector|remote-collector:-unused.invalid:4317}",
		"pipeline":  "${env:STRICT_TARGET:-dash0:|dash0=otlp_grpc/dash0|collector=otlp_grpc/collector|disabled=nop/disabled}",
		"machine":   "${MACHINE_ID_STRICT_TEST}", // default scheme is env
	}

	t.Setenv("MACHINE_ID_STRICT_TEST", "box-1")
	_, err := resolve(t, conf)
	require.Error(t, err, "default target dash0 needs its endpoint")
	assert.Contains(t, err.Error(), `"STRICT_DASH0_ENDPOINT"`)

	t.Setenv("STRICT_TARGET", "collector")
	_, err = resolve(t, conf)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"STRICT_COLLECTOR_ENDPOINT"`)

	t.Setenv("STRICT_COLLECTOR_ENDPOINT", "127.0.0.1:14317")
	got, err := resolve(t, conf)
	require.NoError(t, err)
	assert.Equal(t, "unused.invalid:4317", got.Get("dash0"))
	assert.Equal(t, "127.0.0.1:14317", got.Get("collector"))
	assert.Equal(t, "otlp_grpc/collector", got.Get("pipeline"))
	assert.Equal(t, "box-1", got.Get("machine"))

	t.Setenv("STRICT_TARGET", "disabled")
	got, err = resolve(t, conf)
	require.NoError(t, err)
	assert.Equal(t, "nop/disabled", got.Get("pipeline"))

	t.Setenv("MACHINE_ID_STRICT_TEST", "")
	_, err = resolve(t, conf)
	assert.ErrorContains(t, err, `"MACHINE_ID_STRICT_TEST" is required but empty`)
}
