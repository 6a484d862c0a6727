module github.com/comfy-sidecar/otelcol-comfy/cmd/comfyctl

go 1.26.0

replace (
	github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter => ../../exporter/redisrouterexporter
	github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor => ../../processor/comfypatternprocessor
)
