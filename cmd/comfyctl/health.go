package main

// `comfyctl health`: exit 0 when the sidecar's health_check extension says
// the collector is healthy, 1 otherwise. The container image has no shell
// or curl, so the Dockerfile's HEALTHCHECK runs this.
//
// A 200 alone proves only that something answers on the port. The verdict
// comes from the body, in one of the two shapes the contrib v0.159.0
// healthcheckextension returns:
//
//   - legacy (default): {"status":"Server available","upSince":…,"uptime":…},
//     "Server not available" with a 503;
//   - component status (feature gate extension.healthcheck.useComponentStatus):
//     {"healthy":true,"status":"StatusOK","status_time":…,"components":{…}},
//     where components (asked for with ?verbose) holds each pipeline and,
//     inside it, each receiver/processor/exporter with its status and error.
//
// Anything else, even with a 200, is not a health_check answer: unhealthy.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"
)

func init() {
	register("health", "check the sidecar's health_check extension (exit 0 when healthy)", runHealth)
}

const healthUsage = `usage: comfyctl health [--url URL] [--timeout D] [--strict] [-q]

Asks the sidecar's health_check extension (extensions.health_check in
configs/sidecar.yaml) whether the collector is healthy, and reads its JSON
answer rather than trusting the status code: a URL that answers 200 with
any other body is unhealthy.

With the component-status health check (feature gate
extension.healthcheck.useComponentStatus) the answer names each component;
the ones reporting an error are printed with it, for example
  exporter:redisrouter/failures (pipeline:logs/failures): StatusRecoverableError: dial tcp 10.0.0.5:6379: connection refused
They make the exit status 1 when the extension marks them unhealthy
(component_health settings), or always with --strict.

Exit status: 0 healthy; 1 unhealthy, unreachable or not a health_check
answer; 2 bad flags.

flags:
`

func runHealth(args []string) int {
	return healthMain(context.Background(), args, os.Stdout, os.Stderr)
}

func healthMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("comfyctl health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, healthUsage)
		fs.PrintDefaults()
	}
	defaultURL := os.Getenv("OTELCOL_HEALTH_URL")
	if defaultURL == "" {
		defaultURL = "http://127.0.0.1:13133/status" // configs/sidecar.yaml: health_check http.status.path
	}
	rawURL := fs.String("url", defaultURL, "health_check extension URL (env OTELCOL_HEALTH_URL)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	quiet := fs.Bool("q", false, "print nothing, only set the exit status")
	strict := fs.Bool("strict", false, "also unhealthy when any component reports an error the extension still counts as healthy")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "comfyctl health: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	r := probeHealth(ctx, *rawURL)
	healthy := r.healthy && (!*strict || len(r.failing) == 0)
	if *quiet {
		return exitFor(healthy)
	}
	w := stdout
	word := "healthy"
	if !healthy {
		w, word = stderr, "unhealthy"
	}
	fmt.Fprintf(w, "%s: %s: %s\n", word, *rawURL, escapeControls(r.summary))
	for _, c := range r.failing {
		fmt.Fprintf(w, "  %s\n", escapeControls(c))
	}
	return exitFor(healthy)
}

func exitFor(healthy bool) int {
	if healthy {
		return 0
	}
	return 1
}

// healthBody is the union of both response shapes.
type healthBody struct {
	Status     *string                `json:"status"`
	Healthy    *bool                  `json:"healthy"`
	Error      string                 `json:"error"`
	Uptime     string                 `json:"uptime"`
	Components map[string]*healthBody `json:"components"`
}

type healthResult struct {
	healthy bool
	summary string   // one line: why
	failing []string // components reporting an error, sorted
}

// Component statuses the extension reports (componentstatus.Status.String()).
var componentStatuses = map[string]bool{
	"StatusNone": true, "StatusStarting": true, "StatusOK": true,
	"StatusRecoverableError": true, "StatusPermanentError": true, "StatusFatalError": true,
	"StatusStopping": true, "StatusStopped": true,
}

