package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Limits on what the engine accepts from clients and upstreams.
const (
	maxHeadBytes   = 64 << 10 // request or response head
	maxHeaderCount = 128
)

// Parse errors. errHeadTooLarge maps to 431, the others to 400 (requests)
// or 502 (responses).
var (
	errHeadTooLarge  = errors.New("head too large")
	errBadHead       = errors.New("malformed head")
	errBadFraming    = errors.New("conflicting or invalid body framing")
	errUnsupportedTE = errors.New("unsupported transfer-encoding")
	errBodyTooLarge  = errors.New("request body larger than limits.max_body")
)

// header is one field, slices into the head buffer.
type header struct {
	key, value []byte
}

// head is a parsed request or response head. Slices point into buf and are
// valid until the head is reused.
type head struct {
	buf     []byte
	headers []header

	// request line
	method, target []byte
	// status line
	status int
	reason []byte

	minor         int   // HTTP/1.minor
	contentLength int64 // -1 when absent
	chunked       bool
	connClose     bool // Connection: close (or HTTP/1.0 without keep-alive)
	connKeepAlive bool // Connection: keep-alive
	connUpgrade   bool // Connection: upgrade
	upgrade       []byte
	expect100     bool
	host          []byte
	connTokens    [][]byte // other tokens named in Connection

	request  bool // parsing a request: underscore names are dropped
	dropped  int  // fields dropped for an underscore in their name
	bothCLTE bool // a response carried Content-Length and chunked
	teOnOld  bool // Transfer-Encoding in an HTTP/1.0 message
}

func (h *head) reset() {
	h.buf = h.buf[:0]
	h.headers = h.headers[:0]
	h.method, h.target, h.reason, h.upgrade, h.host = nil, nil, nil, nil, nil
	h.status, h.minor = 0, 1
	h.contentLength = -1
	h.chunked, h.connClose, h.connKeepAlive, h.connUpgrade, h.expect100 = false, false, false, false, false
	h.connTokens = h.connTokens[:0]
	h.request, h.dropped, h.bothCLTE, h.teOnOld = false, 0, false, false
}

// readHead reads lines up to the blank line into h.buf. It returns io.EOF
// when the connection closed cleanly before any byte of a new head.
func (h *head) readHead(br *bufio.Reader) error {
	h.reset()
	lineStart := 0
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			h.buf = append(h.buf, line...)
			if len(h.buf) > maxHeadBytes {
				return errHeadTooLarge
			}
			continue
		}
		if err != nil {
			if len(h.buf) == 0 && len(line) == 0 {
				return err
			}
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		h.buf = append(h.buf, line...)
		if len(h.buf) > maxHeadBytes {
			return errHeadTooLarge
		}
		if isBlank(h.buf[lineStart:]) {
			if lineStart == 0 {
				// Blank lines before a request line are tolerated
				// (RFC 9112 2.2).
				h.buf = h.buf[:0]
				continue
			}
			return nil
		}
		lineStart = len(h.buf)
	}
}

func isBlank(line []byte) bool {
	return len(line) == 1 || (len(line) == 2 && line[0] == '\r')
}

// nextLine splits one CRLF- or LF-terminated line off b.
func nextLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil
	}
	line = b[:i]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, b[i+1:]
}

// parseRequest parses h.buf as a request head.
func (h *head) parseRequest() error {
	line, rest := nextLine(h.buf)
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return errBadHead
	}
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp2 <= sp1+1 {
		return errBadHead
	}
	h.method, h.target = line[:sp1], line[sp1+1:sp2]
	if !isToken(h.method) || !validTarget(h.target) {
		return errBadHead
	}
	minor, ok := parseVersion(line[sp2+1:])
	if !ok {
		return errBadHead
	}
	h.minor = minor
	h.request = true
	if err := h.parseHeaders(rest); err != nil {
		return err
	}
	if h.minor == 0 && !h.connKeepAlive {
		h.connClose = true
	}
	if h.chunked && h.contentLength >= 0 {
		// RFC 9112 6.1: a request with both is a smuggling attempt.
		return errBadFraming
	}
	if h.chunked && h.minor == 0 {
		// RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 means faulty
		// framing; the request is served, then the connection closes.
		h.teOnOld, h.connClose = true, true
	}
	return nil
}

