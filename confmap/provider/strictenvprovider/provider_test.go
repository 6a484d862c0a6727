package strictenvprovider

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/comfy-sidecar/otelcol-comfy/confmap/provider/strictenvprovider/internal/missing"
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

func TestMissingRequiredVariableIsRecorded(t *testing.T) {
	missing.Take()
	v, err := retrieveRaw(t, "env:STRICT_TEST_SURELY_UNSET")
	require.NoError(t, err, "the configcheck converter reports missing variables, all at once")
	assert.Equal(t, "", v)
	t.Setenv("STRICT_TEST_EMPTY", "")
	_, err = retrieveRaw(t, "env:STRICT_TEST_EMPTY")
	require.NoError(t, err)
	assert.Equal(t, []string{"STRICT_TEST_EMPTY", "STRICT_TEST_SURELY_UNSET"}, missing.Take())
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

// Only the stock syntax: the old private extensions are rejected as names.
func TestNoPrivateSyntax(t *testing.T) {
	for _, uri := range []string{"env:A:?dash0=dash0", "env:A:-x:|a=b"} {
		_, err := retrieveRaw(t, uri)
		if uri == "env:A:-x:|a=b" {
			// `:-` splits first: the default is literally "x:|a=b", as in the stock provider.
			require.NoError(t, err)
			continue
		}
		assert.ErrorContains(t, err, "invalid name", uri)
	}
}
