package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/agentconfig"
)

// listenTCP listens on host:0, skipping when [::1] is unavailable.
func listenTCP(t *testing.T, host string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		if strings.Contains(host, ":") {
			t.Skipf("IPv6 loopback unavailable here: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// startTCP serves every connection on a new listener on host with fn.
func startTCP(t *testing.T, host string, fn func(*net.TCPConn)) string {
	t.Helper()
	ln := listenTCP(t, host)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); fn(c.(*net.TCPConn)) }()
		}
	}()
	return ln.Addr().String()
}

// echo copies what it reads back and half-closes at EOF.
func echo(c *net.TCPConn) {
	_, _ = io.Copy(struct{ io.Writer }{c}, struct{ io.Reader }{c})
	_ = c.CloseWrite()
}

// streamUpstream builds the table for servers (see pool) with the stream
// configured, optionally switches to TCP checks, and runs the first round.
func streamUpstream(t *testing.T, servers []string, extra string, tcpCheck bool) *Upstream {
	t.Helper()
	yaml := pool(servers, extra) + "streams:\n  - listen: \"[::]:7000\"\n    upstream: api\n"
	cfg, err := agentconfig.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	tbl, err := NewTable(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tcpCheck {
		tbl.Upstreams["api"].UseTCPHealthCheck()
	}
	tbl.CheckNow()
	tbl.Start()
	t.Cleanup(tbl.Close)
	return tbl.Upstreams["api"]
}

// startStream serves a StreamProxy to u on host; cleanup checks that Serve
// returns nil once the listener is closed.
func startStream(t *testing.T, u *Upstream, host string) (string, *StreamProxy) {
	t.Helper()
	sp := NewStreamProxy(u, nil)
	ln := listenTCP(t, host)
	served := make(chan error, 1)
	go func() { served <- sp.Serve(ln) }()
	t.Cleanup(func() {
		_ = ln.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve after close = %v, want nil", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = sp.Drain(ctx)
	})
	return ln.Addr().String(), sp
}

func dialTCP(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { _ = c.Close() })
	return c.(*net.TCPConn)
}

// roundTrip writes msg, half-closes and reads everything back.
func roundTrip(c *net.TCPConn, msg string) (string, error) {
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	if err := c.CloseWrite(); err != nil {
		return "", err
	}
	got, err := io.ReadAll(c)
	return string(got), err
}

func TestStreamEcho(t *testing.T) {
	for _, tc := range []struct{ name, backend, listen string }{
		{"ipv4", "127.0.0.1", "127.0.0.1"},
		{"ipv6", "::1", "::1"},
		{"ipv4 client to ipv6 backend", "::1", "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := streamUpstream(t, []string{startTCP(t, tc.backend, echo)}, "", false)
			addr, sp := startStream(t, u, tc.listen)
			c := dialTCP(t, addr)
			if _, err := c.Write([]byte("ping\n")); err != nil {
				t.Fatal(err)
			}
			line := make([]byte, 5)
			if _, err := io.ReadFull(c, line); err != nil || string(line) != "ping\n" {
				t.Fatalf("echo = %q, %v", line, err)
			}
			if n := sp.Conns(); n != 1 {
				t.Errorf("Conns() = %d with one open connection", n)
			}
			if got, err := roundTrip(c, "pong"); got != "pong" || err != nil {
				t.Fatalf("after half-close: %q, %v", got, err)
			}
			eventually(t, 2*time.Second, "Conns() == 0", func() bool { return sp.Conns() == 0 })
			p := u.Peers()[0]
			if r, in := p.requests.Load(), p.inflight.Load(); r != 1 || in != 0 {
				t.Errorf("peer requests=%d inflight=%d, want 1 and 0", r, in)
			}
		})
	}
}

func TestStreamLargeTransfer(t *testing.T) {
	const size = 8 << 20
	gen := func(seed uint64) io.Reader {
		return io.LimitReader(rand.NewChaCha8([32]byte{byte(seed)}), size)
	}
	sum := func(r io.Reader) ([32]byte, int64) {
		h := sha256.New()
		n, _ := io.Copy(h, r)
		return [32]byte(h.Sum(nil)), n
	}
	want1, _ := sum(gen(1))
	want2, _ := sum(gen(2))
	got := make(chan [32]byte, 1)
	backend := startTCP(t, "127.0.0.1", func(c *net.TCPConn) {
		wrote := make(chan struct{})
		go func() { _, _ = io.Copy(c, gen(2)); _ = c.CloseWrite(); close(wrote) }()
		s, _ := sum(c)
		got <- s
		<-wrote // both directions done before the deferred Close
	})
	addr, _ := startStream(t, streamUpstream(t, []string{backend}, "", false), "127.0.0.1")
	c := dialTCP(t, addr)
	go func() { _, _ = io.Copy(c, gen(1)); _ = c.CloseWrite() }()
	s, n := sum(c)
	if n != size || s != want2 {
		t.Errorf("client received %d bytes, checksum match %v", n, s == want2)
	}
	if s := <-got; s != want1 {
		t.Error("server received a corrupted stream")
	}
}

