package main

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/mattn/go-shellwords"
)

// The sidecar's service name is also the host name ComfyUI sends OTLP to.
const sidecarService = "otel-collector"

// The feature gate every way of starting the sidecar passes (tailed lines
// reach the pipeline as read; configs/sidecar.yaml explains).
const requiredGate = "stanza.synchronousLogEmitter"

// OTLP ports of the sidecar: for the ComfyUI containers on the compose
// network only. Anything that reaches them can write any machine's channel.
var otlpPorts = []uint32{4317, 4318}

var comfyInstance = regexp.MustCompile(`^comfyui-(gpu[0-9]+)$`)

// loadProject runs the Compose specification's loader the way `docker
// compose config` does: interpolation from the given env files, schema
// validation, normalisation, every profile enabled so optional services
// are checked too. Service env_file contents are not read (the operator's
// copy of the template is not in the repository); their presence is
// checked separately.
func loadProject(path string, envFiles []string) (*types.Project, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	opts, err := cli.NewProjectOptions([]string{abs},
		cli.WithWorkingDirectory(filepath.Dir(abs)),
		cli.WithName("composecheck"),
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
		cli.WithProfiles([]string{"*"}),
		cli.WithoutEnvironmentResolution,
	)
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

func checkCompose(r *report, path string, envFiles []string, dockerfile string) {
	p, err := loadProject(path, envFiles)
	if !r.check(err == nil, "%s loads with the Compose specification's loader, schema validation on%s", filepath.Base(path), errSuffix(err)) {
		return
	}
	r.check(true, "%d services: %s", len(p.Services), strings.Join(serviceNames(p), ", "))
	col, ok := p.Services[sidecarService]
	if !r.check(ok, "service %s exists", sidecarService) {
		return
	}
	var img *image
	if dockerfile != "" {
		img, err = loadImage(dockerfile)
		r.check(err == nil, "image facts from %s%s", filepath.Base(dockerfile), errSuffix(err))
	}
	checkSidecarPorts(r, col)
	checkInstances(r, p, col)
	env := map[string]string{}
	if img != nil {
		maps.Copy(env, img.env)
	}
	for _, f := range envFiles {
		m, err := dotenv.Read(f)
		if r.check(err == nil, "documented environment %s reads%s", filepath.Base(f), errSuffix(err)) {
			maps.Copy(env, m)
		}
	}
	checkSidecarCommand(r, p, col, img, env)
	checkSidecarRuntime(r, p, col)
}

func checkSidecarPorts(r *report, col types.ServiceConfig) {
	r.check(col.NetworkMode != "host", "%s is not on the host network, which would expose every port (network_mode: %q)", sidecarService, col.NetworkMode)
	for _, port := range otlpPorts {
		var published []string
		for _, pc := range col.Ports {
			if pc.Target == port && pc.Published != "" {
				published = append(published, describePort(pc))
			}
		}
		r.check(len(published) == 0, "OTLP port %d is not published to the host%s", port, listSuffix("published as", published))
	}
	// Health and metrics, and anything else published: loopback only, so
	// only the machine itself (a local Prometheus, the operator) reaches them.
	for _, pc := range col.Ports {
		if slices.Contains(otlpPorts, pc.Target) || pc.Published == "" {
			continue
		}
		r.check(isLoopback(pc.HostIP), "port %d is published on loopback only (%s)", pc.Target, describePort(pc))
	}
}

func describePort(pc types.ServicePortConfig) string {
	host := pc.HostIP
	if host == "" {
		host = "0.0.0.0"
	}
	return fmt.Sprintf("%s:%s->%d/%s", host, pc.Published, pc.Target, orDefault(pc.Protocol, "tcp"))
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

func checkInstances(r *report, p *types.Project, col types.ServiceConfig) {
	logDir := envValue(col.Environment, "COMFYUI_LOG_DIR")
	r.check(logDir != "", "%s sets COMFYUI_LOG_DIR", sidecarService)
	logVolume := ""
	for _, v := range col.Volumes {
		if v.Target == logDir && v.Type == types.VolumeTypeVolume {
			logVolume = v.Source
		}
	}
	r.check(logVolume != "", "%s reads the logs from a named volume at %s", sidecarService, logDir)

	n := 0
	for _, name := range serviceNames(p) {
		m := comfyInstance.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		n++
		s, instance := p.Services[name], m[1]
		attrs := envValue(s.Environment, "OTEL_RESOURCE_ATTRIBUTES")
		r.check(resourceAttr(attrs, "comfy.instance") == instance,
			"%s has OTEL_RESOURCE_ATTRIBUTES with comfy.instance=%s (got %q)", name, instance, attrs)
		ep := envValue(s.Environment, "OTEL_EXPORTER_OTLP_ENDPOINT")
		r.check(ep == "http://"+sidecarService+":4317", "%s sends OTLP to http://%s:4317 (got %q)", name, sidecarService, ep)
		shared := false
		for _, v := range s.Volumes {
			if v.Source == logVolume && v.Target == logDir {
				shared = true
			}
		}
		r.check(shared, "%s writes its logs into volume %q at %s", name, logVolume, logDir)
		cmd := strings.Join(s.Command, " ")
		for _, f := range []string{"comfyui-" + instance + "-out.log", "comfyui-" + instance + "-error.log"} {
			r.check(strings.Contains(cmd, logDir+"/"+f), "%s writes %s/%s (the name the sidecar's file_log takes the instance from)", name, logDir, f)
		}
	}
	r.check(n > 0, "at least one comfyui-gpu{N} service (%d)", n)
}

// resourceAttr reads one key of an OTEL_RESOURCE_ATTRIBUTES list
// (k=v,k=v, values percent-encoded per the SDK specification).
func resourceAttr(list, key string) string {
	for _, kv := range strings.Split(list, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// checkSidecarCommand: the command the container runs (compose's, else the
// image's) passes the config files and the feature gate, and each config
// file is in the container (bind-mounted from the repository or shipped in
// the image). Variables in config paths take the container's environment:
// the service's, the documented env file's, the image's ENV.
func checkSidecarCommand(r *report, p *types.Project, col types.ServiceConfig, img *image, env map[string]string) {
	// Docker's rule: compose's entrypoint replaces the image's and drops
	// its CMD; compose's command replaces the image's CMD only.
	var entrypoint, cmd []string
	var from []string
	if img != nil {
		entrypoint, cmd = img.entrypoint, img.cmd
	}
	if col.Entrypoint != nil {
		entrypoint, cmd = col.Entrypoint, nil
		from = append(from, "compose entrypoint")
	} else if len(entrypoint) > 0 {
		from = append(from, "image ENTRYPOINT")
	}
	if col.Command != nil {
		cmd = col.Command
		from = append(from, "compose command")
	} else if len(cmd) > 0 {
		from = append(from, "image CMD")
	}
	argv := append(slices.Clone(entrypoint), cmd...)
	fromText := strings.Join(from, " + ")
	if !r.check(len(argv) > 0, "the sidecar's command is known (%s)", fromText) {
		return
	}
	argv, err := unwrapShell(argv)
	if !r.check(err == nil, "the sidecar's %s parses%s", fromText, errSuffix(err)) {
		return
	}
	configs, gates := parseCollectorArgs(argv)
	r.check(slices.Contains(gates, requiredGate) || slices.Contains(gates, "+"+requiredGate),
		"the sidecar's %s passes --feature-gates=%s (gates: %v)", fromText, requiredGate, gates)
	if !r.check(len(configs) > 0, "the sidecar's %s passes --config (got %q)", fromText, strings.Join(argv, " ")) {
		return
	}
	for k, v := range col.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	var hostPaths []string
	for _, c := range configs {
		scheme, target := "file", c
		if s, rest, ok := strings.Cut(c, ":"); ok && regexp.MustCompile(`^[a-z][a-z0-9+.-]*$`).MatchString(s) {
			scheme, target = s, rest
		}
		if scheme != "file" {
			r.check(true, "config %s comes from the %s provider", c, scheme)
			continue
		}
		expanded, missing := expandVars(target, env)
		if !r.check(len(missing) == 0, "config path %s resolves in the container's documented environment%s", target, listSuffix("unset:", missing)) {
			continue
		}
		host, how := "", ""
		for _, v := range col.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if v.Target == expanded {
				host, how = v.Source, "bind-mounted from "+relTo(p.WorkingDir, v.Source)
			} else if rel, ok := strings.CutPrefix(expanded, strings.TrimSuffix(v.Target, "/")+"/"); ok {
				host = filepath.Join(v.Source, rel)
				how = "bind-mounted from " + relTo(p.WorkingDir, host)
			}
		}
		if host == "" && img != nil {
			if src, ok := img.repoPath(expanded); ok {
				host, how = filepath.Join(filepath.Dir(img.path), src), "shipped in the image from "+src
			}
		}
		if !r.check(host != "", "config %s is in the container (bind mount or image COPY)", expanded) {
			continue
		}
		_, err := os.Stat(host)
		if r.check(err == nil, "config %s is %s%s", expanded, how, errSuffix(err)) {
			hostPaths = append(hostPaths, host)
		}
	}
	if len(hostPaths) > 0 {
		fmt.Fprintf(r.w, "CONFIGS %s\n", strings.Join(hostPaths, " "))
	}
}

// unwrapShell turns `sh -c 'exec prog args "$@"' name rest...` into
// prog args rest..., so a launcher script's arguments are checked too.
func unwrapShell(argv []string) ([]string, error) {
	if len(argv) < 3 || argv[1] != "-c" {
		return argv, nil
	}
	switch filepath.Base(argv[0]) {
	case "sh", "bash", "ash", "dash":
	default:
		return argv, nil
	}
	words, err := shellwords.NewParser().Parse(argv[2])
	if err != nil {
		return nil, err
	}
	if len(words) > 0 && words[0] == "exec" {
		words = words[1:]
	}
	var rest []string
	if len(argv) > 4 {
		rest = argv[4:] // argv[3] is $0
	}
	var out []string
	for _, w := range words {
		if w == "$@" {
			out = append(out, rest...)
		} else {
			out = append(out, w)
		}
	}
	return out, nil
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-[^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// expandVars expands $VAR, ${VAR} and ${VAR:-default} as the shell does,
// reporting variables that are unset and have no default.
func expandVars(s string, env map[string]string) (string, []string) {
	var missing []string
	out := varRef.ReplaceAllStringFunc(s, func(m string) string {
		g := varRef.FindStringSubmatch(m)
		name := g[1] + g[3]
		if v, ok := env[name]; ok && (v != "" || !strings.HasPrefix(g[2], ":")) {
			return v
		}
		if g[2] != "" {
			return strings.TrimPrefix(strings.TrimPrefix(g[2], ":"), "-")
		}
		missing = append(missing, name)
		return m
	})
	return out, missing
}

// parseCollectorArgs returns the --config values and the feature gates of
// a collector command line, in order (both `--flag value` and `--flag=value`).
func parseCollectorArgs(argv []string) (configs, gates []string) {
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") {
			continue
		}
		if !hasVal && i+1 < len(argv) && (name == "config" || name == "feature-gates") {
			val = argv[i+1]
			i++
		}
		switch name {
		case "config":
			configs = append(configs, val)
		case "feature-gates":
			for _, g := range strings.Split(val, ",") {
				gates = append(gates, strings.TrimSpace(g))
			}
		}
	}
	return configs, gates
}

func checkSidecarRuntime(r *report, p *types.Project, col types.ServiceConfig) {
	r.check(col.Restart != "" && col.Restart != types.RestartPolicyNo, "%s has a restart policy (%q)", sidecarService, col.Restart)
	hasLimit := col.MemLimit > 0 || col.Deploy != nil && col.Deploy.Resources.Limits != nil && col.Deploy.Resources.Limits.MemoryBytes > 0
	r.check(hasLimit, "%s has a memory limit", sidecarService)
	var test []string
	if col.HealthCheck != nil {
		test = col.HealthCheck.Test
	}
	r.check(col.HealthCheck != nil && !col.HealthCheck.Disable && strings.Contains(strings.Join(test, " "), "comfyctl health"),
		"%s health check runs comfyctl health (%q)", sidecarService, strings.Join(test, " "))
	storage := envValue(col.Environment, "OTELCOL_STORAGE_DIR")
	onVolume := false
	for _, v := range col.Volumes {
		if v.Target == storage && v.Type == types.VolumeTypeVolume {
			_, onVolume = p.Volumes[v.Source]
		}
	}
	r.check(storage != "" && onVolume, "queues and offsets (%q) are on a named volume", storage)
	for _, ef := range col.EnvFiles {
		_, errFile := os.Stat(ef.Path)
		_, errTmpl := os.Stat(ef.Path + ".example")
		r.check(errFile == nil || errTmpl == nil, "env_file %s exists or has its template %s.example",
			relTo(p.WorkingDir, ef.Path), relTo(p.WorkingDir, ef.Path))
	}
	if redis, ok := p.Services["redis"]; ok {
		r.check(len(redis.Profiles) > 0, "redis is optional (profiles: %v)", redis.Profiles)
	}
}

func envValue(m types.MappingWithEquals, k string) string {
	if v, ok := m[k]; ok && v != nil {
		return *v
	}
	return ""
}

func serviceNames(p *types.Project) []string {
	names := make([]string, 0, len(p.Services))
	for n := range p.Services {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func relTo(base, path string) string {
	if rel, err := filepath.Rel(base, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return ": " + strings.ReplaceAll(err.Error(), "\n", " ")
}

func listSuffix(label string, items []string) string {
	if len(items) == 0 {
		return ""
	}
	return " (" + label + " " + strings.Join(items, ", ") + ")"
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
