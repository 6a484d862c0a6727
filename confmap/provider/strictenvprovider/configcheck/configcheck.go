// Package configcheck is a confmap converter that fails a resolved
// configuration on the mistakes that otherwise only show at run time, each
// error naming the field:
//
//   - every required `${env:NAME}` (no `:-` default) that was unset or empty,
//     all of them in one message (the strict env provider records them);
//   - listener and client addresses: any `endpoint` must be `host:port`
//     (or a URL with a host) with a valid host and a port in 1-65535, any
//     `port` must be an integer in 1-65535 and any `host` a valid host.
//
// The collector's own components accept `REDIS_HOST='bad host'`,
// `OTELCOL_METRICS_PORT=70000` or `OTLP_GRPC_ENDPOINT=nonsense` at validate
// time and fail (or retry forever) once running; here they fail `validate`.
// Our components validate their other settings themselves.
package configcheck // import "github.com/comfy-sidecar/otelcol-comfy/confmap/provider/strictenvprovider/configcheck"

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/confmap"

	"github.com/comfy-sidecar/otelcol-comfy/confmap/provider/strictenvprovider/internal/missing"
)

// NewFactory returns the converter factory listed under `converters:` in
// builder-config.yaml.
func NewFactory() confmap.ConverterFactory {
	return confmap.NewConverterFactory(func(confmap.ConverterSettings) confmap.Converter { return converter{} })
}

type converter struct{}

func (converter) Convert(_ context.Context, conf *confmap.Conf) error {
	var errs []error
	if names := missing.Take(); len(names) > 0 {
		errs = append(errs, fmt.Errorf("required environment variables are unset or empty: %s", strings.Join(names, ", ")))
	}
	var fieldErrs []error
	walk("", conf.ToStringMap(), &fieldErrs)
	slices.SortFunc(fieldErrs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(append(errs, fieldErrs...)...)
}

// sections whose `endpoint`, `host` and `port` keys are network addresses.
var addressSections = []string{"receivers", "exporters", "extensions", "service"}

func walk(path string, v any, errs *[]error) {
	switch t := v.(type) {
	case map[string]any:
		for k, child := range t {
			p := k
			if path != "" {
				p = path + "::" + k
			} else if !slices.Contains(addressSections, k) {
				continue
			}
			walk(p, child, errs)
		}
	case []any:
		for i, child := range t {
			walk(fmt.Sprintf("%s[%d]", path, i), child, errs)
		}
	default:
		checkLeaf(path, v, errs)
	}
}

func checkLeaf(path string, v any, errs *[]error) {
	key := path[strings.LastIndex(path, "::")+2:]
	var err error
	switch key {
	case "endpoint":
		if s, ok := v.(string); ok && s != "" {
			err = checkEndpoint(s)
		}
	case "port":
		err = checkPort(fmt.Sprint(v))
	case "host":
		if s, ok := v.(string); ok {
			err = checkHost(s)
		}
	}
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s: %w", path, err))
	}
}

// checkEndpoint accepts host:port, [ipv6]:port, and URLs (scheme://host[:port]/...).
func checkEndpoint(s string) error {
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return fmt.Errorf("%q is not a valid URL: %w", s, err)
		}
		if u.Hostname() == "" {
			return fmt.Errorf("%q has no host", s)
		}
		if err := checkHost(u.Hostname()); err != nil {
			return fmt.Errorf("%q: %w", s, err)
		}
		if p := u.Port(); p != "" {
			if err := checkPort(p); err != nil {
				return fmt.Errorf("%q: %w", s, err)
			}
		}
		return nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q must be host:port", s)
	}
	if err := checkHost(host); err != nil {
		return fmt.Errorf("%q: %w", s, err)
	}
	if err := checkPort(port); err != nil {
		return fmt.Errorf("%q: %w", s, err)
	}
	return nil
}

func checkPort(p string) error {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q must be an integer from 1 to 65535", p)
	}
	return nil
}

// checkHost accepts "" (all interfaces), IP addresses and RFC 1123 host names.
func checkHost(h string) error {
	if h == "" || net.ParseIP(h) != nil {
		return nil
	}
	if len(h) > 253 {
		return fmt.Errorf("host %q is too long", h)
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("host %q is not a valid host name or IP address", h)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("host %q is not a valid host name or IP address", h)
			}
		}
	}
	return nil
}
