package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/buildtest"
	"github.com/edgectl/edgectl/internal/testbed"
)

// TestInstall runs `edgectl install` on a VPS itself (no SSH from edgectl):
// the same plan, apply and gate as deploy, for one box.
func TestInstall(t *testing.T) {
	bin := buildtest.Binary(t, "./cmd/edgectl", "e2e-v1")
	app := buildtest.Binary(t, "./internal/sampleapp", "e2e")
	b := testbed.StartT(t, testbed.Options{Hosts: testbed.DualStack(1),
		BindRO: map[string]string{app: "/opt/sample/sampleapp", bin: "/opt/e2e/edgectl"}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run := func(cmd string) (string, error) {
		out, err := b.Run(ctx, "vps1", cmd)
		return string(out), err
	}
	const agentYAML = `cat > /root/agent.yaml <<'EOF'
listen:
  - addr: "[::]:80"
access_log: "off"
upstreams:
  app:
    servers:
      - addr: "[::1]:8000"
      - addr: "127.0.0.1:8000"
        backup: true
    health: {path: /health, interval: 300ms, rise: 1}
routes:
  - path: /
    upstream: app
EOF`
	if _, err := run(agentYAML); err != nil {
		t.Fatal(err)
	}
	install := "/opt/e2e/edgectl install --config /root/agent.yaml --backend-name sample-api " +
		"--backend-exec '/opt/sample/sampleapp -listen [::]:8000' --backend-health 'http://[::1]:8000/health' --health-timeout 20s"
	out, err := run(install)
	if err != nil || !strings.Contains(out, "localhost  deployed  install:") {
		t.Fatalf("first install: %v\n%s", err, out)
	}
	checkServing(t, b)
	out, err = run(install)
	if err != nil || !strings.Contains(out, "localhost  unchanged  no change") {
		t.Fatalf("second install must change nothing: %v\n%s", err, out)
	}
	// A broken config is refused before anything is written (exit 2).
	if _, err := run("printf 'listen: [\\n' > /root/bad.yaml"); err != nil {
		t.Fatal(err)
	}
	out, err = run("/opt/e2e/edgectl install --config /root/bad.yaml; echo exit=$?")
	if err != nil || !strings.Contains(out, "exit=2") {
		t.Fatalf("install of a broken config: %v\n%s", err, out)
	}
}
