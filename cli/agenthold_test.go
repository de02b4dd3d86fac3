package cli

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/agent"
	"github.com/edgectl/edgectl/agent/agenttest"
)

// startHoldAgent runs a real agent in this process with one upstream, api,
// in front of a real backend, and returns the socket and the agent's URL.
func startHoldAgent(t *testing.T) (sock, url string) {
	t.Helper()
	be, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })}
	go func() { _ = srv.Serve(be) }()
	t.Cleanup(func() { _ = srv.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	sock = filepath.Join(dir, "admin.sock")
	config := writeFile(t, dir, "agent.yaml", fmt.Sprintf(`listen:
  - addr: %q
admin: %s
access_log: "off"
drain: {delay: 0s, timeout: 1s}
endpoints: {file: %s}
upstreams:
  api:
    servers:
      - addr: %q
routes:
  - path: /
    upstream: api
`, addr, sock, filepath.Join(dir, "endpoints.txt"), be.Addr().String()))
	agenttest.Start(t, config)
	return sock, "http://" + addr + "/x"
}

// TestAgentPauseResume: pause holds a real request, status shows it,
// resume releases it; the JSON answers follow docs/json.md; an unknown
// upstream is an error naming the known ones.
func TestAgentPauseResume(t *testing.T) {
	sock, url := startHoldAgent(t)
	code, out, errOut := runCLI(t, nil, "agent", "pause", "--upstream", "api", "--timeout", "20s", "--admin", sock)
	if code != 0 || out != "paused api: holding new requests until resumed, at most 20s\n" {
		t.Fatalf("pause: exit %d, %q %q", code, out, errOut)
	}
	got := make(chan int, 1)
	go func() {
		c := &http.Client{Timeout: 15 * time.Second}
		resp, err := c.Get(url)
		if err != nil {
			got <- 0
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, out, _ = runCLI(t, nil, "agent", "status", "--admin", sock)
		if strings.Contains(out, "PAUSED api: 1 request(s) held") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed the held request:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case st := <-got:
		t.Fatalf("the request was answered (%d) while paused", st)
	default:
	}
	code, out, errOut = runCLI(t, nil, "agent", "resume", "--admin", sock, "--json", "--wait", "5s")
	if code != 0 {
		t.Fatalf("resume: exit %d, %q %q", code, out, errOut)
	}
	var ans agent.HoldAnswer
	if err := json.Unmarshal([]byte(out), &ans); err != nil {
		t.Fatalf("resume --json %q: %v", out, err)
	}
	if ans.Status != "resumed" || len(ans.Upstreams) != 1 || ans.Upstreams[0].Name != "api" || len(ans.Pauses) != 1 || ans.Pauses[0].Held != 1 || ans.Pauses[0].Ended != "resumed" {
		t.Fatalf("resume --json: %s", out)
	}
	select {
	case st := <-got:
		if st != 200 {
			t.Fatalf("the held request got %d, want 200", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the held request was not answered after resume")
	}
	if code, out, _ := runCLI(t, nil, "agent", "resume", "--admin", sock); code != 0 || out != "nothing was paused\n" {
		t.Fatalf("second resume: exit %d, %q", code, out)
	}
	code, _, errOut = runCLI(t, nil, "agent", "pause", "--upstream", "nope", "--admin", sock)
	if code != 1 || !strings.Contains(errOut, `unknown upstream "nope"`) || !strings.Contains(errOut, "api") {
		t.Fatalf("pause --upstream nope: exit %d, %q", code, errOut)
	}
	code, _, errOut = runCLI(t, nil, "agent", "pause", "--timeout", "11m", "--admin", sock)
	if code != 2 || !strings.Contains(errOut, "at most 10m") {
		t.Fatalf("pause --timeout 11m: exit %d, %q", code, errOut)
	}
}
