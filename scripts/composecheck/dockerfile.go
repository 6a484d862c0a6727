package main

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// image holds what the Dockerfile says about the final image, parsed with
// BuildKit's own parser and instruction model.
type image struct {
	path     string
	stages   []instructions.Stage
	metaArgs map[string]string
	warnings []string // BuildKit parser warnings and build checks
	// ENTRYPOINT and CMD of the final stage (shell form as /bin/sh -c).
	entrypoint, cmd []string
	env             map[string]string // ENV of the final stage
	// files maps a path in the final image to its source in the
	// repository, for files COPYed from the build context directly or
	// through a build stage that copied the context.
	files map[string]string
	dirs  map[string]string // the same for directories (dest dir -> repo dir)
}

func loadImage(dockerfile string) (*image, error) {
	f, err := os.Open(dockerfile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		return nil, err
	}
	img := &image{path: dockerfile, metaArgs: map[string]string{}, env: map[string]string{}, files: map[string]string{}, dirs: map[string]string{}}
	for _, w := range res.Warnings {
		img.warnings = append(img.warnings, fmt.Sprintf("%s%s", w.Short, lineSuffix(w.Location)))
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		var l *parser.Range
		if len(loc) > 0 {
			l = &loc[0]
		}
		img.warnings = append(img.warnings, fmt.Sprintf("%s: %s%s", rule, msg, lineSuffix(l)))
	}})
	stages, metaArgs, err := instructions.Parse(res.AST, lint)
	if err != nil {
		return nil, err
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("no FROM")
	}
	img.stages = stages
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			if kv.Value != nil {
				img.metaArgs[kv.Key] = *kv.Value
			}
		}
	}
	img.collectFinal()
	return img, nil
}

func lineSuffix(r *parser.Range) string {
	if r == nil {
		return ""
	}
	return fmt.Sprintf(" (line %d)", r.Start.Line)
}

// contextDirs returns, for a stage, where it copied the whole build context
// (COPY . DIR), as absolute paths.
func contextDirs(st instructions.Stage) []string {
	var out []string
	wd := "/"
	for _, c := range st.Commands {
		switch c := c.(type) {
		case *instructions.WorkdirCommand:
			wd = resolve(wd, c.Path)
		case *instructions.CopyCommand:
			if c.From == "" && slices.Contains(c.SourcePaths, ".") {
				out = append(out, resolve(wd, c.DestPath))
			}
		}
	}
	return out
}

func resolve(wd, p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	return path.Join(wd, p)
}

// collectFinal reads the final stage's command and the files it copies.
func (img *image) collectFinal() {
	final := img.stages[len(img.stages)-1]
	var entrypoint, cmd []string
	wd := "/"
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.WorkdirCommand:
			wd = resolve(wd, c.Path)
		case *instructions.EntrypointCommand:
			entrypoint, cmd = c.CmdLine, nil // ENTRYPOINT resets CMD
			if c.PrependShell {
				entrypoint = append([]string{"/bin/sh", "-c"}, c.CmdLine...)
			}
		case *instructions.CmdCommand:
			cmd = c.CmdLine
			if c.PrependShell {
				cmd = append([]string{"/bin/sh", "-c"}, c.CmdLine...)
			}
		case *instructions.CopyCommand:
			img.addCopy(c, wd)
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				img.env[kv.Key] = kv.Value
			}
		}
	}
	img.entrypoint, img.cmd = entrypoint, cmd
}

// addCopy records where a COPY's sources come from in the repository.
func (img *image) addCopy(c *instructions.CopyCommand, wd string) {
	var ctxDirs []string
	if c.From != "" {
		st := img.stage(c.From)
		if st == nil {
			return // from another image: not in the repository
		}
		ctxDirs = contextDirs(*st)
	}
	dest := resolve(wd, c.DestPath)
	destIsDir := strings.HasSuffix(c.DestPath, "/") || len(c.SourcePaths) > 1
	for _, src := range c.SourcePaths {
		repo := ""
		if c.From == "" {
			repo = path.Clean(src)
		} else {
			for _, d := range ctxDirs {
				if rel, ok := strings.CutPrefix(path.Clean(src), d+"/"); ok {
					repo = rel
				}
			}
		}
		if repo == "" {
			continue
		}
		isDir := strings.HasSuffix(src, "/") || isDirIn(filepath.Dir(img.path), repo)
		switch {
		case isDir:
			img.dirs[dest] = repo
		case destIsDir:
			img.files[path.Join(dest, path.Base(repo))] = repo
		default:
			img.files[dest] = repo
		}
	}
}

func isDirIn(root, rel string) bool {
	fi, err := os.Stat(filepath.Join(root, rel))
	return err == nil && fi.IsDir()
}

// repoPath maps a path in the image to its source in the repository.
func (img *image) repoPath(p string) (string, bool) {
	if src, ok := img.files[p]; ok {
		return src, true
	}
	for dest, src := range img.dirs {
		if rel, ok := strings.CutPrefix(p, strings.TrimSuffix(dest, "/")+"/"); ok {
			return path.Join(src, rel), true
		}
	}
	return "", false
}

func (img *image) stage(name string) *instructions.Stage {
	for i := range img.stages {
		if strings.EqualFold(img.stages[i].Name, name) {
			return &img.stages[i]
		}
	}
	return nil
}

