// Package comfypatternprocessor tags ComfyUI log records as progress, failure
// or other and adds structured attributes (see docs/attributes.md). The
// classification itself lives in the collector-free sub-package classifier so
// that `comfyctl classify` runs exactly the same code.
//
//go:generate mdatagen metadata.yaml
package comfypatternprocessor // import "github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor"
