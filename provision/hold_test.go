package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgectl/edgectl/agent"
	"github.com/edgectl/edgectl/agent/agenttest"
	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/proxy"
	"github.com/edgectl/edgectl/remote/remotetest"
)

func TestBackendPorts(t *testing.T) {
	tests := []struct {
		name string
		b    fleet.Backend
		want []uint16
	}{
		{"socket", fleet.Backend{Exec: "/app --fd 3", Socket: "[::]:8000"}, []uint16{8000}},
		{"uvicorn binds and a health URL", fleet.Backend{Exec: "/v/bin/uvicorn app:app --host :: --port 9000", Health: "http://[::1]:9001/health"}, []uint16{9000, 9001}},
		{"unknown program, health on the same port", fleet.Backend{Exec: "/opt/app/server", Health: "http://127.0.0.1:7000/h"}, []uint16{7000}},
		{"nothing known", fleet.Backend{Exec: "/opt/app/server"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := backendPorts(&tc.b); !slices.Equal(got, tc.want) {
				t.Fatalf("backendPorts = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestHeldUpstreams(t *testing.T) {
	st := &agent.Status{Upstreams: []proxy.UpstreamStatus{
		{Name: "api", Peers: []proxy.PeerStatus{{Addr: "[::1]:8000"}, {Addr: "127.0.0.1:8000", Backup: true}}},
		{Name: "other_port", Peers: []proxy.PeerStatus{{Addr: "[::1]:9000"}}},
		{Name: "remote", Peers: []proxy.PeerStatus{{Addr: "198.18.0.5:8000"}}},
		{Name: "mixed", Peers: []proxy.PeerStatus{{Addr: "localhost:8000"}, {Addr: "198.18.0.6:8000"}}},
	}}
	tests := []struct {
		name  string
		ports []uint16
		want  []string
	}{
		{"by port", []uint16{8000}, []string{"api", "mixed"}},
		{"two ports", []uint16{8000, 9000}, []string{"api", "other_port", "mixed"}},
		{"ports unknown: every all-loopback upstream", nil, []string{"api", "other_port"}},
		{"no match", []uint16{1234}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := (&Hold{Ports: tc.ports}).heldUpstreams(st); !slices.Equal(got, tc.want) {
				t.Fatalf("heldUpstreams = %v, want %v", got, tc.want)
			}
		})
	}
}

// holdBed is a real agent (in this process) in front of a real backend on
// a fixed loopback port, and a fake host whose systemctl restarts that
// backend and whose socket dials reach the agent's admin socket.
type holdBed struct {
	sock, url, backendAddr string
	host                   *remotetest.Fake
	srv                    atomic.Pointer[http.Server]
	restarts               atomic.Int32
	failRestart            atomic.Bool
	logs                   []string
	mu                     sync.Mutex
}

func (b *holdBed) serveBackend(t *testing.T) {
	ln, err := net.Listen("tcp", b.backendAddr)
	if err != nil {
		t.Fatalf("backend listen %s: %v", b.backendAddr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })}
	go func() { _ = srv.Serve(ln) }()
	b.srv.Store(srv)
}

func newHoldBed(t *testing.T) *holdBed {
	b := &holdBed{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.backendAddr = ln.Addr().String()
	ln.Close()
	b.serveBackend(t)
	t.Cleanup(func() { _ = b.srv.Load().Close() })
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	b.sock, b.url = filepath.Join(dir, "admin.sock"), "http://"+addr+"/x"
	config := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `listen:
  - addr: %q
admin: %s
access_log: "off"
drain: {delay: 0s, timeout: 1s}
endpoints: {file: %s}
upstreams:
  api:
    servers:
      - addr: %q
    health: {path: /health, interval: 1s, timeout: 500ms, rise: 2, fall: 2}
routes:
  - path: /
    upstream: api
`, addr, b.sock, filepath.Join(dir, "endpoints.txt"), b.backendAddr), 0o644); err != nil {
		t.Fatal(err)
	}
	agenttest.Start(t, config)
	b.host = remotetest.NewFake("vps1")
	b.host.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	b.host.Handlers["systemctl"] = func(_ *remotetest.Fake, args []string, _ []byte) (string, string, int) {
		switch {
		case slices.Contains(args, "show"):
			return "ActiveState=active\nSubState=running\nNRestarts=0\nExecMainStatus=0\nResult=success\n", "", 0
		case slices.Contains(args, "restart"):
			// Like systemd: stop the old process, start the new one a
			// moment later.
			b.restarts.Add(1)
			_ = b.srv.Load().Close()
			time.Sleep(300 * time.Millisecond)
			if b.failRestart.Load() {
				return "", "Job for app.service failed.\n", 1
			}
			b.serveBackend(t)
		}
		return "", "", 0
	}
	return b
}

func (b *holdBed) logf(format string, a ...any) {
	b.mu.Lock()
	b.logs = append(b.logs, fmt.Sprintf(format, a...))
	b.mu.Unlock()
}

func (b *holdBed) log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.logs, "\n")
}