func TestStreamHalfClose(t *testing.T) {
	reply := bytes.Repeat([]byte("reply "), 200_000)
	backend := startTCP(t, "127.0.0.1", func(c *net.TCPConn) {
		req, err := io.ReadAll(c) // to the client's EOF
		if err != nil || string(req) != "request" {
			return
		}
		time.Sleep(50 * time.Millisecond) // the client's side has been half-closed a while
		_, _ = c.Write(reply)
	})
	addr, _ := startStream(t, streamUpstream(t, []string{backend}, "", false), "127.0.0.1")
	got, err := roundTrip(dialTCP(t, addr), "request")
	if err != nil || got != string(reply) {
		t.Fatalf("reply after CloseWrite: %d of %d bytes, %v", len(got), len(reply), err)
	}
}

func TestStreamFailoverToBackup(t *testing.T) {
	primary := refusedAddr(t, 6)
	backup := startTCP(t, "127.0.0.1", echo)
	u := streamUpstream(t, []string{primary, backup + " backup"}, "", false)
	addr, _ := startStream(t, u, "127.0.0.1")
	failed := 0
	for range 50 {
		if got, err := roundTrip(dialTCP(t, addr), "x"); got != "x" || err != nil {
			failed++
		}
	}
	if failed != 0 {
		t.Errorf("%d of 50 connections failed", failed)
	}
	st := u.Status(time.Now())
	if st.Failovers == 0 || st.Peers[0].State != "down" || st.Peers[1].Requests != 50 {
		t.Errorf("failovers=%d primary=%s backup requests=%d", st.Failovers, st.Peers[0].State, st.Peers[1].Requests)
	}
}

func TestStreamTCPHealthCheck(t *testing.T) {
	health := "health:\n  interval: 1h\n  timeout: 1s"
	for _, tc := range []struct {
		name        string
		tcp         bool
		refused, ok string // peer states after the first round
	}{
		{"tcp connect", true, "down", "up"},
		{"http get (echo server is no HTTP server)", false, "down", "down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refused := refusedAddr(t, 4)
			live := startTCP(t, "127.0.0.1", echo)
			u := streamUpstream(t, []string{refused, live}, health, tc.tcp)
			st := u.Status(time.Now())
			if st.Peers[0].State != tc.refused || st.Peers[1].State != tc.ok {
				t.Fatalf("after CheckNow: refused=%s live=%s, want %s and %s",
					st.Peers[0].State, st.Peers[1].State, tc.refused, tc.ok)
			}
			if !tc.tcp {
				return
			}
			addr, _ := startStream(t, u, "127.0.0.1")
			for range 20 {
				if got, err := roundTrip(dialTCP(t, addr), "x"); got != "x" || err != nil {
					t.Fatalf("through the live peer: %q, %v", got, err)
				}
			}
			if f, n := u.Peers()[0].failures.Load(), u.failovers.Load(); f != 0 || n != 0 {
				t.Errorf("refused peer got traffic: failures=%d failovers=%d", f, n)
			}
		})
	}
}

func TestStreamDrain(t *testing.T) {
	backend := startTCP(t, "127.0.0.1", echo)
	addr, sp := startStream(t, streamUpstream(t, []string{backend}, "", false), "127.0.0.1")

	t.Run("waits for a live connection", func(t *testing.T) {
		c := dialTCP(t, addr)
		eventually(t, 2*time.Second, "one connection", func() bool { return sp.Conns() == 1 })
		done := make(chan error, 1)
		go func() { done <- sp.Drain(context.Background()) }()
		select {
		case err := <-done:
			t.Fatalf("Drain returned %v with a connection open", err)
		case <-time.After(200 * time.Millisecond):
		}
		if got, err := roundTrip(c, "still served"); got != "still served" || err != nil {
			t.Fatalf("during drain: %q, %v", got, err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Drain = %v after the connection ended", err)
		}
	})

	t.Run("closes the rest at the deadline", func(t *testing.T) {
		c := dialTCP(t, addr)
		eventually(t, 2*time.Second, "one connection", func() bool { return sp.Conns() == 1 })
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := sp.Drain(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) < 150*time.Millisecond {
			t.Fatalf("Drain = %v after %s", err, time.Since(start))
		}
		if n := sp.Conns(); n != 0 {
			t.Errorf("Conns() = %d after Drain", n)
		}
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Error("client connection still open after a forced drain")
		}
	})
}
