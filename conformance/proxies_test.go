package conformance

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgectl/edgectl/agent"
	"github.com/edgectl/edgectl/agentconfig"
)

// Every proxy gets the same timeouts, short so that the slow cases are
// quick: 2 s for a head, between body reads, between writes and between
// upstream reads; 10 s keepalive. Upstream servers are never marked down
// (a failing case must not change the next one). The client waits 1 s for
// a byte (under every proxy timeout), 4 s in the slow cases.

// proxyUnderTest is one proxy in front of its own backend.
type proxyUnderTest struct {
	name    string
	addr    string
	backend *backend
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitListening waits until addr accepts; exited tells whether the
// process serving it ended, logs where to look then.
func waitListening(t *testing.T, name, addr string, exited func() bool, logs string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) || exited() {
			out, _ := os.ReadFile(logs)
			t.Fatalf("%s did not listen on %s: %v\n%s", name, addr, err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startEdgectl runs the agent in this process.
func startEdgectl(t *testing.T) *proxyUnderTest {
	t.Helper()
	b := startBackend(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	yaml := fmt.Sprintf(`listen: [{addr: %q}]
admin: ""
access_log: "off"
drain: {delay: 0s, timeout: 1s}
acme_challenge_dir: %q
endpoints: {file: %q}
upstreams:
  backend:
    servers: [{addr: %q}]
    max_fails: 0
    tries: 1
    keepalive: 8
    response_timeout: 2s
    read_timeout: 2s
routes: [{path: /, upstream: backend}]
limits: {header_timeout: 2s, body_timeout: 2s, send_timeout: 2s, idle_timeout: 10s}
`, addr, filepath.Join(dir, "acme"), filepath.Join(dir, "endpoints.txt"), b.addr)
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := agentconfig.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	a := agent.New(cfg, path, "conformance", slog.New(slog.DiscardHandler), io.Discard)
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Drain(0, time.Second) })
	waitListening(t, "edgectl", addr, func() bool { return false }, "")
	return &proxyUnderTest{name: "edgectl", addr: addr, backend: b}
}

// startNginx runs nginx in the foreground with a scratch prefix, configured
// as the agent's predecessor was: keepalive upstream, HTTP/1.1 to it, Host
// and the X-Forwarded-* fields set.
func startNginx(t *testing.T, bin string) *proxyUnderTest {
	t.Helper()
	b := startBackend(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	user := ""
	if os.Geteuid() == 0 {
		user = "user root root;" // workers may use the scratch prefix
	}
	conf := fmt.Sprintf(`%s
daemon off;
worker_processes 1;
pid %s/nginx.pid;
error_log %s/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_header_timeout 2s;
  client_body_timeout 2s;
  send_timeout 2s;
  keepalive_timeout 10s;
  upstream backend {
    server %s max_fails=0;
    keepalive 8;
  }
  server {
    listen %s;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_connect_timeout 2s;
      proxy_send_timeout 2s;
      proxy_read_timeout 2s;
      proxy_next_upstream off;
    }
  }
}
`, user, dir, dir, b.addr, addr)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	runDaemon(t, "nginx", addr, exec.Command(bin, "-p", dir, "-c", path), dir)
	return &proxyUnderTest{name: "nginx", addr: addr, backend: b}
}

// startHAProxy runs HAProxy in the foreground with its defaults plus the
// same timeouts and option forwardfor.
func startHAProxy(t *testing.T, bin string) *proxyUnderTest {
	t.Helper()
	b := startBackend(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	conf := fmt.Sprintf(`global
  maxconn 1000
defaults
  mode http
  timeout connect 2s
  timeout client 2s
  timeout server 2s
  timeout http-request 2s
  timeout http-keep-alive 10s
  option forwardfor
frontend fe
  bind %s
  default_backend be
backend be
  server s1 %s
`, addr, b.addr)
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	runDaemon(t, "haproxy", addr, exec.Command(bin, "-db", "-f", path), dir)
	return &proxyUnderTest{name: "haproxy", addr: addr, backend: b}
}

// runDaemon starts cmd, waits until addr accepts, and stops it (by its
// pid) when the test ends.
func runDaemon(t *testing.T, name, addr string, cmd *exec.Cmd, dir string) {
	t.Helper()
	stderr, err := os.Create(filepath.Join(dir, name+".stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = stderr.Close()
	})
	waitListening(t, name, addr, func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}, stderr.Name())
}
