package configcheck

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"go.opentelemetry.io/collector/confmap"

	"github.com/comfy-sidecar/otelcol-comfy/confmap/provider/strictenvprovider"
)

// resolve runs the real resolver with the strict env provider and this
// converter, as the built collector does.
func resolve(t *testing.T, yaml string) error {
	t.Helper()
	r, err := confmap.NewResolver(confmap.ResolverSettings{
		URIs:               []string{"yaml:" + yaml},
		ProviderFactories:  []confmap.ProviderFactory{strictenvprovider.NewFactory(), yamlProviderFactory()},
		ConverterFactories: []confmap.ConverterFactory{NewFactory()},
		DefaultScheme:      "env",
	})
	require.NoError(t, err)
	_, err = r.Resolve(context.Background())
	return err
}

func TestAllMissingVariablesInOneMessage(t *testing.T) {
	err := resolve(t, `{a: "${env:CC_TEST_B}", b: "${env:CC_TEST_A}", c: "${env:CC_TEST_C:-x}", d: "${env:CC_TEST_A}"}`)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "required environment variables are unset or empty: CC_TEST_A, CC_TEST_B")
	assert.NotContains(t, err.Error(), "CC_TEST_C")
	// The next resolve starts clean.
	t.Setenv("CC_TEST_A", "1")
	t.Setenv("CC_TEST_B", "1")
	require.NoError(t, resolve(t, `{a: "${env:CC_TEST_B}", b: "${env:CC_TEST_A}"}`))
}

func TestEmptyRequiredVariableIsMissing(t *testing.T) {
	t.Setenv("CC_TEST_EMPTY", "")
	err := resolve(t, `{a: "${env:CC_TEST_EMPTY}"}`)
	assert.ErrorContains(t, err, "CC_TEST_EMPTY")
}

func TestAddressesNameTheField(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{`{receivers: {otlp: {protocols: {grpc: {endpoint: nonsense}}}}}`, `receivers::otlp::protocols::grpc::endpoint: "nonsense" must be host:port`},
		{`{exporters: {redisrouter/p: {endpoint: "bad host:6379"}}}`, `exporters::redisrouter/p::endpoint: "bad host:6379": host "bad host" is not a valid`},
		{`{exporters: {redisrouter/p: {endpoint: "h:notaport"}}}`, `port "notaport" must be an integer from 1 to 65535`},
		{`{service: {telemetry: {metrics: {readers: [{pull: {exporter: {prometheus: {host: 127.0.0.1, port: 70000}}}}]}}}}`, `service::telemetry::metrics::readers[0]::pull::exporter::prometheus::port: port "70000"`},
		{`{exporters: {otlp_http/x: {endpoint: "http://:4318"}}}`, `has no host`},
	} {
		err := resolve(t, tc.yaml)
		if assert.Error(t, err, tc.yaml) {
			assert.Contains(t, err.Error(), tc.want)
		}
	}
}

func TestGoodAddressesPass(t *testing.T) {
	require.NoError(t, resolve(t, `{receivers: {otlp: {protocols: {grpc: {endpoint: "127.0.0.1:4317"}, http: {endpoint: "[::1]:4318"}}}},
	  exporters: {otlp_grpc/d: {endpoint: "ingress.eu-west-1.aws.dash0.com:4317"}, otlp_http/x: {endpoint: "https://collector.example:4318/v1"}, redisrouter/p: {endpoint: "redis:6379", url: ""}},
	  extensions: {health_check: {endpoint: "localhost:13133"}},
	  service: {telemetry: {metrics: {readers: [{pull: {exporter: {prometheus: {host: 127.0.0.1, port: 8888}}}}]}}},
	  processors: {comfypattern: {rules: [{pattern: "port"}]}}}`))
}
