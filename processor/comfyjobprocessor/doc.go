// Package comfyjobprocessor gives every ComfyUI log record its instance, its
// source (file or otlp) and, when one ran, its job: from the job ids on the
// OTLP records of the same instance, from the worker's state in Redis
// (optional) and from ComfyUI's own lifecycle lines (`got prompt` …
// `Prompt executed`). It also marks the later copy of a line that arrives
// through both sources (comfy.duplicate), so the Redis tiers publish it once.
// See README.md and docs/attributes.md.
//
//go:generate mdatagen metadata.yaml
package comfyjobprocessor // import "github.com/comfy-sidecar/otelcol-comfy/processor/comfyjobprocessor"
