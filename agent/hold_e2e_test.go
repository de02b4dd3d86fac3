package agent_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/edgectl/edgectl/agent"
	"github.com/edgectl/edgectl/internal/buildtest"
)

// TestBackendRestartUnderLoad measures what pause/resume is for: the real
// agent binary in front of a real backend process (internal/sampleapp),
// 64 keepalive connections of load from loadgen (a separate process), and
// the backend killed and started again like a restart. Held (paused, then
// resumed at the agent's first passing check) no request fails; without the
// hold some do, which shows the gate is what makes the difference. The
// figures go to MEASURED lines; only the failure counts are asserted.
func TestBackendRestartUnderLoad(t *testing.T) {
	tests := []struct {
		name string
		hold bool
	}{
		{"held", true},
		{"not held", false},
	}
	app := buildtest.Binary(t, "./internal/sampleapp", "test")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			baddr := net.JoinHostPort("127.0.0.1", freePort(t, "127.0.0.1"))
			startApp := func() *proc {
				p := start(t, exec.Command(app, "-listen", baddr))
				return p
			}
			be := startApp()
			waitListening(t, baddr)
			port := freePort(t, "127.0.0.1")
			sock := adminSocketPath(t)
			cfg := writeFile(t, "agent.yaml", agentYAML{
				listen:  []string{"127.0.0.1:" + port},
				admin:   sock,
				timeout: 5 * time.Second,
				servers: []server{{addr: baddr}},
				health:  "{path: /health, interval: 1s, timeout: 500ms, rise: 2, fall: 2}",
			}.String())
			ag := startAgent(t, cfg)
			waitReady(t, ag, httpClient(nil), urlFor("127.0.0.1", port, "/health"))
			admin := adminClient(sock)
			admin.Timeout = 20 * time.Second

			load := startLoad(t, urlFor("127.0.0.1", port, "/"), loadConns)
			time.Sleep(500 * time.Millisecond)
			if tc.hold {
				var ans agent.HoldAnswer
				adminPost(t, admin, "/pause", agent.PauseRequest{Upstreams: []string{"api"}, TimeoutMS: 10000, WaitIdleMS: 2000}, &ans)
				if ans.Status != "paused" || ans.Inflight == nil || *ans.Inflight != 0 {
					t.Fatalf("pause: %+v, want paused with nothing in flight", ans)
				}
			}
			// The restart: the old process dies, the new one starts a
			// moment later (as systemd's stop and start).
			stopped := time.Now()
			if err := be.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			be.wait(t, 5*time.Second)
			time.Sleep(300 * time.Millisecond)
			startApp()
			var held int64
			var heldReqs uint64
			if tc.hold {
				var ans agent.HoldAnswer
				adminPost(t, admin, "/resume", agent.ResumeRequest{Upstreams: []string{"api"}, WhenHealthy: true, WaitMS: 10000}, &ans)
				if ans.Status != "resumed" || len(ans.Pauses) != 1 || ans.Pauses[0].Ended != "healthy" {
					t.Fatalf("resume when healthy: %+v, want resumed by a passing check", ans)
				}
				held, heldReqs = ans.Pauses[0].DurationMS, ans.Pauses[0].Held
			} else {
				waitListening(t, baddr)
			}
			down := time.Since(stopped)
			time.Sleep(500 * time.Millisecond)
			s := load.stop(t)
			t.Logf("MEASURED backend restart %s: %d requests, %d failed, backend down %s, held %dms (%d requests held), p50 %.2fms p99 %.2fms max %.2fms",
				tc.name, s.Requests, s.Failed, down.Round(time.Millisecond), held, heldReqs, s.P50ms, s.P99ms, s.MaxMs)
			t.Logf("load: %s", s)
			if tc.hold {
				requireNoFailures(t, "held restart", s)
				if heldReqs == 0 {
					t.Errorf("no request was held: the load did not reach the pause")
				}
			} else if s.Failed == 0 {
				t.Errorf("a restart without the hold failed no request (%s): this test does not show what the hold is for", s)
			}
		})
	}
}

// waitListening waits until addr accepts a connection.
func waitListening(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not accept connections after 10s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// adminPost posts in as JSON to the admin socket and decodes the answer.
func adminPost(t testing.TB, admin *http.Client, path string, in, out any) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := admin.Post("http://agent"+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("POST %s: %q: %v", path, body, err)
	}
}
