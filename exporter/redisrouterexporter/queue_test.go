package redisrouterexporter

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/comfy-sidecar/otelcol-comfy/exporter/redisrouterexporter/redistest"
)

// fastRetry makes exporterhelper retry quickly so outage tests stay short.
func fastRetry(cfg *Config) {
	cfg.RetryConfig.Enabled = true
	cfg.RetryConfig.InitialInterval = 20 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 200 * time.Millisecond
	cfg.RetryConfig.MaxElapsedTime = 0 // retry until delivered
	cfg.RetryConfig.RandomizationFactor = 0
	cfg.TimeoutConfig.Timeout = 2 * time.Second
	cfg.DialTimeout = 200 * time.Millisecond
}

// distinctEventIDs reads a stream and counts distinct event ids (retries may
// duplicate an entry whose reply was lost; event_id dedupes them).
func distinctEventIDs(t *testing.T, c *redis.Client, key string) int {
	t.Helper()
	entries, err := c.XRange(context.Background(), key, "-", "+").Result()
	if err != nil {
		return 0
	}
	seen := map[any]bool{}
	for _, e := range entries {
		seen[e.Values["event_id"]] = true
	}
	return len(seen)
}

func TestRedisStoppedMidStreamLosesNoFailure(t *testing.T) {
	// appendfsync always: what Redis acknowledged before the SIGKILL survives.
	srv := redistest.Start(t, redistest.WithArgs("--appendonly", "yes", "--appendfsync", "always"))
	cfg := testConfig(srv)
	fastRetry(cfg)
	exp := newHelperExporter(t, cfg, nil)
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()

	const batches, perBatch = 30, 10
	for b := 0; b < batches; b++ {
		switch b {
		case 10:
			srv.Stop()
		case 20:
			require.NoError(t, srv.Start())
		}
		recs := make([]rec, perBatch)
		for i := range recs {
			recs[i] = failure("m1", "outage", fmt.Sprintf("error %d/%d", b, i))
		}
		require.NoError(t, exp.ConsumeLogs(context.Background(), makeLogs(recs...)))
		if b == 19 {
			time.Sleep(500 * time.Millisecond) // let the retries hit the outage
		}
	}
	c := client(t, srv)
	eventually(t, 30*time.Second, func() bool {
		return distinctEventIDs(t, c, "job:events:outage") == batches*perBatch
	}, "all %d failures delivered after the outage", batches*perBatch)
}

// host hands extensions (the file storage) to the exporter.
type host struct {
	ext map[component.ID]component.Component
}

func (h host) GetExtensions() map[component.ID]component.Component { return h.ext }

func startFileStorage(t *testing.T, dir string) (extension.Extension, host) {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	h := host{ext: map[component.ID]component.Component{component.NewIDWithName(f.Type(), "queue"): ext}}
	require.NoError(t, ext.Start(context.Background(), h))
	return ext, h
}

func TestPersistentQueueSurvivesOutageAndRestart(t *testing.T) {
	dir := t.TempDir()
	port := redistest.FreePort(t)
	storageID := component.MustNewIDWithName("file_storage", "queue")
	mkCfg := func() *Config {
		cfg := testConfig(nil)
		cfg.Endpoint = fmt.Sprintf("127.0.0.1:%d", port)
		fastRetry(cfg)
		q := exporterhelper.NewDefaultQueueConfig()
		q.StorageID = &storageID
		q.NumConsumers = 2
		cfg.QueueConfig = configoptional.Some(q)
		return cfg
	}

	// First "collector run": Redis is down the whole time. Records are
	// accepted into the file-backed queue, then the process goes away.
	ext, h := startFileStorage(t, dir)
	exp := newHelperExporter(t, mkCfg(), h)
	const n = 40
	for i := 0; i < n/10; i++ {
		recs := make([]rec, 10)
		for j := range recs {
			recs[j] = failure("m1", "persisted", fmt.Sprintf("error %d/%d", i, j))
		}
		require.NoError(t, exp.ConsumeLogs(context.Background(), makeLogs(recs...)))
	}
	time.Sleep(100 * time.Millisecond) // let consumers pick items up and fail at least once
	require.NoError(t, exp.Shutdown(context.Background()))
	require.NoError(t, ext.Shutdown(context.Background()))

	// Second run: Redis is back; a new exporter on the same storage
	// delivers what the first run could not.
	srv := redistest.StartOnPort(t, port)
	ext2, h2 := startFileStorage(t, dir)
	exp2 := newHelperExporter(t, mkCfg(), h2)
	defer func() {
		require.NoError(t, exp2.Shutdown(context.Background()))
		require.NoError(t, ext2.Shutdown(context.Background()))
	}()
	c := client(t, srv)
	eventually(t, 30*time.Second, func() bool {
		return distinctEventIDs(t, c, "job:events:persisted") == n
	}, "all %d failures queued during the outage are delivered after restart (got %d)", n, distinctEventIDs(t, c, "job:events:persisted"))
}
