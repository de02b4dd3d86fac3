package proxy

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The seed outage: the app listens on 127.0.0.1 only while the proxy's
// primary is [::1]. Every request must still succeed, on the backup.
func TestFailoverToIPv4BackupWhenIPv6PrimaryRefuses(t *testing.T) {
	port := freePortBoth(t)
	v4 := startBackend(t, fmt.Sprintf("127.0.0.1:%d", port), nil)
	for _, tc := range []struct {
		name  string
		extra string
	}{
		{"passive only", ""},
		{"with active health", "health: {path: /health, interval: 100ms}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startProxy(t, pool([]string{fmt.Sprintf("[::1]:%d", port), v4.addr + " backup"}, tc.extra))
			c := client()
			for i := range 20 {
				for _, method := range []string{"GET", "POST"} {
					req, _ := http.NewRequest(method, p.url("/x"), strings.NewReader("body"))
					resp, err := c.Do(req)
					if err != nil {
						t.Fatalf("%s #%d: %v", method, i, err)
					}
					resp.Body.Close()
					if resp.StatusCode != 200 {
						t.Fatalf("%s #%d: status %d, want 200 from the IPv4 backup", method, i, resp.StatusCode)
					}
				}
			}
		})
	}
}

func TestBackupServesOnlyWhileNoPrimaryIsLive(t *testing.T) {
	primary := startBackend(t, "[::1]:0", nil)
	backup := startBackend(t, "127.0.0.1:0", nil)
	p := startProxy(t, pool([]string{primary.addr, backup.addr + " backup"}, "health: {path: /health, interval: 100ms, rise: 2, fall: 1}"))
	c := client()
	for range 30 {
		if st, body := get(t, c, p.url("/")); st != 200 || !strings.Contains(body, primary.addr) {
			t.Fatalf("got %d %q, want 200 from primary %s", st, body, primary.addr)
		}
	}
	if n := backup.hits.Load(); n != 0 {
		t.Fatalf("backup got %d requests while the primary was healthy", n)
	}
}

func TestActiveHealthFirstRoundBeforeTraffic(t *testing.T) {
	// A primary that accepts connections but fails its health check must
	// not see the very first request.
	primary := startBackend(t, "[::1]:0", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			w.WriteHeader(500)
			return
		}
		w.Write([]byte("primary"))
	})
	backup := startBackend(t, "127.0.0.1:0", nil)
	p := startProxy(t, pool([]string{primary.addr, backup.addr + " backup"}, "health: {path: /health, interval: 1h}"))
	st, body := get(t, client(), p.url("/"))
	if st != 200 || !strings.Contains(body, backup.addr) {
		t.Fatalf("first request: %d %q, want the backup", st, body)
	}
	if primary.hits.Load() != 0 {
		t.Fatal("primary that failed its first health check received the first request")
	}
}

func TestFailbackAfterRise(t *testing.T) {
	port := freePortBoth(t)
	paddr := fmt.Sprintf("[::1]:%d", port)
	backup := startBackend(t, "127.0.0.1:0", nil)
	const interval = 100 * time.Millisecond
	const rise = 2
	p := startProxy(t, pool([]string{paddr, backup.addr + " backup"},
		fmt.Sprintf("health: {path: /health, interval: %s, rise: %d, fall: 1}", interval, rise)))
	c := client()
	if st, body := get(t, c, p.url("/")); st != 200 || !strings.Contains(body, backup.addr) {
		t.Fatalf("with the primary down: %d %q", st, body)
	}
	primary := startBackend(t, paddr, nil)
	started := time.Now()
	eventually(t, rise*interval+time.Second, "traffic back on the primary", func() bool {
		_, body := get(t, c, p.url("/"))
		return strings.Contains(body, primary.addr)
	})
	t.Logf("failback after %s (bound rise x interval + 1s = %s)", time.Since(started).Round(time.Millisecond), rise*interval+time.Second)
	// And it stays there.
	before := backup.hits.Load()
	for range 20 {
		get(t, c, p.url("/"))
	}
	if backup.hits.Load() != before {
		t.Fatal("backup still receives requests after failback")
	}
}

func TestPassiveMarksDownAfterMaxFails(t *testing.T) {
	// No active checks: after max_fails failed connects within
	// fail_timeout the primary is skipped without being tried.
	dead := refusedAddr(t, 6)
	backup := startBackend(t, "127.0.0.1:0", nil)
	p := startProxy(t, pool([]string{dead, backup.addr + " backup"}, "max_fails: 2\nfail_timeout: 10s"))
	c := client()
	for range 5 {
		if st, _ := get(t, c, p.url("/")); st != 200 {
			t.Fatalf("status %d", st)
		}
	}
	peer := p.h.Table().Upstreams["api"].Peers()[0]
	if got := peer.failures.Load(); got != 2 {
		t.Fatalf("primary was tried %d times, want exactly max_fails=2 then skipped", got)
	}
	st := peer.Status(time.Now())
	if st.State != "down" || !strings.Contains(st.Reason, "passive") {
		t.Fatalf("status %+v, want down (passive)", st)
	}
}

func TestNoLiveServerIs503(t *testing.T) {
	p := startProxy(t, pool([]string{refusedAddr(t, 4)}, "health: {path: /health, interval: 1h}"))
	st, body := get(t, client(), p.url("/"))
	if st != 503 || !strings.Contains(body, "no live upstream") {
		t.Fatalf("got %d %q, want 503", st, body)
	}
}

func TestRefusedIs502(t *testing.T) {
	// Without health checks a lone refusing server is tried, and refused.
	p := startProxy(t, pool([]string{refusedAddr(t, 4)}, ""))
	st, _ := get(t, client(), p.url("/"))
	if st != 502 {
		t.Fatalf("got %d, want 502", st)
	}
}

func TestUpstreamTimeoutIs504(t *testing.T) {
	slow := startBackend(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(800 * time.Millisecond)
	})
	p := startProxy(t, pool([]string{slow.addr}, "response_timeout: 200ms\ntries: 1"))
	start := time.Now()
	st, _ := get(t, client(), p.url("/"))
	if st != 504 {
		t.Fatalf("got %d, want 504", st)
	}
	if d := time.Since(start); d > 700*time.Millisecond {
		t.Fatalf("504 took %s; response_timeout is 200ms", d)
	}
}
