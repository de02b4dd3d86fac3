//go:build unix

// Command loadgen is the HTTP/1.1 load generator the agent's lifecycle tests
// run as a separate process: -conns workers each hold one keepalive
// connection to a loopback address and send requests back to back until
// -duration has passed or SIGTERM/SIGINT arrives, then it writes a JSON
// summary to -out and stdout.
//
// Every request written on a connection ends in exactly one outcome: ok
// (2xx), status_NNN (any other status), or a request error (reset, timeout,
// other). "failed" counts the requests that did not end in 2xx. by_kind
// also counts errors that happen before a request is written: a refused,
// timed-out or failed connect is not a request, so it is counted only under
// its kind (connect_refused, timeout, other). A connection the server
// closes after a complete response (with or without Connection: close) is
// reopened without counting anything; a request that was written and then
// saw EOF or a reset before a complete response is a reset.
//
// It refuses targets that are not loopback addresses: it is a test tool.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Summary is the JSON report.
type Summary struct {
	Requests int64            `json:"requests"`
	OK       int64            `json:"ok"`
	Failed   int64            `json:"failed"`
	ByKind   map[string]int64 `json:"by_kind"`
	Connects int64            `json:"connects"`
	Elapsed  float64          `json:"elapsed_s"`
	RPS      float64          `json:"rps"`
	P50ms    float64          `json:"p50_ms"`
	P99ms    float64          `json:"p99_ms"`
	MaxMs    float64          `json:"max_ms"`
	// Errors holds the first few errors of each kind, with the time since
	// the start.
	Errors []string `json:"errors,omitempty"`
}

type options struct {
	url      string
	conns    int
	duration time.Duration
	method   string
	bodySize int
	timeout  time.Duration
	out      string
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "", "target URL, http://127.0.0.1:PORT/path (loopback only)")
	flag.IntVar(&o.conns, "conns", 64, "concurrent keepalive connections")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long to run (SIGTERM or SIGINT stop it earlier)")
	flag.StringVar(&o.method, "method", http.MethodGet, "request method")
	flag.IntVar(&o.bodySize, "body-size", 0, "request body size in bytes (sent with Content-Length)")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Second, "per request and per connect timeout")
	flag.StringVar(&o.out, "out", "", "also write the JSON summary to this file")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
}

func run(o options) error {
	target, err := parseTarget(o.url)
	if err != nil {
		return err
	}
	if o.conns < 1 || o.duration <= 0 || o.bodySize < 0 || o.timeout <= 0 {
		return errors.New("-conns, -duration and -timeout must be positive, -body-size not negative")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()

	head := requestHead(o.method, target, o.bodySize)
	body := []byte(strings.Repeat("x", o.bodySize))
	start := time.Now()
	rec := &recorder{start: start, byKind: map[string]int64{}, sampled: map[string]int{}}
	var wg sync.WaitGroup
	for range o.conns {
		w := &worker{addr: target.Host, head: head, body: body, method: o.method, timeout: o.timeout, rec: rec}
		wg.Go(func() { w.run(ctx) })
	}
	wg.Wait()
	s := rec.summary(time.Since(start))
	out, err := json.Marshal(s)
	if err != nil {
		return err
	}
	out = append(out, '\n')
	if o.out != "" {
		tmp := o.out + ".tmp"
		if err := os.WriteFile(tmp, out, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, o.out); err != nil {
			return err
		}
	}
	_, err = os.Stdout.Write(out)
	return err
}

// parseTarget checks that raw is an http URL on a loopback address.
func parseTarget(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse -url: %w", err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("-url %q: want http://HOST:PORT/path", raw)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("-url %q: %s is not a loopback address; loadgen only targets 127.0.0.0/8 and ::1", raw, host)
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(host, "80")
	}
	return u, nil
}