var argRef = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)

// baseName expands FROM's build arguments with their defaults.
func (img *image) baseName(st instructions.Stage) string {
	return argRef.ReplaceAllStringFunc(st.BaseName, func(m string) string {
		if v, ok := img.metaArgs[argRef.FindStringSubmatch(m)[1]]; ok {
			return v
		}
		return m
	})
}

// pinned: a digest, or an explicit tag other than latest.
func pinned(ref string) (bool, string) {
	if strings.Contains(ref, "$") {
		return false, "an unresolved build argument"
	}
	if strings.Contains(ref, "@sha256:") {
		return true, "digest"
	}
	name := ref[strings.LastIndex(ref, "/")+1:]
	_, tag, ok := strings.Cut(name, ":")
	switch {
	case !ok:
		return false, "no tag (means latest)"
	case tag == "latest":
		return false, "tag latest"
	}
	return true, "tag " + tag
}

func checkDockerfile(r *report, dockerfile string) {
	img, err := loadImage(dockerfile)
	if !r.check(err == nil, "%s parses with BuildKit's Dockerfile parser%s", filepath.Base(dockerfile), errSuffix(err)) {
		return
	}
	r.check(len(img.warnings) == 0, "BuildKit build checks pass%s", listSuffix("found:", img.warnings))
	r.check(len(img.stages) >= 2, "multi-stage build (%d stages): no toolchain in the image", len(img.stages))
	names := map[string]bool{}
	for _, st := range img.stages {
		if st.Name != "" {
			names[strings.ToLower(st.Name)] = true
		}
	}
	for _, st := range img.stages {
		base := img.baseName(st)
		if names[strings.ToLower(base)] {
			continue // built on an earlier stage
		}
		ok, how := pinned(base)
		r.check(ok && base != "scratch" || base == "scratch", "base image %s is pinned (%s)", base, how)
	}
	final := img.stages[len(img.stages)-1]
	finalBase := img.baseName(final)

	// Non-root: the last USER of the final stage.
	user := ""
	for _, c := range final.Commands {
		if u, ok := c.(*instructions.UserCommand); ok {
			user = u.User
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	r.check(user != "" && uid != "0" && uid != "root", "the final image runs as a non-root USER (%q)", user)

	// HEALTHCHECK with a command whose binary the image holds.
	var hc *instructions.HealthCheckCommand
	for _, c := range final.Commands {
		if h, ok := c.(*instructions.HealthCheckCommand); ok {
			hc = h
		}
	}
	if r.check(hc != nil && hc.Health != nil && len(hc.Health.Test) > 0 && hc.Health.Test[0] != "NONE",
		"the final image has a HEALTHCHECK") {
		test := hc.Health.Test
		r.check(test[0] == "CMD", "HEALTHCHECK runs without a shell (exec form, %v)", test)
		if test[0] == "CMD" && len(test) > 1 {
			_, shipped := img.files[test[1]]
			if !shipped {
				_, shipped = copiedFromStage(final, test[1])
			}
			r.check(shipped, "HEALTHCHECK's program %s is copied into the image", test[1])
		}
	}

	// Static binary: built with cgo off, run on an image without libc.
	cgoOff := false
	for _, st := range img.stages[:len(img.stages)-1] {
		for _, c := range st.Commands {
			switch c := c.(type) {
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					if kv.Key == "CGO_ENABLED" && kv.Value == "0" {
						cgoOff = true
					}
				}
			case *instructions.RunCommand:
				if strings.Contains(strings.Join(c.CmdLine, " "), "CGO_ENABLED=0") {
					cgoOff = true
				}
			}
		}
	}
	r.check(cgoOff, "the binaries are built static (CGO_ENABLED=0 in a build stage)")
	r.check(finalBase == "scratch" || strings.Contains(finalBase, "distroless/static"),
		"the final image is a static base without libc or package manager (%s)", finalBase)

	// COPY sources: stages that exist, files that exist.
	root := filepath.Dir(dockerfile)
	seenFrom := map[string]bool{}
	for _, st := range img.stages {
		for _, c := range st.Commands {
			cp, ok := c.(*instructions.CopyCommand)
			if !ok {
				continue
			}
			if cp.From != "" {
				if !strings.ContainsAny(cp.From, ":/") && !seenFrom[cp.From] {
					seenFrom[cp.From] = true
					r.check(names[strings.ToLower(cp.From)], "COPY --from=%s names a stage", cp.From)
				}
				continue
			}
			for _, s := range cp.SourcePaths {
				m, _ := filepath.Glob(filepath.Join(root, s))
				r.check(len(m) > 0, "COPY source %s exists in the build context", s)
			}
		}
	}
	if argv := append(slices.Clone(img.entrypoint), img.cmd...); len(argv) > 0 {
		r.check(true, "the image starts %q", strings.Join(argv, " "))
	}
}

// copiedFromStage: a COPY --from of the final stage that lands at p.
func copiedFromStage(final instructions.Stage, p string) (string, bool) {
	for _, c := range final.Commands {
		if cp, ok := c.(*instructions.CopyCommand); ok && cp.From != "" && path.Clean(cp.DestPath) == p {
			return cp.From, true
		}
	}
	return "", false
}