func (b *holdBed) paused(t *testing.T) bool {
	st, err := agent.NewClient(b.sock).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range st.Upstreams {
		if u.Hold != nil && u.Hold.Paused {
			return true
		}
	}
	return false
}

// load sends GETs from 8 keepalive connections until stop is closed and
// returns the requests and the failures (non-200 or errors).
func (b *holdBed) load(stop chan struct{}) func() (int64, []string) {
	var n atomic.Int64
	var mu sync.Mutex
	var fails []string
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			c := &http.Client{Timeout: 10 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get(b.url)
				n.Add(1)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					mu.Lock()
					fails = append(fails, err.Error())
					mu.Unlock()
				}
			}
		})
	}
	return func() (int64, []string) { wg.Wait(); return n.Load(), fails }
}

// TestRestartHeld: with restart: hold a backend restart under load fails
// no request, also when the restart fails and the rollback's restart
// brings the old backend back; the run's end resumes whatever is still
// paused; without hold (restart: plain, or no agent to ask) the restart
// still happens.
func TestRestartHeld(t *testing.T) {
	tests := []struct {
		name        string
		hold        bool
		noAgent     bool
		failRestart bool
		rollback    bool // restart again (as Rollback does) after a failed restart
		wantErr     bool
		wantLog     string
		zeroFails   bool
	}{
		{name: "hold: no request fails", hold: true, wantLog: "held requests to api for", zeroFails: true},
		{name: "hold: a failed restart holds until the run's end resumes", hold: true, failRestart: true, wantErr: true, wantLog: "resumed api after"},
		{name: "hold: a failed restart and the rollback's restart fail no request", hold: true, failRestart: true, rollback: true, wantErr: true, wantLog: "held requests to api for", zeroFails: true},
		{name: "hold without an agent to ask restarts anyway", hold: true, noAgent: true, wantLog: "the agent is not reachable"},
		{name: "plain", hold: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newHoldBed(t)
			b.failRestart.Store(tc.failRestart)
			var hd *Hold
			if tc.hold {
				sock := b.sock
				if tc.noAgent {
					sock = filepath.Join(t.TempDir(), "none.sock")
				}
				hd = &Hold{Admin: sock, Ports: []uint16{portOf(t, b.backendAddr)}, Timeout: 10 * time.Second}
			}
			h, release := withHold(Host{Host: b.host, Log: b.logf}, hd)
			stop := make(chan struct{})
			wait := func() (int64, []string) { return 0, nil }
			if tc.zeroFails {
				wait = b.load(stop)
				time.Sleep(100 * time.Millisecond) // requests flowing before the pause
			}
			ctx := context.Background()
			err := restartApp(ctx, h)
			restarts := int32(1)
			if (err != nil) != tc.wantErr {
				t.Fatalf("restartBackend: %v, want error %v\nlog:\n%s", err, tc.wantErr, b.log())
			}
			if tc.failRestart && !tc.rollback && !b.paused(t) {
				t.Fatalf("a failed restart stopped holding before the rollback or the run's end\nlog:\n%s", b.log())
			}
			if tc.rollback {
				b.failRestart.Store(false)
				if err := restartApp(ctx, h); err != nil {
					t.Fatalf("the rollback's restart: %v", err)
				}
				restarts++
			}
			release(ctx)
			if tc.zeroFails {
				time.Sleep(100 * time.Millisecond) // and after the release
			}
			close(stop)
			n, fails := wait()
			if b.restarts.Load() != restarts {
				t.Fatalf("%d restarts, want %d", b.restarts.Load(), restarts)
			}
			if !strings.Contains(b.log(), tc.wantLog) {
				t.Fatalf("log lacks %q:\n%s", tc.wantLog, b.log())
			}
			if b.paused(t) {
				t.Fatalf("the upstream was left paused\nlog:\n%s", b.log())
			}
			if tc.zeroFails {
				t.Logf("%d requests across the restart\n%s", n, b.log())
				if len(fails) > 0 || n == 0 {
					t.Fatalf("%d of %d requests failed across a held restart: %v\nlog:\n%s", len(fails), n, fails[:min(5, len(fails))], b.log())
				}
			}
			if !tc.hold && strings.Contains(strings.Join(b.host.Log(), "\n"), "dial unix") {
				t.Fatalf("restart: plain talked to the agent: %v", b.host.Log())
			}
		})
	}
}

// restartApp restarts the test's backend unit as Apply's backend step and
// Rollback do (the one call that names restartBackend's arguments).
func restartApp(ctx context.Context, h Host) error {
	_, err := restartBackend(ctx, h, backendUnits{Service: "app.service"})
	return err
}

func portOf(t *testing.T, addr string) uint16 {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	var n uint16
	if _, err := fmt.Sscan(p, &n); err != nil {
		t.Fatal(errors.Join(err, fmt.Errorf("port of %s", addr)))
	}
	return n
}
