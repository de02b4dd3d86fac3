package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawBackend is an upstream that records every byte it receives, per
// connection, and answers each request it reads with respond (or a small
// 200 naming the request's target). It reads requests the way a lenient
// server would: Content-Length or chunked framing, so that a smuggled
// request shows up as a request of its own.
type rawBackend struct {
	addr    string
	respond func(n int, req string) string // n counts requests over all connections

	mu    sync.Mutex
	conns []*bytes.Buffer
	reqs  []string // every request head seen, in order
}

func startRawBackend(t *testing.T, respond func(n int, req string) string) *rawBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &rawBackend{addr: ln.Addr().String(), respond: respond}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go b.serve(c)
		}
	}()
	return b
}

func (b *rawBackend) serve(c net.Conn) {
	defer c.Close()
	rec := &bytes.Buffer{}
	b.mu.Lock()
	b.conns = append(b.conns, rec)
	b.mu.Unlock()
	br := bufio.NewReader(io.TeeReader(c, lockedWriter{&b.mu, rec}))
	for {
		head, err := readRawHead(br)
		if err != nil {
			return
		}
		if err := skipRawBody(br, head); err != nil {
			return
		}
		b.mu.Lock()
		n := len(b.reqs)
		b.reqs = append(b.reqs, head)
		b.mu.Unlock()
		var resp string
		if b.respond != nil {
			resp = b.respond(n, head)
		}
		if resp == "" {
			target := strings.Fields(head)[1]
			resp = "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(target)) + "\r\n\r\n" + target
		}
		if _, err := io.WriteString(c, resp); err != nil {
			return
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// seen is everything the backend received, all connections in order.
func (b *rawBackend) seen() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var s strings.Builder
	for _, c := range b.conns {
		s.Write(c.Bytes())
	}
	return s.String()
}

func (b *rawBackend) requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.reqs...)
}

func (b *rawBackend) connCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.conns)
}

func readRawHead(br *bufio.Reader) (string, error) {
	var h strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		h.WriteString(line)
		if line == "\r\n" || line == "\n" {
			return h.String(), nil
		}
	}
}

// rawField is the value of the first field called name in a raw head.
func rawField(head, name string) (string, bool) {
	for _, line := range strings.Split(head, "\n")[1:] {
		k, v, ok := strings.Cut(strings.TrimRight(line, "\r"), ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

func skipRawBody(br *bufio.Reader, head string) error {
	if te, ok := rawField(head, "Transfer-Encoding"); ok && strings.Contains(strings.ToLower(te), "chunked") {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return err
			}
			size, err := strconv.ParseInt(strings.TrimSpace(strings.SplitN(line, ";", 2)[0]), 16, 64)
			if err != nil {
				return err
			}
			if size == 0 {
				for {
					tl, err := br.ReadString('\n')
					if err != nil || tl == "\r\n" || tl == "\n" {
						return err
					}
				}
			}
			if _, err := br.Discard(int(size) + 2); err != nil {
				return err
			}
		}
	}
	if cl, ok := rawField(head, "Content-Length"); ok {
		n, err := strconv.Atoi(cl)
		if err != nil {
			return err
		}
		_, err = br.Discard(n)
		return err
	}
	return nil
}

// rawExchange sends raw on a new connection to addr, half-closes nothing,
// and reads what comes back until the connection closes or wait passes
// without a byte.
func rawExchange(t *testing.T, addr, raw string, wait time.Duration) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	return readUntilQuiet(c, wait)
}

func readUntilQuiet(c net.Conn, wait time.Duration) string {
	var out bytes.Buffer
	buf := make([]byte, 32<<10)
	for {
		_ = c.SetReadDeadline(time.Now().Add(wait))
		n, err := c.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			return out.String()
		}
	}
}

// statusOf is the status code of the first response in raw, 0 if none.
func statusOf(raw string) int {
	if len(raw) < 12 || !strings.HasPrefix(raw, "HTTP/1.") {
		return 0
	}
	n, _ := strconv.Atoi(raw[9:12])
	return n
}

func splitLines(head string) []string { return strings.Split(strings.TrimRight(head, "\r\n"), "\r\n") }

func cutColon(line string) (string, string, bool) { return strings.Cut(line, ":") }

func equalFold(a, b string) bool { return strings.EqualFold(strings.TrimSpace(a), b) }
