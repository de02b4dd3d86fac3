package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/buildtest"
	"github.com/edgectl/edgectl/internal/testbed"
)

// fleetExtra is the fleet.yaml tail of these tests: an agent on [::]:80 in
// front of the sample backend on [::]:8000 ([::1] primary, 127.0.0.1
// backup), installed as a unit. ka varies the config; upstream replaces
// the primary server (a dead one fails the gate).
func fleetExtra(ka string, primary string) string {
	return fmt.Sprintf(`domains: [api.example.test]
agent:
  listen:
    - addr: "[::]:80"
  access_log: "off"
  drain: {delay: 1s, timeout: 5s}
  upstreams:
    app:
      servers:
        - addr: %q
        - addr: "127.0.0.1:8000"
          backup: true
      keepalive_timeout: %s
      health: {path: /health, interval: 300ms, timeout: 1s, rise: 1, fall: 2}
  routes:
    - path: /
      upstream: app
backend:
  name: sample-api
  exec: "/opt/sample/sampleapp -listen [::]:8000"
  health: "http://[::1]:8000/health"
rollout:
  batch: 1
  health_timeout: 20s
  drain: 1s
`, primary, ka)
}

// deployJSON is the part of `deploy --json` the tests read.
type deployJSON struct {
	Status string `json:"status"`
	Error  *struct {
		Message  string `json:"message"`
		ExitCode int    `json:"exit_code"`
	} `json:"error"`
	Hosts []struct {
		Name     string            `json:"name"`
		Status   string            `json:"status"`
		Action   string            `json:"action"`
		Summary  string            `json:"summary"`
		Error    string            `json:"error"`
		Step     string            `json:"step"`
		Failures []string          `json:"failures"`
		Logs     map[string]string `json:"logs"`
		Notes    []string          `json:"notes"`
	} `json:"hosts"`
	Next []string `json:"next"`
}

func parseDeploy(t *testing.T, r result) deployJSON {
	t.Helper()
	var d deployJSON
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("deploy --json output: %v\n%s", err, r)
	}
	return d
}

func (d deployJSON) statuses() map[string]string {
	m := map[string]string{}
	for _, h := range d.Hosts {
		m[h.Name] = h.Status
	}
	return m
}

// targets are every public address of the bed on port 80, one per family
// a host has.
func targets(b *testbed.Bed) []string {
	var out []string
	for _, h := range b.Hosts {
		for _, a := range []string{h.IPv4, h.IPv6} {
			if a != "" {
				out = append(out, net.JoinHostPort(a, "80"))
			}
		}
	}
	return out
}

// load sends GETs through every host's agent to the backend until stop is
// closed and reports how many were sent and which failed.
type load struct {
	sent, failed atomic.Int64
	mu           sync.Mutex
	errs         []string
	stop         chan struct{}
	wg           sync.WaitGroup
}

func startLoad(addrs []string, workers int) *load {
	l := &load{stop: make(chan struct{})}
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
			for i := w; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				addr := addrs[i%len(addrs)]
				resp, err := c.Get("http://" + addr + "/")
				l.sent.Add(1)
				if err == nil {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "ok from") {
						err = fmt.Errorf("HTTP %d %q", resp.StatusCode, body)
					}
				}
				if err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.errs) < 10 {
						l.errs = append(l.errs, addr+": "+err.Error())
					}
					l.mu.Unlock()
				}
			}
		}()
	}
	return l
}

func (l *load) finish() (sent, failed int64, errs []string) {
	close(l.stop)
	l.wg.Wait()
	return l.sent.Load(), l.failed.Load(), l.errs
}

// sums returns sha256sum of path on every host.
func sums(t *testing.T, b *testbed.Bed, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, h := range b.Hosts {
		o, err := b.Run(context.Background(), h.Name, "sha256sum "+path+" 2>/dev/null | cut -c1-64")
		if err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		out[h.Name] = strings.TrimSpace(string(o))
	}
	return out
}

