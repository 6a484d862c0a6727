// Command dashgen writes the sidecar's dashboard as code, in the two
// formats deploy/dashboards/ ships, from one definition (panels.go):
//
//	go run . generate   writes ../otelcol-comfy.perses.json (Perses: Dash0
//	                    imports it), ../otelcol-comfy.grafana.json (built with
//	                    Grafana's foundation SDK) and testdata/queries.rules.yml
//	                    (every query as a recording rule, for promtool)
//	go run . check      fails when a committed file differs from what
//	                    generate writes, and validates the Grafana file with the
//	                    SDK's strict decoder and its Validate (unknown or
//	                    misspelt fields, wrong types, missing required fields)
//
// scripts/check-dashboards.sh runs check, `percli lint` on the Perses file,
// and promtool on the queries.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

const (
	persesFile  = "../otelcol-comfy.perses.json"
	grafanaFile = "../otelcol-comfy.grafana.json"
	rulesFile   = "testdata/queries.rules.yml"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: dashgen generate|check   (run in deploy/dashboards/dashgen)")
		os.Exit(2)
	}
	files, err := render()
	if err != nil {
		fmt.Fprintf(os.Stderr, "dashgen: %v\n", err)
		os.Exit(1)
	}
	switch os.Args[1] {
	case "generate":
		for name, b := range files {
			if err := os.WriteFile(name, b, 0o644); err != nil {
				fmt.Fprintf(os.Stderr, "dashgen: %v\n", err)
				os.Exit(1)
			}
			fmt.Println("wrote", filepath.Clean(name))
		}
	case "check":
		failed := 0
		for _, name := range sortedKeys(files) {
			got, err := os.ReadFile(name)
			if err != nil || !bytes.Equal(got, files[name]) {
				fmt.Printf("FAIL dashboards: %s is not what dashgen generates (cd deploy/dashboards/dashgen && go run . generate)\n", filepath.Clean(name))
				failed++
			} else {
				fmt.Printf("PASS dashboards: %s is up to date with panels.go\n", filepath.Clean(name))
			}
		}
		raw, err := os.ReadFile(grafanaFile)
		if err == nil {
			err = validateGrafana(raw)
		}
		if err != nil {
			fmt.Printf("FAIL dashboards: %s against Grafana's dashboard schema (foundation SDK, strict): %s\n", filepath.Clean(grafanaFile), strings.ReplaceAll(err.Error(), "\n", "; "))
			failed++
		} else {
			fmt.Printf("PASS dashboards: %s passes Grafana's dashboard schema (foundation SDK strict decode + Validate)\n", filepath.Clean(grafanaFile))
		}
		if failed > 0 {
			os.Exit(1)
		}
	default:
		fmt.Fprintln(os.Stderr, "usage: dashgen generate|check")
		os.Exit(2)
	}
}

// validateGrafana decodes a dashboard the strict way (unknown fields,
// wrong types and missing required fields are errors, panel options and
// queries included through the registered plugin types) and validates it.
func validateGrafana(raw []byte) error {
	plugins.RegisterDefaultPlugins()
	var d dashboard.Dashboard
	// The SDK returns its error list typed even when it is empty.
	if err := d.UnmarshalJSONStrict(raw); err != nil {
		if errs, ok := err.(cog.BuildErrors); !ok || len(errs) > 0 {
			return err
		}
	}
	return d.Validate()
}

func render() (map[string][]byte, error) {
	rs := rows()
	p, err := perses(rs)
	if err != nil {
		return nil, err
	}
	g, err := grafana(rs)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{persesFile: p, grafanaFile: g, rulesFile: rules(rs)}, nil
}

// Layout: 24 columns; three panels a line, eight units high.
const (
	panelWidth  = 8
	panelHeight = 8
)

type obj = map[string]any

