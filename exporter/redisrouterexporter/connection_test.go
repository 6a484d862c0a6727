package redisrouterexporter

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/internal/metadata"
	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/redistest"
)

func TestPasswordAuthAndSecretsStayOut(t *testing.T) {
	const secret = "s3cret-Pa55word"
	srv := redistest.Start(t, redistest.WithPassword(secret))

	cfg := testConfig(srv)
	cfg.Password = secret
	e := newDirect(t, cfg)
	require.NoError(t, e.pushLogs(context.Background(), makeLogs(failure("m1", "j1", "boom"))))

	// Wrong password in the URL: the push fails (retryable: an operator can
	// fix it), and neither the error nor the logs show the secret.
	core, logs := observer.New(zap.DebugLevel)
	bad := testConfig(nil)
	bad.URL = configopaque.String("redis://default:" + "wrong-" + secret + "@" + srv.Addr() + "/0")
	set := exportertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	ex, err := newRedisExporter(bad, set)
	require.NoError(t, err)
	require.NoError(t, ex.start(context.Background(), componenttest.NewNopHost()))
	defer func() { _ = ex.shutdown(context.Background()) }()
	err = ex.pushLogs(context.Background(), makeLogs(failure("m1", "j1", "boom")))
	require.Error(t, err)
	assert.True(t, isRetryable(err))
	assert.NotContains(t, err.Error(), secret)
	eventually(t, 5*time.Second, func() bool { return logs.Len() > 0 }, "start logs the reachability check")
	for _, l := range logs.All() {
		assert.NotContains(t, fmt.Sprint(l.Message, l.ContextMap()), secret)
	}
	assert.NotContains(t, fmt.Sprintf("%v %+v", bad, bad), secret, "configopaque hides url and password")
}

func TestACLUser(t *testing.T) {
	srv := redistest.Start(t,
		redistest.WithACLUser("sidecar", "sidecar-pw", "~job:*", "~machine:*", "&machine:*", "+xadd", "+publish", "+expire", "+ping", "+hello", "+client"),
		redistest.WithArgs("--requirepass", "admin-pw"))

	// Through username/password fields.
	cfg := testConfig(srv)
	cfg.Username = "sidecar"
	cfg.Password = "sidecar-pw"
	cfg.Failures.TTL = time.Minute
	e := newDirect(t, cfg)
	require.NoError(t, e.pushLogs(context.Background(), makeLogs(failure("m1", "j1", "boom"), progress("m1", "j1", 1, 2))))

	// Through a URL with userinfo.
	cfg = testConfig(nil)
	cfg.URL = configopaque.String("redis://sidecar:sidecar-pw@" + srv.Addr() + "/0")
	e2 := newDirect(t, cfg)
	require.NoError(t, e2.pushLogs(context.Background(), makeLogs(failure("m1", "j1", "boom"))))

	admin := redis.NewClient(&redis.Options{Addr: srv.Addr(), Password: "admin-pw", DisableIdentity: true})
	defer admin.Close()
	n, err := admin.XLen(context.Background(), "job:events:j1").Result()
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)
}

func TestTLS(t *testing.T) {
	srv := redistest.StartTLS(t, nil)
	check := redis.NewClient(&redis.Options{Addr: srv.Addr(), TLSConfig: srv.TLS.ClientConfig(), DisableIdentity: true})
	defer check.Close()

	t.Run("rediss url with ca_file", func(t *testing.T) {
		cfg := testConfig(nil)
		cfg.URL = configopaque.String("rediss://" + srv.Addr())
		cfg.TLS = configtls.ClientConfig{Config: configtls.Config{CAFile: srv.TLS.CAFile}}
		e := newDirect(t, cfg)
		require.NoError(t, e.pushLogs(context.Background(), makeLogs(failure("m1", "tls1", "boom"))))
		n, err := check.XLen(context.Background(), "job:events:tls1").Result()
		require.NoError(t, err)
		assert.Equal(t, int64(1), n)
	})
	t.Run("endpoint with tls insecure false", func(t *testing.T) {
		cfg := testConfig(srv)
		cfg.TLS = configtls.ClientConfig{Insecure: false, Config: configtls.Config{CAFile: srv.TLS.CAFile}}
		e := newDirect(t, cfg)
		require.NoError(t, e.pushLogs(context.Background(), makeLogs(progress("m1", "j", 1, 2))))
	})
	t.Run("unknown CA is refused", func(t *testing.T) {
		cfg := testConfig(nil)
		cfg.URL = configopaque.String("rediss://" + srv.Addr())
		e := newDirect(t, cfg)
		err := e.pushLogs(context.Background(), makeLogs(failure("m1", "tls2", "boom")))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "certificate")
	})
}

