package proxy

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// FuzzParseResponse feeds arbitrary bytes to the response head parser: it
// must never panic, and a head it accepts must be one the agent can relay
// without passing anything ambiguous on: a status 100-599, field names
// that are tokens, field values and reason without control bytes, and
// Content-Length cleared when chunked framing wins.
func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
		"HTTP/1.1 200\nX-A: b\n\n",
		"HTTP/1.1 200 OK\r\nX-A: b\rc\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		h := &head{}
		if err := h.readHead(bufio.NewReaderSize(strings.NewReader(raw), 32)); err != nil {
			return
		}
		if err := h.parseResponse(); err != nil {
			return
		}
		if h.status < 100 || h.status > 599 {
			t.Fatalf("accepted status %d", h.status)
		}
		if !validReason(h.reason) {
			t.Fatalf("accepted reason %q", h.reason)
		}
		if h.chunked && h.contentLength != -1 {
			t.Fatalf("chunked with Content-Length %d left", h.contentLength)
		}
		if h.bothCLTE && !h.chunked {
			t.Fatal("both framings noted without chunked")
		}
		for _, fl := range h.headers {
			if !isToken(fl.key) || !validFieldValue(fl.value) {
				t.Fatalf("accepted field %q: %q", fl.key, fl.value)
			}
		}
		// What the agent writes from it must parse back the same.
		var out bytes.Buffer
		out.Write(appendStatusLine(nil, h.status, h.reason))
		out.Write(h.appendEndToEnd(nil))
		out.WriteString("\r\n")
		back := &head{}
		if err := back.readHead(bufio.NewReader(&out)); err != nil {
			t.Fatalf("relayed head unreadable: %v\n%q", err, out.String())
		}
		if err := back.parseResponse(); err != nil || back.status != h.status {
			t.Fatalf("relayed head does not parse back: %v\n%q", err, out.String())
		}
	})
}

// FuzzRequestVsNetHTTP reads the same bytes with the agent's request
// parser and Go's net/http (http.ReadRequest) and reports any request one
// accepts and the other refuses, unless the difference is a deliberate one
// (deliberateDifference says which and why).
func FuzzRequestVsNetHTTP(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x?y HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
		"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX_Y: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\n\n",
		"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: caf\xe9\r\n\r\n",
		"GET /caf\xe9 HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"get / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: Content-Length\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a:x\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		ours := agentAccepts(raw)
		_, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		theirs := err == nil
		if ours == theirs {
			return
		}
		if why := deliberateDifference(raw, ours); why != "" {
			return
		}
		t.Fatalf("agent accepts=%v, net/http accepts=%v (%v) for %q", ours, theirs, err, raw)
	})
}

// hostRefusedByNetHTTPServer reports whether a Host field of raw is one
// net/http's server refuses.
func hostRefusedByNetHTTPServer(raw string) bool {
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		return false
	}
	return !httpguts.ValidHostHeader(req.Host)
}

// headOf is raw up to its first empty line (CRLF or bare LF line ends),
// leading empty lines skipped as the agent skips them.
func headOf(raw string) string {
	lines := strings.SplitAfter(raw, "\n")
	var b strings.Builder
	for _, l := range lines {
		blank := strings.TrimRight(l, "\r\n") == "" && strings.HasSuffix(l, "\n")
		if blank && b.Len() > 0 {
			break
		}
		if !blank {
			b.WriteString(l)
		}
	}
	return b.String()
}

// badFieldName reports whether a field line of head has a name that is
// not a token.
func badFieldName(head string) bool {
	for _, line := range strings.Split(head, "\n")[1:] {
		if name, _, ok := strings.Cut(strings.TrimSuffix(line, "\r"), ":"); ok && !isToken([]byte(name)) {
			return true
		}
	}
	return false
}

// hostPortNotNumber reports whether raw's Host has a port with a
// non-digit.
func hostPortNotNumber(raw string) bool {
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		return false
	}
	h := req.Host
	if i := strings.LastIndexByte(h, ']'); i >= 0 {
		h = h[i+1:]
	}
	i := strings.LastIndexByte(h, ':')
	return i >= 0 && strings.Trim(h[i+1:], "0123456789") != ""
}

// agentAccepts reports whether the agent would serve raw's head: read,
// parsed and with a target it routes.
func agentAccepts(raw string) bool {
	h := &head{}
	if err := h.readHead(bufio.NewReaderSize(strings.NewReader(raw), 64)); err != nil {
		return false
	}
	if err := h.parseRequest(); err != nil {
		return false
	}
	_, problem := h.requestPath()
	return problem == ""
}

// deliberateDifference names the known, intended differences between the
// agent and net/http's reader, or returns "". Each is a place where the
// agent is the stricter edge (or follows RFC 9112 where net/http is
// lenient or stricter for its own reasons).
func deliberateDifference(raw string, agentAccepts bool) string {
	head := headOf(raw)
	lower := strings.ToLower(head)
	line, _, _ := strings.Cut(strings.TrimLeft(raw, "\r\n"), "\n")
	line = strings.TrimSuffix(line, "\r")
	target := ""
	if f := strings.Split(line, " "); len(f) == 3 {
		target = f[1]
	}
	switch {
	case !agentAccepts && strings.Contains(lower, "transfer-encoding") && strings.Contains(lower, "content-length"):
		return "Content-Length with Transfer-Encoding: net/http lets chunked win, the agent refuses the request (RFC 9112 6.1)"
	case !agentAccepts && (strings.Contains(head, "\n ") || strings.Contains(head, "\n\t")):
		return "obs-fold: net/http joins folded lines, the agent refuses them (RFC 9112 5.2)"
	case !agentAccepts && len(raw) >= maxHeadBytes/2:
		return "head size and field count limits: the agent caps heads (64 KiB, 128 fields); net/http leaves that to its server"
	case agentAccepts && (strings.HasPrefix(raw, "\r\n") || strings.HasPrefix(raw, "\n")):
		return "blank lines before the request line: the agent skips them (RFC 9112 2.2), net/http refuses"
	case !agentAccepts && !strings.Contains(lower, "\nhost:"):
		return "HTTP/1.1 without Host: the agent refuses (RFC 9112 3.2); net/http's reader leaves it to its server"
	case !agentAccepts && badFieldName(head):
		return "a field name that is not a token (whitespace before the colon, spaces or separators inside): the agent refuses it (400, RFC 9110 5.1, RFC 9112 5.1), net/http keeps or trims it"
	case !agentAccepts && strings.Contains(target, "#"):
		return "a fragment in the target: the agent refuses it (RFC 9112 3.2 has none there), net/http parses it off"
	case !agentAccepts && hostPortNotNumber(raw):
		return "a Host port that is not a number: the agent refuses it (400, as nginx does); net/http's reader does not look"
	case !agentAccepts && hostRefusedByNetHTTPServer(raw):
		return "an invalid Host: the agent refuses it (400, RFC 9112 3.2) as net/http's server does (httpguts.ValidHostHeader); its reader does not look"
	case !agentAccepts && target != "" && !strings.HasPrefix(target, "/") && target != "*":
		return "targets other than a path or \"*\" (absolute-form, authority-form, a bare scheme): the agent is no forward proxy"
	case !agentAccepts && strings.Contains(line, " HTTP/") && !strings.Contains(line, " HTTP/1."):
		return "HTTP versions other than 1.x: the agent speaks HTTP/1.x on this parser (HTTP/2 comes through ALPN)"
	}
	return ""
}