// parseResponse parses h.buf as a response head.
func (h *head) parseResponse() error {
	line, rest := nextLine(h.buf)
	if len(line) < 12 || line[8] != ' ' {
		return errBadHead
	}
	minor, ok := parseVersion(line[:8])
	if !ok {
		return errBadHead
	}
	h.minor = minor
	code := line[9:12]
	st := 0
	for _, c := range code {
		if c < '0' || c > '9' {
			return errBadHead
		}
		st = st*10 + int(c-'0')
	}
	if st < 100 || st > 599 {
		return errBadHead
	}
	h.status = st
	if len(line) > 12 {
		if line[12] != ' ' || !validReason(line[13:]) {
			return errBadHead
		}
		h.reason = line[13:]
	}
	if err := h.parseHeaders(rest); err != nil {
		return err
	}
	if h.minor == 0 && !h.connKeepAlive {
		h.connClose = true
	}
	if h.chunked {
		// RFC 9112 6.3: chunked wins over Content-Length, and the
		// connection cannot be trusted for another response.
		h.bothCLTE = h.contentLength >= 0
		h.contentLength = -1
		if h.minor == 0 {
			h.teOnOld = true
		}
	}
	return nil
}

func parseVersion(v []byte) (minor int, ok bool) {
	if len(v) != 8 || string(v[:7]) != "HTTP/1." || v[7] < '0' || v[7] > '9' {
		return 0, false
	}
	return int(v[7] - '0'), true
}

func (h *head) parseHeaders(b []byte) error {
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return errBadHead // obsolete line folding
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return errBadHead
		}
		key := line[:colon]
		if !isToken(key) {
			return errBadHead // also rejects whitespace before the colon
		}
		val := trimOWS(line[colon+1:])
		if !validFieldValue(val) {
			return errBadHead // a bare CR, a NUL or another control byte
		}
		if len(h.headers) >= maxHeaderCount {
			return errHeadTooLarge
		}
		if h.request && hasUnderscore(key) {
			h.dropped++
			continue
		}
		h.headers = append(h.headers, header{key, val})
		if err := h.noteHeader(key, val); err != nil {
			return err
		}
	}
	return nil
}

// noteHeader records the fields that control framing and connection reuse.
func (h *head) noteHeader(key, val []byte) error {
	switch len(key) {
	case 4:
		if asciiEqualFold(key, "host") {
			if h.host != nil || !validHostValue(val) {
				return errBadHead
			}
			h.host = val
		}
	case 6:
		if asciiEqualFold(key, "expect") && asciiEqualFold(val, "100-continue") {
			h.expect100 = true
		}
	case 7:
		if asciiEqualFold(key, "upgrade") {
			h.upgrade = val
		}
	case 10:
		if asciiEqualFold(key, "connection") {
			forEachToken(val, func(tok []byte) {
				switch {
				case asciiEqualFold(tok, "close"):
					h.connClose = true
				case asciiEqualFold(tok, "keep-alive"):
					h.connKeepAlive = true
				case asciiEqualFold(tok, "upgrade"):
					h.connUpgrade = true
				case protectedField(tok):
					// Never honoured: see protectedField.
				default:
					h.connTokens = append(h.connTokens, tok)
				}
			})
		}
	case 14:
		if asciiEqualFold(key, "content-length") {
			n, ok := parseContentLength(val)
			if !ok || (h.contentLength >= 0 && h.contentLength != n) {
				return errBadFraming
			}
			h.contentLength = n
		}
	case 17:
		if asciiEqualFold(key, "transfer-encoding") {
			// Only "chunked" alone is accepted: anything else cannot be
			// framed safely by a proxy.
			if !asciiEqualFold(val, "chunked") || h.chunked {
				return errUnsupportedTE
			}
			h.chunked = true
		}
	}
	return nil
}