func TestMutualTLS(t *testing.T) {
	srv := redistest.StartTLS(t, []redistest.TLSOption{redistest.WithTLSClientAuth()})
	cfg := testConfig(srv)
	cfg.TLS = configtls.ClientConfig{Config: configtls.Config{
		CAFile: srv.TLS.CAFile, CertFile: srv.TLS.ClientCertFile, KeyFile: srv.TLS.ClientKeyFile}}
	e := newDirect(t, cfg)
	require.NoError(t, e.pushLogs(context.Background(), makeLogs(failure("m1", "mtls", "boom"))))
}

func TestCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	ctx := context.Background()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs(), DisableIdentity: true})
	defer cc.Close()

	// Pick ids whose keys live on different nodes.
	const machine = "gpu-box-1"
	channelNode, err := cl.NodeForKey(ctx, "machine:"+machine+":progress")
	require.NoError(t, err)
	job := ""
	for i := 0; i < 100 && job == ""; i++ {
		candidate := fmt.Sprintf("job-%d", i)
		n, err := cl.NodeForKey(ctx, "job:events:"+candidate)
		require.NoError(t, err)
		if n.Port != channelNode.Port {
			job = candidate
		}
	}
	require.NotEmpty(t, job)

	cfg := testConfig(nil)
	cfg.Mode = ModeCluster
	cfg.Endpoint = ""
	cfg.Addrs = cl.Addrs()[:1] // one seed is enough: the client discovers the rest
	e := newDirect(t, cfg)
	ps := cc.Subscribe(ctx, "machine:"+machine+":progress")
	defer ps.Close()
	_, err = ps.Receive(ctx)
	require.NoError(t, err)

	// One batch, keys on different nodes: go-redis splits the pipeline per node.
	require.NoError(t, e.pushLogs(ctx, makeLogs(
		failure(machine, job, "boom"), progress(machine, job, 3, 10), failure(machine, "", "no job"))))
	msg := receive(t, ps)
	assert.Equal(t, "machine:"+machine+":progress", msg.Channel)

	n, err := cc.XLen(ctx, "job:events:"+job).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	n, err = cc.XLen(ctx, "machine:"+machine+":failures").Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	streamNode, err := cl.NodeForKey(ctx, "job:events:"+job)
	require.NoError(t, err)
	out, err := streamNode.Cmd(ctx, nil, "XLEN", "job:events:"+job)
	require.NoError(t, err)
	assert.Equal(t, "1", out, "the stream is on its own node")
	assert.NotEqual(t, channelNode.Port, streamNode.Port)
}

func TestSentinel(t *testing.T) {
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, master, "comfymaster")
	cfg := testConfig(nil)
	cfg.Mode = ModeSentinel
	cfg.MasterName = sentinel.MasterName
	cfg.Addrs = []string{sentinel.Addr()}
	e := newDirect(t, cfg)
	require.NoError(t, e.pushLogs(context.Background(), makeLogs(failure("m1", "sentinel-job", "boom"), progress("m1", "j", 1, 2))))
	n, err := client(t, master).XLen(context.Background(), "job:events:sentinel-job").Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "written to the master the Sentinel named")
}
