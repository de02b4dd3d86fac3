package agent_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// edgeAgent is a running agent with one TLS and one plain listener on
// 127.0.0.1 in front of backend, with limits: as given.
type edgeAgent struct {
	proc      *proc
	tlsAddr   string
	plainAddr string
}

func startEdgeAgent(t *testing.T, backend, limits string) *edgeAgent {
	t.Helper()
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if err := os.MkdirAll(certs, 0o755); err != nil {
		t.Fatal(err)
	}
	installCert(t, certs, "localhost", newTLSPKI(t).leaf(t, "localhost"))
	e := &edgeAgent{
		tlsAddr:   net.JoinHostPort("127.0.0.1", freePort(t, "127.0.0.1")),
		plainAddr: net.JoinHostPort("127.0.0.1", freePort(t, "127.0.0.1")),
	}
	cfg := fmt.Sprintf(`listen:
  - addr: %q
    tls: true
  - addr: %q
admin: ""
access_log: "off"
drain: {delay: 0s, timeout: 1s}
tls: {certs_dir: %q, redirect_http: false}
acme_challenge_dir: %q
endpoints: {file: %q}
upstreams:
  api:
    servers: [{addr: %q}]
    tries: 1
routes: [{path: /, upstream: api}]
%s`, e.tlsAddr, e.plainAddr, certs, filepath.Join(dir, "acme"), filepath.Join(dir, "endpoints.txt"), backend, limits)
	e.proc = startAgent(t, writeFile(t, "agent.yaml", cfg))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", e.plainAddr)
		if err == nil {
			_ = c.Close()
			return e
		}
		if e.proc.exited() || time.Now().After(deadline) {
			t.Fatalf("agent did not start: %v\n%s", err, e.proc.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countingBackend accepts connections, counts them, reads requests and
// answers each with a small 200 after delay (forever: never answers).
type countingBackend struct {
	addr     string
	accepted atomic.Int64
	open     atomic.Int64
}

func startCountingBackend(t *testing.T, answer bool) *countingBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	b := &countingBackend{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.accepted.Add(1)
			b.open.Add(1)
			go func() {
				defer b.open.Add(-1)
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if answer && line == "\r\n" {
						// Bodies longer than a tiny flow-control window (h2spec's
						// flow-control cases need one).
						_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n"+strings.Repeat("x", 4096))
					}
				}
			}()
		}
	}()
	return b
}

