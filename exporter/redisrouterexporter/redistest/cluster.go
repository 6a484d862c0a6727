package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of n masters (no replicas) on loopback.
type Cluster struct {
	Nodes []*Server
}

// Addrs are the nodes' host:port, usable as go-redis cluster seeds.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr()
	}
	return out
}

// NodeForKey returns the node that owns key's hash slot: the one that
// answers a plain (non-cluster-aware) EXISTS without a MOVED redirection.
func (c *Cluster) NodeForKey(ctx context.Context, key string) (*Server, error) {
	for _, n := range c.Nodes {
		out, err := n.Cmd(ctx, nil, "EXISTS", key)
		if err == nil && !strings.HasPrefix(out, "MOVED") && !strings.Contains(out, "MOVED") {
			return n, nil
		}
	}
	return nil, fmt.Errorf("no node owns %q", key)
}

// StartCluster starts n (>= 3) cluster-enabled redis-servers, joins them
// with `redis-cli --cluster create --cluster-yes` and waits for
// cluster_state:ok on every node. The cluster bus port is set explicitly
// (cluster-port) because port+10000 may not exist for high ephemeral ports.
func StartCluster(tb testing.TB, n int, opts ...Option) *Cluster {
	tb.Helper()
	if n < 3 {
		tb.Fatalf("a Redis Cluster needs at least 3 masters, got %d", n)
	}
	c := &Cluster{}
	for i := 0; i < n; i++ {
		bus := FreePort(tb)
		nodeOpts := append([]Option{WithArgs(
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000", "--cluster-port", strconv.Itoa(bus),
		)}, opts...)
		c.Nodes = append(c.Nodes, Start(tb, nodeOpts...))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		tb.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, node := range c.Nodes {
		for {
			out, _ := node.Cmd(ctx, nil, "CLUSTER", "INFO")
			if strings.Contains(out, "cluster_state:ok") {
				break
			}
			if ctx.Err() != nil {
				tb.Fatalf("cluster node %s never reached cluster_state:ok: %s", node.Addr(), out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return c
}