func probeHealth(ctx context.Context, rawURL string) healthResult {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return healthResult{summary: fmt.Sprintf("not an http(s) URL: %q", rawURL)}
	}
	// The component-status handler adds the per-component details only
	// when asked; the legacy handler ignores the query.
	q := u.Query()
	if !q.Has("verbose") {
		q.Set("verbose", "true")
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return healthResult{summary: err.Error()}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return healthResult{summary: err.Error()}
	}
	defer resp.Body.Close()
	// A verbose answer of a large config is a few kB; 1 MiB is a guard rail.
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return healthResult{summary: fmt.Sprintf("answered %d, reading the body: %v", resp.StatusCode, err)}
	}
	return judgeHealth(resp.StatusCode, raw)
}

// judgeHealth decides from the status code and the body.
func judgeHealth(code int, raw []byte) healthResult {
	var b healthBody
	if err := json.Unmarshal(raw, &b); err != nil || b.Status == nil {
		return healthResult{summary: fmt.Sprintf("answered %d with a body that is not a health_check response: %q", code, clip(string(raw), 120))}
	}
	status := *b.Status
	if b.Healthy == nil {
		// Legacy shape: the message is the verdict.
		switch status {
		case "Server available":
			if code == http.StatusOK {
				return healthResult{healthy: true, summary: status + uptime(b.Uptime)}
			}
			return healthResult{summary: fmt.Sprintf("answered %d with %q", code, status)}
		case "Server not available":
			return healthResult{summary: fmt.Sprintf("answered %d: %s (the collector is starting, stopping or a pipeline failed)", code, status)}
		}
		return healthResult{summary: fmt.Sprintf("answered %d with an unknown status %q", code, clip(status, 120))}
	}
	if !componentStatuses[status] {
		return healthResult{summary: fmt.Sprintf("answered %d with an unknown status %q", code, clip(status, 120))}
	}
	r := healthResult{healthy: *b.Healthy && code == http.StatusOK}
	r.failing = failingComponents(&b)
	switch {
	case r.healthy && len(r.failing) > 0:
		r.summary = fmt.Sprintf("%s, %d component(s) reporting errors", status, len(r.failing))
	case r.healthy:
		r.summary = status
	case !*b.Healthy:
		r.summary = fmt.Sprintf("answered %d: %s, not healthy", code, status)
	default:
		r.summary = fmt.Sprintf("answered %d: %s", code, status)
	}
	if b.Error != "" {
		r.summary += ": " + b.Error
	}
	return r
}

// failingComponents lists the leaf components (receivers, processors,
// exporters, extensions) whose status is an error or that the extension
// marks unhealthy, once each, with the pipelines they were reported in.
// Pipelines are aggregates of their components and are not listed.
func failingComponents(root *healthBody) []string {
	type entry struct {
		status, err string
		healthy     bool
		scopes      []string
	}
	found := map[string]*entry{}
	var walk func(scope string, comps map[string]*healthBody)
	walk = func(scope string, comps map[string]*healthBody) {
		for name, c := range comps {
			if c == nil {
				continue
			}
			if len(c.Components) > 0 {
				walk(name, c.Components)
				continue
			}
			st := ""
			if c.Status != nil {
				st = *c.Status
			}
			bad := (c.Healthy != nil && !*c.Healthy) || strings.HasSuffix(st, "Error")
			if !bad {
				continue
			}
			e := found[name]
			if e == nil {
				e = &entry{status: st, err: c.Error, healthy: c.Healthy == nil || *c.Healthy}
				found[name] = e
			}
			if scope != "" && scope != name {
				e.scopes = append(e.scopes, scope)
			}
		}
	}
	walk("", root.Components)
	out := make([]string, 0, len(found))
	for name, e := range found {
		s := name
		if len(e.scopes) > 0 {
			sort.Strings(e.scopes)
			s += " (" + strings.Join(e.scopes, ", ") + ")"
		}
		s += ": " + e.status
		if e.err != "" {
			s += ": " + e.err
		}
		if !e.healthy {
			s += " [unhealthy]"
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func uptime(u string) string {
	if u == "" {
		return ""
	}
	return ", up " + u
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
