package harness

import (
	"context"
	"strconv"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// RawOTLP sends OTLP log requests without any SDK retry, so a test sees the
// exact gRPC status the sidecar answers (a refusal must be retryable).
type RawOTLP struct {
	conn   *grpc.ClientConn
	client collogspb.LogsServiceClient
}

// NewRawOTLP connects to endpoint (host:port, plaintext).
func NewRawOTLP(endpoint string) (*RawOTLP, error) {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		return nil, err
	}
	return &RawOTLP{conn: conn, client: collogspb.NewLogsServiceClient(conn)}, nil
}

// Close closes the connection.
func (r *RawOTLP) Close() error { return r.conn.Close() }

// Send exports n records with body and the attribute key=value on each
// (plus IDAttr = idPrefix-i when idPrefix is set) and returns the gRPC code.
func (r *RawOTLP) Send(ctx context.Context, n int, body string, resource map[string]string, idPrefix string) (codes.Code, error) {
	str := func(k, v string) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
	}
	res := &resourcepb.Resource{}
	for k, v := range resource {
		res.Attributes = append(res.Attributes, str(k, v))
	}
	now := uint64(time.Now().UnixNano())
	recs := make([]*logspb.LogRecord, n)
	for i := range recs {
		lr := &logspb.LogRecord{TimeUnixNano: now, ObservedTimeUnixNano: now, SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_INFO,
			SeverityText: "INFO", Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: body}}}
		if idPrefix != "" {
			lr.Attributes = append(lr.Attributes, str(IDAttr, idPrefix+"-"+strconv.Itoa(i)))
		}
		recs[i] = lr
	}
	req := &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource: res, ScopeLogs: []*logspb.ScopeLogs{{LogRecords: recs}},
	}}}
	_, err := r.client.Export(ctx, req)
	return status.Code(err), err
}

// Retryable reports whether OTLP clients retry a response with this code
// (OTLP/gRPC spec: Unavailable, ResourceExhausted with retry info, and a few
// transient ones).
func Retryable(c codes.Code) bool {
	switch c {
	case codes.Unavailable, codes.ResourceExhausted, codes.Aborted, codes.Canceled, codes.DeadlineExceeded, codes.OutOfRange, codes.DataLoss:
		return true
	}
	return false
}
