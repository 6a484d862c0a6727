package configcheck

import (
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
)

func yamlProviderFactory() confmap.ProviderFactory { return yamlprovider.NewFactory() }
