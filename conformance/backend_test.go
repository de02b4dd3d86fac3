package conformance

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// backend is the recording upstream. It reads requests the way a lenient
// origin server does (Transfer-Encoding wins over Content-Length, a bare
// LF ends a line), so that a request smuggled through a proxy shows up as
// a request of its own, and answers each with the case's script or with
// a small 200 whose body is the request target.
type backend struct {
	addr string

	mu     sync.Mutex
	log    bytes.Buffer // every byte received, all connections, in arrival order
	reqs   []seenReq
	script map[string]string // target prefix → raw response for its first request
}

// seenReq is one request the backend parsed.
type seenReq struct {
	Method, Target string
	Head           string // the raw head
}

func startBackend(t *testing.T) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	b := &backend{addr: ln.Addr().String(), script: map[string]string{}}
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

// mark returns the position of the log and request list now.
func (b *backend) mark() (int, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.log.Len(), len(b.reqs)
}

// since returns what arrived after a mark.
func (b *backend) since(logPos, reqPos int) (string, []seenReq) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.log.Bytes()[logPos:]), append([]seenReq(nil), b.reqs[reqPos:]...)
}

// setScript makes the first request whose target starts with prefix get
// raw as its response.
func (b *backend) setScript(prefix, raw string) {
	b.mu.Lock()
	b.script[prefix] = raw
	b.mu.Unlock()
}

type logWriter struct{ b *backend }

func (w logWriter) Write(p []byte) (int, error) {
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	return w.b.log.Write(p)
}

func (b *backend) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(io.TeeReader(c, logWriter{b}), 64<<10)
	for {
		head, err := readHead(br)
		if err != nil {
			return
		}
		method, target := requestLine(head)
		if err := skipBody(br, head); err != nil {
			return
		}
		b.mu.Lock()
		b.reqs = append(b.reqs, seenReq{Method: method, Target: target, Head: head})
		var resp string
		for prefix, raw := range b.script {
			if strings.HasPrefix(target, prefix) {
				resp = raw
				delete(b.script, prefix)
				break
			}
		}
		b.mu.Unlock()
		if resp == "" {
			body := target
			resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
			if method == "HEAD" {
				resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
			}
		}
		if err := writeScript(c, resp); err != nil {
			return
		}
		if strings.Contains(resp, "Connection: close") {
			return
		}
	}
}

// pauseMark in a script makes the backend stop writing for 3 s there (a
// stalled upstream).
const pauseMark = "\x00PAUSE\x00"

func writeScript(c net.Conn, resp string) error {
	for i, part := range strings.Split(resp, pauseMark) {
		if i > 0 {
			sleep3s()
		}
		if _, err := io.WriteString(c, part); err != nil {
			return err
		}
	}
	return nil
}

func readHead(br *bufio.Reader) (string, error) {
	var h strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		if h.Len() == 0 && (line == "\r\n" || line == "\n") {
			continue // blank lines between requests
		}
		h.WriteString(line)
		if line == "\r\n" || line == "\n" {
			return h.String(), nil
		}
		if h.Len() > 1<<20 {
			return "", io.ErrShortBuffer
		}
	}
}

func requestLine(head string) (method, target string) {
	line, _, _ := strings.Cut(head, "\n")
	f := strings.Fields(line)
	if len(f) > 0 {
		method = f[0]
	}
	if len(f) > 1 {
		target = f[1]
	}
	return method, target
}

// headerValues returns the values of every field called name (the name
// compared without case, trimmed of spaces).
func headerValues(head, name string) []string {
	var out []string
	lines := strings.Split(head, "\n")
	for _, line := range lines[1:] {
		k, v, ok := strings.Cut(strings.TrimRight(line, "\r"), ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

func skipBody(br *bufio.Reader, head string) error {
	for _, te := range headerValues(head, "Transfer-Encoding") {
		if strings.Contains(strings.ToLower(te), "chunked") {
			return skipChunked(br)
		}
	}
	if cls := headerValues(head, "Content-Length"); len(cls) > 0 {
		n, err := strconv.Atoi(strings.TrimSpace(strings.Split(cls[0], ",")[0]))
		if err != nil || n < 0 {
			return nil
		}
		_, err = br.Discard(n)
		return err
	}
	return nil
}

func skipChunked(br *bufio.Reader) error {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		size, err := strconv.ParseInt(strings.TrimSpace(strings.SplitN(line, ";", 2)[0]), 16, 64)
		if err != nil || size < 0 {
			return io.ErrUnexpectedEOF
		}
		if size == 0 {
			for {
				tl, err := br.ReadString('\n')
				if err != nil || tl == "\r\n" || tl == "\n" {
					return err
				}
			}
		}
		if _, err := br.Discard(int(size)); err != nil {
			return err
		}
		if _, err := br.ReadString('\n'); err != nil {
			return err
		}
	}
}
