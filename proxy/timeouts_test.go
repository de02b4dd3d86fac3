package proxy

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// Short limits so that the tests are quick; the bound each test checks is
// the timeout plus generous slack for a busy machine (never less than the
// timeout itself: closing early would be as wrong as never).
const testLimits = `limits:
  header_timeout: 400ms
  body_timeout: 400ms
  send_timeout: 400ms
  idle_timeout: 900ms
`

const slack = 1500 * time.Millisecond

// closedWithin reads from c until it closes and reports when, and what it
// read.
func closedWithin(t *testing.T, c net.Conn, max time.Duration) (time.Duration, string) {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(max))
	b, err := io.ReadAll(c)
	d := time.Since(start)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after %v (read %q)", max, b)
	}
	return d, string(b)
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestHeaderTimeout(t *testing.T) {
	b := startRawBackend(t, nil)
	p := startProxy(t, testLimits+pool([]string{b.addr}, ""))

	t.Run("a trickled head gets 408", func(t *testing.T) {
		c := dial(t, p.addr)
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHo")
		d, got := closedWithin(t, c, 400*time.Millisecond+slack)
		if statusOf(got) != 408 || d < 300*time.Millisecond {
			t.Errorf("after %v got %q, want 408 after about 400ms", d, got)
		}
	})
	t.Run("a connection that sends nothing is closed", func(t *testing.T) {
		c := dial(t, p.addr)
		d, got := closedWithin(t, c, 400*time.Millisecond+slack)
		if got != "" || d < 300*time.Millisecond {
			t.Errorf("after %v got %q, want a silent close after about 400ms", d, got)
		}
	})
	t.Run("keepalive waits idle_timeout, not header_timeout", func(t *testing.T) {
		c := dial(t, p.addr)
		for i := 0; i < 2; i++ {
			_, _ = io.WriteString(c, "GET /k HTTP/1.1\r\nHost: a\r\n\r\n")
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 4096)
			n, err := c.Read(buf)
			if err != nil || statusOf(string(buf[:n])) != 200 {
				t.Fatalf("request %d: %q %v", i, buf[:n], err)
			}
			time.Sleep(600 * time.Millisecond) // > header_timeout, < idle_timeout
		}
		d, _ := closedWithin(t, c, 900*time.Millisecond+slack)
		if d < 100*time.Millisecond {
			t.Errorf("closed %v after the last wait, want about 300ms more (idle_timeout 900ms)", d)
		}
	})
}

func TestBodyTimeout(t *testing.T) {
	for _, tt := range []struct {
		name string
		cl   int
	}{{"buffered body", 10}, {"streamed body", 200 << 10}} {
		t.Run(tt.name, func(t *testing.T) {
			b := startRawBackend(t, nil)
			p := startProxy(t, testLimits+pool([]string{b.addr}, ""))
			c := dial(t, p.addr)
			_, _ = io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: "+itoa(tt.cl)+"\r\n\r\nabc")
			d, got := closedWithin(t, c, 400*time.Millisecond+slack)
			if statusOf(got) != 408 || d < 300*time.Millisecond {
				t.Errorf("after %v got %q, want 408 after about 400ms", d, got)
			}
			if n := len(b.requests()); n != 0 {
				t.Errorf("the backend completed %d requests from an unfinished body", n)
			}
		})
	}
}

func TestSendTimeout(t *testing.T) {
	big := strings.Repeat("x", 64<<20)
	up := startBackend(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, big)
	})
	p := startProxy(t, testLimits+pool([]string{up.addr}, ""))
	c := dial(t, p.addr)
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	start := time.Now()
	_, _ = io.WriteString(c, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
	one := make([]byte, 1)
	if _, err := io.ReadFull(c, one); err != nil {
		t.Fatal(err)
	}
	// The client reads nothing more: the agent's writes stop making progress
	// once the socket buffers are full, and send_timeout later it lets
	// the connection go (kernel buffers may still hold some of the body).
	eventually(t, 400*time.Millisecond+slack+time.Second, "the agent closes the connection of a client that reads nothing", func() bool {
		return p.h.Conns() == 0
	})
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("closed after %v, before send_timeout (400ms)", d)
	}
}

func TestUpstreamReadTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
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
				buf := make([]byte, 4096)
				_, _ = c.Read(buf)
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst part")
				time.Sleep(10 * time.Second) // stalls mid-body
			}()
		}
	}()
	p := startProxy(t, pool([]string{ln.Addr().String()}, "read_timeout: 500ms\ntries: 1"))
	c := dial(t, p.addr)
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	d, got := closedWithin(t, c, 500*time.Millisecond+slack)
	if !strings.Contains(got, "first part") || d < 400*time.Millisecond {
		t.Errorf("after %v got %q, want the first part then a close after about 500ms", d, got)
	}
}

func TestMaxBody(t *testing.T) {
	b := startRawBackend(t, nil)
	p := startProxy(t, "limits: {max_body: 100}\n"+pool([]string{b.addr}, ""))
	for _, tt := range []struct {
		name, raw string
		status    int
	}{
		{"Content-Length above the cap", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n", 413},
		{"chunked above the cap", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n50\r\n" + strings.Repeat("a", 80) + "\r\n50\r\n" + strings.Repeat("a", 80) + "\r\n0\r\n\r\n", 413},
		{"at the cap", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("a", 100), 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if st := statusOf(rawExchange(t, p.addr, tt.raw, 300*time.Millisecond)); st != tt.status {
				t.Errorf("status %d, want %d", st, tt.status)
			}
		})
	}
}

func itoa(n int) string {
	const digits = "0123456789"
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{digits[n%10]}, b...)
	}
	return string(b)
}

// TestCheckTimeoutsTable drives the sweeper's decision directly: which
// phase, how long, interrupted already or not.
func TestCheckTimeoutsTable(t *testing.T) {
	l := &Limits{HeaderTimeout: 10 * time.Second, BodyTimeout: 60 * time.Second, SendTimeout: 60 * time.Second, IdleTimeout: 75 * time.Second}
	const s = int64(time.Second)
	for _, tt := range []struct {
		name       string
		phase, was int
		first      bool
		since      int64 // phase start, seconds before now
		lastRead   int64 // seconds before now; -1: none
		want       int
	}{
		{"first head within header_timeout", phaseIdle, intrNone, true, 9, -1, intrNone},
		{"first head past header_timeout", phaseIdle, intrNone, true, 11, -1, intrHeader},
		{"keepalive idle within idle_timeout", phaseIdle, intrNone, false, 70, -1, intrNone},
		{"keepalive idle past idle_timeout", phaseIdle, intrNone, false, 76, -1, intrIdle},
		{"body reading recently", phaseBody, intrNone, false, 300, 30, intrNone},
		{"body silent past body_timeout", phaseBody, intrNone, false, 300, 61, intrBody},
		{"busy: no client timeout", phaseBusy, intrNone, false, 3000, 3000, intrNone},
		{"a head that beat its deadline still has a bounded body", phaseBody, intrHeader, false, 300, 61, intrBody},
		{"drained and idle: left to the drain", phaseIdle, intrDrain, false, 300, -1, intrDrain},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			now := time.Now().UnixNano()
			cc := &clientConn{c: a, phase: tt.phase, interrupt: tt.was, first: tt.first, phaseSince: now - tt.since*s}
			if tt.lastRead >= 0 {
				cc.lastRead.Store(now - tt.lastRead*s)
			}
			cc.checkTimeouts(now, l)
			if cc.interrupt != tt.want {
				t.Errorf("interrupt = %d, want %d", cc.interrupt, tt.want)
			}
		})
	}
}
