package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/agentconfig"
)

// holdEnv is one hold scenario: a proxy in front of a real backend on a
// fixed loopback port that the scenario stops and starts again.
type holdEnv struct {
	t    *testing.T
	p    *testProxy
	addr string // the backend's fixed address
	be   *backend
}

func (e *holdEnv) stopBackend() {
	e.t.Helper()
	if err := e.be.srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		e.t.Fatal(err)
	}
}

func (e *holdEnv) startBackend(h http.HandlerFunc) { e.be = startBackend(e.t, e.addr, h) }

// hold is the upstream's hold status (nil when never paused).
func (e *holdEnv) hold() *HoldStatus {
	for _, u := range e.p.h.Table().Status(time.Now()) {
		if u.Name == "api" {
			return u.Hold
		}
	}
	e.t.Fatal("no upstream api")
	return nil
}

func (e *holdEnv) held() int64 {
	if h := e.hold(); h != nil {
		return h.Held
	}
	return 0
}

// answer is one response (or error) of a request sent in the background.
type answer struct {
	status     int
	retryAfter string
	body       string
	err        error
}

// send runs n GETs concurrently, each on its own connection, and returns
// the channel their answers arrive on.
func (e *holdEnv) send(n int) chan answer {
	out := make(chan answer, n)
	for range n {
		go func() {
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err := c.Get(e.p.url("/x"))
			if err != nil {
				out <- answer{err: err}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			out <- answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(b)}
		}()
	}
	return out
}

func collect(t *testing.T, ch chan answer, n int) []answer {
	t.Helper()
	var out []answer
	for range n {
		select {
		case a := <-ch:
			out = append(out, a)
		case <-time.After(15 * time.Second):
			t.Fatalf("only %d of %d answers arrived", len(out), n)
		}
	}
	return out
}

func count(as []answer, status int) int {
	n := 0
	for _, a := range as {
		if a.err == nil && a.status == status {
			n++
		}
	}
	return n
}

