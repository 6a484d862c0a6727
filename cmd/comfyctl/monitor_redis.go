package main

// Redis connection options for `comfyctl monitor`. They mirror the
// redisrouter exporter's settings (url wins over host/port; username and
// password; db; TLS) and read the same environment variables as the configs
// in configs/ (REDIS_URL, REDIS_HOST, REDIS_PORT, REDIS_PASSWORD), so an
// operator can point the monitor at whatever the sidecar writes to.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

type redisConnFlags struct {
	url                   string
	host                  string
	port                  int
	username              string
	password              string
	db                    int
	tls                   bool
	tlsInsecureSkipVerify bool
	tlsCA                 string
	tlsServerName         string
	dialTimeout           time.Duration
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

func envIntOr(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// bind registers the flags with environment defaults. Secrets are not shown
// as defaults in -h output: the usage text names the variable instead.
func (c *redisConnFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "url", "", "Redis URL redis://[user:pass@]host:port[/db] or rediss:// for TLS; wins over --host/--port (env REDIS_URL)")
	fs.StringVar(&c.host, "host", envOr("REDIS_HOST", "127.0.0.1"), "Redis host (env REDIS_HOST)")
	fs.IntVar(&c.port, "port", envIntOr("REDIS_PORT", 6379), "Redis port (env REDIS_PORT)")
	fs.StringVar(&c.username, "username", envOr("REDIS_USERNAME", ""), "Redis ACL user (env REDIS_USERNAME)")
	fs.StringVar(&c.password, "password", "", "Redis password (env REDIS_PASSWORD)")
	fs.IntVar(&c.db, "db", envIntOr("REDIS_DB", 0), "Redis database number (env REDIS_DB)")
	fs.BoolVar(&c.tls, "tls", false, "use TLS (implied by a rediss:// URL)")
	fs.BoolVar(&c.tlsInsecureSkipVerify, "tls-insecure-skip-verify", false, "TLS without verifying the server certificate")
	fs.StringVar(&c.tlsCA, "tls-ca", "", "PEM file with the CA that signed the server certificate")
	fs.StringVar(&c.tlsServerName, "tls-server-name", "", "server name to verify the certificate against (default: the host)")
	fs.DurationVar(&c.dialTimeout, "dial-timeout", 3*time.Second, "timeout for connecting to Redis")
}

// applyEnvSecrets fills secrets from the environment after parsing, so that
// they never end up in the flag defaults that -h prints.
// An explicit --host or --port beats REDIS_URL from the environment (an
// explicit --url beats everything, as the exporter's url beats endpoint).
func (c *redisConnFlags) applyEnvSecrets(set map[string]bool) {
	if !set["url"] && !set["host"] && !set["port"] {
		c.url = os.Getenv("REDIS_URL")
	}
	if !set["password"] {
		c.password = os.Getenv("REDIS_PASSWORD")
	}
}

// options builds go-redis options. Errors never contain the password or the
// raw URL (which may hold one).
func (c *redisConnFlags) options(set map[string]bool) (*redis.Options, error) {
	var o *redis.Options
	if c.url != "" {
		var err error
		o, err = redis.ParseURL(c.url)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return nil, fmt.Errorf("invalid --url/REDIS_URL (not shown, it may hold a password): %s", redactSecrets(err.Error(), c.url, c.password))
		}
		// Explicit flags refine the URL; the URL's own credentials win
		// over environment defaults, like the exporter's url/password.
		if o.Username == "" || set["username"] {
			if c.username != "" {
				o.Username = c.username
			}
		}
		if o.Password == "" || set["password"] {
			if c.password != "" {
				o.Password = c.password
			}
		}
		if set["db"] {
			o.DB = c.db
		}
	} else {
		if c.port <= 0 || c.port > 65535 {
			return nil, fmt.Errorf("invalid --port %d", c.port)
		}
		o = &redis.Options{
			Addr:     net.JoinHostPort(c.host, strconv.Itoa(c.port)),
			Username: c.username,
			Password: c.password,
			DB:       c.db,
		}
	}
	if c.tls || c.tlsInsecureSkipVerify || c.tlsCA != "" || c.tlsServerName != "" {
		if o.TLSConfig == nil {
			host, _, _ := net.SplitHostPort(o.Addr)
			o.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		if c.tlsServerName != "" {
			o.TLSConfig.ServerName = c.tlsServerName
		}
		o.TLSConfig.InsecureSkipVerify = c.tlsInsecureSkipVerify
		if c.tlsCA != "" {
			pem, err := os.ReadFile(c.tlsCA)
			if err != nil {
				return nil, fmt.Errorf("--tls-ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--tls-ca %s: no PEM certificate found", c.tlsCA)
			}
			o.TLSConfig.RootCAs = pool
		}
	}
	if c.dialTimeout > 0 {
		o.DialTimeout = c.dialTimeout
	}
	// The monitor runs its own retry loop with backoff and tells the user
	// what happens; one quick retry only hides a connection that died while
	// it sat in the pool (the first command after a Redis restart).
	o.MaxRetries = 1
	o.ReadTimeout = 5 * time.Second
	o.PoolSize = 4
	// RESP2: pub/sub messages arrive as plain replies on the subscriber
	// connection on every server version.
	o.Protocol = 2
	return o, nil
}

// describe names the server for messages: scheme, user, address and db,
// never the password.
func describeRedis(o *redis.Options) string {
	scheme := "redis"
	if o.TLSConfig != nil {
		scheme = "rediss"
	}
	user := ""
	if o.Username != "" {
		user = o.Username + "@"
	}
	return fmt.Sprintf("%s://%s%s/%d", scheme, user, o.Addr, o.DB)
}

// redactSecrets removes every secret from s: go-redis and net errors name
// the address, but a malformed URL may be echoed back whole.
func redactSecrets(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// quietRedisLogger drops go-redis's internal log lines ("pubsub: ...",
// pool messages) that would otherwise scribble over the display; the monitor
// reports connection state itself.
type quietRedisLogger struct{}

func (quietRedisLogger) Printf(context.Context, string, ...any) {}

var quietRedisOnce sync.Once

func silenceRedisLogs() { quietRedisOnce.Do(func() { redis.SetLogger(quietRedisLogger{}) }) }

// backoff is the retry delay while Redis cannot be reached: 250ms doubling
// up to 5s, reset once a command succeeds.
type backoff struct{ d time.Duration }

func (b *backoff) next() time.Duration {
	switch {
	case b.d == 0:
		b.d = 250 * time.Millisecond
	case b.d < 5*time.Second:
		b.d *= 2
		if b.d > 5*time.Second {
			b.d = 5 * time.Second
		}
	}
	return b.d
}

func (b *backoff) reset() { b.d = 0 }

// sleepCtx waits d or until ctx ends; false when ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// connState turns a stream of command results into two messages: one when
// Redis becomes unreachable and one when it is back. Repeated failures with
// the same cause stay quiet so the display is not flooded during an outage.
type connState struct {
	tier    string
	server  string
	secrets []string
	status  func(kind, msg string)
	down    bool
	lastErr string
	ever    bool
}

func (s *connState) failed(err error) {
	msg := redactSecrets(err.Error(), s.secrets...)
	if s.down && msg == s.lastErr {
		return
	}
	s.down, s.lastErr = true, msg
	if errors.Is(err, io.EOF) || strings.Contains(msg, "connection reset") {
		s.status("error", fmt.Sprintf("%slost the connection to Redis at %s (%s), reconnecting", s.prefix(), s.server, msg))
		return
	}
	s.status("error", fmt.Sprintf("%scannot reach Redis at %s: %s (retrying with backoff up to 5s)", s.prefix(), s.server, msg))
}

func (s *connState) ok() {
	if s.down {
		s.status("info", fmt.Sprintf("%sreconnected to Redis at %s", s.prefix(), s.server))
	}
	s.down, s.lastErr, s.ever = false, "", true
}

func (s *connState) prefix() string {
	if s.tier == "" {
		return ""
	}
	return s.tier + ": "
}

// stopping reports whether ctx has ended or is about to: a read whose
// deadline came from ctx can fail with a timeout a moment before ctx.Err()
// is set, and that is the end of the run, not a Redis outage.
func stopping(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl.Add(-50*time.Millisecond))
}
