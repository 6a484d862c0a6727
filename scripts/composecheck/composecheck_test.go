package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyOK copies testdata/ok into a temporary directory, applying edits
// (file name -> old -> new) so each case breaks one thing.
func copyOK(t *testing.T, edits map[string][2]string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir("testdata/ok", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("testdata/ok", p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if e, ok := edits[rel]; ok {
			if !strings.Contains(string(b), e[0]) {
				t.Fatalf("%s does not contain %q", rel, e[0])
			}
			b = []byte(strings.Replace(string(b), e[0], e[1], 1))
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func runCheck(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errOut strings.Builder
	code := run(args, &out, &errOut)
	return code, out.String() + errOut.String()
}

func composeArgs(dir string) []string {
	return []string{"compose", "-env", filepath.Join(dir, "sidecar.env.example"), "-dockerfile", filepath.Join(dir, "Dockerfile"), filepath.Join(dir, "docker-compose.yml")}
}

func failLines(out string) []string {
	var fails []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "FAIL") {
			fails = append(fails, l)
		}
	}
	return fails
}

func TestComposeOK(t *testing.T) {
	dir := copyOK(t, nil)
	code, out := runCheck(t, composeArgs(dir)...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	want := "CONFIGS " + filepath.Join(dir, "configs", "sidecar.yaml") + " " + filepath.Join(dir, "configs", "backend", "dash0.yaml")
	if !strings.Contains(out, want+"\n") {
		t.Errorf("want %q in:\n%s", want, out)
	}
}

// The committed broken copy of the project's compose file: one key
// misspelt (restart -> restrat). A YAML walk accepts it; the Compose
// schema does not.
func TestComposeMisspeltKeyCommittedCopy(t *testing.T) {
	code, out := runCheck(t, "compose", "testdata/misspelt/docker-compose.yml")
	if code != 1 || !strings.Contains(out, "restrat") || !strings.Contains(out, "FAIL compose: docker-compose.yml loads") {
		t.Fatalf("exit %d, want 1 naming restrat:\n%s", code, out)
	}
}

// The same against today's docker-compose.yml, so the check follows the
// file as it changes.
func TestComposeMisspeltKeyCurrentFile(t *testing.T) {
	b, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ from, to, name string }{
		{"    healthcheck:", "    healtcheck:", "healtcheck"},
		{"    environment:", "    enviroment:", "enviroment"},
		{"\nvolumes:", "\nvolumez:", "volumez"},
	} {
		if !strings.Contains(string(b), c.from) {
			t.Fatalf("docker-compose.yml has no %q", c.from)
		}
		p := filepath.Join(t.TempDir(), "docker-compose.yml")
		if err := os.WriteFile(p, []byte(strings.Replace(string(b), c.from, c.to, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out := runCheck(t, "compose", "-env", "../../deploy/otelcol-comfy.env.example", p)
		if code != 1 || !strings.Contains(failLines(out)[0], c.name) {
			t.Errorf("%s: exit %d, want 1 naming it:\n%s", c.name, code, out)
		}
	}
}

func TestComposeAssertions(t *testing.T) {
	const dc = "docker-compose.yml"
	cases := []struct {
		name  string
		edits map[string][2]string
		env   []string // lines appended to the documented env file
		want  string   // a FAIL line containing this
	}{
		{"OTLP gRPC published", map[string][2]string{dc: {`      - "127.0.0.1:8888:8888"`, "      - \"127.0.0.1:8888:8888\"\n      - \"4317:4317\""}}, nil,
			"OTLP port 4317 is not published to the host (published as 0.0.0.0:4317->4317/tcp)"},
		{"OTLP HTTP published, even on loopback", map[string][2]string{dc: {`      - "127.0.0.1:8888:8888"`, "      - \"127.0.0.1:8888:8888\"\n      - \"127.0.0.1:4318:4318\""}}, nil,
			"OTLP port 4318 is not published"},
		{"metrics on all interfaces", map[string][2]string{dc: {`"127.0.0.1:8888:8888"`, `"8888:8888"`}}, nil,
			"port 8888 is published on loopback only (0.0.0.0:8888->8888/tcp)"},
		{"health opened by the environment", nil, []string{"OTELCOL_PUBLISH_ADDR=0.0.0.0"},
			"port 13133 is published on loopback only (0.0.0.0:13133->13133/tcp)"},
		{"host network", map[string][2]string{dc: {"    image: otelcol-comfy:test", "    image: otelcol-comfy:test\n    network_mode: host"}}, nil,
			"not on the host network"},
		{"instance attribute missing", map[string][2]string{dc: {"comfy.instance=gpu1", "service.instance.id=gpu1"}}, nil,
			"comfyui-gpu1 has OTEL_RESOURCE_ATTRIBUTES with comfy.instance=gpu1"},
		{"instance attribute wrong", map[string][2]string{dc: {"comfy.instance=gpu1", "comfy.instance=gpu0"}}, nil,
			"comfyui-gpu1 has OTEL_RESOURCE_ATTRIBUTES with comfy.instance=gpu1"},
		{"gate missing from the image", map[string][2]string{"Dockerfile": {" --feature-gates=stanza.synchronousLogEmitter", ""}}, nil,
			"passes --feature-gates=stanza.synchronousLogEmitter"},
		{"compose entrypoint without the gate", map[string][2]string{dc: {"    image: otelcol-comfy:test",
			"    image: otelcol-comfy:test\n    entrypoint: [\"/otelcol-comfy\", \"--config=/etc/otelcol-comfy/sidecar.yaml\"]"}}, nil,
			"compose entrypoint passes --feature-gates=stanza.synchronousLogEmitter"},
		{"compose command adds a config that is not there", map[string][2]string{dc: {"    image: otelcol-comfy:test",
			"    image: otelcol-comfy:test\n    command: [\"--config=/etc/otelcol-comfy/extra.yaml\"]"}}, nil,
			"config /etc/otelcol-comfy/extra.yaml is in the container"},
		{"backend file missing for the target", nil, []string{"TELEMETRY_TARGET=collector"},
			"config /etc/otelcol-comfy/backend/collector.yaml is bind-mounted from configs/backend/collector.yaml: stat"},
		{"target unset", map[string][2]string{"sidecar.env.example": {"TELEMETRY_TARGET=dash0", ""}}, nil,
			"resolves in the container's documented environment (unset: TELEMETRY_TARGET)"},
		{"required variable unset", map[string][2]string{"sidecar.env.example": {"MACHINE_ID=box-1", ""}}, nil,
			"loads with the Compose specification's loader, schema validation on: error while interpolating services.comfyui-gpu0.environment.OTEL_RESOURCE_ATTRIBUTES: required variable MACHINE_ID is missing a value: set MACHINE_ID"},
		{"no restart policy", map[string][2]string{dc: {"    restart: unless-stopped\n    env_file", "    env_file"}}, nil,
			"otel-collector has a restart policy"},
		{"queue not on a volume", map[string][2]string{dc: {"      - otelcol-queue:/var/lib/otelcol-comfy\n", ""}}, nil,
			"are on a named volume"},
		{"env file without template", map[string][2]string{dc: {"path: sidecar.env", "path: other.env"}}, nil,
			"env_file other.env exists or has its template"},
		{"wrong port type", map[string][2]string{dc: {`      - "127.0.0.1:8888:8888"`, "      - {target: x8888}"}}, nil,
			"x8888"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyOK(t, c.edits)
			if len(c.env) > 0 {
				f, err := os.OpenFile(filepath.Join(dir, "sidecar.env.example"), os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteString(strings.Join(c.env, "\n") + "\n")
				f.Close()
			}
			code, out := runCheck(t, composeArgs(dir)...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			found := false
			for _, l := range failLines(out) {
				found = found || strings.Contains(l, c.want)
			}
			if !found {
				t.Errorf("no FAIL line with %q:\n%s", c.want, out)
			}
		})
	}
}

func TestDockerfile(t *testing.T) {
	const df = "Dockerfile"
	if code, out := runCheck(t, "dockerfile", "testdata/ok/Dockerfile"); code != 0 {
		t.Fatalf("ok Dockerfile: exit %d:\n%s", code, out)
	}
	cases := []struct {
		name, from, to, want string
	}{
		{"root user", "USER 65532:65532", "USER root", `runs as a non-root USER ("root")`},
		{"uid 0", "USER 65532:65532", "USER 0:0", `runs as a non-root USER ("0:0")`},
		{"no user", "USER 65532:65532\n", "", `runs as a non-root USER ("")`},
		{"no health check", "HEALTHCHECK --interval=30s CMD [\"/comfyctl\", \"health\", \"-q\"]\n", "", "has a HEALTHCHECK"},
		{"health check off", "HEALTHCHECK --interval=30s CMD [\"/comfyctl\", \"health\", \"-q\"]", "HEALTHCHECK NONE", "has a HEALTHCHECK"},
		{"health check program not in the image", "COPY --from=build /out/comfyctl /comfyctl\n", "", "HEALTHCHECK's program /comfyctl is copied"},
		{"base latest", "FROM golang:1.26 AS build", "FROM golang:latest AS build", "base image golang:latest is pinned (tag latest)"},
		{"base untagged", "FROM golang:1.26 AS build", "FROM golang AS build", "base image golang is pinned (no tag"},
		{"cgo on", "ENV CGO_ENABLED=0\n", "", "built static (CGO_ENABLED=0"},
		{"libc base", "FROM gcr.io/distroless/static-debian12:debug-nonroot", "FROM debian:12-slim", "static base without libc"},
		{"single stage", "FROM gcr.io/distroless/static-debian12:debug-nonroot\n", "", "multi-stage build (1 stages)"},
		{"misspelt instruction", "HEALTHCHECK --interval", "HEALTHCHEK --interval", "parses with BuildKit's Dockerfile parser: dockerfile parse error on line 14: unknown instruction: HEALTHCHEK (did you mean HEALTHCHECK?)"},
		{"unknown stage", "COPY --from=build /out/comfyctl", "COPY --from=buidl /out/comfyctl", "COPY --from=buidl names a stage"},
		{"build check: casing", "FROM golang:1.26 AS build", "FROM golang:1.26 as build", "FromAsCasing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyOK(t, map[string][2]string{df: {c.from, c.to}})
			code, out := runCheck(t, "dockerfile", filepath.Join(dir, df))
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			found := false
			for _, l := range failLines(out) {
				found = found || strings.Contains(l, c.want)
			}
			if !found {
				t.Errorf("no FAIL line with %q:\n%s", c.want, out)
			}
		})
	}
}

// The project's own files, as scripts/check-compose.sh runs them; the
// outcome is reported, not asserted, because docker-compose.yml and the
// Dockerfile change under other work (the script is the gate).
func TestProjectFiles(t *testing.T) {
	code, out := runCheck(t, "compose", "-env", "../../deploy/otelcol-comfy.env.example", "-dockerfile", "../../Dockerfile", "../../docker-compose.yml")
	t.Logf("docker-compose.yml: exit %d\n%s", code, strings.Join(failLines(out), "\n"))
	code, out = runCheck(t, "dockerfile", "../../Dockerfile")
	t.Logf("Dockerfile: exit %d\n%s", code, strings.Join(failLines(out), "\n"))
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"nope"}, {"compose"}, {"dockerfile"}, {"compose", "-bogus", "x"}} {
		if code, _ := runCheck(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
