package templates_test

import (
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/buildtest"
	"github.com/edgectl/edgectl/internal/testbed"
)

func TestMain(m *testing.M) {
	code := m.Run()
	buildtest.Cleanup()
	os.Exit(code)
}

// TestAgentUnitSandbox installs the agent with its unit on a testbed VPS
// (systemd 252, Debian bookworm) and checks what the hardening costs and
// buys: systemd-analyze security scores the unit at most 2.0, and inside
// the sandbox the agent still serves, reloads, upgrades itself in place,
// answers on its admin socket and writes an access log under
// /var/log/edgectl, while --check refuses a log path the unit makes
// read-only.
func TestAgentUnitSandbox(t *testing.T) {
	bin := buildtest.Binary(t, "./cmd/edgectl", "unit-test")
	app := buildtest.Binary(t, "./internal/sampleapp", "unit-test")
	b := testbed.StartT(t, testbed.Options{Hosts: testbed.DualStack(1),
		BindRO: map[string]string{app: "/opt/sample/sampleapp", bin: "/opt/unit/edgectl"}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run := func(cmd string) string {
		t.Helper()
		out, err := b.Run(ctx, "vps1", cmd)
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		return string(out)
	}
	run(`cat > /root/agent.yaml <<'EOF'
listen:
  - addr: "[::]:80"
access_log: /var/log/edgectl/access.log
upstreams:
  app:
    servers:
      - addr: "[::1]:8000"
    health: {path: /health, interval: 300ms, rise: 1}
routes:
  - path: /
    upstream: app
EOF`)
	out := run("/opt/unit/edgectl install --config /root/agent.yaml --backend-name sample-api " +
		"--backend-exec '/opt/sample/sampleapp -listen [::]:8000' --backend-health 'http://[::1]:8000/health' --health-timeout 20s 2>&1")
	if !strings.Contains(out, "deployed") {
		t.Fatalf("install: %s", out)
	}

	sec := run("systemd-analyze security edgectl-agent.service 2>&1")
	m := regexp.MustCompile(`Overall exposure level for edgectl-agent.service: ([0-9.]+)`).FindStringSubmatch(sec)
	if m == nil {
		t.Fatalf("no score in:\n%s", sec)
	}
	score, _ := strconv.ParseFloat(m[1], 64)
	t.Logf("systemd-analyze security edgectl-agent.service: %s", m[1])
	if score > 2.0 {
		t.Errorf("exposure %.1f, want at most 2.0:\n%s", score, sec)
	}

	// Serving, reloading and upgrading inside the sandbox.
	if got := run("curl -s -o /dev/null -w '%{http_code}' 'http://[::1]/api/v1/ping'"); got != "200" {
		t.Fatalf("request through the agent: %s", got)
	}
	run("systemctl reload edgectl-agent && sleep 0.5")
	if got := run("/usr/local/bin/edgectl agent status 2>&1"); !strings.Contains(got, "1 reloads") {
		t.Errorf("admin socket after a reload: %s", got)
	}
	before := run("systemctl show -p MainPID --value edgectl-agent")
	run("/usr/local/bin/edgectl agent upgrade && sleep 1")
	after := run("systemctl show -p MainPID --value edgectl-agent")
	if before == after || run("systemctl is-active edgectl-agent") != "active\n" {
		t.Errorf("upgrade in place: main pid %s -> %s", strings.TrimSpace(before), strings.TrimSpace(after))
	}
	if got := run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1/api/v1/ping; sleep 0.3; cat /var/log/edgectl/access.log | wc -l"); !strings.HasPrefix(got, "200") || strings.HasSuffix(got, "\n0\n") {
		t.Errorf("access log under /var/log/edgectl: %q", got)
	}

	// A log path the unit cannot write is refused before a restart would
	// fail on it.
	out = run("sed 's#/var/log/edgectl/access.log#/srv/edgectl/access.log#' /root/agent.yaml > /root/bad.yaml; " +
		"/usr/local/bin/edgectl agent --check --config /root/bad.yaml 2>&1; echo exit=$?")
	if !strings.Contains(out, "exit=2") || !strings.Contains(out, "ProtectSystem=strict") {
		t.Errorf("--check of an unwritable access_log:\n%s", out)
	}
}
