// Package e2e holds the end-to-end test (issue 4), the reliability suite
// (issue 5) and the pipeline benchmarks. They drive the built otelcol-comfy
// binary ($OTELCOL_COMFY_BIN) with configs/sidecar.yaml, a real redis-server
// and a second otelcol-comfy standing in for Dash0; see harness/.
package e2e
