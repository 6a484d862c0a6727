module github.com/comfy-sidecar/otelcol-comfy/tests/e2e

go 1.26.0

replace github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter => ../../exporter/redisrouterexporter
