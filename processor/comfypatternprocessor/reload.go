package comfypatternprocessor // import "github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor"

import (
	"context"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/comfy-sidecar/otelcol-comfy/processor/comfypatternprocessor/classifier"
)

// rulesReloader polls the rules file and puts its rules in force when it
// changes. Polling the modification time and size (not fsnotify) also works
// for files replaced by rename (ConfigMaps, editors that write a temp file)
// and on network file systems. A file that does not compile keeps the last
// good rules, is logged with the offending field, and is counted.
type rulesReloader struct {
	p    *logsProcessor
	last stamp // of the file in force (or last rejected)

	once   sync.Once
	quit   chan struct{}
	done   chan struct{}
	tickFn func() // test hook: called after each check
}

type stamp struct {
	mod  time.Time
	size int64
	err  string // a stat error, so a missing file is reported once
}

func newRulesReloader(p *logsProcessor) *rulesReloader {
	r := &rulesReloader{p: p, quit: make(chan struct{}), done: make(chan struct{})}
	r.last = statFile(p.cfg.RulesFile)
	return r
}

func statFile(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{err: err.Error()}
	}
	return stamp{mod: fi.ModTime(), size: fi.Size()}
}

func (r *rulesReloader) start() {
	go func() {
		defer close(r.done)
		t := time.NewTicker(r.p.cfg.RulesFilePollInterval)
		defer t.Stop()
		for {
			select {
			case <-r.quit:
				return
			case <-t.C:
				r.check()
				if r.tickFn != nil {
					r.tickFn()
				}
			}
		}
	}()
}

func (r *rulesReloader) stop() {
	r.once.Do(func() {
		close(r.quit)
	})
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
	}
}

// check reloads the file when its stamp changed.
func (r *rulesReloader) check() {
	path := r.p.cfg.RulesFile
	st := statFile(path)
	if st == r.last {
		return
	}
	r.last = st
	ctx := context.Background()
	if st.err != "" {
		r.p.logger.Error("comfypattern: rules file unreadable, keeping the last good rules", zap.String("rules_file", path), zap.String("error", st.err))
		r.p.telemetry.ProcessorComfypatternRulesReloadFailed.Add(ctx, 1)
		return
	}
	b, err := os.ReadFile(path)
	var opts classifier.Options
	if err == nil {
		opts, err = MergeRulesFile(r.p.cfg.Options, path, b)
	}
	var c *classifier.Classifier
	if err == nil {
		c, err = classifier.New(opts)
	}
	if err != nil {
		r.p.logger.Error("comfypattern: rules file rejected, keeping the last good rules", zap.String("rules_file", path), zap.Error(err))
		r.p.telemetry.ProcessorComfypatternRulesReloadFailed.Add(ctx, 1)
		return
	}
	r.p.classifier.Store(c)
	r.p.telemetry.ProcessorComfypatternRulesReloaded.Add(ctx, 1)
	r.p.logger.Info("comfypattern: rules file loaded", zap.String("rules_file", path), zap.Int("rules", len(opts.Rules)), zap.Int("ignore", len(opts.Ignore)))
}
