package main

// The progress tier: PSUBSCRIBE machine:*:progress (or SUBSCRIBE one
// machine's channel), decode with the exporter's payload package and hand
// each message to the printer.
//
// Reconnection: go-redis's PubSub remembers its channels and patterns and
// re-issues (P)SUBSCRIBE on the new connection it dials after a network
// error; this loop only paces the retries and reports the outage. Messages
// published while the monitor was disconnected are lost, as for every other
// Pub/Sub subscriber: progress is ephemeral by design.

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/payload"
)

// receiveTimeout bounds a silent wait on the subscriber connection; after it
// a PING checks that the connection is still alive (a dead peer that never
// sent a FIN would otherwise leave the monitor waiting forever).
const receiveTimeout = 5 * time.Second

type progressFollower struct {
	rdb     *redis.Client
	o       *monitorOptions
	p       *printer
	conn    *connState
	samples map[string]rateSample
}

// rateSample is the previous state of a bar, for estimating the rate when
// the payload carries none (e.g. a count without tqdm's it/s).
type rateSample struct {
	current float64
	at      time.Time
}

func (f *progressFollower) run(ctx context.Context) {
	var ps *redis.PubSub
	var target string
	if f.o.machine != "" {
		target = fillTemplate(f.o.progressChannel, "machine_id", f.o.machine)
		ps = f.rdb.Subscribe(ctx, target)
	} else {
		target = templatePattern(f.o.progressChannel)
		ps = f.rdb.PSubscribe(ctx, target)
	}
	// Closing the PubSub interrupts a blocked read as soon as ctx ends.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	defer ps.Close()

	var bo backoff
	announced := false
	for ctx.Err() == nil {
		msg, err := ps.ReceiveTimeout(ctx, receiveTimeout)
		if err != nil {
			if stopping(ctx) {
				return
			}
			if isTimeout(err) {
				// Quiet channel: probe the connection. A failed PING makes
				// go-redis drop the connection; the next receive redials
				// and resubscribes.
				if perr := ps.Ping(ctx); perr == nil {
					continue
				} else {
					err = perr
				}
				if stopping(ctx) {
					return
				}
			}
			f.conn.failed(err)
			announced = false
			if !sleepCtx(ctx, bo.next()) {
				return
			}
			continue
		}
		bo.reset()
		switch m := msg.(type) {
		case *redis.Subscription:
			f.conn.ok()
			if !announced && f.o.verbose {
				f.p.status("info", f.conn.prefix()+"subscribed to "+target)
			}
			announced = true
		case *redis.Pong:
			f.conn.ok()
		case *redis.Message:
			f.conn.ok()
			if ev := f.decode(m.Channel, m.Payload); ev != nil {
				f.p.progress(ev)
			}
		}
	}
}

// decode turns a published payload into an event, applying the --job
// filter. Undecodable payloads are shown as such rather than dropped: the
// monitor is a debugging tool and a malformed message is worth seeing.
func (f *progressFollower) decode(channel, raw string) *progressEvent {
	p, err := payload.DecodeProgress([]byte(raw))
	if err != nil {
		return &progressEvent{
			Tier: "progress", Time: payload.FormatTimestamp(time.Now()), Channel: channel,
			Kind: "invalid", Message: "undecodable payload: " + truncate(raw, 200),
			Payload: jsonOrString(raw), key: channel, updated: time.Now(),
		}
	}
	if f.o.job != "" && p.JobID != f.o.job {
		return nil
	}
	if f.o.machine != "" && p.MachineID != "" && p.MachineID != f.o.machine {
		return nil
	}
	d := p.Progress
	ev := &progressEvent{
		Tier: "progress", Time: p.Timestamp, Channel: channel,
		MachineID: p.MachineID, JobID: p.JobID, Instance: p.Instance,
		Kind: d.Kind, Event: d.Event,
		Current: d.Current, Total: d.Total, Percent: d.Percent,
		Rate: d.Rate, RateUnit: d.RateUnit, RemainingSeconds: d.RemainingSeconds,
		Message: d.Message, Final: p.Final,
		Payload: []byte(raw), updated: time.Now(),
	}
	if ev.Message == "" {
		ev.Message = p.Message
	}
	if ev.Time == "" && p.TimestampMs > 0 {
		ev.Time = payload.FormatTimestamp(time.UnixMilli(p.TimestampMs))
	}
	ev.key = strings.Join([]string{p.MachineID, p.Instance, p.JobID, d.Kind}, "\x00")
	f.derive(ev, p)
	return ev
}

// derive fills percent, rate and remaining time when the payload lacks
// them, and marks a bar that reached its total as final.
func (f *progressFollower) derive(ev *progressEvent, p *payload.Progress) {
	hasTotal := ev.Total != nil && *ev.Total > 0
	ev.hasBar = ev.Current != nil && hasTotal || ev.Percent != nil
	if !ev.hasBar {
		return
	}
	if ev.Percent == nil && hasTotal {
		ev.Percent = ptr(100 * *ev.Current / *ev.Total)
	}
	if ev.Current != nil && hasTotal && *ev.Current >= *ev.Total {
		ev.Final = true
	}
	at := time.Now()
	if p.TimestampMs > 0 {
		at = time.UnixMilli(p.TimestampMs)
	} else if t, err := time.Parse(time.RFC3339Nano, p.Timestamp); err == nil {
		at = t
	}
	if ev.Current != nil {
		prev, ok := f.samples[ev.key]
		if ev.Rate == nil && ok && *ev.Current > prev.current {
			if dt := at.Sub(prev.at).Seconds(); dt > 0 {
				ev.Rate = ptr((*ev.Current - prev.current) / dt)
			}
		}
		if ev.Final {
			delete(f.samples, ev.key)
		} else {
			if len(f.samples) > 10000 { // many short-lived jobs: start over
				f.samples = map[string]rateSample{}
			}
			f.samples[ev.key] = rateSample{current: *ev.Current, at: at}
		}
	}
	if ev.RemainingSeconds == nil && !ev.Final && ev.Rate != nil && *ev.Rate > 0 && ev.Current != nil && hasTotal {
		ev.RemainingSeconds = ptr((*ev.Total - *ev.Current) / *ev.Rate)
	}
}

func ptr(v float64) *float64 { return &v }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// jsonOrString keeps the payload field valid JSON even when the message was not.
func jsonOrString(raw string) []byte {
	b, err := json.Marshal(raw)
	if err != nil {
		return []byte(`""`)
	}
	return b
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
