package main

// `comfyctl monitor`: watch what the sidecar's redisrouter exporter sends
// to Redis, live. Replaces the rollout plan's monitor:progress,
// monitor:streams and monitor:all shell scripts.
//
//	comfyctl monitor progress [--machine ID] [--job ID]
//	comfyctl monitor failures [--machine ID] [--job ID] [--traceback] [--from-start]
//	comfyctl monitor all      (both, interleaved, each line prefixed by its tier)
//
// Payloads are decoded with the exporter's own payload package, so the
// monitor and the exporter cannot drift apart. Documented in README.md,
// section "Watching Redis live: `comfyctl monitor`".

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/term"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/payload"
)

func init() {
	register("monitor", "watch progress (Pub/Sub) and failures (Streams) arriving in Redis", runMonitor)
}

type monitorOptions struct {
	tier      string // progress, failures, all
	machine   string
	job       string
	jsonOut   bool
	traceback bool
	fromStart bool
	noColor   bool
	verbose   bool
	summary   bool
	duration  time.Duration
	count     int

	scanInterval    time.Duration
	progressChannel string
	failureStream   string
	fallbackStream  string
}

const monitorUsage = `usage: comfyctl monitor <progress|failures|all> [flags]

  progress   live progress bars per machine and job (Pub/Sub %s)
  failures   failures from the streams %s and %s,
             including streams created after the monitor started
  all        both at once, each line prefixed by its tier

Output: colours and bars redrawn in place on a terminal, one plain line per
event when piped, one JSON object per event with --json. Control characters
in what Redis holds (ids, messages, stream names) are shown escaped (\r, \n,
\x1b) on a terminal and when piped.

Documentation: README.md#watching-redis-live-comfyctl-monitor
  (JSON keys: README.md#what-it-shows; connection flags and outages:
  README.md#connection-outages-and-reconnection)

flags:
`

// terminal describes stdout; tests pass a fake.
type terminal struct {
	isTTY bool
	width func() int
}

func stdoutTerminal() terminal {
	fd := int(os.Stdout.Fd())
	return terminal{
		isTTY: term.IsTerminal(fd),
		width: func() int {
			w, _, err := term.GetSize(fd)
			if err != nil || w <= 0 {
				return 80
			}
			return w
		},
	}
}

func runMonitor(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return monitorMain(ctx, args, os.Stdout, os.Stderr, stdoutTerminal())
}

