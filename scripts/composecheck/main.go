// Command composecheck checks the deployment files with the tools that
// define them, without a Docker engine (CI has none):
//
//	composecheck compose [-env FILE]... [-dockerfile Dockerfile] docker-compose.yml
//	composecheck dockerfile Dockerfile
//
// compose loads the file with the Compose specification's own loader
// (github.com/compose-spec/compose-go/v2: interpolation, merges, schema
// validation on, so a misspelt or unknown key fails), then checks the
// sidecar's layout. dockerfile parses the Dockerfile with BuildKit's parser
// and instruction model (the code `docker build` runs), with the build
// checks BuildKit applies while parsing (instruction casing, stage names),
// then checks the image's safety properties. BuildKit's other checks run
// while converting to LLB, which resolves base images from their registry:
// not possible offline, so not used.
//
// Output: one line per check, `PASS <what>` or `FAIL <what>`; compose also
// prints `CONFIGS <host path>...`, the config files the sidecar starts with
// in command-line order, for scripts/validate-configs.sh to run
// `otelcol-comfy validate` on. Exit status 1 when a check failed, 2 on
// usage errors.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// report collects PASS/FAIL lines.
type report struct {
	w      io.Writer
	prefix string
	failed int
}

func (r *report) check(ok bool, format string, a ...any) bool {
	status := "PASS"
	if !ok {
		status = "FAIL"
		r.failed++
	}
	fmt.Fprintf(r.w, "%s %s%s\n", status, r.prefix, fmt.Sprintf(format, a...))
	return ok
}

func (r *report) fail(format string, a ...any) { r.check(false, format, a...) }

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  composecheck compose [-env FILE]... [-dockerfile Dockerfile] docker-compose.yml
  composecheck dockerfile Dockerfile
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) < 1 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "compose":
		fs := flag.NewFlagSet("composecheck compose", flag.ContinueOnError)
		fs.SetOutput(stderr)
		var envFiles multiFlag
		fs.Var(&envFiles, "env", "KEY=VALUE file for interpolation (repeatable; the documented environment)")
		dockerfile := fs.String("dockerfile", "", "the image's Dockerfile: its ENTRYPOINT/CMD and COPY destinations stand in when compose sets none")
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 1 {
			fmt.Fprint(stderr, usage)
			return 2
		}
		r := &report{w: stdout, prefix: "compose: "}
		checkCompose(r, fs.Arg(0), envFiles, *dockerfile)
		return exitCode(r)
	case "dockerfile":
		if len(args) != 2 {
			fmt.Fprint(stderr, usage)
			return 2
		}
		r := &report{w: stdout, prefix: "dockerfile: "}
		checkDockerfile(r, args[1])
		return exitCode(r)
	}
	fmt.Fprint(stderr, usage)
	return 2
}

func exitCode(r *report) int {
	if r.failed > 0 {
		return 1
	}
	return 0
}
