//go:build tools

// Package tools pins the build tools (mdatagen, ocb) at the collector version
// the distribution uses, so `go run`/`go build` of them is reproducible.
package tools

import (
	_ "go.opentelemetry.io/collector/cmd/builder"
	_ "go.opentelemetry.io/collector/cmd/mdatagen"
)
