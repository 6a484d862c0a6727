package harness

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/redistest"
)

// Dash0 is the Dash0 stand-in: a second otelcol-comfy with an `otlp` gRPC
// receiver and the `file` exporter writing OTLP JSON lines. It can be stopped
// (an outage) and started again on the same port. Each run writes its own
// file so nothing depends on how the file exporter opens an existing file.
type Dash0 struct {
	*Process
	Port int
	Dir  string
	// TLS: the receiver serves TLS with a self-signed certificate; CAFile
	// is that certificate, for the sidecar's SSL_CERT_FILE.
	TLS    bool
	CAFile string
	tb     testing.TB
}

// Dash0Options configure StartDash0.
type Dash0Options struct {
	// TLS serves the receiver over TLS like the real Dash0 endpoint.
	TLS bool
}

const dash0Config = `# Dash0 stand-in for tests: OTLP gRPC in, OTLP JSON lines out.
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:${env:STANDIN_GRPC_PORT}
        # The stock limit (4 MiB per gRPC message), as a stock collector or
        # backend in front of the sidecar has: never looser, so a batch the
        # sidecar makes too large fails here as it would in production.
        # Keep the request headers so the test can check what the sidecar
        # sends to Dash0 (Authorization, Dash0-Dataset).
        include_metadata: true
%s
processors:
  attributes/headers:
    actions:
      - key: standin.authorization
        from_context: metadata.authorization
        action: insert
      - key: standin.dataset
        from_context: metadata.dash0-dataset
        action: insert
exporters:
  file:
    path: ${env:STANDIN_OUT}
    flush_interval: 50ms
extensions:
  health_check:
    endpoint: 127.0.0.1:${env:STANDIN_HEALTH_PORT}
service:
  extensions: [health_check]
  telemetry:
    logs:
      level: warn
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [otlp]
      processors: [attributes/headers]
      exporters: [file]
`

// StartDash0 starts the stand-in and waits until it is healthy.
func StartDash0(tb testing.TB, o Dash0Options) *Dash0 {
	tb.Helper()
	dir := tb.TempDir()
	d := &Dash0{Port: redistest.FreePort(tb), Dir: dir, TLS: o.TLS, tb: tb}
	tlsBlock := ""
	if o.TLS {
		cert, key := writeSelfSigned(tb, dir)
		d.CAFile = cert
		tlsBlock = fmt.Sprintf("        tls:\n          cert_file: %s\n          key_file: %s\n", cert, key)
	}
	cfg := filepath.Join(dir, "dash0-standin.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(dash0Config, tlsBlock)), 0o644); err != nil {
		tb.Fatal(err)
	}
	health := redistest.FreePort(tb)
	d.Process = NewProcess(tb, ProcessOptions{
		Name: "dash0-standin", ConfigPath: cfg, HealthPort: health, Dir: dir,
		Env: map[string]string{"STANDIN_GRPC_PORT": strconv.Itoa(d.Port), "STANDIN_HEALTH_PORT": strconv.Itoa(health)},
	})
	d.Start()
	return d
}

// Endpoint is host:port of the OTLP gRPC receiver.
func (d *Dash0) Endpoint() string { return "127.0.0.1:" + strconv.Itoa(d.Port) }

// Start (re)starts the stand-in, writing to a new file, and waits for health.
func (d *Dash0) Start() {
	d.tb.Helper()
	d.Env["STANDIN_OUT"] = filepath.Join(d.Dir, fmt.Sprintf("received-%03d.jsonl", d.Starts()+1))
	d.StartHealthy(30 * time.Second)
}

// Down takes the stand-in away (an outage). It stops with SIGTERM so that
// what it had already acknowledged is flushed to its file: a loss counted
// later is then the sidecar's, never the stand-in's own.
func (d *Dash0) Down() {
	d.tb.Helper()
	if err := d.Stop(30 * time.Second); err != nil {
		d.tb.Log(err)
	}
}

// Attributes the stand-in adds to every record from the request headers.
const (
	StandinAuthorizationAttr = "standin.authorization"
	StandinDatasetAttr       = "standin.dataset"
)

// Record is one log record as the stand-in received it.
type Record struct {
	Resource     map[string]any
	Scope        map[string]any
	Attrs        map[string]any
	Body         string
	SeverityText string
	SeverityNum  int
	Time         time.Time
	Observed     time.Time
	// File and line where the record was read, for messages.
	Where string
}

// Attr returns a record attribute as a string ("" when absent).
func (r *Record) Attr(k string) string { return AttrString(r.Attrs[k]) }

// ResAttr returns a resource attribute as a string.
func (r *Record) ResAttr(k string) string { return AttrString(r.Resource[k]) }