func perses(rs []row) ([]byte, error) {
	panels := obj{}
	var layouts []any
	for _, r := range rs {
		var items []any
		for i, p := range r.panels {
			var queries []any
			for _, q := range p.queries {
				queries = append(queries, obj{
					"kind": "TimeSeriesQuery",
					"spec": obj{"plugin": obj{
						"kind": "PrometheusTimeSeriesQuery",
						"spec": obj{"query": q.expr, "seriesNameFormat": q.legend},
					}},
				})
			}
			panels[p.id] = obj{
				"kind": "Panel",
				"spec": obj{
					"display": obj{"name": title(p), "description": p.description},
					"plugin": obj{
						"kind": "TimeSeriesChart",
						"spec": obj{
							"legend": obj{"position": "bottom", "mode": "list"},
							"yAxis":  obj{"format": obj{"unit": "decimal"}},
						},
					},
					"queries": queries,
				},
			}
			items = append(items, obj{
				"x": (i % 3) * panelWidth, "y": (i / 3) * panelHeight, "width": panelWidth, "height": panelHeight,
				"content": obj{"$ref": "#/spec/panels/" + p.id},
			})
		}
		layouts = append(layouts, obj{
			"kind": "Grid",
			"spec": obj{"display": obj{"title": r.title, "collapse": obj{"open": true}}, "items": items},
		})
	}
	d := obj{
		"kind":     "Dashboard",
		"metadata": obj{"name": dashName, "project": dashProject},
		"spec": obj{
			"display": obj{
				"name": dashTitle,
				"description": "What the otelcol-comfy sidecar received, classified, delivered, dropped, queued, retried and dead-lettered, per tier " +
					"(backend, progress, failures), and whether Redis is up. deploy/dashboards/README.md",
			},
			"duration":        "1h",
			"refreshInterval": "30s",
			"variables": []any{obj{
				"kind": "ListVariable",
				"spec": obj{
					"name":           "instance",
					"display":        obj{"name": "Sidecar", "description": "The scrape target (one sidecar per GPU machine)", "hidden": false},
					"allowAllValue":  true,
					"allowMultiple":  false,
					"customAllValue": ".*",
					"defaultValue":   "$__all",
					"plugin": obj{
						"kind": "PrometheusLabelValuesVariable",
						"spec": obj{"labelName": "instance", "matchers": []any{`up{job="otelcol-comfy"}`}},
					},
				},
			}},
			"panels":  panels,
			"layouts": layouts,
		},
	}
	return marshal(d)
}

func title(p panel) string {
	if p.unit == "rate" {
		return p.title + " (/s)"
	}
	return p.title
}

func grafana(rs []row) ([]byte, error) {
	ds := common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}
	b := dashboard.NewDashboardBuilder(dashTitle).
		Uid(dashName).
		Description("What the otelcol-comfy sidecar received, classified, delivered, dropped, queued, retried and dead-lettered, per tier. deploy/dashboards/README.md").
		Tags([]string{"otelcol-comfy", "opentelemetry-collector", "comfyui"}).
		Refresh("30s").
		Time("now-1h", "now").
		Timezone("browser").
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Prometheus").Type("prometheus")).
		WithVariable(dashboard.NewQueryVariableBuilder("instance").
			Label("Sidecar").
			Datasource(ds).
			Query(dashboard.StringOrMap{String: cog.ToPtr(`label_values(up{job="otelcol-comfy"}, instance)`)}).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
			IncludeAll(true).
			AllValue(".*"))
	for _, r := range rs {
		b = b.WithRow(dashboard.NewRowBuilder(r.title))
		for _, p := range r.panels {
			unit := "short"
			if p.unit == "rate" {
				unit = "cps"
			}
			pb := timeseries.NewPanelBuilder().
				Title(title(p)).
				Description(p.description).
				Datasource(ds).
				Unit(unit).
				Min(0).
				Span(panelWidth).
				Height(panelHeight).
				Legend(common.NewVizLegendOptionsBuilder().
					ShowLegend(true).
					DisplayMode(common.LegendDisplayModeList).
					Placement(common.LegendPlacementBottom))
			for i, q := range p.queries {
				pb = pb.WithTarget(prometheus.NewDataqueryBuilder().
					Expr(q.expr).
					LegendFormat(q.legend).
					RefId(string(rune('A' + i))).
					Range())
			}
			b = b.WithPanel(pb)
		}
	}
	d, err := b.Build()
	if err != nil {
		return nil, err
	}
	return marshal(d)
}

// rules renders every query as a recording rule named
// dashboard:<panel>:<query index>, the dashboard variable replaced.
func rules(rs []row) []byte {
	var b strings.Builder
	b.WriteString("# Generated by deploy/dashboards/dashgen (go run . generate): every query of the\n")
	b.WriteString("# dashboards as a recording rule, so promtool checks its PromQL and\n")
	b.WriteString("# queries.test.yml checks what it selects ($instance replaced by .*).\n")
	b.WriteString("groups:\n  - name: otelcol-comfy-dashboard\n    rules:\n")
	for _, r := range rs {
		for _, p := range r.panels {
			for i, q := range p.queries {
				e, _ := json.Marshal(forRules(q.expr))
				fmt.Fprintf(&b, "      - record: dashboard:%s:%d\n        expr: %s\n", p.id, i, e)
			}
		}
	}
	return []byte(b.String())
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func sortedKeys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
