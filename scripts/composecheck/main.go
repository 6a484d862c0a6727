// Command composecheck checks docker-compose.yml without a Docker engine
// (CI has none): it parses the file (anchors and `<<` merges included) and
// checks the sidecar layout issue 4 asks for. It prints one line per check,
// `PASS ...` or `FAIL ...`, then one `CONFIG <host path> <container path>`
// line per config file mounted into otel-collector, for
// scripts/validate-configs.sh to run `otelcol-comfy validate` on.
// Exit status 1 when a check failed.
//
//	go run ./scripts/composecheck docker-compose.yml
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

type service struct {
	Image       string         `yaml:"image"`
	Build       any            `yaml:"build"`
	Restart     string         `yaml:"restart"`
	Environment any            `yaml:"environment"`
	Volumes     []any          `yaml:"volumes"`
	Ports       []any          `yaml:"ports"`
	Command     any            `yaml:"command"`
	Profiles    []string       `yaml:"profiles"`
	Healthcheck map[string]any `yaml:"healthcheck"`
	MemLimit    any            `yaml:"mem_limit"`
	Deploy      struct {
		Resources struct {
			Limits struct {
				Memory any `yaml:"memory"`
			} `yaml:"limits"`
		} `yaml:"resources"`
	} `yaml:"deploy"`
}

type compose struct {
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

var failed bool

func check(ok bool, format string, a ...any) {
	status := "PASS"
	if !ok {
		status, failed = "FAIL", true
	}
	fmt.Printf("%s compose: %s\n", status, fmt.Sprintf(format, a...))
}

// env returns a service's environment as a map (map or KEY=VALUE list form).
func env(s service) map[string]string {
	out := map[string]string{}
	switch e := s.Environment.(type) {
	case map[string]any:
		for k, v := range e {
			out[k] = fmt.Sprint(v)
		}
	case []any:
		for _, kv := range e {
			k, v, _ := strings.Cut(fmt.Sprint(kv), "=")
			out[k] = v
		}
	}
	return out
}

type mount struct{ source, target string }

func mounts(s service) []mount {
	var out []mount
	for _, v := range s.Volumes {
		switch m := v.(type) {
		case string:
			parts := strings.Split(m, ":")
			if len(parts) >= 2 {
				out = append(out, mount{parts[0], parts[1]})
			}
		case map[string]any:
			out = append(out, mount{fmt.Sprint(m["source"]), fmt.Sprint(m["target"])})
		}
	}
	return out
}

// publishedContainerPorts lists the container side of each published port.
func publishedContainerPorts(s service) []string {
	var out []string
	for _, p := range s.Ports {
		switch pp := p.(type) {
		case string:
			parts := strings.Split(pp, ":")
			out = append(out, strings.Split(parts[len(parts)-1], "/")[0])
		case map[string]any:
			out = append(out, fmt.Sprint(pp["target"]))
		case int:
			out = append(out, fmt.Sprint(pp))
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: composecheck docker-compose.yml")
		os.Exit(2)
	}
	path := os.Args[1]
	raw, err := os.ReadFile(path)
	if err != nil {
		fmt.Printf("FAIL compose: %v\n", err)
		os.Exit(1)
	}
	var c compose
	if err := yaml.Unmarshal(raw, &c); err != nil {
		fmt.Printf("FAIL compose: %s does not parse: %v\n", path, err)
		os.Exit(1)
	}
	check(true, "%s parses (%d services)", filepath.Base(path), len(c.Services))

	col, ok := c.Services["otel-collector"]
	check(ok, "service otel-collector exists")
	colEnv := env(col)
	logDir := colEnv["COMFYUI_LOG_DIR"]
	check(logDir != "", "otel-collector sets COMFYUI_LOG_DIR")

	var logVolume string
	for _, m := range mounts(col) {
		if m.target == logDir {
			logVolume = m.source
		}
	}
	check(logVolume != "" && c.Volumes != nil && hasKey(c.Volumes, logVolume),
		"otel-collector mounts the named log volume %q at %s", logVolume, logDir)

	for _, name := range []string{"comfyui-gpu0", "comfyui-gpu1"} {
		s, ok := c.Services[name]
		check(ok, "service %s exists", name)
		if !ok {
			continue
		}
		check(env(s)["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4317",
			"%s has OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4317 (got %q)", name, env(s)["OTEL_EXPORTER_OTLP_ENDPOINT"])
		shared := false
		for _, m := range mounts(s) {
			if m.source == logVolume && m.target == logDir {
				shared = true
			}
		}
		check(shared, "%s shares volume %q at %s with the sidecar", name, logVolume, logDir)
		instance := strings.TrimPrefix(name, "comfyui-")
		cmd := fmt.Sprint(s.Command)
		for _, f := range []string{"comfyui-" + instance + "-out.log", "comfyui-" + instance + "-error.log"} {
			check(strings.Contains(cmd, logDir+"/"+f), "%s writes %s/%s (the sidecar's file_log include)", name, logDir, f)
		}
	}

	check(col.Restart != "" && col.Restart != "no", "otel-collector has a restart policy (%q)", col.Restart)
	check(col.Deploy.Resources.Limits.Memory != nil || col.MemLimit != nil, "otel-collector has a memory limit")
	hc := fmt.Sprint(col.Healthcheck["test"])
	check(strings.Contains(hc, "13133") || strings.Contains(hc, "health"), "otel-collector healthcheck uses the health endpoint (%s)", hc)
	published := publishedContainerPorts(col)
	check(!contains(published, "4317") && !contains(published, "4318"), "OTLP ports 4317/4318 are not published on the host (published: %v)", published)
	check(contains(published, "13133"), "health port 13133 is published")
	check(contains(published, "8888"), "metrics port 8888 is published")
	storage := colEnv["OTELCOL_STORAGE_DIR"]
	onVolume := false
	for _, m := range mounts(col) {
		if m.target == storage && hasKey(c.Volumes, m.source) {
			onVolume = true
		}
	}
	check(storage != "" && onVolume, "queue/offsets directory %q is on a named volume", storage)

	r, ok := c.Services["redis"]
	check(ok && contains(r.Profiles, "local-redis"), "redis is optional (profiles: [local-redis])")

	configs := 0
	for _, m := range mounts(col) {
		if strings.HasSuffix(m.source, ".yaml") || strings.HasSuffix(m.source, ".yml") {
			host := filepath.Join(filepath.Dir(path), m.source)
			_, err := os.Stat(host)
			check(err == nil, "mounted config %s exists", m.source)
			fmt.Printf("CONFIG %s %s\n", host, m.target)
			configs++
		}
	}
	check(configs > 0, "otel-collector mounts its config (%d file(s))", configs)
	if failed {
		os.Exit(1)
	}
}

func hasKey(m map[string]any, k string) bool {
	_, ok := m[k]
	return ok
}
