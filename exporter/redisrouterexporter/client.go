package redisrouterexporter // import "github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter"

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"go.uber.org/zap"
)

// clientOptions turns the configuration into go-redis universal options.
// Errors never contain the password: URLs are redacted and go-redis's own
// URL errors (which may quote the URL) are replaced by our wording.
func clientOptions(ctx context.Context, c *Config) (*redis.UniversalOptions, error) {
	opts := &redis.UniversalOptions{
		Username:         c.Username,
		Password:         string(c.Password),
		DB:               c.DB,
		MasterName:       c.MasterName,
		SentinelUsername: c.SentinelUsername,
		SentinelPassword: string(c.SentinelPassword),
		DialTimeout:      c.DialTimeout,
		ReadTimeout:      c.ReadTimeout,
		WriteTimeout:     c.WriteTimeout,
		PoolSize:         c.PoolSize,
		// One retry layer: exporterhelper's. go-redis's own retries would
		// resend a whole pipeline after a read timeout, when Redis may
		// already have executed it: duplicates. (The commands are also
		// marked NoRetry, which covers the Cluster client's pipeline.)
		MaxRetries: -1,
		// Few quick dial attempts: exporterhelper owns retrying (with
		// backoff and the queue); long dial loops would only hold a
		// batch past its timeout during an outage.
		DialerRetries:      2,
		DialerRetryTimeout: 50 * time.Millisecond,
		// Redis 7.0 knows neither CLIENT SETINFO nor maintenance
		// notifications; skipping them saves a round trip per connection.
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		// RESP2: the exporter only writes (PUBLISH, XADD, EXPIRE) and uses
		// no RESP3 feature (push notifications, client-side caching). With
		// RESP3 go-redis checks for pending push frames before reading each
		// reply of a pipeline, ~9% of the exporter's CPU in make bench.
		Protocol: 2,
		// The exporter's deadline is exporterhelper's timeout.
		ContextTimeoutEnabled: true,
	}
	tlsWanted := !c.TLS.Insecure
	var urlAddr string
	if u := string(c.URL); u != "" {
		po, err := redis.ParseURL(u)
		if err != nil {
			return nil, fmt.Errorf("url %s: %s", redactURL(u), redactErr(err, u, string(c.Password)))
		}
		urlAddr = po.Addr
		if po.Username != "" {
			opts.Username = po.Username
		}
		if po.Password != "" {
			opts.Password = po.Password
		}
		if po.DB != 0 {
			opts.DB = po.DB
		}
		if po.TLSConfig != nil {
			tlsWanted = true
		}
	}

	switch c.Mode {
	case ModeCluster, ModeSentinel:
		if urlAddr != "" {
			opts.Addrs = append(opts.Addrs, urlAddr)
		}
		opts.Addrs = append(opts.Addrs, c.Addrs...)
		if len(opts.Addrs) == 0 && c.Endpoint != "" {
			opts.Addrs = []string{c.Endpoint}
		}
		opts.IsClusterMode = c.Mode == ModeCluster
		if c.Mode == ModeCluster {
			opts.MasterName = ""
		}
	default:
		// Standalone: exactly one address, or the universal client would
		// pick cluster mode.
		addr := c.Endpoint
		if urlAddr != "" {
			addr = urlAddr
		}
		opts.Addrs = []string{addr}
		opts.MasterName = ""
	}
	if len(opts.Addrs) == 0 {
		return nil, errors.New("no Redis address configured (url, endpoint or addrs)")
	}

	if tlsWanted {
		tc := c.TLS
		tc.Insecure = false
		tlsCfg, err := tc.LoadTLSConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		if tlsCfg == nil {
			tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if tlsCfg.ServerName == "" && !tlsCfg.InsecureSkipVerify {
			// crypto/tls needs a name to verify; use the host we dial.
			if host, _, err := net.SplitHostPort(opts.Addrs[0]); err == nil {
				tlsCfg.ServerName = host
			}
		}
		opts.TLSConfig = tlsCfg
	}
	return opts, nil
}

// redactErr renders err without any secret it may quote.
func redactErr(err error, secrets ...string) string {
	msg := err.Error()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		msg = strings.ReplaceAll(msg, s, "xxxxx")
		if u, perr := url.Parse(s); perr == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok && pw != "" {
				msg = strings.ReplaceAll(msg, pw, "xxxxx")
			}
		}
	}
	return msg
}

// go-redis logs (pool dial retries and the like) go to the process's stderr
// by default, outside the collector's logging. Route them to the first
// exporter's logger at debug level: our own warnings already report outages.
var redisLoggerOnce sync.Once

type zapRedisLogger struct{ l *zap.Logger }

func (z zapRedisLogger) Printf(_ context.Context, format string, v ...any) {
	z.l.Debug(fmt.Sprintf(format, v...))
}

func routeRedisLogs(l *zap.Logger) {
	redisLoggerOnce.Do(func() { redis.SetLogger(zapRedisLogger{l: l.Named("go-redis")}) })
}
