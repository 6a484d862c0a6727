package main

// `comfyctl health`: exit 0 when the sidecar's health_check extension
// answers 200, 1 otherwise. The container image has no shell or curl, so
// the Dockerfile's HEALTHCHECK runs this.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func init() {
	register("health", "check the sidecar's health endpoint (exit 0 when healthy)", runHealth)
}

func runHealth(args []string) int {
	fs := flag.NewFlagSet("comfyctl health", flag.ContinueOnError)
	defaultURL := os.Getenv("OTELCOL_HEALTH_URL")
	if defaultURL == "" {
		defaultURL = "http://127.0.0.1:13133/"
	}
	url := fs.String("url", defaultURL, "health_check extension URL (env OTELCOL_HEALTH_URL)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	quiet := fs.Bool("q", false, "print nothing, only set the exit status")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	status, body, err := probeHealth(ctx, *url)
	if err != nil {
		if !*quiet {
			fmt.Fprintf(os.Stderr, "unhealthy: %s: %v\n", *url, err)
		}
		return 1
	}
	if status != http.StatusOK {
		if !*quiet {
			fmt.Fprintf(os.Stderr, "unhealthy: %s answered %d %s\n", *url, status, body)
		}
		return 1
	}
	if !*quiet {
		fmt.Printf("healthy: %s %s\n", *url, body)
	}
	return 0
}

// probeHealth returns the status code and the start of the body.
func probeHealth(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return resp.StatusCode, string(body), nil
}