func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func forEachToken(v []byte, fn func([]byte)) {
	for len(v) > 0 {
		i := bytes.IndexByte(v, ',')
		var tok []byte
		if i < 0 {
			tok, v = v, nil
		} else {
			tok, v = v[:i], v[i+1:]
		}
		if tok = trimOWS(tok); len(tok) > 0 {
			fn(tok)
		}
	}
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// asciiEqualFold compares b and s ignoring ASCII case (on both sides, so
// callers may pass names as they are written, "If-None-Match").
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// hostChars are the bytes a Host field may hold (RFC 9110 7.2: uri-host
// [":" port], with reg-name, IPv4 and bracketed IPv6 literals).
var hostChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "-._~!$&'()*+,;=:[]%" {
		t[c] = true
	}
	return t
}()

// validHostValue rejects Host values a server must answer with 400
// (RFC 9112 3.2): spaces, "/", "@" and other bytes outside uri-host, and a
// port that is not a number.
func validHostValue(v []byte) bool {
	for _, c := range v {
		if !hostChars[c] {
			return false
		}
	}
	port := v
	if i := bytes.LastIndexByte(port, ']'); i >= 0 {
		port = port[i+1:] // after an IPv6 literal
	}
	if i := bytes.LastIndexByte(port, ':'); i >= 0 {
		for _, c := range port[i+1:] {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

var tokenTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenTable[c] {
			return false
		}
	}
	return true
}

// hopByHop reports whether a field must not be forwarded (RFC 9110 7.6.1),
// including fields named in the Connection header.
func (h *head) hopByHop(key []byte) bool {
	switch len(key) {
	case 2:
		return asciiEqualFold(key, "te")
	case 6:
		return asciiEqualFold(key, "expect")
	case 7:
		return asciiEqualFold(key, "upgrade") || asciiEqualFold(key, "trailer")
	case 10:
		return asciiEqualFold(key, "connection") || asciiEqualFold(key, "keep-alive")
	case 16:
		return asciiEqualFold(key, "proxy-connection")
	case 17:
		return asciiEqualFold(key, "transfer-encoding")
	case 19:
		return asciiEqualFold(key, "proxy-authorization")
	}
	for _, tok := range h.connTokens {
		if bytes.EqualFold(tok, key) {
			return true
		}
	}
	return false
}

// appendEndToEnd appends every field of h except the hop-by-hop ones and
// Content-Length: the agent writes the framing of what it sends itself,
// from what it parsed.
func (h *head) appendEndToEnd(b []byte) []byte {
	for _, f := range h.headers {
		if h.hopByHop(f.key) || (len(f.key) == 14 && asciiEqualFold(f.key, "content-length")) {
			continue
		}
		b = append(b, f.key...)
		b = append(b, ": "...)
		b = append(b, f.value...)
		b = append(b, "\r\n"...)
	}
	return b
}

// statusText is the reason phrase for statuses the proxy generates.
func statusText(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 408:
		return "Request Timeout"
	case 413:
		return "Content Too Large"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	case 200:
		return "OK"
	case 304:
		return "Not Modified"
	case 308:
		return "Permanent Redirect"
	}
	return "Status " + strconv.Itoa(code)
}

// appendStatusLine writes "HTTP/1.1 code reason\r\n".
func appendStatusLine(b []byte, code int, reason []byte) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	if len(reason) > 0 {
		b = append(b, reason...)
	} else {
		b = append(b, statusText(code)...)
	}
	return append(b, "\r\n"...)
}

func (h *head) String() string {
	return fmt.Sprintf("%s %s HTTP/1.%d (%d headers)", h.method, h.target, h.minor, len(h.headers))
}
