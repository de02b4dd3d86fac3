package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/buildtest"
	"github.com/edgectl/edgectl/internal/testbed"
	"github.com/edgectl/edgectl/remote"
)

// backendKeysFleet puts the agent in front of fdapp deployed with every
// backend key the uvicorn-style app uses: a dual-stack socket unit handing
// it fd 3, its code in working_dir, secrets in env_file, its own user.
const backendKeysFleet = `domains: [api.example.test]
agent:
  listen:
    - addr: "[::]:80"
  access_log: "off"
  upstreams:
    app:
      servers:
        - addr: "[::1]:8000"
        - addr: "127.0.0.1:8000"
          backup: true
      health: {path: /health, interval: 300ms, timeout: 1s, rise: 1, fall: 2}
  routes:
    - path: /
      upstream: app
backend:
  name: mop-api
  exec: "/opt/mop/bin/fdapp --fd 3"
  socket: "[::]:8000"
  health: "http://[::1]:8000/health"
  working_dir: /opt/mop
  user: mop
  env_file: /etc/mop/api.env
  environment: {LOG_LEVEL: info}
rollout:
  batch: 1
  health_timeout: 20s
  drain: 0s
`

// whoami is fdapp's answer.
type whoami struct {
	User      string `json:"user"`
	Cwd       string `json:"cwd"`
	LocalFile string `json:"local_file"`
	Greeting  string `json:"greeting"`
	LogLevel  string `json:"log_level"`
	ListenFDs string `json:"listen_fds"`
}

// TestDeployBackendKeys deploys an app with socket:, working_dir:, user:
// and env_file: to a systemd VPS: a missing env_file is refused before
// anything is written; once it is there the app runs as the created user,
// from working_dir, with env_file's values, on one socket reached over
// [::1] and 127.0.0.1 on the host and through the agent from outside.
func TestDeployBackendKeys(t *testing.T) {
	bin := buildtest.Binary(t, "./cmd/edgectl", "e2e-backend")
	app := buildtest.Binary(t, "./e2e/testdata/fdapp", "e2e")
	b := testbed.StartT(t, testbed.Options{Hosts: testbed.DualStack(1), BindRO: map[string]string{app: "/opt/mop/bin/fdapp"}})
	dir := t.TempDir()
	fleetPath := filepath.Join(dir, "fleet.yaml")
	writeFile(t, fleetPath, b.FleetYAML(backendKeysFleet))
	run := func(cmd string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := b.Run(ctx, "vps1", cmd)
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	const secret = "GREETING=from-env-file-9f3c"

	t.Run("a missing env_file is refused before anything is written", func(t *testing.T) {
		r := edgectl(t, bin, "deploy", fleetPath, "--yes", "--json")
		d := parseDeploy(t, r)
		if r.code != 1 || d.Status != "failed" || len(d.Hosts) != 1 || d.Hosts[0].Status != "aborted" ||
			!contains(d.Hosts[0].Error, "backend.env_file", "/etc/mop/api.env does not exist on the host", "create it there") {
			t.Fatalf("want exit 1, vps1 aborted naming backend.env_file and its path:\n%s", r)
		}
		if got := run("ls /usr/local/bin/edgectl /etc/systemd/system/mop-api.socket /var/lib/edgectl/deploy.json 2>/dev/null; id -u mop 2>/dev/null; true"); got != "" {
			t.Fatalf("the refused deploy left: %q", got)
		}
	})

	run("mkdir -p /etc/mop && printf '%s\\n' " + remote.ShellQuote(secret) + " > /etc/mop/api.env && chmod 600 /etc/mop/api.env && echo hello-from-working-dir > /opt/mop/greeting.txt")

	t.Run("deployed: user, working_dir, env_file, socket unit", func(t *testing.T) {
		r := edgectl(t, bin, "deploy", fleetPath, "--yes", "--json")
		d := parseDeploy(t, r)
		if r.code != 0 || d.Status != "ok" || d.Hosts[0].Status != "deployed" {
			t.Fatalf("deploy:\n%s", r)
		}
		if strings.Contains(r.stdout+r.stderr, "from-env-file") {
			t.Fatalf("deploy printed env_file's content:\n%s", r)
		}
		if got := run("getent passwd mop | cut -d: -f7; systemctl is-active mop-api.socket mop-api.service; systemctl is-enabled mop-api.socket"); got != "/usr/sbin/nologin\nactive\nactive\nenabled" {
			t.Fatalf("user shell, units active, socket enabled: %q", got)
		}
		for _, addr := range []string{"[::1]:8000", "127.0.0.1:8000"} {
			var w whoami
			if err := json.Unmarshal([]byte(run("curl -sS --max-time 5 http://"+addr+"/whoami")), &w); err != nil {
				t.Fatalf("%s: %v", addr, err)
			}
			want := whoami{User: "mop", Cwd: "/opt/mop", LocalFile: "hello-from-working-dir\n", Greeting: "from-env-file-9f3c", LogLevel: "info", ListenFDs: "1"}
			if w != want {
				t.Errorf("on the host via %s: %+v, want %+v", addr, w, want)
			}
		}
		// Both families from outside, through the agent.
		c := &http.Client{Timeout: 5 * time.Second}
		h := b.Hosts[0]
		for _, a := range []string{h.IPv4, h.IPv6} {
			url := "http://" + net.JoinHostPort(a, "80") + "/whoami"
			resp, err := c.Get(url)
			if err != nil {
				t.Fatalf("%s: %v", url, err)
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			var w whoami
			if resp.StatusCode != 200 || json.Unmarshal(body, &w) != nil || w.User != "mop" || w.Greeting != "from-env-file-9f3c" {
				t.Errorf("%s: %d %s", url, resp.StatusCode, body)
			}
		}
	})

	t.Run("redeploy changes nothing", func(t *testing.T) {
		r := edgectl(t, bin, "deploy", fleetPath, "--yes")
		if r.code != 0 || !strings.Contains(r.stdout, "1 unchanged") {
			t.Fatalf("redeploy:\n%s", r)
		}
	})
}
