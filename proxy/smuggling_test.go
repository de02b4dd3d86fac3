package proxy

import (
	"strings"
	"testing"
	"time"
)

// TestRequestFraming sends hostile request heads and bodies and checks
// both sides: what the client got back and what reached the server. Each
// row is a class of attack: the agent must refuse it (status, nothing
// forwarded) or neutralise it (forwarded without the dangerous part).
func TestRequestFraming(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		status   int      // first status the client gets
		requests int      // requests the backend parsed (-1: do not check)
		see      []string // substrings the backend must have received
		notSee   []string // substrings it must not have received
	}{
		{name: "Connection names Content-Length: the body is not a second request",
			raw:    "POST / HTTP/1.1\r\nHost: a\r\nConnection: Content-Length\r\nContent-Length: 38\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: evil\r\n\r\n",
			status: 200, requests: 1, see: []string{"Content-Length: 38\r\n"}},
		{name: "Connection names Host: Host is kept",
			raw:    "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: Host\r\n\r\n",
			status: 200, requests: 1, see: []string{"Host: a.test\r\n"}},
		{name: "Connection names Transfer-Encoding",
			raw:    "POST / HTTP/1.1\r\nHost: a\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			status: 200, requests: 1, see: []string{"Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"}},
		{name: "Connection names X-Forwarded-For and X-Real-IP: the agent's own stay",
			raw:    "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Forwarded-For, X-Real-IP, Forwarded\r\n\r\n",
			status: 200, requests: 1, see: []string{"X-Forwarded-For: 127.0.0.1\r\n", "X-Real-IP: 127.0.0.1\r\n", "Forwarded: for=127.0.0.1"}},
		{name: "Connection names another field: it is dropped",
			raw:    "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Secret\r\nX-Secret: s\r\n\r\n",
			status: 200, requests: 1, notSee: []string{"X-Secret"}},
		{name: "CL.TE", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
			status: 400, requests: 0},
		{name: "TE.CL", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
			status: 400, requests: 0},
		{name: "two different Content-Lengths", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
			status: 400, requests: 0},
		{name: "Content-Length list", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\na",
			status: 400, requests: 0},
		{name: "TE obfuscated with a second coding", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
			status: 501, requests: 0},
		{name: "TE obfuscated by a prefix", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
			status: 501, requests: 0},
		{name: "TE twice", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			status: 501, requests: 0},
		{name: "TE with an underscore is ignored, not obeyed",
			raw:    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer_Encoding: chunked\r\n\r\nhello",
			status: 200, requests: 1, see: []string{"Content-Length: 5\r\n"}, notSee: []string{"Transfer_Encoding"}},
		{name: "underscore names dropped", raw: "GET / HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: 1.2.3.4\r\nX_Custom: y\r\n\r\n",
			status: 200, requests: 1, notSee: []string{"X_Forwarded_For", "X_Custom", "1.2.3.4"}},
		{name: "obs-fold", raw: "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", status: 400, requests: 0},
		{name: "bare CR in a value", raw: "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rX-Injected: 1\r\n\r\n", status: 400, requests: 0},
		{name: "NUL in a value", raw: "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n", status: 400, requests: 0},
		{name: "vertical tab in a value", raw: "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x0bc\r\n\r\n", status: 400, requests: 0},
		{name: "DEL in a value", raw: "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x7fc\r\n\r\n", status: 400, requests: 0},
		{name: "HTAB in a value is fine", raw: "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\tc\r\n\r\n",
			status: 200, requests: 1, see: []string{"X-A: b\tc\r\n"}},
		{name: "control byte in a name", raw: "GET / HTTP/1.1\r\nHost: a\r\nX-\x01A: b\r\n\r\n", status: 400, requests: 0},
		{name: "NUL in the target", raw: "GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, requests: 0},
		{name: "bare CR in the target", raw: "GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, requests: 0},
		{name: "tab in the target", raw: "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, requests: 0},
		{name: "chunk extensions dropped, size canonical",
			raw:    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0005;ext=\"a;b\"\r\nhello\r\n0;last\r\n\r\n",
			status: 200, requests: 1, see: []string{"\r\n\r\n5\r\nhello\r\n0\r\n\r\n"}, notSee: []string{"ext", "0005", "last"}},
		{name: "trailers checked and dropped",
			raw:    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: 99\r\nX-T: v\r\n\r\n",
			status: 200, requests: 1, see: []string{"hello\r\n0\r\n\r\n"}, notSee: []string{"Content-Length: 99", "X-T"}},
		{name: "malformed trailer", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nBad Trailer\r\n\r\n",
			status: 400, requests: -1},
		{name: "chunk size not hex", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nz\r\nhello\r\n0\r\n\r\n",
			status: 400, requests: -1, notSee: []string{"hello"}},
		{name: "chunk size with a sign", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n",
			status: 400, requests: -1, notSee: []string{"hello"}},
		{name: "chunk size overflowing", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nhello\r\n0\r\n\r\n",
			status: 400, requests: -1, notSee: []string{"hello"}},
		{name: "chunk lines ending in a bare LF are re-framed with CRLF", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n",
			status: 200, requests: 1, see: []string{"\r\n\r\n5\r\nhello\r\n0\r\n\r\n"}},
		{name: "bare CR in a chunk line", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r;x\r\nhello\r\n0\r\n\r\n",
			status: 400, requests: -1, notSee: []string{"hello"}},
		{name: "chunk data longer than its size", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
			status: 400, requests: -1},
		{name: "HTTP/1.0 with Transfer-Encoding: served, then closed",
			raw:    "POST / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /second HTTP/1.0\r\n\r\n",
			status: 200, requests: 1, notSee: []string{"/second"}},
		{name: "absolute-form target", raw: "GET http://evil.test/ HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, requests: 0},
		{name: "Host with a path", raw: "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", status: 400, requests: 0},
		{name: "Host with a port that is not a number", raw: "GET / HTTP/1.1\r\nHost: a:x\r\n\r\n", status: 400, requests: 0},
		{name: "fragment in the target", raw: "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, requests: 0},
		{name: "two Hosts", raw: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status: 400, requests: 0},
		{name: "missing Host in HTTP/1.1", raw: "GET / HTTP/1.1\r\n\r\n", status: 400, requests: 0},
		{name: "space before the colon", raw: "GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello", status: 400, requests: 0},
		{name: "h2c upgrade is not passed on", raw: "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
			status: 200, requests: 1, notSee: []string{"h2c", "HTTP2-Settings", "Upgrade"}},
		{name: "pipelined requests each answered", raw: "GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\n\r\n",
			status: 200, requests: 2, see: []string{"GET /one", "GET /two"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startRawBackend(t, nil)
			p := startProxy(t, pool([]string{b.addr}, ""))
			got := rawExchange(t, p.addr, tt.raw, 300*time.Millisecond)
			if st := statusOf(got); st != tt.status {
				t.Errorf("client got status %d, want %d:\n%q", st, tt.status, got)
			}
			seen := b.seen()
			if n := len(b.requests()); tt.requests >= 0 && n != tt.requests {
				t.Errorf("backend parsed %d requests, want %d:\n%q", n, tt.requests, seen)
			}
			for _, s := range tt.see {
				if !strings.Contains(seen, s) {
					t.Errorf("backend did not receive %q:\n%q", s, seen)
				}
			}
			for _, s := range tt.notSee {
				if strings.Contains(seen, s) {
					t.Errorf("backend received %q:\n%q", s, seen)
				}
			}
		})
	}
}

// TestHTTP10TransferEncodingCloses checks the connection really ends after
// an HTTP/1.0 request framed with Transfer-Encoding.
func TestHTTP10TransferEncodingCloses(t *testing.T) {
	b := startRawBackend(t, nil)
	p := startProxy(t, pool([]string{b.addr}, ""))
	got := rawExchange(t, p.addr, "POST /x HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 2*time.Second)
	if !strings.Contains(got, "Connection: close\r\n") {
		t.Errorf("response does not announce the close:\n%q", got)
	}
}
