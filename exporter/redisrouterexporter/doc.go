// Package redisrouterexporter delivers the log records that the comfypattern
// processor classified to Redis: progress to Pub/Sub channels (ephemeral, for
// UIs) and failures to Streams (persistent, for the job worker). See README.md.
//
//go:generate mdatagen metadata.yaml
package redisrouterexporter // import "github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter"