// monitorMain runs the monitor until ctx ends, --duration passes or --count
// events were shown. Exit status: 0 on a normal end (including Ctrl-C),
// 2 on a usage or configuration error. Redis being unreachable is not an
// error: the monitor says so and keeps retrying.
func monitorMain(ctx context.Context, args []string, stdout, stderr io.Writer, tty terminal) int {
	fs := flag.NewFlagSet("comfyctl monitor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, monitorUsage, payload.ProgressChannelPattern, payload.FailureStreamPattern, payload.FallbackStreamPattern)
		fs.PrintDefaults()
	}
	o := &monitorOptions{}
	var conn redisConnFlags
	conn.bind(fs)
	fs.StringVar(&o.machine, "machine", "", "only this machine id")
	fs.StringVar(&o.job, "job", "", "only this job id")
	fs.BoolVar(&o.jsonOut, "json", false, "one JSON object per event (keys: README.md#what-it-shows)")
	fs.BoolVar(&o.traceback, "traceback", false, "print each failure's whole traceback (the stream's message field)")
	fs.BoolVar(&o.fromStart, "from-start", false, "read failure streams that already exist from their first entry")
	fs.BoolVar(&o.noColor, "no-color", os.Getenv("NO_COLOR") != "", "no colours on a terminal (env NO_COLOR)")
	fs.BoolVar(&o.verbose, "v", false, "also report subscriptions and newly followed streams")
	fs.BoolVar(&o.summary, "summary", false, "at exit, print the number of events shown per tier to stderr")
	fs.DurationVar(&o.duration, "duration", 0, "exit (status 0) after this long, e.g. 30s")
	fs.IntVar(&o.count, "count", 0, "exit (status 0) after this many events")
	fs.DurationVar(&o.scanInterval, "scan-interval", time.Second, "how often to look for new failure streams")
	fs.StringVar(&o.progressChannel, "progress-channel", payload.DefaultProgressChannel, "progress channel template (the exporter's progress.channel)")
	fs.StringVar(&o.failureStream, "failure-stream", payload.DefaultFailureStream, "failure stream template (the exporter's failures.stream)")
	fs.StringVar(&o.fallbackStream, "fallback-stream", payload.DefaultFallbackStream, "fallback stream template (the exporter's failures.fallback_stream; empty: none)")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs.Usage()
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return 0
		}
		return 2
	}
	switch o.tier = args[0]; o.tier {
	case "progress", "failures", "all":
	case "failure", "streams":
		o.tier = "failures"
	default:
		fmt.Fprintf(stderr, "comfyctl monitor: unknown tier %q (progress, failures or all)\n", args[0])
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "comfyctl monitor: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if o.scanInterval < 100*time.Millisecond {
		o.scanInterval = 100 * time.Millisecond
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	conn.applyEnvSecrets(set)
	ropts, err := conn.options(set)
	if err != nil {
		fmt.Fprintf(stderr, "comfyctl monitor: %v\n", err)
		return 2
	}
	secrets := []string{ropts.Password, conn.password, conn.url}

	silenceRedisLogs()
	rdb := redis.NewClient(ropts)
	defer rdb.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.duration > 0 {
		var c context.CancelFunc
		ctx, c = context.WithTimeout(ctx, o.duration)
		defer c()
	}
	// Closing the client interrupts a blocked XREAD as soon as we stop.
	context.AfterFunc(ctx, func() { _ = rdb.Close() })

	mode := modePlain
	switch {
	case o.jsonOut:
		mode = modeJSON
	case tty.isTTY:
		mode = modeTTY
	}
	p := newPrinter(stdout, stderr, mode, !o.noColor, o.tier == "all", o.traceback, tty.width, o.count, cancel)
	defer p.close()
	go p.run(ctx)

	server := describeRedis(ropts)
	tierName := func(t string) string {
		if o.tier == "all" {
			return t
		}
		return ""
	}
	var wg sync.WaitGroup
	if o.tier == "progress" || o.tier == "all" {
		f := &progressFollower{rdb: rdb, o: o, p: p, samples: map[string]rateSample{},
			conn: &connState{tier: tierName("progress"), server: server, secrets: secrets, status: p.status}}
		wg.Go(func() { f.run(ctx) })
	}
	if o.tier == "failures" || o.tier == "all" {
		f := newFailureFollower(rdb, o, p,
			&connState{tier: tierName("failure"), server: server, secrets: secrets, status: p.status})
		wg.Go(func() { f.run(ctx) })
	}
	wg.Wait()
	p.close()
	if o.summary {
		fmt.Fprintf(stderr, "comfyctl monitor: %s\n", p.summary())
	}
	return 0
}

// templatePattern turns a key template into a glob: each {placeholder}
// becomes *. DefaultProgressChannel gives ProgressChannelPattern, and so on.
func templatePattern(t string) string { return patternWith(t, "", "") }

// patternWith is templatePattern with one placeholder fixed to a value
// (glob characters escaped); an empty value leaves it a wildcard.
func patternWith(t, name, value string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			b.WriteString(globEscape(t))
			return b.String()
		}
		j := strings.IndexByte(t[i:], '}')
		if j < 0 {
			b.WriteString(globEscape(t))
			return b.String()
		}
		b.WriteString(globEscape(t[:i]))
		if ph := t[i+1 : i+j]; name != "" && ph == name && value != "" {
			b.WriteString(globEscape(value))
		} else {
			b.WriteByte('*')
		}
		t = t[i+j+1:]
	}
}

// fillTemplate replaces {name} with value verbatim (for SUBSCRIBE, which
// takes exact channel names).
func fillTemplate(t, name, value string) string {
	return strings.ReplaceAll(t, "{"+name+"}", value)
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
