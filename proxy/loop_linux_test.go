package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startLoopProxy runs a proxy on the event loops whatever EDGECTL_ENGINE says.
func startLoopProxy(t *testing.T, yaml string) *testProxy {
	t.Helper()
	return startProxy(t, yaml, func(h *Handler) {
		if err := h.EnableLoops(1); err != nil {
			t.Fatal(err)
		}
	})
}

// TestLoopServesAndHandsOver: on one keepalive connection, the requests a
// loop serves whole and those it hands to the goroutine engine (a body, a
// chunked response) are all answered, in order, pipelined or not, and the
// counters say which engine answered.
func TestLoopServesAndHandsOver(t *testing.T) {
	b := startBackend(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush() // no Content-Length: chunked
		}
		fmt.Fprintf(w, "%s %s %q", r.Method, r.URL.Path, body)
	})
	p := startLoopProxy(t, pool([]string{b.addr}, ""))
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exchange := func(raw string, want ...string) {
		t.Helper()
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		var got bytes.Buffer
		buf := make([]byte, 4096)
		for !strings.Contains(got.String(), want[len(want)-1]) {
			n, err := c.Read(buf)
			got.Write(buf[:n])
			if err != nil {
				t.Fatalf("after %q: %v\n%q", raw, err, got.String())
			}
		}
		rest := got.String()
		for _, w := range want {
			i := strings.Index(rest, w)
			if i < 0 {
				t.Fatalf("after %q: %q missing or out of order in\n%q", raw, w, got.String())
			}
			rest = rest[i+len(w):]
		}
	}
	exchange("GET /one HTTP/1.1\r\nHost: a\r\n\r\n", `GET /one ""`)
	if n := p.h.lctr.requests.Load(); n != 1 {
		t.Errorf("loop requests = %d after a GET, want 1", n)
	}
	// Two pipelined requests in one write: answered in order by the loop.
	exchange("GET /two HTTP/1.1\r\nHost: a\r\n\r\nHEAD /three HTTP/1.1\r\nHost: a\r\n\r\nGET /four HTTP/1.1\r\nHost: a\r\n\r\n",
		`GET /two ""`, "HTTP/1.1 200", `GET /four ""`)
	if n := p.h.lctr.requests.Load(); n != 4 {
		t.Errorf("loop requests = %d, want 4", n)
	}
	// A chunked response is relayed by the goroutine engine, which keeps
	// the connection from then on.
	exchange("GET /chunked HTTP/1.1\r\nHost: a\r\n\r\n", "Transfer-Encoding: chunked", `GET /chunked ""`, "0\r\n\r\n")
	if n := p.h.lctr.handoffs[handoffResponse].Load(); n != 1 {
		t.Errorf("response handoffs = %d, want 1", n)
	}
	exchange("POST /body HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", `POST /body "hello"`)
	exchange("GET /after HTTP/1.1\r\nHost: a\r\n\r\n", `GET /after ""`)

	// A body on a new connection is handed over at once, with every byte.
	got := rawExchange(t, p.addr, "POST /new HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc", time.Second)
	if !strings.HasSuffix(got, `POST /new "abc"`) {
		t.Errorf("handed-over POST: %q", got)
	}
	if n := p.h.lctr.handoffs[handoffBody].Load(); n != 1 {
		t.Errorf("body handoffs = %d, want 1", n)
	}
	var m bytes.Buffer
	_ = p.h.WriteMetrics(&m)
	for _, want := range []string{"edgectl_loop_requests_total 4", `edgectl_loop_handoffs_total{reason="request_body"} 1`, `edgectl_loop_handoffs_total{reason="response_framing"} 1`} {
		if !strings.Contains(m.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestLoopLargeBodySlowClient: a Content-Length body larger than what a
// loop holds for a client is relayed whole to a client that reads slowly:
// the loop stops reading the server while the client is behind.
func TestLoopLargeBodySlowClient(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 256<<10/16*4) // 1 MiB
	b := startBackend(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(payload)))
		_, _ = w.Write(payload)
	})
	p := startLoopProxy(t, pool([]string{b.addr}, ""))
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetReadBuffer(16 << 10)
	if _, err := io.WriteString(c, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the server and the loop fill up
	resp, err := http.ReadResponse(bufioReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("read %d bytes (err %v), want the %d sent", len(got), err, len(payload))
	}
	if n := p.h.lctr.requests.Load(); n != 1 {
		t.Errorf("loop requests = %d, want 1 (relayed by the loop)", n)
	}
}

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }
