package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rawServer accepts connections and hands each to fn; it counts them.
func rawServer(t *testing.T, addr string, fn func(net.Conn)) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("listen %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			go func() { defer c.Close(); fn(c) }()
		}
	}()
	return ln.Addr().String(), &n
}

// readRequest consumes one request (head and Content-Length body).
func readRequest(br *bufio.Reader) (*http.Request, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, req.Body)
	return req, nil
}

func TestRetryRules(t *testing.T) {
	// The primary reads the whole request, then drops the connection
	// without answering: the request reached it.
	dropper, _ := rawServer(t, "[::1]:0", func(c net.Conn) {
		_, _ = readRequest(bufio.NewReader(c))
	})
	backup := startBackend(t, "127.0.0.1:0", nil)
	p := startProxy(t, pool([]string{dropper, backup.addr + " backup"}, "keepalive: 0\nmax_fails: 0"))
	c := client()
	for _, tc := range []struct {
		method    string
		want      int
		wantRetry bool
	}{
		{"GET", 200, true},
		{"PUT", 200, true},
		{"DELETE", 200, true},
		{"POST", 502, false},
		{"PATCH", 502, false},
	} {
		t.Run(tc.method, func(t *testing.T) {
			before := backup.hits.Load()
			req, _ := http.NewRequest(tc.method, p.url("/x"), strings.NewReader("payload"))
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if retried := backup.hits.Load() > before; retried != tc.wantRetry {
				t.Fatalf("retried on the backup: %v, want %v (a request that reached the server is only retried when idempotent)", retried, tc.wantRetry)
			}
		})
	}
}

func TestTriesBoundsAttempts(t *testing.T) {
	var servers []string
	for range 4 {
		servers = append(servers, refusedAddr(t, 4))
	}
	p := startProxy(t, pool(servers, "tries: 3\nmax_fails: 0"))
	if st, _ := get(t, client(), p.url("/")); st != 502 {
		t.Fatalf("status %d, want 502", st)
	}
	var tried uint64
	for _, peer := range p.h.Table().Upstreams["api"].Peers() {
		tried += peer.failures.Load()
	}
	if tried != 3 {
		t.Fatalf("%d attempts, want tries=3", tried)
	}
}

// The classic sporadic 502: the server closes an idle keepalive connection
// just as the proxy reuses it. The request must be replayed, never failed.
func TestStaleKeepaliveConnectionIsRetried(t *testing.T) {
	addr, conns := rawServer(t, "127.0.0.1:0", func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := readRequest(br); err != nil {
			return
		}
		// Keep-alive response, then close shortly after, as a server
		// with a short idle timeout does.
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		time.Sleep(10 * time.Millisecond)
	})
	p := startProxy(t, pool([]string{addr}, "max_fails: 0"))
	c := client()
	const n = 40
	for i := range n {
		method := "GET"
		if i%2 == 1 {
			method = "POST"
		}
		req, _ := http.NewRequest(method, p.url("/"), strings.NewReader("x"))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d (%s): status %d; a closed keepalive connection surfaced", i, method, resp.StatusCode)
		}
		time.Sleep(30 * time.Millisecond) // the server has closed by now
	}
	peer := p.h.Table().Upstreams["api"].Peers()[0]
	if peer.stale.Load() == 0 {
		t.Fatal("no stale connection was hit: the test did not exercise the race")
	}
	t.Logf("%d requests, %d server connections, %d replays after a stale connection", n, conns.Load(), peer.stale.Load())
}

func TestResetAfterRequestIs502ForPost(t *testing.T) {
	addr, _ := rawServer(t, "127.0.0.1:0", func(c net.Conn) {
		_, _ = readRequest(bufio.NewReader(c))
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST
		}
	})
	p := startProxy(t, pool([]string{addr}, "keepalive: 0"))
	resp, err := client().Post(p.url("/"), "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
	_ = fmt.Sprint()
}

// peerClosed must see a FIN on an idle pooled connection before reuse.
func TestPeerClosedDetectsFIN(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	uc := newUpConn(c, nil)
	defer uc.close()
	srv := <-accepted
	if peerClosed(uc) {
		t.Fatal("an open idle connection was reported closed")
	}
	_ = srv.Close()
	eventually(t, time.Second, "the FIN to be seen", func() bool { return peerClosed(uc) })
}