func requestHead(method string, u *url.URL, bodySize int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: edgectl-loadgen\r\n", method, u.RequestURI(), u.Host)
	if bodySize > 0 || method == http.MethodPost || method == http.MethodPut {
		b.WriteString("Content-Length: " + strconv.Itoa(bodySize) + "\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// recorder collects the outcomes of every worker.
type recorder struct {
	start time.Time

	mu        sync.Mutex
	requests  int64
	ok        int64
	connects  int64
	byKind    map[string]int64
	latencies []time.Duration
	errs      []string
	sampled   map[string]int // errors kept per kind
}

func (r *recorder) add(requests, ok, connects int64, kinds map[string]int64, lat []time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests += requests
	r.ok += ok
	r.connects += connects
	for k, n := range kinds {
		r.byKind[k] += n
	}
	r.latencies = append(r.latencies, lat...)
}

func (r *recorder) noteError(kind string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sampled[kind] < 3 && len(r.errs) < 20 {
		r.sampled[kind]++
		r.errs = append(r.errs, fmt.Sprintf("%s %s: %v", time.Since(r.start).Round(time.Millisecond), kind, err))
	}
}

func (r *recorder) summary(elapsed time.Duration) Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	slices.Sort(r.latencies)
	pct := func(p float64) float64 {
		if len(r.latencies) == 0 {
			return 0
		}
		i := int(p * float64(len(r.latencies)-1))
		return float64(r.latencies[i].Microseconds()) / 1000
	}
	return Summary{
		Requests: r.requests, OK: r.ok, Failed: r.requests - r.ok, ByKind: r.byKind,
		Connects: r.connects, Elapsed: elapsed.Seconds(), RPS: float64(r.requests) / elapsed.Seconds(),
		P50ms: pct(0.50), P99ms: pct(0.99), MaxMs: pct(1), Errors: r.errs,
	}
}

// worker holds one keepalive connection.
type worker struct {
	addr    string
	head    []byte
	body    []byte
	method  string
	timeout time.Duration
	rec     *recorder

	c  net.Conn
	br *bufio.Reader

	requests, ok, connects int64
	kinds                  map[string]int64
	lat                    []time.Duration
}

func (w *worker) run(ctx context.Context) {
	w.kinds = map[string]int64{}
	defer func() {
		w.closeConn()
		w.rec.add(w.requests, w.ok, w.connects, w.kinds, w.lat)
	}()
	d := net.Dialer{Timeout: w.timeout}
	for ctx.Err() == nil {
		if w.c == nil {
			c, err := d.DialContext(ctx, "tcp", w.addr)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				w.fail(errorKind(err, true), err)
				// Do not spin while nothing listens.
				select {
				case <-ctx.Done():
				case <-time.After(10 * time.Millisecond):
				}
				continue
			}
			w.connects++
			w.c, w.br = c, bufio.NewReader(c)
		}
		w.request()
	}
}

// request sends one request on the open connection and reads the response.
func (w *worker) request() {
	begin := time.Now()
	_ = w.c.SetDeadline(begin.Add(w.timeout))
	w.requests++
	if _, err := w.c.Write(append(w.head, w.body...)); err != nil {
		w.fail(errorKind(err, false), err)
		w.closeConn()
		return
	}
	resp, err := http.ReadResponse(w.br, &http.Request{Method: w.method})
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	if err != nil {
		w.fail(errorKind(err, false), err)
		w.closeConn()
		return
	}
	w.lat = append(w.lat, time.Since(begin))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		w.ok++
	} else {
		k := "status_" + strconv.Itoa(resp.StatusCode)
		w.kinds[k]++
		w.rec.noteError(k, errors.New(resp.Status))
	}
	if resp.Close || w.br.Buffered() > 0 || serverClosed(w.c) {
		w.closeConn()
	}
}

func (w *worker) fail(kind string, err error) {
	w.kinds[kind]++
	w.rec.noteError(kind, err)
}

func (w *worker) closeConn() {
	if w.c != nil {
		_ = w.c.Close()
		w.c, w.br = nil, nil
	}
}

// serverClosed reports whether the server has closed the connection after a
// complete response (or sent bytes nobody asked for), with one
// non-blocking peek: such a connection is reopened before the next
// request, so that request does not count as failed.
func serverClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	var one [1]byte
	var perr error
	err = rc.Read(func(fd uintptr) bool {
		_, _, perr = syscall.Recvfrom(int(fd), one[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true // never wait
	})
	switch {
	case err != nil:
		return true
	case errors.Is(perr, syscall.EAGAIN) || errors.Is(perr, syscall.EWOULDBLOCK):
		return false // open, nothing to read
	case perr != nil:
		return true // reset
	}
	return true // EOF, or bytes nobody asked for
}

// errorKind classifies an error; connect tells whether it happened while
// connecting (nothing was written yet).
func errorKind(err error, connect bool) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connect_refused"
	case errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "timeout"
	case !connect && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
		return "reset"
	}
	return "other"
}
