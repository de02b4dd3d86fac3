package proxy

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func parseReq(raw string) (*head, error) {
	h := &head{}
	if err := h.readHead(bufio.NewReaderSize(strings.NewReader(raw), 64)); err != nil {
		return h, err
	}
	return h, h.parseRequest()
}

func TestParseRequest(t *testing.T) {
	long := strings.Repeat("a", 200)
	for _, tc := range []struct {
		name    string
		raw     string
		err     error
		check   func(*head) bool
		explain string
	}{
		{name: "simple", raw: "GET /x?y=1 HTTP/1.1\r\nHost: a\r\n\r\n",
			check: func(h *head) bool {
				return string(h.method) == "GET" && string(h.target) == "/x?y=1" && string(h.host) == "a" && h.contentLength == -1 && !h.connClose
			}},
		{name: "bare LF and leading blank line", raw: "\r\nPOST / HTTP/1.1\nHost: a\nContent-Length: 3\n\n",
			check: func(h *head) bool { return h.contentLength == 3 }},
		{name: "header line longer than the buffer", raw: "GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + long + "\r\n\r\n",
			check: func(h *head) bool { return len(h.headers) == 2 && string(h.headers[1].value) == long }},
		{name: "http/1.0 closes by default", raw: "GET / HTTP/1.0\r\n\r\n",
			check: func(h *head) bool { return h.connClose && h.minor == 0 }},
		{name: "http/1.0 keep-alive", raw: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
			check: func(h *head) bool { return !h.connClose }},
		{name: "connection tokens", raw: "GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Foo, Upgrade\r\nUpgrade: websocket\r\n\r\n",
			check: func(h *head) bool {
				return h.connClose && h.connUpgrade && string(h.upgrade) == "websocket" && h.hopByHop([]byte("x-foo"))
			}},
		{name: "chunked", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n",
			check: func(h *head) bool { return h.chunked }},
		{name: "same content-length twice is fine", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n",
			check: func(h *head) bool { return h.contentLength == 4 }},
		{name: "CL and TE together (smuggling)", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", err: errBadFraming},
		{name: "different content-lengths", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n", err: errBadFraming},
		{name: "negative content-length", raw: "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", err: errBadFraming},
		{name: "gzip transfer-encoding", raw: "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", err: errUnsupportedTE},
		{name: "space before colon", raw: "GET / HTTP/1.1\r\nHost : a\r\n\r\n", err: errBadHead},
		{name: "obs-fold", raw: "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", err: errBadHead},
		{name: "host with a space", raw: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", err: errBadHead},
		{name: "host with a path", raw: "GET / HTTP/1.1\r\nHost: evil.test/p\r\n\r\n", err: errBadHead},
		{name: "host with userinfo", raw: "GET / HTTP/1.1\r\nHost: u@h\r\n\r\n", err: errBadHead},
		{name: "IPv6 host", raw: "GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n",
			check: func(h *head) bool { return string(h.host) == "[2001:db8::1]:8080" }},
		{name: "two hosts", raw: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", err: errBadHead},
		{name: "bad version", raw: "GET / HTTP/2.0\r\n\r\n", err: errBadHead},
		{name: "no colon", raw: "GET / HTTP/1.1\r\nHost\r\n\r\n", err: errBadHead},
		{name: "truncated head", raw: "GET / HTTP/1.1\r\nHost: a\r\n", err: io.ErrUnexpectedEOF},
		{name: "clean EOF", raw: "", err: io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := parseReq(tc.raw)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(h) {
				t.Fatalf("parsed %s: %+v", h, h)
			}
		})
	}
}

func TestHeadTooLarge(t *testing.T) {
	raw := "GET / HTTP/1.1\r\n" + strings.Repeat("X-A: "+strings.Repeat("b", 1000)+"\r\n", 70) + "\r\n"
	if _, err := parseReq(raw); !errors.Is(err, errHeadTooLarge) {
		t.Fatalf("err = %v, want errHeadTooLarge", err)
	}
}

func TestParseResponse(t *testing.T) {
	h := &head{}
	raw := "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
	if err := h.readHead(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	if err := h.parseResponse(); err != nil {
		t.Fatal(err)
	}
	if h.status != 404 || string(h.reason) != "Not Found" || h.contentLength != 0 || !h.connClose {
		t.Fatalf("%+v", h)
	}
	for _, bad := range []string{"HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 abc OK\r\n\r\n", "ICY 200 OK\r\n\r\n"} {
		h := &head{}
		_ = h.readHead(bufio.NewReader(strings.NewReader(bad)))
		if err := h.parseResponse(); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestChunkSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1a": 26, "FF;ext=1": 255, "10 ;x": 16, "000000000000000000001": 1} {
		if got, ok := parseChunkSize([]byte(in)); !ok || got != want {
			t.Errorf("parseChunkSize(%q) = %d, %v", in, got, ok)
		}
	}
	for _, bad := range []string{"", "x", "-1", "1234567890abcdef0", " 10", "10 ", "1 2", "0x10", "5;\x00", "5;a\rb", "+5"} {
		if _, ok := parseChunkSize([]byte(bad)); ok {
			t.Errorf("parseChunkSize(%q) accepted", bad)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: upgrade, close\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		h := &head{}
		if err := h.readHead(bufio.NewReaderSize(strings.NewReader(raw), 32)); err != nil {
			return
		}
		if err := h.parseRequest(); err != nil {
			return
		}
		if h.chunked && h.contentLength >= 0 {
			t.Fatal("accepted both chunked and Content-Length")
		}
		if h.contentLength < -1 {
			t.Fatalf("content length %d", h.contentLength)
		}
		if !isToken(h.method) {
			t.Fatalf("method %q is not a token", h.method)
		}
		for _, f := range h.headers {
			if !isToken(f.key) {
				t.Fatalf("header name %q is not a token", f.key)
			}
		}
	})
}

func FuzzCopyChunked(f *testing.F) {
	f.Add("5\r\nhello\r\n0\r\n\r\n")
	f.Add("3;x=y\r\nabc\r\n0\r\nTrailer: v\r\n\r\n")
	run := func(raw string, passThrough bool) (string, error) {
		var out strings.Builder
		bw := bufio.NewWriter(&out)
		err := copyChunked(bw, bufio.NewReaderSize(strings.NewReader(raw), 16), passThrough, 0)
		_ = bw.Flush()
		return out.String(), err
	}
	f.Fuzz(func(t *testing.T, raw string) {
		relayed, err := run(raw, true)
		if err != nil {
			return
		}
		// What the relay sent must decode to the same data as the input.
		want, err1 := run(raw, false)
		got, err2 := run(relayed, false)
		if err1 != nil || err2 != nil || got != want {
			t.Fatalf("relay changed the body: %q -> %q (%v, %v)", raw, relayed, err1, err2)
		}
		// And it is canonical: relaying it again changes nothing (no
		// extensions, no trailers, lower-case sizes, CRLF).
		again, err := run(relayed, true)
		if err != nil || again != relayed {
			t.Fatalf("relayed body not canonical: %q -> %q (%v)", relayed, again, err)
		}
	})
}
