package main

import "strings"

// The dashboard, once, for both formats. Every query selects the
// sidecar's scrape job and the chosen instance; per-tier panels select the
// tier's component by the `exporter` label the collector (exporterhelper)
// and the redisrouter exporter put on their metrics:
//
//	tier 1 backend   exporter=~"otlp_grpc/.*" (otlp_grpc/dash0, /collector, /remote-collector)
//	tier 2 progress  exporter="redisrouter/progress"
//	tier 3 failures  exporter=~"redisrouter/failures.*"
//
// Metric names are the Prometheus names of the v0.159 collector's
// telemetry (no _total suffix, no unit suffix): see deploy/prometheus/alerts.yml.

const (
	sel         = `job="otelcol-comfy",instance=~"$instance"`
	rateWindow  = "5m"
	dashName    = "otelcol-comfy"
	dashTitle   = "otelcol-comfy: ComfyUI sidecar, per tier"
	dashProject = "comfy-sidecar"
)

type query struct {
	expr, legend string
}

type panel struct {
	id, title, description, unit string
	queries                      []query
}

type row struct {
	title  string
	panels []panel
}

type tier struct {
	key, name, selector string
}

var tiers = []tier{
	{"backend", "Tier 1: backend (otlp_grpc)", `exporter=~"otlp_grpc/.*"`},
	{"progress", "Tier 2: progress (redisrouter/progress)", `exporter="redisrouter/progress"`},
	{"failures", "Tier 3: failures (redisrouter/failures)", `exporter=~"redisrouter/failures.*"`},
}

// m is metric{sel,extra}.
func m(metric, extra string) string {
	if extra == "" {
		return metric + "{" + sel + "}"
	}
	return metric + "{" + sel + "," + extra + "}"
}

// rate is sum by (labels) (rate(metric{...}[5m])).
func rate(by, metric, extra string) string {
	r := "rate(" + m(metric, extra) + "[" + rateWindow + "])"
	if by == "" {
		return "sum(" + r + ")"
	}
	return "sum by (" + by + ") (" + r + ")"
}

func rows() []row {
	out := []row{{
		title: "Intake: received and classified (all tiers)",
		panels: []panel{
			{"intake_received", "Received, by receiver", "Log records accepted by the OTLP and file_log receivers, per second.", "rate",
				[]query{{rate("receiver", "otelcol_receiver_accepted_log_records", ""), "{{receiver}}"}}},
			{"intake_refused", "Refused or failed at intake", "Log records a receiver refused (memory_limiter back-pressure) or failed to hand on, per second.", "rate",
				[]query{
					{rate("receiver", "otelcol_receiver_refused_log_records", ""), "refused {{receiver}}"},
					{rate("receiver", "otelcol_receiver_failed_log_records", ""), "failed {{receiver}}"},
				}},
			{"classified", "Classified, by class", "comfypattern verdicts per second: progress (tier 2), failure (tier 3), other (backend only).", "rate",
				[]query{{rate("class", "otelcol_processor_comfypattern_records_classified", ""), "{{class}}"}}},
			{"truncated", "Truncated records", "Records whose body was longer than comfypattern's max_body_bytes and was cut (comfy.truncated=true), per second.", "rate",
				[]query{{rate("", "otelcol_processor_comfypattern_records_truncated", ""), "truncated"}}},
		},
	}}
	for _, t := range tiers {
		r := row{title: t.name}
		// Titles name the tier too: panels are found by title, and the
		// three tiers' rows have the same panels.
		p := func(suffix, title, desc, unit string, qs ...query) {
			if !strings.HasPrefix(title, "Redis") {
				title = strings.ToLower(title[:1]) + title[1:]
			}
			title = strings.ToUpper(t.key[:1]) + t.key[1:] + ": " + title
			r.panels = append(r.panels, panel{t.key + "_" + suffix, title, desc, unit, qs})
		}
		switch t.key {
		case "backend":
			p("delivered", "Delivered", "Log records the backend exporter sent (accepted by the backend), per second.", "rate",
				query{rate("exporter", "otelcol_exporter_sent_log_records", t.selector), "sent {{exporter}}"})
		case "progress":
			p("delivered", "Delivered", "Progress records published to Redis Pub/Sub, per second.", "rate",
				query{rate("exporter", "otelcol_exporter_redisrouter_published", t.selector), "published {{exporter}}"})
		case "failures":
			p("delivered", "Delivered", "Failure records appended to Redis Streams (job:events:* and the fallback stream), per second.", "rate",
				query{rate("exporter", "otelcol_exporter_redisrouter_streamed", t.selector), "streamed {{exporter}}"})
		}
		dropped := []query{
			{rate("exporter", "otelcol_exporter_send_failed_log_records", t.selector), "send failed {{exporter}}"},
			{rate("exporter", "otelcol_exporter_enqueue_failed_log_records", t.selector), "queue full {{exporter}}"},
		}
		if t.key != "backend" {
			dropped = append([]query{{rate("exporter, reason", "otelcol_exporter_redisrouter_dropped", t.selector), "dropped {{exporter}} {{reason}}"}}, dropped...)
		}
		p("dropped", "Dropped", "Records given up on, per second: failed after retries, refused by a full queue"+
			map[bool]string{true: ".", false: ", or dropped by the exporter by reason (stale, throttled, not_routed, queue_full, refused, dead_letter_refused)."}[t.key == "backend"],
			"rate", dropped...)
		p("queued", "Queued", "Sending queue: current size and capacity.", "short",
			query{"sum by (exporter) (" + m("otelcol_exporter_queue_size", t.selector) + ")", "size {{exporter}}"},
			query{"sum by (exporter) (" + m("otelcol_exporter_queue_capacity", t.selector) + ")", "capacity {{exporter}}"})
		if t.key == "backend" {
			out = append(out, r)
			continue
		}
		p("retried", "Retried", "Records whose Redis command failed in a batch and went back to the sending queue for retry, per second.", "rate",
			query{rate("exporter", "otelcol_exporter_redisrouter_failed", t.selector), "retried {{exporter}}"})
		if t.key == "failures" {
			p("dead_lettered", "Dead-lettered", "Failure records written to the dead-letter stream because Redis refused their stream, by reason, per second.", "rate",
				query{rate("exporter, reason", "otelcol_exporter_redisrouter_dead_lettered", t.selector), "{{exporter}} {{reason}}"})
		}
		p("redis", "Redis up and errors", "redis_up (1 when the last batch or probe reached Redis and Redis accepted our commands) and Redis errors per second by kind.", "short",
			query{"min by (exporter) (" + m("otelcol_exporter_redisrouter_redis_up", t.selector) + ")", "up {{exporter}}"},
			query{rate("exporter, kind", "otelcol_exporter_redisrouter_redis_errors", t.selector), "errors {{exporter}} {{kind}}"})
		out = append(out, r)
	}
	return out
}

// forRules substitutes the dashboard variable so a query can be checked
// and evaluated by promtool.
func forRules(expr string) string {
	return strings.ReplaceAll(expr, "$instance", ".*")
}
