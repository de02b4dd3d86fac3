package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgectl/edgectl/agentconfig"
)

// testLoops runs the tests' proxies on the event-loop engine, the agent's
// default on Linux; EDGECTL_ENGINE=goroutines go test ./proxy/ runs them on
// the goroutine engine: the same tests cover both.
// One loop, so that the tests' counts of pooled upstream connections hold
// (each loop keeps its own pool, as each nginx worker does).
var testLoops = runtime.GOOS == "linux" && os.Getenv("EDGECTL_ENGINE") != "goroutines"

// testProxy is a running Handler on 127.0.0.1 with its table.
type testProxy struct {
	addr string
	h    *Handler
	ln   net.Listener
}

// startProxy builds the table for the agent.yaml text, runs the first
// health round and serves on a loopback port; setup sets the handler's
// fields (Log, Local) before it serves.
func startProxy(t testing.TB, yaml string, setup ...func(*Handler)) *testProxy {
	t.Helper()
	cfg, err := agentconfig.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	tbl, err := NewTable(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	tbl.CheckNow()
	tbl.Start()
	h := NewHandler(tbl)
	for _, f := range setup {
		f(h) // before any connection: the loops read the handler's fields
	}
	if testLoops {
		if err := h.EnableLoops(1); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.ServePlain(c)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		h.StopLoops()
		h.Table().Close()
	})
	return &testProxy{addr: ln.Addr().String(), h: h, ln: ln}
}

func (p *testProxy) url(path string) string { return "http://" + p.addr + path }

// backend is a real HTTP server on one address family that counts hits.
type backend struct {
	addr string
	hits atomic.Int64
	srv  *http.Server
	ln   net.Listener
}

// startBackend listens on addr ("127.0.0.1:0", "[::1]:0" or a fixed port)
// and serves h (or a default that answers "ok from ADDR").
func startBackend(t *testing.T, addr string, h http.HandlerFunc) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if strings.HasPrefix(addr, "[::1]") {
			t.Skipf("IPv6 loopback unavailable here: %v", err)
		}
		t.Fatal(err)
	}
	b := &backend{addr: ln.Addr().String(), ln: ln}
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			fmt.Fprintf(w, "ok from %s", b.addr)
		}
	}
	b.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			b.hits.Add(1)
		}
		h(w, r)
	})}
	go func() { _ = b.srv.Serve(ln) }()
	t.Cleanup(func() { _ = b.srv.Close() })
	return b
}

// freePortBoth finds a port free on both 127.0.0.1 and [::1].
func freePortBoth(t *testing.T) int {
	t.Helper()
	for range 50 {
		l6, err := net.Listen("tcp", "[::1]:0")
		if err != nil {
			t.Skipf("IPv6 loopback unavailable here: %v", err)
		}
		port := l6.Addr().(*net.TCPAddr).Port
		l4, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		_ = l6.Close()
		if err == nil {
			_ = l4.Close()
			return port
		}
	}
	t.Fatal("no port free on both families")
	return 0
}

// refusedAddr returns an address on family (4 or 6) where nothing listens.
func refusedAddr(t *testing.T, family int) string {
	t.Helper()
	host := "127.0.0.1"
	if family == 6 {
		host = "[::1]"
	}
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", host, err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// client is an HTTP client with keepalive and a short timeout.
func client() *http.Client {
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
	}
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// pool renders an upstreams+routes config: servers are "addr" or
// "addr backup" or "addr weight=N"; extra is appended under the upstream.
func pool(servers []string, extra string) string {
	var b strings.Builder
	b.WriteString("access_log: \"off\"\nadmin: \"\"\nupstreams:\n  api:\n    servers:\n")
	for _, s := range servers {
		f := strings.Fields(s)
		fmt.Fprintf(&b, "      - addr: %q\n", f[0])
		for _, opt := range f[1:] {
			switch {
			case opt == "backup":
				b.WriteString("        backup: true\n")
			case strings.HasPrefix(opt, "weight="):
				fmt.Fprintf(&b, "        weight: %s\n", strings.TrimPrefix(opt, "weight="))
			}
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(extra), "\n") {
		if line != "" {
			b.WriteString("    " + line + "\n")
		}
	}
	b.WriteString("routes:\n  - path: /\n    upstream: api\n")
	return b.String()
}
