// Package agenttest runs a real agent inside a test's process, for the
// tests of the packages that talk to one over its admin socket.
package agenttest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/edgectl/edgectl/agent"
	"github.com/edgectl/edgectl/agentconfig"
)

// Start loads the agent.yaml at config, runs the agent until the test
// ends, and returns once its admin socket exists (or fails the test after
// 2 s).
func Start(t testing.TB, config string) *agentconfig.Config {
	t.Helper()
	cfg, err := agentconfig.Load(config)
	if err != nil {
		t.Fatal(err)
	}
	a := agent.New(cfg, config, "test", slog.New(slog.DiscardHandler), io.Discard)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	for i := 0; ; i++ {
		if _, err := os.Stat(cfg.Admin); err == nil {
			return cfg
		}
		if i > 200 {
			t.Fatalf("the agent's admin socket %s did not appear", cfg.Admin)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