func TestHold(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, e *holdEnv)
	}{
		{"requests held across a backend restart succeed after resume", func(t *testing.T, e *holdEnv) {
			if _, err := e.p.h.Pause([]string{"api"}, HoldOptions{Timeout: 10 * time.Second}); err != nil {
				t.Fatal(err)
			}
			e.stopBackend()
			ch := e.send(8)
			eventually(t, 5*time.Second, "8 requests held", func() bool { return e.held() == 8 })
			e.startBackend(nil)
			if _, err := e.p.h.Resume([]string{"api"}, false); err != nil {
				t.Fatal(err)
			}
			as := collect(t, ch, 8)
			if n := count(as, 200); n != 8 {
				t.Fatalf("%d of 8 held requests got 200: %+v", n, as)
			}
			last := e.hold().Last
			if last == nil || last.Ended != EndResumed || last.Held != 8 || last.Released != 8 {
				t.Fatalf("last pause %+v, want resumed with 8 held and released", last)
			}
		}},
		{"resume when healthy: the first passing check releases", func(t *testing.T, e *holdEnv) {
			if _, err := e.p.h.Pause(nil, HoldOptions{Timeout: 10 * time.Second, ResumeWhenHealthy: true}); err != nil {
				t.Fatal(err)
			}
			e.stopBackend()
			ch := e.send(4)
			eventually(t, 5*time.Second, "4 requests held", func() bool { return e.held() == 4 })
			time.Sleep(3 * HoldCheckInterval) // checks fail meanwhile: no release
			if h := e.hold(); !h.Paused || h.Held != 4 {
				t.Fatalf("hold %+v: the pause ended while the backend was down", h)
			}
			e.startBackend(nil)
			as := collect(t, ch, 4)
			if n := count(as, 200); n != 4 {
				t.Fatalf("%d of 4 held requests got 200: %+v", n, as)
			}
			if last := e.hold().Last; last == nil || last.Ended != EndHealthy {
				t.Fatalf("last pause %+v, want ended healthy", last)
			}
		}},
		{"resume --when-healthy with the backend already back releases at once", func(t *testing.T, e *holdEnv) {
			if _, err := e.p.h.Pause([]string{"api"}, HoldOptions{Timeout: 10 * time.Second}); err != nil {
				t.Fatal(err)
			}
			ch := e.send(2)
			eventually(t, 5*time.Second, "2 requests held", func() bool { return e.held() == 2 })
			if _, err := e.p.h.Resume([]string{"api"}, true); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			recs, err := e.p.h.WaitResumed(ctx, []string{"api"})
			if err != nil || len(recs) != 1 || recs[0].Ended != EndHealthy {
				t.Fatalf("WaitResumed = %+v, %v; want one pause ended healthy", recs, err)
			}
			if n := count(collect(t, ch, 2), 200); n != 2 {
				t.Fatalf("%d of 2 held requests got 200", n)
			}
		}},
		{"beyond the queue cap: 503 with Retry-After", func(t *testing.T, e *holdEnv) {
			if _, err := e.p.h.Pause([]string{"api"}, HoldOptions{Timeout: 10 * time.Second, MaxHeld: 2}); err != nil {
				t.Fatal(err)
			}
			ch := e.send(2)
			eventually(t, 5*time.Second, "2 requests held", func() bool { return e.held() == 2 })
			over := collect(t, e.send(1), 1)[0]
			if over.status != 503 || over.retryAfter == "" || !strings.Contains(over.body, "queue is full") {
				t.Fatalf("third request: %+v, want 503 with Retry-After and a queue-full message", over)
			}
			if _, err := e.p.h.Resume(nil, false); err != nil {
				t.Fatal(err)
			}
			if n := count(collect(t, ch, 2), 200); n != 2 {
				t.Fatalf("%d of 2 held requests got 200", n)
			}
			if last := e.hold().Last; last.Rejected != 1 {
				t.Fatalf("last pause %+v, want 1 rejected", last)
			}
		}},
		{"past the hold timeout: 503 with Retry-After, and the pause ends", func(t *testing.T, e *holdEnv) {
			if _, err := e.p.h.Pause([]string{"api"}, HoldOptions{Timeout: 300 * time.Millisecond}); err != nil {
				t.Fatal(err)
			}
			a := collect(t, e.send(1), 1)[0]
			if a.status != 503 || a.retryAfter == "" || !strings.Contains(a.body, "longer than the agent holds") {
				t.Fatalf("held request: %+v, want 503 with Retry-After after the timeout", a)
			}
			if h := e.hold(); h.Paused || h.Last.Ended != EndExpired {
				t.Fatalf("hold %+v, want not paused, last expired", h)
			}
			if a := collect(t, e.send(1), 1)[0]; a.status != 200 {
				t.Fatalf("after the expiry: %+v, want 200", a)
			}
		}},
		{"a client that goes away leaves the queue", func(t *testing.T, e *holdEnv) {
			if _, err := e.p.h.Pause([]string{"api"}, HoldOptions{Timeout: 10 * time.Second}); err != nil {
				t.Fatal(err)
			}
			c, err := net.Dial("tcp", e.p.addr)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(c, "GET /gone HTTP/1.1\r\nHost: x\r\n\r\n")
			eventually(t, 5*time.Second, "the request held", func() bool { return e.held() == 1 })
			_ = c.Close()
			eventually(t, 5*time.Second, "the request dequeued", func() bool { return e.held() == 0 })
			if _, err := e.p.h.Resume(nil, false); err != nil {
				t.Fatal(err)
			}
			if last := e.hold().Last; last.ClientGone != 1 || last.Released != 0 {
				t.Fatalf("last pause %+v, want 1 client gone, none released", last)
			}
			if e.be.hits.Load() != 0 {
				t.Fatalf("the backend saw %d requests from a client that had gone", e.be.hits.Load())
			}
		}},
		{"a client on a pipe (the HTTP/2 bridge) that goes away leaves the queue", func(t *testing.T, e *holdEnv) {
			if _, err := e.p.h.Pause([]string{"api"}, HoldOptions{Timeout: 10 * time.Second}); err != nil {
				t.Fatal(err)
			}
			client, server := net.Pipe()
			go e.p.h.ServeConnFrom(server, true, "127.0.0.1")
			go fmt.Fprintf(client, "GET /gone HTTP/1.1\r\nHost: x\r\n\r\n")
			eventually(t, 5*time.Second, "the request held", func() bool { return e.held() == 1 })
			_ = client.Close()
			eventually(t, 5*time.Second, "the request dequeued", func() bool { return e.held() == 0 })
			if _, err := e.p.h.Resume(nil, false); err != nil {
				t.Fatal(err)
			}
			if last := e.hold().Last; last.ClientGone != 1 || e.be.hits.Load() != 0 {
				t.Fatalf("last pause %+v, backend hits %d; want 1 client gone and no hit", last, e.be.hits.Load())
			}
		}},
		{"a TLS client held, then one that goes away", func(t *testing.T, e *holdEnv) {
			dial := tlsListener(t, e.p.h)
			if _, err := e.p.h.Pause([]string{"api"}, HoldOptions{Timeout: 10 * time.Second}); err != nil {
				t.Fatal(err)
			}
			kept, gone := dial(), dial()
			for _, c := range []net.Conn{kept, gone} {
				fmt.Fprintf(c, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
			}
			eventually(t, 5*time.Second, "2 requests held", func() bool { return e.held() == 2 })
			_ = gone.Close()
			eventually(t, 5*time.Second, "the gone one dequeued", func() bool { return e.held() == 1 })
			if _, err := e.p.h.Resume(nil, false); err != nil {
				t.Fatal(err)
			}
			_ = kept.SetDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(kept), nil)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("the held TLS request: %v %v, want 200", resp, err)
			}
			_ = kept.Close()
			if last := e.hold().Last; last.ClientGone != 1 || last.Released != 1 {
				t.Fatalf("last pause %+v, want 1 released and 1 client gone", last)
			}
		}},
		{"requests with bodies, buffered and streamed, are held whole", func(t *testing.T, e *holdEnv) {
			e.stopBackend()
			e.startBackend(func(w http.ResponseWriter, r *http.Request) {
				n, _ := io.Copy(io.Discard, r.Body)
				fmt.Fprintf(w, "%d", n)
			})
			if _, err := e.p.h.Pause([]string{"api"}, HoldOptions{Timeout: 10 * time.Second}); err != nil {
				t.Fatal(err)
			}
			sizes := []int{10, 200 << 10} // under and over the 64 KiB the agent buffers
			got := make(chan string, len(sizes))
			for _, n := range sizes {
				go func() {
					c := &http.Client{Timeout: 10 * time.Second}
					resp, err := c.Post(e.p.url("/x"), "application/octet-stream", strings.NewReader(strings.Repeat("b", n)))
					if err != nil {
						got <- err.Error()
						return
					}
					b, _ := io.ReadAll(resp.Body)
					_ = resp.Body.Close()
					got <- fmt.Sprintf("%d %s", resp.StatusCode, b)
				}()
			}
			eventually(t, 5*time.Second, "2 requests held", func() bool { return e.held() == 2 })
			if _, err := e.p.h.Resume(nil, false); err != nil {
				t.Fatal(err)
			}
			var answers []string
			for range sizes {
				answers = append(answers, <-got)
			}
			slices.Sort(answers)
			if want := []string{"200 10", "200 204800"}; !slices.Equal(answers, want) {
				t.Fatalf("answers %q, want %q", answers, want)
			}
		}},
		{"a pipelined keepalive connection stays in sync", func(t *testing.T, e *holdEnv) {
			// The next request arrives while the first is held (the
			// agent peeks at the connection then): each must reach the
			// backend as sent, not overwritten by the other.
			e.stopBackend()
			e.startBackend(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "%s %s %s", r.URL.Path, r.Host, r.Header.Get("X-N"))
			})
			if _, err := e.p.h.Pause([]string{"api"}, HoldOptions{Timeout: 10 * time.Second}); err != nil {
				t.Fatal(err)
			}
			c, err := net.Dial("tcp", e.p.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(c, "GET /1 HTTP/1.1\r\nHost: a\r\nX-N: one\r\n\r\n")
			eventually(t, 5*time.Second, "the request held", func() bool { return e.held() == 1 })
			fmt.Fprintf(c, "GET /2 HTTP/1.1\r\nHost: b\r\nX-N: two\r\n\r\n")
			time.Sleep(50 * time.Millisecond)
			if _, err := e.p.h.Resume(nil, false); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			for i, want := range []string{"/1 a one", "/2 b two"} {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("response %d: %v", i+1, err)
				}
				body, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != 200 || string(body) != want {
					t.Fatalf("response %d: %d %q, want 200 %q", i+1, resp.StatusCode, body, want)
				}
			}
		}},
		{"requests in flight when the pause starts are not held", func(t *testing.T, e *holdEnv) {
			e.stopBackend()
			started := make(chan struct{}, 1)
			finish := make(chan struct{})
			e.startBackend(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/x" {
					started <- struct{}{}
					<-finish
				}
				fmt.Fprint(w, "ok")
			})
			ch := e.send(1)
			<-started
			if _, err := e.p.h.Pause([]string{"api"}, HoldOptions{Timeout: 10 * time.Second}); err != nil {
				t.Fatal(err)
			}
			if h := e.hold(); h.Inflight != 1 || h.Held != 0 {
				t.Fatalf("hold %+v, want 1 in flight, none waiting", h)
			}
			close(finish)
			if a := collect(t, ch, 1)[0]; a.status != 200 {
				t.Fatalf("in-flight request: %+v, want 200 while paused", a)
			}
			if _, err := e.p.h.Resume(nil, false); err != nil {
				t.Fatal(err)
			}
		}},
		{"a reload keeps the pause and its held requests", func(t *testing.T, e *holdEnv) {
			if _, err := e.p.h.Pause([]string{"api"}, HoldOptions{Timeout: 10 * time.Second}); err != nil {
				t.Fatal(err)
			}
			ch := e.send(3)
			eventually(t, 5*time.Second, "3 requests held", func() bool { return e.held() == 3 })
			old := e.p.h.Table()
			cfg, err := agentconfig.Parse("test.yaml", []byte(holdConfig(t, e.addr)))
			if err != nil {
				t.Fatal(err)
			}
			next, err := NewTable(cfg, old)
			if err != nil {
				t.Fatal(err)
			}
			next.Start()
			e.p.h.SetTable(next)
			old.Close()
			if h := e.hold(); !h.Paused || h.Held != 3 {
				t.Fatalf("after the reload: hold %+v, want paused with 3 waiting", h)
			}
			if _, err := e.p.h.Resume([]string{"api"}, false); err != nil {
				t.Fatal(err)
			}
			if n := count(collect(t, ch, 3), 200); n != 3 {
				t.Fatalf("%d of 3 held requests got 200", n)
			}
		}},
		{"an unknown upstream is an error", func(t *testing.T, e *holdEnv) {
			if _, err := e.p.h.Pause([]string{"nope"}, HoldOptions{}); !errors.Is(err, ErrUnknownUpstream) || !strings.Contains(err.Error(), "api") {
				t.Fatalf("Pause(nope) = %v, want ErrUnknownUpstream naming the known ones", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			_ = ln.Close()
			e := &holdEnv{t: t, addr: addr}
			e.startBackend(nil)
			e.p = startProxy(t, holdConfig(t, addr))
			tc.run(t, e)
			if h := e.hold(); h != nil && h.Paused {
				t.Fatalf("the scenario left the upstream paused: %+v", h)
			}
		})
	}
}