func h2specPath() string {
	if p, err := exec.LookPath("h2spec"); err == nil {
		return p
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "h2spec")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// TestH2Spec runs h2spec's HTTP/2 conformance cases against the agent's
// TLS listener: every one must pass.
func TestH2Spec(t *testing.T) {
	bin := h2specPath()
	if bin == "" {
		t.Skip("h2spec not installed (go install github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible)")
	}
	b := startCountingBackend(t, true)
	e := startEdgeAgent(t, b.addr, "")
	host, port, _ := net.SplitHostPort(e.tlsAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "-h", host, "-p", port, "-t", "-k", "-o", "5").CombinedOutput()
	m := regexp.MustCompile(`(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no h2spec summary in its output:\n%s", out)
	}
	t.Logf("h2spec: %s", m[0])
	if m[4] != "0" || m[3] != "0" || m[1] != m[2] {
		i := strings.Index(string(out), "Failures:")
		t.Fatalf("h2spec: %s\n%s", m[0], string(out)[max(i, 0):])
	}
}

// TestH2StalledStreamsBounded opens h2_max_streams+50 streams on one
// HTTP/2 connection, each a POST whose body never comes: at most
// h2_max_streams of them reach the upstream (each holding one upstream
// connection), the rest are refused by the HTTP/2 layer.
func TestH2StalledStreamsBounded(t *testing.T) {
	const maxStreams = 100
	b := startCountingBackend(t, false)
	e := startEdgeAgent(t, b.addr, "limits: {h2_max_streams: 100, body_timeout: 30s}\n")
	tc, err := tls.Dial("tcp", e.tlsAddr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN %q, want h2", p)
	}
	_, _ = io.WriteString(tc, http2.ClientPreface)
	fr := http2.NewFramer(tc, tc)
	_ = fr.WriteSettings()
	// Wait for the server's SETTINGS and acknowledge them, so that it
	// counts streams against the limit it announced.
	var refused atomic.Int64
	acked := make(chan struct{})
	var once sync.Once
	go func() {
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					_ = fr.WriteSettingsAck()
					once.Do(func() { close(acked) })
				}
			case *http2.RSTStreamFrame:
				refused.Add(1)
			}
		}
	}()
	select {
	case <-acked:
	case <-time.After(5 * time.Second):
		t.Fatal("no SETTINGS from the server")
	}
	var hb strings.Builder
	enc := hpack.NewEncoder(&hb)
	for i := 0; i < maxStreams+50; i++ {
		hb.Reset()
		for _, f := range [][2]string{{":method", "POST"}, {":scheme", "https"}, {":path", "/stall"}, {":authority", "localhost"}} {
			_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: []byte(hb.String()), EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
	}
	// The admitted streams reach the upstream; give them time to.
	eventually(t, 10*time.Second, "the admitted streams reach the upstream", func() bool { return b.open.Load() >= maxStreams*9/10 })
	time.Sleep(time.Second)
	if n := b.accepted.Load(); n > maxStreams {
		t.Errorf("one HTTP/2 connection opened %d upstream connections, want at most h2_max_streams=%d", n, maxStreams)
	}
	if r := refused.Load(); r < 50 {
		t.Errorf("%d streams refused, want the 50 beyond h2_max_streams", r)
	}
	t.Logf("upstream connections %d (open %d), streams refused %d", b.accepted.Load(), b.open.Load(), refused.Load())
	// Closing the client connection releases every upstream connection.
	_ = tc.Close()
	eventually(t, 10*time.Second, "upstream connections released", func() bool { return b.open.Load() == 0 })
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func rssMB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no VmRSS in /proc/%d/status", pid)
	}
	kb, _ := strconv.Atoi(string(m[1]))
	return kb / 1024
}

// TestSlowClients holds many connections that trickle a head or stall in
// a body: each is closed within its timeout (header_timeout counts the
// whole head, body_timeout the wait between reads), the agent's memory
// stays small, and a normal client is still served meanwhile.
func TestSlowClients(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 200
	}
	b := startCountingBackend(t, true)
	e := startEdgeAgent(t, b.addr, "limits: {header_timeout: 2s, body_timeout: 2s}\n")
	const headerTO, bodyTO = 2 * time.Second, 2 * time.Second
	const slack = 2 * time.Second // a busy 2-core machine; the sweep runs every 200 ms here

	type result struct {
		slowBody bool
		after    time.Duration // from the start of the clock that applies
		err      string
	}
	results := make(chan result, n)
	conns := make([]net.Conn, 0, n)
	dialed := make([]time.Time, 0, n) // header_timeout counts from the accept
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", e.plainAddr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		dialed = append(dialed, time.Now())
	}
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func(slowBody bool, c net.Conn, start time.Time) {
			defer wg.Done()
			if slowBody {
				// A whole head, a bit of the body, then nothing: the body
				// clock starts with the last byte.
				_, _ = io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nabc")
				start = time.Now()
			} else {
				// A head one byte at a time, every 300 ms: it never ends.
				go func() {
					for _, ch := range []byte("GET / HTTP/1.1\r\nHost: a\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaa") {
						if _, err := c.Write([]byte{ch}); err != nil {
							return
						}
						time.Sleep(300 * time.Millisecond)
					}
				}()
			}
			_ = c.SetReadDeadline(time.Now().Add(headerTO + bodyTO + 3*slack))
			_, err := io.Copy(io.Discard, c)
			r := result{slowBody: slowBody, after: time.Since(start)}
			// A reset is a close too: the trickle's next byte may meet the
			// closed socket before the client reads the 408.
			if err != nil && !errors.Is(err, syscall.ECONNRESET) {
				r.err = err.Error()
			}
			results <- r
		}(i%2 == 1, c, dialed[i])
	}
	// While they hang: the memory of the agent, and a normal request.
	time.Sleep(time.Second)
	rss := rssMB(t, e.proc.cmd.Process.Pid)
	nc, err := net.Dial("tcp", e.plainAddr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(nc, "GET /normal HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	normal, _ := io.ReadAll(nc)
	_ = nc.Close()
	wg.Wait()
	close(results)
	var worst [2]time.Duration
	bad := 0
	for r := range results {
		limit := headerTO
		if r.slowBody {
			limit = bodyTO
		}
		i := 0
		if r.slowBody {
			i = 1
		}
		worst[i] = max(worst[i], r.after)
		if r.err != "" || r.after > limit+slack || r.after < limit-200*time.Millisecond {
			if bad++; bad <= 5 {
				t.Errorf("slow client (body=%v) closed after %v (%s), want about %v", r.slowBody, r.after, r.err, limit)
			}
		}
	}
	t.Logf("%d slow connections: heads closed within %v, bodies within %v; agent RSS %d MB", n, worst[0], worst[1], rss)
	if bad > 5 {
		t.Errorf("%d slow connections in all were not closed in time", bad)
	}
	if rss >= 100 {
		t.Errorf("agent RSS %d MB with %d slow connections, want under 100 MB", rss, n)
	}
	if !strings.HasPrefix(string(normal), "HTTP/1.1 200 ") {
		t.Errorf("a normal client during the attack got %q", normal)
	}
}