// checkServing asserts every host answers through its agent on each of its
// families, and that a host has no address of a family it lacks.
func checkServing(t *testing.T, b *testbed.Bed) {
	t.Helper()
	c := &http.Client{Timeout: 3 * time.Second}
	for _, addr := range targets(b) {
		resp, err := c.Get("http://" + addr + "/health")
		if err != nil {
			t.Fatalf("agent health on %s: %v", addr, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"healthy"`) {
			t.Fatalf("agent health on %s: %d %s", addr, resp.StatusCode, body)
		}
	}
}

func TestDeploy(t *testing.T) {
	v1 := buildtest.Binary(t, "./cmd/edgectl", "e2e-v1")
	app := buildtest.Binary(t, "./internal/sampleapp", "e2e")
	b := testbed.StartT(t, testbed.Options{Hosts: testbed.Default3(), BindRO: map[string]string{app: "/opt/sample/sampleapp"}})
	dir := t.TempDir()
	fleetPath := filepath.Join(dir, "fleet.yaml")
	writeFile(t, fleetPath, b.FleetYAML(fleetExtra("60s", "[::1]:8000")))

	t.Run("unknown host key stops before anything is written", func(t *testing.T) {
		empty := filepath.Join(dir, "known_hosts.empty")
		writeFile(t, empty, nil)
		y := strings.Replace(string(b.FleetYAML(fleetExtra("60s", "[::1]:8000"))), b.KnownHostsFile, empty, 1)
		p := filepath.Join(dir, "fleet-nokeys.yaml")
		writeFile(t, p, []byte(y))
		r := edgectl(t, v1, "deploy", p, "--yes")
		if r.code != 1 || !contains(r.stdout+r.stderr, "SHA256:", "--accept-new", "nothing was changed") {
			t.Fatalf("want exit 1 naming the fingerprint and --accept-new:\n%s", r)
		}
		for name, sum := range sums(t, b, "/usr/local/bin/edgectl") {
			if sum != "" {
				t.Fatalf("%s: the binary was written despite the host key failure", name)
			}
		}
		if st, _ := os.Stat(empty); st.Size() != 0 {
			t.Fatal("known_hosts was written without --accept-new")
		}
		// A dry run changes nothing anywhere, not even known_hosts with
		// --accept-new: the keys are trusted for that run only.
		r = edgectl(t, v1, "deploy", p, "--dry-run", "--accept-new")
		if r.code != 0 || strings.Count(r.stdout, "trusted for this dry run only") != 3 {
			t.Fatalf("dry run with --accept-new:\n%s", r)
		}
		if st, _ := os.Stat(empty); st.Size() != 0 {
			t.Fatal("known_hosts was written by a dry run")
		}
	})

	t.Run("first install on three hosts", func(t *testing.T) {
		r := edgectl(t, v1, "deploy", fleetPath, "--yes", "--json")
		d := parseDeploy(t, r)
		if r.code != 0 || d.Status != "ok" {
			t.Fatalf("first deploy:\n%s", r)
		}
		for _, h := range d.Hosts {
			if h.Status != "deployed" || h.Action != "install" {
				t.Fatalf("%s: %s/%s, want deployed/install\n%s", h.Name, h.Status, h.Action, r)
			}
		}
		t.Logf("MEASURED first deploy to %d hosts: %s", len(d.Hosts), r.took.Round(10*time.Millisecond))
		checkServing(t, b)
		// vps3 has bindv6only=1: deploy wrote the drop-in there only.
		for _, h := range b.Hosts {
			out, _ := b.Run(context.Background(), h.Name, "cat /proc/sys/net/ipv6/bindv6only; ls /etc/sysctl.d/60-edgectl.conf 2>/dev/null; stat -c %a:%U:%G /etc/edgectl/agent.yaml; systemctl is-active edgectl-agent sample-api")
			got := strings.Fields(string(out))
			want := []string{"0", "640:root:edgectl", "active", "active"}
			if h.Name == "vps3" {
				want = []string{"0", "/etc/sysctl.d/60-edgectl.conf", "640:root:edgectl", "active", "active"}
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("%s: got %q, want %q", h.Name, got, want)
			}
		}
	})

	t.Run("redeploy with no change changes nothing", func(t *testing.T) {
		before, _ := b.Run(context.Background(), "vps1", "systemctl show -p MainPID --value edgectl-agent")
		r := edgectl(t, v1, "deploy", fleetPath, "--yes")
		if r.code != 0 || strings.Count(r.stdout, "unchanged") < 3 || !strings.Contains(r.stdout, "3 unchanged") {
			t.Fatalf("no-change redeploy:\n%s", r)
		}
		after, _ := b.Run(context.Background(), "vps1", "systemctl show -p MainPID --value edgectl-agent")
		if string(before) != string(after) {
			t.Fatalf("the agent was restarted by a no-change deploy: pid %s → %s", before, after)
		}
		t.Logf("MEASURED no-change redeploy of 3 hosts: %s", r.took.Round(10*time.Millisecond))
	})

	t.Run("dry run shows a diff and changes nothing", func(t *testing.T) {
		p := filepath.Join(dir, "fleet-dry.yaml")
		writeFile(t, p, b.FleetYAML(fleetExtra("61s", "[::1]:8000")))
		before := sums(t, b, "/etc/edgectl/agent.yaml")
		r := edgectl(t, v1, "deploy", p, "--dry-run")
		if r.code != 0 || !contains(r.stdout, "-    keepalive_timeout: 60s", "+    keepalive_timeout: 61s", "planned") {
			t.Fatalf("dry run:\n%s", r)
		}
		if after := sums(t, b, "/etc/edgectl/agent.yaml"); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatal("--dry-run changed agent.yaml")
		}
	})

	t.Run("config change rolls host by host under load with zero failures", func(t *testing.T) {
		writeFile(t, fleetPath, b.FleetYAML(fleetExtra("61s", "[::1]:8000")))
		l := startLoad(targets(b), 6)
		time.Sleep(300 * time.Millisecond)
		r := edgectl(t, v1, "deploy", fleetPath, "--yes")
		time.Sleep(300 * time.Millisecond)
		sent, failed, errs := l.finish()
		if r.code != 0 || strings.Count(r.stdout, "reload:") != 3 {
			t.Fatalf("config change:\n%s", r)
		}
		// Host by host: vps1 finishes before vps2 starts.
		if i1, i2 := strings.Index(r.stderr, "vps1: deployed"), strings.Index(r.stderr, "vps2: installing"); i1 < 0 || i2 < 0 || i1 > i2 {
			t.Fatalf("hosts were not rolled one after the other:\n%s", r.stderr)
		}
		t.Logf("MEASURED config change on 3 hosts under load: %d requests, %d failed, deploy %s", sent, failed, r.took.Round(10*time.Millisecond))
		if failed != 0 || sent < 100 {
			t.Fatalf("%d of %d requests failed during the rollout: %v", failed, sent, errs)
		}
	})

	t.Run("backend restart under load holds requests and fails none", func(t *testing.T) {
		// A changed exec changes the backend's unit: deploy restarts it
		// with restart: hold (the default), pausing the agent's app
		// upstream around the restart.
		p := filepath.Join(dir, "fleet-backend.yaml")
		extra := strings.Replace(fleetExtra("60s", "[::1]:8000"), "sampleapp -listen [::]:8000", "sampleapp -listen=[::]:8000", 1)
		writeFile(t, p, b.FleetYAML(extra))
		l := startLoad(targets(b), 6)
		time.Sleep(300 * time.Millisecond)
		r := edgectl(t, v1, "deploy", p, "--yes")
		time.Sleep(300 * time.Millisecond)
		sent, failed, errs := l.finish()
		if r.code != 0 || strings.Count(r.stderr, "restarting backend sample-api") != 3 {
			t.Fatalf("backend change:\n%s", r)
		}
		if n := strings.Count(r.stderr, "held requests to app for"); n != 3 {
			t.Fatalf("%d hosts logged a hold, want 3:\n%s", n, r.stderr)
		}
		for _, line := range strings.Split(r.stderr, "\n") {
			if strings.Contains(line, "held requests to app for") {
				t.Logf("MEASURED %s", strings.TrimSpace(line))
			}
		}
		t.Logf("MEASURED backend restart on 3 hosts under load (restart: hold): %d requests, %d failed, deploy %s", sent, failed, r.took.Round(10*time.Millisecond))
		if failed != 0 || sent < 100 {
			t.Fatalf("%d of %d requests failed during the held backend restarts: %v", failed, sent, errs)
		}
		for _, h := range b.Hosts {
			out, _ := b.Run(context.Background(), h.Name, "/usr/local/bin/edgectl agent status --json")
			if strings.Contains(string(out), `"paused": true`) {
				t.Fatalf("%s: an upstream was left paused: %s", h.Name, out)
			}
		}
		// Back to the fleet file the later subtests deploy from.
		if r := edgectl(t, v1, "deploy", fleetPath, "--yes"); r.code != 0 {
			t.Fatalf("deploy back:\n%s", r)
		}
	})

	t.Run("new binary upgrades in place under load", func(t *testing.T) {
		v2 := buildtest.Binary(t, "./cmd/edgectl", "e2e-v2")
		l := startLoad(targets(b), 6)
		r := edgectl(t, v2, "deploy", fleetPath, "--yes")
		sent, failed, errs := l.finish()
		if r.code != 0 || strings.Count(r.stdout, "upgrade:") != 3 {
			t.Fatalf("binary upgrade:\n%s", r)
		}
		for _, h := range b.Hosts {
			out, _ := b.Run(context.Background(), h.Name, "/usr/local/bin/edgectl agent status --json")
			if !strings.Contains(string(out), `"version": "e2e-v2"`) {
				t.Fatalf("%s does not run v2 after the upgrade: %s", h.Name, out)
			}
		}
		t.Logf("MEASURED binary upgrade on 3 hosts under load: %d requests, %d failed, deploy %s", sent, failed, r.took.Round(10*time.Millisecond))
		if failed != 0 {
			t.Fatalf("%d of %d requests failed during the upgrade: %v", failed, sent, errs)
		}
	})

	t.Run("a dead upstream fails the gate on the first host and is rolled back", func(t *testing.T) {
		v2 := buildtest.Binary(t, "./cmd/edgectl", "e2e-v2")
		before := sums(t, b, "/etc/edgectl/agent.yaml")
		p := filepath.Join(dir, "fleet-dead.yaml")
		writeFile(t, p, b.FleetYAML(fleetExtra("61s", "[::1]:8009")))
		r := edgectl(t, v2, "deploy", p, "--yes", "--json")
		d := parseDeploy(t, r)
		st := d.statuses()
		// Nothing converged: "failed", exit 1 (not "partial").
		if r.code != 1 || d.Status != "failed" || st["vps1"] != "rolled-back" || st["vps2"] != "skipped" || st["vps3"] != "skipped" {
			t.Fatalf("dead upstream: want exit 1, vps1 rolled-back, others skipped:\n%s", r)
		}
		if !strings.Contains(d.Hosts[0].Error, "app 1/2 servers live") {
			t.Fatalf("the gate error should name the upstream: %q", d.Hosts[0].Error)
		}
		if len(d.Next) != 1 || d.Next[0] != "edgectl diagnose 502 --host vps1 -f "+p {
			t.Fatalf("the next command to run: %q", d.Next)
		}
		if after := sums(t, b, "/etc/edgectl/agent.yaml"); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("agent.yaml after the rollback differs: %v → %v", before, after)
		}
		checkServing(t, b)
	})

	t.Run("a host that is down is reported without stalling the others", func(t *testing.T) {
		v2 := buildtest.Binary(t, "./cmd/edgectl", "e2e-v2")
		if err := b.Stop("vps3"); err != nil {
			t.Fatal(err)
		}
		writeFile(t, fleetPath, b.FleetYAML(fleetExtra("62s", "[::1]:8000")))
		r := edgectl(t, v2, "deploy", fleetPath, "--yes", "--json")
		st := parseDeploy(t, r).statuses()
		if r.code != 3 || st["vps1"] != "deployed" || st["vps2"] != "deployed" || st["vps3"] != "unreachable" {
			t.Fatalf("host down: want exit 3 with vps3 unreachable and the others deployed:\n%s", r)
		}
		if r.took > 60*time.Second {
			t.Fatalf("a down host stalled the deploy for %s", r.took)
		}
		t.Logf("MEASURED deploy with one host down: %s", r.took.Round(10*time.Millisecond))
	})
}
