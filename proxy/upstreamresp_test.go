package proxy

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestUpstreamResponses has the backend answer the first request with a
// hostile or broken response, then sends a second request on another
// client connection: the first client must get a clean answer (or 502),
// and the second must get its own response, never bytes left over from
// the first on a reused upstream connection.
func TestUpstreamResponses(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		resp     string
		status   int      // what the first client gets (0: the connection is cut; -1: either)
		see      []string // in the first client's response
		notSee   []string
		newConn  bool // the second request must come on a new upstream connection
		maxConns int  // at most this many upstream connections (0: no check)
	}{
		{name: "plain response is pooled", resp: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
			status: 200, see: []string{"\r\n\r\nok"}, maxConns: 1},
		{name: "CL and TE: chunked wins, Content-Length removed, not reused",
			resp:   "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			status: 200, see: []string{"Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"}, notSee: []string{"Content-Length"}, newConn: true},
		{name: "204 with body bytes: not reused",
			resp:   "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nEVIL!!",
			status: 204, notSee: []string{"EVIL"}, newConn: true},
		{name: "304 with body bytes: not reused",
			resp:   "HTTP/1.1 304 Not Modified\r\nContent-Length: 6\r\n\r\nEVIL!!",
			status: 304, notSee: []string{"EVIL"}, newConn: true},
		{name: "HEAD answered with a body: not reused", method: "HEAD",
			resp:   "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nEVIL!!",
			status: 200, see: []string{"Content-Length: 6\r\n"}, notSee: []string{"EVIL"}, newConn: true},
		{name: "bytes after the body: not reused",
			resp:   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL",
			status: 200, notSee: []string{"EVIL"}, newConn: true},
		{name: "100 Continue then the response",
			resp:   "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
			status: 200, notSee: []string{"100 Continue"}, maxConns: 1},
		{name: "bad status line", resp: "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", status: 502},
		{name: "status out of range", resp: "HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n", status: 502},
		{name: "not HTTP", resp: "SSH-2.0-OpenSSH_9.2\r\n\r\n", status: 502},
		{name: "control byte in the reason", resp: "HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n", status: 502},
		{name: "bare CR in a header: never reaches the client",
			resp: "HTTP/1.1 200 OK\r\nX-A: b\rSet-Cookie: evil=1\r\nContent-Length: 0\r\n\r\n", status: 502, notSee: []string{"evil"}},
		{name: "NUL in a header", resp: "HTTP/1.1 200 OK\r\nX-A: b\x00\r\nContent-Length: 0\r\n\r\n", status: 502},
		{name: "obs-fold in a header", resp: "HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\nContent-Length: 0\r\n\r\n", status: 502},
		{name: "two different lengths", resp: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", status: 502},
		{name: "unknown transfer coding", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx", status: 502},
		{name: "huge head", resp: "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Big: "+strings.Repeat("a", 1000)+"\r\n", 70) + "Content-Length: 0\r\n\r\n", status: 502},
		{name: "chunk extensions and trailers from upstream are dropped",
			resp:   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n002;x=y\r\nok\r\n0\r\nX-Trailer: t\r\n\r\n",
			status: 200, see: []string{"2\r\nok\r\n0\r\n\r\n"}, notSee: []string{"x=y", "X-Trailer", "002"}, maxConns: 1},
		{name: "invalid chunk size before anything was sent: 502", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n",
			status: 502, newConn: true},
		{name: "malformed trailers: dropped, the response completes, not reused",
			resp:   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: a\x01b\r\nno colon\r\n\r\n",
			status: 200, see: []string{"2\r\nok\r\n0\r\n\r\n"}, notSee: []string{"X-T", "no colon"}, newConn: true},
		{name: "101 to an h2c upgrade is refused", resp: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n", status: 502},
		{name: "short body: cut and not reused", resp: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
			status: 200, newConn: true},
		{name: "HTTP/1.0 response with TE: not reused",
			resp:   "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
			status: 200, newConn: true},
		{name: "Connection names Content-Length in a response: framing still written",
			resp:   "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 2\r\n\r\nok",
			status: 200, see: []string{"Content-Length: 2\r\n"}, maxConns: 1},
		{name: "101 without an upgrade request", resp: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", status: 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startRawBackend(t, func(n int, _ string) string {
				if n == 0 {
					return tt.resp
				}
				return ""
			})
			p := startProxy(t, pool([]string{b.addr}, "tries: 1\nmax_fails: 0"))
			method := tt.method
			if method == "" {
				method = "GET"
			}
			first := rawExchange(t, p.addr, method+" /first HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", time.Second)
			if st := statusOf(first); st != tt.status && tt.status >= 0 {
				t.Errorf("first client got status %d, want %d:\n%q", st, tt.status, first)
			}
			for _, s := range tt.see {
				if !strings.Contains(first, s) {
					t.Errorf("first client did not get %q:\n%q", s, first)
				}
			}
			for _, s := range tt.notSee {
				if strings.Contains(first, s) {
					t.Errorf("first client got %q:\n%q", s, first)
				}
			}
			before := b.connCount()
			second := rawExchange(t, p.addr, "GET /second HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", time.Second)
			if !strings.HasSuffix(second, "\r\n\r\n/second") {
				t.Errorf("second client did not get its own response (desync):\n%q", second)
			}
			if tt.newConn && b.connCount() == before {
				t.Errorf("the upstream connection of the first response was reused")
			}
			if tt.maxConns > 0 && b.connCount() > tt.maxConns {
				t.Errorf("%d upstream connections, want at most %d (the connection should be reused)", b.connCount(), tt.maxConns)
			}
		})
	}
}

// TestDelayedBytesAfterNoBodyResponse: a 204 whose stray body arrives after
// the head (a second segment) must not be read by the next client either.
func TestDelayedBytesAfterNoBodyResponse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conns := make(chan int, 10)
	go func() {
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- i
			go func(first bool) {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
					if first {
						_, _ = c.Write([]byte("HTTP/1.1 204 No Content\r\n\r\n"))
						time.Sleep(50 * time.Millisecond)
						_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL"))
						first = false
						continue
					}
					_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood"))
				}
			}(i == 0)
		}
	}()
	p := startProxy(t, pool([]string{ln.Addr().String()}, "tries: 1\nmax_fails: 0"))
	if st := statusOf(rawExchange(t, p.addr, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", time.Second)); st != 204 {
		t.Fatalf("first status %d", st)
	}
	time.Sleep(100 * time.Millisecond) // the stray bytes are on the idle connection now
	second := rawExchange(t, p.addr, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", time.Second)
	if !strings.HasSuffix(second, "good") {
		t.Fatalf("second client got %q, want its own response", second)
	}
}

// TestUpgradeMustMatch: a 101 to another protocol than the client asked
// for is not tunnelled.
func TestUpgradeMustMatch(t *testing.T) {
	for _, tt := range []struct {
		name, proto string
		status      int
	}{{"asked protocol", "websocket", 101}, {"another protocol", "h2c", 502}} {
		t.Run(tt.name, func(t *testing.T) {
			b := startRawBackend(t, func(int, string) string {
				return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + tt.proto + "\r\n\r\n"
			})
			p := startProxy(t, pool([]string{b.addr}, "tries: 1"))
			got := rawExchange(t, p.addr, "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 300*time.Millisecond)
			if st := statusOf(got); st != tt.status {
				t.Errorf("status %d, want %d:\n%q", st, tt.status, got)
			}
		})
	}
}
