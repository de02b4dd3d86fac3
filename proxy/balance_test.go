package proxy

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestPolicies(t *testing.T) {
	t.Run("round_robin by weight", func(t *testing.T) {
		a := startBackend(t, "127.0.0.1:0", nil)
		b := startBackend(t, "[::1]:0", nil)
		p := startProxy(t, pool([]string{a.addr + " weight=3", b.addr + " weight=1"}, "policy: round_robin"))
		c := client()
		for range 40 {
			get(t, c, p.url("/"))
		}
		if a.hits.Load() != 30 || b.hits.Load() != 10 {
			t.Fatalf("weights 3:1 gave %d:%d over 40 requests", a.hits.Load(), b.hits.Load())
		}
	})
	t.Run("round_robin equal", func(t *testing.T) {
		a := startBackend(t, "127.0.0.1:0", nil)
		b := startBackend(t, "127.0.0.1:0", nil)
		p := startProxy(t, pool([]string{a.addr, b.addr}, ""))
		c := client()
		for range 20 {
			get(t, c, p.url("/"))
		}
		if a.hits.Load() != 10 || b.hits.Load() != 10 {
			t.Fatalf("equal weights gave %d:%d", a.hits.Load(), b.hits.Load())
		}
	})
	t.Run("first", func(t *testing.T) {
		a := startBackend(t, "127.0.0.1:0", nil)
		b := startBackend(t, "127.0.0.1:0", nil)
		p := startProxy(t, pool([]string{a.addr, b.addr}, "policy: first"))
		c := client()
		for range 10 {
			get(t, c, p.url("/"))
		}
		if a.hits.Load() != 10 || b.hits.Load() != 0 {
			t.Fatalf("first gave %d:%d", a.hits.Load(), b.hits.Load())
		}
	})
	t.Run("least_conn", func(t *testing.T) {
		release := make(chan struct{})
		slow := startBackend(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) { <-release })
		fast := startBackend(t, "127.0.0.1:0", nil)
		p := startProxy(t, pool([]string{slow.addr, fast.addr}, "policy: least_conn"))
		c := client()
		var wg sync.WaitGroup
		// Park 3 requests; with least_conn they spread 2:1 at most and
		// every later request goes to the idle server.
		for range 3 {
			wg.Add(1)
			go func() { defer wg.Done(); get(t, c, p.url("/")) }()
		}
		eventually(t, 2*time.Second, "a request parked on the slow server", func() bool { return slow.hits.Load() >= 1 })
		time.Sleep(50 * time.Millisecond)
		parked := slow.hits.Load()
		for range 10 {
			get(t, c, p.url("/"))
		}
		if slow.hits.Load() != parked {
			t.Fatalf("least_conn sent new requests to the server with %d in flight", parked)
		}
		close(release)
		wg.Wait()
	})
	t.Run("fastest", func(t *testing.T) {
		slow := startBackend(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(30 * time.Millisecond)
		})
		fast := startBackend(t, "127.0.0.1:0", nil)
		p := startProxy(t, pool([]string{slow.addr, fast.addr}, "policy: fastest"))
		c := client()
		for range 30 {
			get(t, c, p.url("/"))
		}
		if s := slow.hits.Load(); s > 2 {
			t.Fatalf("fastest sent %d of 30 requests to the 30 ms server (fast got %d)", s, fast.hits.Load())
		}
		t.Logf("slow %d, fast %d", slow.hits.Load(), fast.hits.Load())
	})
}