// tlsListener serves h over TLS on a loopback port (httptest's
// certificate) and returns a function that dials it with that
// certificate trusted.
func tlsListener(t *testing.T, h *Handler) func() net.Conn {
	t.Helper()
	certSrv := httptest.NewUnstartedServer(nil)
	certSrv.StartTLS()
	t.Cleanup(certSrv.Close)
	cfg := certSrv.TLS.Clone()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go h.ServeConn(tls.Server(c, cfg), true)
		}
	}()
	roots := x509.NewCertPool()
	roots.AddCert(certSrv.Certificate())
	return func() net.Conn {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "example.com"})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
}

// holdConfig is one upstream with active checks on the backend at addr.
func holdConfig(_ *testing.T, addr string) string {
	return pool([]string{addr}, "health:\n  path: /health\n  interval: 200ms\n  timeout: 500ms\n  rise: 1\n  fall: 1")
}

// TestHoldMetrics checks the gate's series after one expired pause.
func TestHoldMetrics(t *testing.T) {
	be := startBackend(t, "127.0.0.1:0", nil)
	p := startProxy(t, holdConfig(t, be.addr))
	if _, err := p.h.Pause(nil, HoldOptions{Timeout: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	c := client()
	if st, _ := get(t, c, p.url("/x")); st != 503 {
		t.Fatalf("held past the timeout: %d, want 503", st)
	}
	want := []string{
		`edgectl_upstream_paused{upstream="api"} 0`,
		`edgectl_upstream_held{upstream="api"} 0`,
		`edgectl_upstream_hold_requests_total{upstream="api",outcome="expired"} 1`,
		`edgectl_upstream_hold_requests_total{upstream="api",outcome="released"} 0`,
		`edgectl_upstream_pauses_total{upstream="api"} 1`,
		`edgectl_requests_total{route="*/",upstream="api",status="503"} 1`,
	}
	var b strings.Builder
	// The request is counted just after its response went out.
	eventually(t, 5*time.Second, "the metrics of an expired pause", func() bool {
		b.Reset()
		if err := p.h.WriteMetrics(&b); err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(b.String(), w) {
				return false
			}
		}
		return true
	})
}
