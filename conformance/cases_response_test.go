package conformance

import (
	"strings"
	"time"
)

// respCase is a raw response the backend sends to a plain GET (or to
// method) for /r/{ID}.
type respCase struct {
	name   string
	resp   string // the backend's raw answer; pauseMark stalls it
	method string // default GET
	extra  string // extra request fields
	wait   time.Duration
	benign bool
	// danger reports whether the hostile part reached the client as is.
	danger func(r clientResult) bool
}

// gotRaw reports whether b reached the client anywhere.
func gotRaw(b string) func(clientResult) bool {
	return func(r clientResult) bool { return strings.Contains(r.Raw, b) }
}

// gotBothFramings: a response to the client had Content-Length and
// Transfer-Encoding both.
func gotBothFramings(r clientResult) bool {
	for _, resp := range r.Responses {
		if len(headerValues(resp.Head, "Content-Length")) > 0 && len(headerValues(resp.Head, "Transfer-Encoding")) > 0 {
			return true
		}
	}
	return false
}

func gotAny(fs ...func(clientResult) bool) func(clientResult) bool {
	return func(r clientResult) bool {
		for _, f := range fs {
			if f(r) {
				return true
			}
		}
		return false
	}
}

const evil = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL"

func responseCases() []respCase {
	var cs []respCase
	add := func(c respCase) { cs = append(cs, c) }
	ok := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

	add(respCase{name: "plain 200 (control)", resp: ok, benign: true})
	add(respCase{name: "CL and TE: chunked body", resp: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", danger: gotBothFramings})
	add(respCase{name: "CL and TE: CL covers a second response", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 50\r\n\r\n0\r\n\r\n" + evil, danger: gotAny(gotBothFramings, gotRaw("EVIL"))})
	add(respCase{name: "two different Content-Lengths", resp: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 6\r\n\r\nokEVIL", danger: gotRaw("EVIL")})
	add(respCase{name: "the same Content-Length twice", resp: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", benign: true})
	add(respCase{name: "Content-Length list", resp: "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", danger: gotRaw("Content-Length: 2, 2")})
	add(respCase{name: "negative Content-Length", resp: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok", danger: gotRaw("Content-Length: -1")})
	add(respCase{name: "Content-Length with junk", resp: "HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nok", danger: gotRaw("Content-Length: 2x")})
	add(respCase{name: "Transfer-Encoding gzip alone", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\nnot gzip", danger: gotRaw("Transfer-Encoding: gzip")})
	add(respCase{name: "Transfer-Encoding chunked, gzip", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\nConnection: close\r\n\r\n2\r\nok\r\n0\r\n\r\n", danger: gotRaw("chunked, gzip")})
	add(respCase{name: "Transfer-Encoding identity", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 2\r\n\r\nok", danger: gotRaw("identity")})

	// Status lines.
	add(respCase{name: "status 2000", resp: "HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok", danger: gotRaw("2000")})
	add(respCase{name: "status 20", resp: "HTTP/1.1 20 OK\r\nContent-Length: 2\r\n\r\nok", danger: gotRaw("HTTP/1.1 20 ")})
	add(respCase{name: "status letters", resp: "HTTP/1.1 abc OK\r\nContent-Length: 2\r\n\r\nok", danger: gotRaw("abc")})
	add(respCase{name: "status 999", resp: "HTTP/1.1 999 Odd\r\nContent-Length: 2\r\n\r\nok", danger: gotRaw("999")})
	add(respCase{name: "HTTP/2.0 status line", resp: "HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok", danger: gotRaw("HTTP/2.0")})
	add(respCase{name: "ICY status line", resp: "ICY 200 OK\r\nContent-Length: 2\r\n\r\nok", danger: gotRaw("ICY")})
	add(respCase{name: "status without a reason", resp: "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", benign: true})
	add(respCase{name: "two spaces before the status", resp: "HTTP/1.1  200 OK\r\nContent-Length: 2\r\n\r\nok", danger: gotRaw("HTTP/1.1  200")})
	add(respCase{name: "control byte in the reason", resp: "HTTP/1.1 200 O\x01K\r\nContent-Length: 2\r\n\r\nok", danger: gotRaw("O\x01K")})
	add(respCase{name: "bare LF line ends", resp: "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", benign: true})
	add(respCase{name: "not HTTP at all", resp: "SSH-2.0-OpenSSH_9.2\r\n\r\n", danger: gotRaw("SSH-2.0")})
	add(respCase{name: "HTTP/0.9 style body", resp: "<html>hello</html>", danger: gotRaw("<html>")})

	// Header injection.
	add(respCase{name: "bare CR in a value", resp: "HTTP/1.1 200 OK\r\nX-A: b\rSet-Cookie: evil=1\r\nContent-Length: 2\r\n\r\nok", danger: gotAny(gotRaw("b\rSet"), gotRaw("Set-Cookie: evil"))})
	add(respCase{name: "NUL in a value", resp: "HTTP/1.1 200 OK\r\nX-A: b\x00c\r\nContent-Length: 2\r\n\r\nok", danger: gotRaw("b\x00c")})
	add(respCase{name: "control byte in a value", resp: "HTTP/1.1 200 OK\r\nX-A: b\x1bc\r\nContent-Length: 2\r\n\r\nok", danger: gotRaw("b\x1bc")})
	add(respCase{name: "obs-fold", resp: "HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\nContent-Length: 2\r\n\r\nok", danger: gotRaw("b\r\n c")})
	add(respCase{name: "space in a field name", resp: "HTTP/1.1 200 OK\r\nX A: b\r\nContent-Length: 2\r\n\r\nok", danger: gotRaw("X A: b")})
	add(respCase{name: "line without a colon", resp: "HTTP/1.1 200 OK\r\nX-A b\r\nContent-Length: 2\r\n\r\nok", danger: gotRaw("X-A b")})
	add(respCase{name: "Connection names Content-Length", resp: "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 2\r\n\r\nok" + evil,
		danger: gotRaw("EVIL")})

	// 1xx.
	add(respCase{name: "100 Continue then 200", resp: "HTTP/1.1 100 Continue\r\n\r\n" + ok, benign: true})
	add(respCase{name: "103 Early Hints then 200", resp: "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" + ok, benign: true})
	add(respCase{name: "100 with a body", resp: "HTTP/1.1 100 Continue\r\nContent-Length: 4\r\n\r\nEVIL" + ok, danger: gotRaw("EVIL")})
	add(respCase{name: "twenty 100 Continue", resp: strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 20) + ok, benign: true})
	add(respCase{name: "101 to a request that asked for none", resp: "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nRAW BYTES", danger: gotRaw("RAW BYTES")})

	// Responses without a body that carry one, and leftovers.
	add(respCase{name: "HEAD answered with a body", method: "HEAD", resp: "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL", danger: gotRaw("EVIL")})
	add(respCase{name: "204 with a body", resp: "HTTP/1.1 204 No Content\r\n\r\n" + evil, danger: gotRaw("EVIL")})
	add(respCase{name: "204 with Content-Length and a body", resp: "HTTP/1.1 204 No Content\r\nContent-Length: 4\r\n\r\nEVIL", danger: gotRaw("EVIL")})
	add(respCase{name: "304 with a body", resp: "HTTP/1.1 304 Not Modified\r\nContent-Length: 4\r\n\r\nEVIL", danger: gotRaw("EVIL")})
	add(respCase{name: "bytes after the body", resp: ok + evil, danger: gotRaw("EVIL")})
	add(respCase{name: "short body, then close", resp: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nshort", danger: func(r clientResult) bool {
		return len(r.Responses) > 0 && r.Responses[0].Body == "short" && !r.Closed
	}})
	add(respCase{name: "body delimited by the close", resp: "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", benign: true})

	// Chunked responses.
	add(respCase{name: "chunk extension", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;ext=1\r\nok\r\n0\r\n\r\n", danger: gotRaw(";ext=1")})
	add(respCase{name: "trailer field", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Trailer: t\r\n\r\n", danger: gotRaw("X-Trailer")})
	add(respCase{name: "trailer with a control byte", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: a\x01b\r\n\r\n", danger: gotRaw("a\x01b")})
	add(respCase{name: "invalid chunk size", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n", danger: gotRaw("zz\r\n")})
	add(respCase{name: "chunk size overflowing", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nok\r\n0\r\n\r\n", danger: gotRaw("ffffffffffffffffff")})
	add(respCase{name: "bare LF in chunk framing", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nok\n0\n\n", danger: gotRaw("2\nok")})
	add(respCase{name: "chunk data longer than its size", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokEVIL\r\n0\r\n\r\n", danger: gotRaw("EVIL")})
	add(respCase{name: "HTTP/1.0 response with chunked", resp: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n" + evil, danger: gotRaw("EVIL")})

	// Size and time.
	add(respCase{name: "70 KB head", resp: "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 70<<10) + "\r\nContent-Length: 2\r\n\r\nok", danger: gotRaw(strings.Repeat("a", 70<<10))})
	add(respCase{name: "200 fields", resp: "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Many: a\r\n", 200) + "Content-Length: 2\r\n\r\nok", benign: true})
	add(respCase{name: "stalls mid-body longer than the read timeout", wait: 3 * time.Second,
		resp: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst" + pauseMark + "later", danger: gotRaw("later")})
	add(respCase{name: "stalls before the head longer than the timeout", wait: 3 * time.Second,
		resp: pauseMark + ok, danger: gotRaw("\r\n\r\nok")})
	add(respCase{name: "WebSocket 101 to an upgrade request", benign: true,
		extra: "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
		resp:  "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nframes"})
	add(respCase{name: "101 with another protocol than asked", danger: gotRaw("frames"),
		extra: "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
		resp:  "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nframes"})
	return cs
}
