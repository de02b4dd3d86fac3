package proxy

import (
	"bufio"
	"net"
	"syscall"
	"testing"
	"time"
)

// BenchmarkProxyGET measures one keepalive client doing sequential GETs
// through the handler to a minimal raw backend: the per-request cost of the
// engine itself (allocations should be 0).
func BenchmarkProxyGET(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				var req head
				resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
				for {
					if req.readHead(br) != nil || req.parseRequest() != nil {
						return
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	p := startProxyB(b, pool([]string{ln.Addr().String()}, ""))
	c, err := net.Dial("tcp", p)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	var resp head
	req := []byte("GET /api/v1/ping HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		// The client side parses with the engine's own parser so that
		// allocs/op counts the proxy, not net/http's client.
		if err := resp.readHead(br); err != nil {
			b.Fatal(err)
		}
		if err := resp.parseResponse(); err != nil || resp.status != 200 {
			b.Fatalf("status %d: %v", resp.status, err)
		}
		if _, err := br.Discard(int(resp.contentLength)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	// CPU time (user+sys) of the whole test process per request: the
	// proxy, the client and the raw backend. On a shared machine it moves
	// far less than ns/op, which is the round trip's wall time.
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the user+sys time the process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkParseRequest is the head parser alone.
func BenchmarkParseRequest(b *testing.B) {
	raw := "GET /api/v1/users?id=1 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: Mozilla/5.0\r\nAccept: application/json\r\nAccept-Encoding: gzip\r\nConnection: keep-alive\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n"
	h := &head{}
	r := &repeatReader{s: raw}
	br := bufio.NewReader(r)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for i := 0; i < b.N; i++ {
		if err := h.readHead(br); err != nil {
			b.Fatal(err)
		}
		if err := h.parseRequest(); err != nil {
			b.Fatal(err)
		}
	}
}

type repeatReader struct {
	s string
	i int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.s[r.i:])
		n += c
		r.i = (r.i + c) % len(r.s)
	}
	return n, nil
}

// startProxyB starts a proxy with a LocalFunc that declines every request,
// as the agent's does for proxied traffic.
func startProxyB(b *testing.B, yaml string) string {
	b.Helper()
	p := startProxy(b, yaml, func(h *Handler) {
		h.Local = func(*LocalRequest) *LocalResponse { return nil }
	})
	return p.addr
}
