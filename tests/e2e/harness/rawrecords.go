package harness

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// RawRecord is one log record for SendRecords: a body and string attributes.
type RawRecord struct {
	Body  string
	Attrs map[string]string
}

func kv(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

// Request builds one OTLP logs request holding recs under one resource.
func Request(recs []RawRecord, resource map[string]string) *collogspb.ExportLogsServiceRequest {
	res := &resourcepb.Resource{}
	for k, v := range resource {
		res.Attributes = append(res.Attributes, kv(k, v))
	}
	now := uint64(time.Now().UnixNano())
	lrs := make([]*logspb.LogRecord, len(recs))
	for i, r := range recs {
		lr := &logspb.LogRecord{TimeUnixNano: now, ObservedTimeUnixNano: now, SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_INFO,
			SeverityText: "INFO", Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: r.Body}}}
		for k, v := range r.Attrs {
			lr.Attributes = append(lr.Attributes, kv(k, v))
		}
		lrs[i] = lr
	}
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource: res, ScopeLogs: []*logspb.ScopeLogs{{LogRecords: lrs}},
	}}}
}

// SendRecords exports recs in one gRPC request and returns the gRPC code.
func (r *RawOTLP) SendRecords(ctx context.Context, recs []RawRecord, resource map[string]string) (codes.Code, error) {
	_, err := r.client.Export(ctx, Request(recs, resource))
	return status.Code(err), err
}

// SendHTTP exports recs in one OTLP/HTTP protobuf request to
// http://endpoint/v1/logs and returns the HTTP status code.
func SendHTTP(ctx context.Context, endpoint string, recs []RawRecord, resource map[string]string) (int, error) {
	b, err := proto.Marshal(Request(recs, resource))
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+endpoint+"/v1/logs", bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("OTLP/HTTP: %s", resp.Status)
	}
	return resp.StatusCode, nil
}