// Lookup returns the attribute k from the record, then its resource.
func (r *Record) Lookup(k string) (string, bool) {
	if v, ok := r.Attrs[k]; ok {
		return AttrString(v), true
	}
	if v, ok := r.Resource[k]; ok {
		return AttrString(v), true
	}
	return "", false
}

// AttrString renders an attribute value decoded from OTLP JSON.
func AttrString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// Records reads every record the stand-in has written so far, over all its
// runs. A partly written last line is ignored (read it again later).
func (d *Dash0) Records() ([]Record, error) {
	files, _ := filepath.Glob(filepath.Join(d.Dir, "received-*.jsonl"))
	sort.Strings(files)
	var out []Record
	for _, f := range files {
		recs, err := ReadOTLPJSONFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	return out, nil
}

// ByAttr groups records by the value of attribute k (record, then resource).
func ByAttr(recs []Record, k string) map[string][]Record {
	m := make(map[string][]Record)
	for _, r := range recs {
		if v, ok := r.Lookup(k); ok {
			m[v] = append(m[v], r)
		}
	}
	return m
}

// ReadOTLPJSONFile parses the file exporter's JSON lines.
func ReadOTLPJSONFile(path string) ([]Record, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// The exporter may be in the middle of writing the last line: only
	// complete lines count.
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	} else {
		b = nil
	}
	var out []Record
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 1<<20), 1<<30)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var doc otlpLogsJSON
		if err := json.Unmarshal(line, &doc); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, lineNo, err)
		}
		for _, rl := range doc.ResourceLogs {
			res := kvMap(rl.Resource.Attributes)
			for _, sl := range rl.ScopeLogs {
				scope := kvMap(sl.Scope.Attributes)
				for _, lr := range sl.LogRecords {
					out = append(out, Record{
						Resource: res, Scope: scope, Attrs: kvMap(lr.Attributes),
						Body: AttrString(lr.Body.value()), SeverityText: lr.SeverityText,
						SeverityNum: lr.SeverityNumber, Time: nanos(lr.TimeUnixNano),
						Observed: nanos(lr.ObservedTimeUnixNano), Where: fmt.Sprintf("%s:%d", filepath.Base(path), lineNo),
					})
				}
			}
		}
	}
	return out, sc.Err()
}

type otlpLogsJSON struct {
	ResourceLogs []struct {
		Resource struct {
			Attributes []kvJSON `json:"attributes"`
		} `json:"resource"`
		ScopeLogs []struct {
			Scope struct {
				Attributes []kvJSON `json:"attributes"`
			} `json:"scope"`
			LogRecords []struct {
				TimeUnixNano         string   `json:"timeUnixNano"`
				ObservedTimeUnixNano string   `json:"observedTimeUnixNano"`
				SeverityNumber       int      `json:"severityNumber"`
				SeverityText         string   `json:"severityText"`
				Body                 anyValue `json:"body"`
				Attributes           []kvJSON `json:"attributes"`
			} `json:"logRecords"`
		} `json:"scopeLogs"`
	} `json:"resourceLogs"`
}

type kvJSON struct {
	Key   string   `json:"key"`
	Value anyValue `json:"value"`
}

type anyValue struct {
	StringValue *string          `json:"stringValue"`
	IntValue    *json.RawMessage `json:"intValue"`
	DoubleValue *float64         `json:"doubleValue"`
	BoolValue   *bool            `json:"boolValue"`
	BytesValue  *string          `json:"bytesValue"`
	ArrayValue  *struct {
		Values []anyValue `json:"values"`
	} `json:"arrayValue"`
	KvlistValue *struct {
		Values []kvJSON `json:"values"`
	} `json:"kvlistValue"`
}

func (v anyValue) value() any {
	switch {
	case v.StringValue != nil:
		return *v.StringValue
	case v.IntValue != nil:
		s := strings.Trim(string(*v.IntValue), `"`)
		f, _ := strconv.ParseFloat(s, 64)
		return f
	case v.DoubleValue != nil:
		return *v.DoubleValue
	case v.BoolValue != nil:
		return *v.BoolValue
	case v.BytesValue != nil:
		return *v.BytesValue
	case v.ArrayValue != nil:
		a := make([]any, 0, len(v.ArrayValue.Values))
		for _, x := range v.ArrayValue.Values {
			a = append(a, x.value())
		}
		return a
	case v.KvlistValue != nil:
		return kvMap(v.KvlistValue.Values)
	}
	return nil
}

func kvMap(kvs []kvJSON) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value.value()
	}
	return m
}

func nanos(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// writeSelfSigned writes a certificate and key for 127.0.0.1 / localhost.
func writeSelfSigned(tb testing.TB, dir string) (certFile, keyFile string) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "dash0-standin"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "standin.crt"), filepath.Join(dir, "standin.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return certFile, keyFile
}
