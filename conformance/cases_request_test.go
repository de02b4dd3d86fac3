package conformance

import (
	"fmt"
	"strings"
	"time"
)

// reqCase is a raw client request. "{ID}" in parts is replaced with the
// case id, so the backend can tell its requests apart; a request smuggled
// inside it targets /smuggled/{ID}.
type reqCase struct {
	name  string
	parts []string      // written one after the other, pause apart
	pause time.Duration // between parts
	// trickle writes the last part one byte per pause.
	trickle bool
	want    int           // final responses to wait for (default 1)
	head    bool          // a HEAD request: responses have no body
	wait    time.Duration // read wait without a byte (default 1 s, under every proxy timeout)
	benign  bool          // legitimate: forwarding it is right
	// danger reports whether the hostile part reached the backend as
	// is. Every case is also checked for a smuggled request.
	danger func(s seen) bool
}

// seen is what the backend received during a case.
type seen struct {
	id   string
	raw  string
	reqs []seenReq
}

// smuggled reports whether the backend parsed a request the client hid in
// another one: the backend saw /smuggled/ID, and the client did not get its
// answer (when it did, the proxy read it as a pipelined request of its own,
// which is no smuggling).
func (s seen) smuggled(client clientResult) bool {
	for _, r := range s.reqs {
		if strings.Contains(r.Target, "/smuggled/") {
			return !strings.Contains(client.Raw, "\r\n\r\n"+r.Target)
		}
	}
	return false
}

// reached reports whether the backend parsed a request of this case.
func (s seen) reached() bool {
	for _, r := range s.reqs {
		if strings.Contains(r.Target, s.id) || strings.Contains(r.Target, "/c/") {
			return true
		}
	}
	return false
}

// sawInHead reports whether any request head the backend parsed holds b.
func sawInHead(b string) func(seen) bool {
	return func(s seen) bool {
		for _, r := range s.reqs {
			if strings.Contains(r.Head, b) {
				return true
			}
		}
		return false
	}
}

// sawRaw reports whether b arrived at the backend anywhere.
func sawRaw(b string) func(seen) bool {
	return func(s seen) bool { return strings.Contains(s.raw, b) }
}

// sawBothFramings: one request head with Content-Length and
// Transfer-Encoding both reached the backend (its framing then depends on
// which one the server believes).
func sawBothFramings(s seen) bool {
	for _, r := range s.reqs {
		if len(headerValues(r.Head, "Content-Length")) > 0 && len(headerValues(r.Head, "Transfer-Encoding")) > 0 {
			return true
		}
	}
	return false
}

// sawHeaderValue: some request had name with a value containing v.
func sawHeaderValue(name, v string) func(seen) bool {
	return func(s seen) bool {
		for _, r := range s.reqs {
			for _, x := range headerValues(r.Head, name) {
				if strings.Contains(x, v) {
					return true
				}
			}
		}
		return false
	}
}

func anyOf(fs ...func(seen) bool) func(seen) bool {
	return func(s seen) bool {
		for _, f := range fs {
			if f != nil && f(s) {
				return true
			}
		}
		return false
	}
}

const smuggle = "GET /smuggled/{ID} HTTP/1.1\r\nHost: evil.test\r\n\r\n"

func get(extra string) string {
	return "GET /c/{ID} HTTP/1.1\r\nHost: conformance.test\r\n" + extra + "\r\n"
}

func post(extra, body string) string {
	return "POST /c/{ID} HTTP/1.1\r\nHost: conformance.test\r\n" + extra + "\r\n" + body
}

// chunk frames s as one chunk.
func chunk(s string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(s), s) }

// requestCases is every client-side case.
func requestCases() []reqCase {
	var cs []reqCase
	add := func(c reqCase) { cs = append(cs, c) }

	// --- Framing conflicts: CL.TE, TE.CL.
	add(reqCase{name: "CL.TE: CL covers the smuggled request, TE ends early",
		parts:  []string{post("Content-Length: "+fmt.Sprint(len("0\r\n\r\n"+smuggle))+"\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"+smuggle)},
		danger: sawBothFramings})
	add(reqCase{name: "TE.CL: TE covers the smuggled request, CL ends early",
		parts:  []string{post("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", chunk(smuggle)+"0\r\n\r\n")},
		danger: sawBothFramings})
	add(reqCase{name: "CL.CL: two different Content-Lengths",
		parts:  []string{post("Content-Length: 5\r\nContent-Length: "+fmt.Sprint(5+len(smuggle))+"\r\n", "hello"+smuggle)},
		danger: sawHeaderValue("Content-Length", fmt.Sprint(5+len(smuggle)))})
	add(reqCase{name: "CL.CL: the same Content-Length twice",
		parts: []string{post("Content-Length: 5\r\nContent-Length: 5\r\n", "hello")}, benign: true})

	// --- Transfer-Encoding obfuscations, each alone (the chunked body
	// hides a request after its end if the coding is not believed) and
	// next to a Content-Length that covers only the chunked prefix.
	teVariants := []struct {
		name, line string
		legal      bool // a valid spelling of chunked (RFC 9110 5.5, 5.6.3)
	}{
		{"chunked with a trailing space", "Transfer-Encoding: chunked \r\n", true},
		{"upper-case CHUNKED", "Transfer-Encoding: CHUNKED\r\n", true},
		{"lower-case field name", "transfer-encoding: chunked\r\n", true},
		{"tab before the value", "Transfer-Encoding:\tchunked\r\n", true},
		{"chunked, chunked", "Transfer-Encoding: chunked, chunked\r\n", false},
		{"chunked, identity", "Transfer-Encoding: chunked, identity\r\n", false},
		{"identity, chunked", "Transfer-Encoding: identity, chunked\r\n", false},
		{"gzip, chunked", "Transfer-Encoding: gzip, chunked\r\n", false},
		{"xchunked", "Transfer-Encoding: xchunked\r\n", false},
		{"chunkedx", "Transfer-Encoding: chunkedx\r\n", false},
		{"quoted \"chunked\"", "Transfer-Encoding: \"chunked\"\r\n", false},
		{"chunked with a parameter", "Transfer-Encoding: chunked;q=1\r\n", false},
		{"vertical tab after chunked", "Transfer-Encoding: chunked\x0b\r\n", false},
		{"form feed before chunked", "Transfer-Encoding:\x0cchunked\r\n", false},
		{"NUL after chunked", "Transfer-Encoding: chunked\x00\r\n", false},
		{"bare CR after chunked", "Transfer-Encoding: chunked\r\r\n", false},
		{"space before the colon", "Transfer-Encoding : chunked\r\n", false},
		{"underscore in the name", "Transfer_Encoding: chunked\r\n", false},
		{"two Transfer-Encoding fields", "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", false},
		{"folded onto the next line", "Transfer-Encoding:\r\n chunked\r\n", false},
		{"folded after another field", "X-Pad: a\r\n Transfer-Encoding: chunked\r\n", false},
		{"empty value", "Transfer-Encoding: \r\n", false},
		{"comma only", "Transfer-Encoding: ,\r\n", false},
		{"chunked with a leading comma", "Transfer-Encoding: , chunked\r\n", false},
	}
	for _, v := range teVariants {
		te := v.line
		// Alone: the body hides a request in a chunk's data. A proxy that
		// does not take the field for chunked and passes it on leaves the
		// server to decide.
		c := reqCase{name: "TE obfuscated, alone: " + v.name, benign: v.legal,
			parts: []string{post(te, chunk(smuggle)+"0\r\n\r\n")}}
		if !v.legal {
			c.danger = sawInHead(strings.TrimRight(strings.SplitN(te, "\r\n", 2)[0], "\r"))
		}
		add(c)
		add(reqCase{name: "TE obfuscated, with CL: " + v.name,
			parts:  []string{post("Content-Length: "+fmt.Sprint(len(chunk(smuggle)+"0\r\n\r\n"))+"\r\n"+te, chunk(smuggle)+"0\r\n\r\n")},
			danger: anyOf(sawBothFramings, sawInHead(strings.TrimRight(strings.SplitN(te, "\r\n", 2)[0], "\r")))})
	}
	add(reqCase{name: "TE plain chunked (control)", parts: []string{post("Transfer-Encoding: chunked\r\n", chunk("hello")+"0\r\n\r\n")}, benign: true})

	// --- Content-Length oddities.
	clVariants := []struct {
		name, value string
		benign      bool
	}{
		{"list 5, 5", "5, 5", false}, {"plus sign", "+5", false}, {"negative", "-1", false},
		{"hex 0x5", "0x5", false}, {"decimal point", "5.0", false}, {"trailing junk", "5abc", false},
		{"NUL after the number", "5\x00", false}, {"huge", "99999999999999999999", false},
		{"empty", "", false}, {"leading zeros", "005", true}, {"space inside", "5 5", false},
	}
	for _, v := range clVariants {
		add(reqCase{name: "Content-Length " + v.name,
			parts: []string{post("Content-Length: "+v.value+"\r\n", "hello")}, benign: v.benign,
			danger: func(s seen) bool {
				return !v.benign && sawInHead("Content-Length: "+v.value+"\r\n")(s)
			}})
	}
	add(reqCase{name: "Content-Length with a space before the colon",
		parts: []string{post("Content-Length : 5\r\n", "hello")}, danger: sawInHead("Content-Length :")})
	add(reqCase{name: "Content-Length with an underscore",
		parts: []string{post("Content_Length: "+fmt.Sprint(len(smuggle))+"\r\n", smuggle)}, danger: sawInHead("Content_Length")})
	add(reqCase{name: "Content-Length folded",
		parts: []string{post("Content-Length:\r\n 5\r\n", "hello")}, danger: sawInHead("Content-Length:\r\n")})
	add(reqCase{name: "GET with a body of one request", benign: true, want: 2,
		parts: []string{"GET /c/{ID} HTTP/1.1\r\nHost: conformance.test\r\nContent-Length: " + fmt.Sprint(len(strings.ReplaceAll(smuggle, "smuggled", "c2"))) + "\r\n\r\n" + strings.ReplaceAll(smuggle, "smuggled", "c2") + get("")}})

	// --- Connection naming framing and forwarding fields.
	connCases := []struct{ name, extra, body, dangerField string }{
		{"Connection: Content-Length", "Connection: Content-Length\r\nContent-Length: " + fmt.Sprint(len(smuggle)) + "\r\n", smuggle, ""},
		{"Connection: Transfer-Encoding", "Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n", chunk(smuggle) + "0\r\n\r\n", ""},
		{"Connection: Host", "Connection: Host\r\n", "", "Host"},
		{"Connection: close, Content-Length", "Connection: close, Content-Length\r\nContent-Length: " + fmt.Sprint(len(smuggle)) + "\r\n", smuggle, ""},
		{"Connection: X-Forwarded-For", "Connection: X-Forwarded-For\r\n", "", "X-Forwarded-For"},
		{"Connection: X-Real-IP", "Connection: X-Real-IP\r\n", "", "X-Real-IP"},
	}
	for _, v := range connCases {
		field := v.dangerField
		add(reqCase{name: v.name, parts: []string{post(v.extra, v.body)},
			danger: func(s seen) bool {
				if field == "" {
					return false
				}
				for _, r := range s.reqs {
					if strings.Contains(r.Target, "/c/") && len(headerValues(r.Head, field)) == 0 {
						return true // the field the proxy relies on was stripped
					}
				}
				return false
			}})
	}
	add(reqCase{name: "Connection: X-Custom drops that field", benign: true,
		parts: []string{get("Connection: X-Custom\r\nX-Custom: hop\r\n")}})

	// --- Control bytes in field values, names, the target, the method.
	for _, cb := range []struct {
		name string
		b    string
	}{{"NUL", "\x00"}, {"SOH", "\x01"}, {"BEL", "\x07"}, {"BS", "\x08"}, {"VT", "\x0b"}, {"FF", "\x0c"},
		{"SO", "\x0e"}, {"ESC", "\x1b"}, {"US", "\x1f"}, {"DEL", "\x7f"}} {
		add(reqCase{name: "value with " + cb.name, parts: []string{get("X-Test: a" + cb.b + "b\r\n")}, danger: sawRaw("a" + cb.b + "b")})
		add(reqCase{name: "name with " + cb.name, parts: []string{get("X-T" + cb.b + "est: ab\r\n")}, danger: sawRaw("X-T" + cb.b + "est")})
		add(reqCase{name: "target with " + cb.name, parts: []string{"GET /c/{ID}/a" + cb.b + "b HTTP/1.1\r\nHost: conformance.test\r\n\r\n"}, danger: sawRaw("a" + cb.b + "b")})
	}
	add(reqCase{name: "value with a bare CR inside", parts: []string{get("X-Test: a\rX-Injected: 1\r\n")}, danger: anyOf(sawRaw("a\rX"), sawInHead("X-Injected"))})
	add(reqCase{name: "value ending in a bare CR", parts: []string{get("X-Test: a\r\r\n")}, danger: sawRaw("a\r\r")})
	add(reqCase{name: "bare LF line ends", parts: []string{"GET /c/{ID} HTTP/1.1\nHost: conformance.test\nX-Test: a\n\n"}, benign: true,
		danger: sawRaw("X-Test: a\n")})
	add(reqCase{name: "bare LF inside a field line", parts: []string{get("X-Test: a\nX-Injected: 1\r\n")}, benign: true, danger: sawRaw("a\nX-Injected")})
	add(reqCase{name: "value with HTAB (legal)", parts: []string{get("X-Test: a\tb\r\n")}, benign: true})
	add(reqCase{name: "value with obs-text (legal)", parts: []string{get("X-Test: caf\xe9\r\n")}, benign: true})
	add(reqCase{name: "name with a space", parts: []string{get("X Test: a\r\n")}, danger: sawRaw("X Test")})
	add(reqCase{name: "name with a tab", parts: []string{get("X\tTest: a\r\n")}, danger: sawRaw("X\tTest")})
	add(reqCase{name: "name with parentheses", parts: []string{get("X(Test): a\r\n")}, danger: sawRaw("X(Test)")})
	add(reqCase{name: "name with a high byte", parts: []string{get("X-T\xe9st: a\r\n")}, danger: sawRaw("X-T\xe9st")})
	add(reqCase{name: "empty name", parts: []string{get(": a\r\n")}, danger: sawRaw("\r\n: a")})
	add(reqCase{name: "line without a colon", parts: []string{get("X-Test a\r\n")}, danger: sawRaw("X-Test a")})
	add(reqCase{name: "underscore name X_Custom", parts: []string{get("X_Custom: a\r\n")}, danger: sawRaw("X_Custom")})
	add(reqCase{name: "target with a tab", parts: []string{"GET /c/{ID}/a\tb HTTP/1.1\r\nHost: conformance.test\r\n\r\n"}, danger: sawRaw("a\tb")})
	add(reqCase{name: "target with a bare CR", parts: []string{"GET /c/{ID}/a\rb HTTP/1.1\r\nHost: conformance.test\r\n\r\n"}, danger: sawRaw("a\rb")})
	add(reqCase{name: "target with two spaces", parts: []string{"GET /c/{ID}/a  HTTP/1.1\r\nHost: conformance.test\r\n\r\n"}, danger: sawRaw("/a  HTTP")})
	add(reqCase{name: "target with a fragment", parts: []string{"GET /c/{ID}#frag HTTP/1.1\r\nHost: conformance.test\r\n\r\n"}, danger: sawRaw("#frag")})
	add(reqCase{name: "target with high bytes", parts: []string{"GET /c/{ID}/caf\xc3\xa9 HTTP/1.1\r\nHost: conformance.test\r\n\r\n"}, benign: true})
	add(reqCase{name: "target with a backslash", parts: []string{"GET /c/{ID}/a\\b HTTP/1.1\r\nHost: conformance.test\r\n\r\n"}, benign: true})
	add(reqCase{name: "target with quotes and angle brackets", parts: []string{"GET /c/{ID}/\"<x>\" HTTP/1.1\r\nHost: conformance.test\r\n\r\n"}, benign: true})
	add(reqCase{name: "method with NUL", parts: []string{"G\x00ET /c/{ID} HTTP/1.1\r\nHost: conformance.test\r\n\r\n"}, danger: sawRaw("G\x00ET")})
	add(reqCase{name: "method lower case", parts: []string{"get /c/{ID} HTTP/1.1\r\nHost: conformance.test\r\n\r\n"}, benign: true})
	add(reqCase{name: "method unknown token", parts: []string{"FROB /c/{ID} HTTP/1.1\r\nHost: conformance.test\r\n\r\n"}, benign: true})
	add(reqCase{name: "method with a slash", parts: []string{"GE/T /c/{ID} HTTP/1.1\r\nHost: conformance.test\r\n\r\n"}, danger: sawRaw("GE/T")})

	// --- Line folding.
	add(reqCase{name: "obs-fold in a field", parts: []string{get("X-Test: a\r\n b\r\n")}, danger: sawRaw("a\r\n b")})
	add(reqCase{name: "obs-fold with a tab", parts: []string{get("X-Test: a\r\n\tb\r\n")}, danger: sawRaw("a\r\n\tb")})
	add(reqCase{name: "obs-fold in Host", parts: []string{"GET /c/{ID} HTTP/1.1\r\nHost: conformance.test\r\n evil.test\r\n\r\n"}, danger: sawRaw("\r\n evil.test")})
	add(reqCase{name: "first field line folded", parts: []string{"GET /c/{ID} HTTP/1.1\r\n X-Test: a\r\nHost: conformance.test\r\n\r\n"}, danger: sawRaw("\r\n X-Test")})

	// --- Request line.
	add(reqCase{name: "HTTP/1.0 request", parts: []string{"GET /c/{ID} HTTP/1.0\r\nHost: conformance.test\r\n\r\n"}, benign: true})
	add(reqCase{name: "HTTP/1.2", parts: []string{"GET /c/{ID} HTTP/1.2\r\nHost: conformance.test\r\n\r\n"}, benign: true})
	add(reqCase{name: "HTTP/2.0 in a request line", parts: []string{"GET /c/{ID} HTTP/2.0\r\nHost: conformance.test\r\n\r\n"}, danger: sawRaw("HTTP/2.0")})
	add(reqCase{name: "HTTP/0.9 request", parts: []string{"GET /c/{ID}\r\n\r\n"}})
	add(reqCase{name: "lower-case version", parts: []string{"GET /c/{ID} http/1.1\r\nHost: conformance.test\r\n\r\n"}, danger: sawRaw("http/1.1")})
	add(reqCase{name: "version with a trailing space", parts: []string{"GET /c/{ID} HTTP/1.1 \r\nHost: conformance.test\r\n\r\n"}, danger: sawRaw("HTTP/1.1 \r\n")})
	add(reqCase{name: "version 1.10", parts: []string{"GET /c/{ID} HTTP/1.10\r\nHost: conformance.test\r\n\r\n"}, danger: sawRaw("HTTP/1.10")})
	add(reqCase{name: "absolute-form target", parts: []string{"GET http://conformance.test/c/{ID} HTTP/1.1\r\nHost: conformance.test\r\n\r\n"}, benign: true})
	add(reqCase{name: "absolute-form naming another host", parts: []string{"GET http://evil.test/c/{ID} HTTP/1.1\r\nHost: conformance.test\r\n\r\n"},
		danger: anyOf(sawRaw("http://evil.test"), sawInHead("Host: evil.test"))})
	add(reqCase{name: "authority-form CONNECT", parts: []string{"CONNECT evil.test:443 HTTP/1.1\r\nHost: evil.test:443\r\n\r\n"}, danger: sawRaw("CONNECT evil.test")})
	add(reqCase{name: "asterisk-form OPTIONS", parts: []string{"OPTIONS * HTTP/1.1\r\nHost: conformance.test\r\n\r\n"}, benign: true})
	add(reqCase{name: "TRACE", parts: []string{"TRACE /c/{ID} HTTP/1.1\r\nHost: conformance.test\r\n\r\n"}, benign: true})
	add(reqCase{name: "leading blank lines", parts: []string{"\r\n\r\nGET /c/{ID} HTTP/1.1\r\nHost: conformance.test\r\n\r\n"}, benign: true})

	// --- Host.
	add(reqCase{name: "Host missing in HTTP/1.1", parts: []string{"GET /c/{ID} HTTP/1.1\r\n\r\n"}, danger: func(s seen) bool { return s.reached() }})
	add(reqCase{name: "two Host fields", parts: []string{"GET /c/{ID} HTTP/1.1\r\nHost: conformance.test\r\nHost: evil.test\r\n\r\n"}, danger: sawRaw("evil.test")})
	add(reqCase{name: "Host with a space", parts: []string{"GET /c/{ID} HTTP/1.1\r\nHost: conformance.test evil.test\r\n\r\n"}, danger: sawRaw("evil.test")})
	add(reqCase{name: "Host with a path", parts: []string{"GET /c/{ID} HTTP/1.1\r\nHost: evil.test/x\r\n\r\n"}, danger: sawRaw("evil.test/x")})
	add(reqCase{name: "Host with userinfo", parts: []string{"GET /c/{ID} HTTP/1.1\r\nHost: user@evil.test\r\n\r\n"}, danger: sawRaw("user@evil.test")})
	add(reqCase{name: "Host with a bad port", parts: []string{"GET /c/{ID} HTTP/1.1\r\nHost: conformance.test:x\r\n\r\n"}, danger: sawRaw("conformance.test:x")})
	add(reqCase{name: "Host list", parts: []string{"GET /c/{ID} HTTP/1.1\r\nHost: conformance.test, evil.test\r\n\r\n"}, danger: sawRaw("evil.test")})
	add(reqCase{name: "Host empty", parts: []string{"GET /c/{ID} HTTP/1.1\r\nHost:\r\n\r\n"}, benign: true})
	add(reqCase{name: "Host IPv6 literal", parts: []string{"GET /c/{ID} HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n"}, benign: true})
	add(reqCase{name: "Host with a backslash", parts: []string{"GET /c/{ID} HTTP/1.1\r\nHost: evil.test\\x\r\n\r\n"}, danger: sawRaw("evil.test\\x")})

	// --- Oversized heads.
	add(reqCase{name: "one 70 KB field", parts: []string{get("X-Big: " + strings.Repeat("a", 70<<10) + "\r\n")}, danger: sawRaw(strings.Repeat("a", 70<<10))})
	add(reqCase{name: "200 fields", parts: []string{get(strings.Repeat("X-Many: a\r\n", 200))}, danger: sawRaw(strings.Repeat("X-Many: a\r\n", 200))})
	add(reqCase{name: "70 KB target", parts: []string{"GET /c/{ID}/" + strings.Repeat("a", 70<<10) + " HTTP/1.1\r\nHost: conformance.test\r\n\r\n"}, danger: sawRaw(strings.Repeat("a", 70<<10))})
	add(reqCase{name: "10 KB field name", parts: []string{get("X-" + strings.Repeat("n", 10<<10) + ": a\r\n")}, benign: true})
	add(reqCase{name: "8 KB of fields (legal)", parts: []string{get(strings.Repeat("X-Mid: "+strings.Repeat("a", 90)+"\r\n", 80))}, benign: true})

	// --- Chunked bodies.
	chunkCases := []struct {
		name, body, danger string
		benign             bool
	}{
		{"chunk extension", "5;ext=1\r\nhello\r\n0\r\n\r\n", ";ext=1", false},
		{"chunk extension quoted with a semicolon", "5;a=\"b;c\"\r\nhello\r\n0\r\n\r\n", "b;c", false},
		{"long chunk extension", "5;" + strings.Repeat("e", 5000) + "\r\nhello\r\n0\r\n\r\n", strings.Repeat("e", 5000), false},
		{"last-chunk extension", "5\r\nhello\r\n0;end\r\n\r\n", ";end", false},
		{"size with leading zeros", "0005\r\nhello\r\n0\r\n\r\n", "0005", true},
		{"upper-case hex size", "A\r\nhellohello\r\n0\r\n\r\n", "\r\nA\r\n", true},
		{"size with a trailing space", "5 \r\nhello\r\n0\r\n\r\n", "5 \r\n", false},
		{"size 0x5", "0x5\r\nhello\r\n0\r\n\r\n", "0x5", false},
		{"negative size", "-5\r\nhello\r\n0\r\n\r\n", "-5\r\n", false},
		{"size overflowing 64 bits", "ffffffffffffffff1\r\nhello\r\n0\r\n\r\n", "ffffffffffffffff1", false},
		{"size missing", "\r\nhello\r\n0\r\n\r\n", "\r\n\r\nhello", false},
		{"data longer than the size", "3\r\nhello\r\n0\r\n\r\n", "3\r\nhello", false},
		{"data not followed by CRLF", "5\r\nhelloXX0\r\n\r\n", "helloXX", false},
		{"bare LF after the size", "5\nhello\r\n0\r\n\r\n", "5\nhello", false},
		{"bare LF after the data", "5\r\nhello\n0\r\n\r\n", "hello\n0", false},
		{"bare CR in the size line", "5\r;x\r\nhello\r\n0\r\n\r\n", "5\r;", false},
		{"NUL in the size line", "5\x00\r\nhello\r\n0\r\n\r\n", "5\x00", false},
		{"trailer field", "5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n", "X-Trailer", false},
		{"trailer Content-Length", "5\r\nhello\r\n0\r\nContent-Length: 99\r\n\r\n", "Content-Length: 99", false},
		{"trailer with a control byte", "5\r\nhello\r\n0\r\nX-T: a\x01b\r\n\r\n", "a\x01b", false},
		{"trailer without a colon", "5\r\nhello\r\n0\r\nbroken trailer\r\n\r\n", "broken trailer", false},
		{"chunked body then a smuggled request", "5\r\nhello\r\n0\r\n\r\n" + smuggle, "", true},
	}
	for _, v := range chunkCases {
		d := v.danger
		c := reqCase{name: "chunked: " + v.name, parts: []string{post("Transfer-Encoding: chunked\r\n", v.body)}, benign: v.benign}
		if d != "" && !v.benign {
			c.danger = sawRaw(d)
		}
		if v.name == "chunked body then a smuggled request" {
			c.want = 2 // it is a pipelined second request, legitimately
		}
		add(c)
	}

	// --- HTTP/1.0 with Transfer-Encoding.
	add(reqCase{name: "HTTP/1.0 with Transfer-Encoding, keep-alive, then another request",
		parts:  []string{"POST /c/{ID} HTTP/1.0\r\nHost: conformance.test\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggle},
		danger: sawBothFramings})
	add(reqCase{name: "HTTP/1.0 with Transfer-Encoding and Content-Length",
		parts:  []string{"POST /c/{ID} HTTP/1.0\r\nHost: conformance.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		danger: sawBothFramings})
	add(reqCase{name: "HTTP/1.0 keep-alive pipelined", want: 2, benign: true,
		parts: []string{"GET /c/{ID} HTTP/1.0\r\nHost: conformance.test\r\nConnection: keep-alive\r\n\r\nGET /c/{ID}/2 HTTP/1.0\r\nHost: conformance.test\r\n\r\n"}})

	// --- Pipelining.
	add(reqCase{name: "two pipelined GETs", want: 2, benign: true, parts: []string{get("") + strings.ReplaceAll(get(""), "{ID}", "{ID}/2")}})
	add(reqCase{name: "three pipelined GETs", want: 3, benign: true, parts: []string{get("") + get("") + get("")}})
	add(reqCase{name: "pipelined POST then GET", want: 2, benign: true, parts: []string{post("Content-Length: 5\r\n", "hello") + get("")}})
	add(reqCase{name: "pipelined after a malformed request",
		parts: []string{"GET /c/{ID} HTTP/1.1\r\nHost: conformance.test\r\nX-Bad\x00: x\r\n\r\n" + smuggle}})
	add(reqCase{name: "pipelined after an oversized Content-Length claim",
		parts: []string{post("Content-Length: 1, 2\r\n", smuggle)}})

	// --- Expect.
	add(reqCase{name: "Expect: 100-continue with the body at once", benign: true, parts: []string{post("Expect: 100-continue\r\nContent-Length: 5\r\n", "hello")}})
	add(reqCase{name: "Expect: 100-continue, body after a pause", benign: true, pause: 300 * time.Millisecond,
		parts: []string{post("Expect: 100-continue\r\nContent-Length: 5\r\n", ""), "hello"}})
	add(reqCase{name: "Expect: 100-continue on a GET", benign: true, parts: []string{get("Expect: 100-continue\r\n")}})
	add(reqCase{name: "Expect: something else", benign: true, parts: []string{get("Expect: 202-maybe\r\n")}})

	// --- Who the client is.
	add(reqCase{name: "X-Forwarded-For spoofed", parts: []string{get("X-Forwarded-For: 203.0.113.66\r\n")}, danger: sawRaw("203.0.113.66")})
	add(reqCase{name: "two X-Forwarded-For fields spoofed", parts: []string{get("X-Forwarded-For: 203.0.113.66\r\nX-Forwarded-For: 203.0.113.67\r\n")}, danger: sawRaw("203.0.113.6")})
	add(reqCase{name: "X-Real-IP spoofed", parts: []string{get("X-Real-IP: 203.0.113.66\r\n")}, danger: sawRaw("203.0.113.66")})
	add(reqCase{name: "X-Forwarded-Host spoofed", parts: []string{get("X-Forwarded-Host: evil.test\r\n")}, danger: sawRaw("evil.test")})
	add(reqCase{name: "X-Forwarded-Proto spoofed", parts: []string{get("X-Forwarded-Proto: https\r\n")}, danger: sawHeaderValue("X-Forwarded-Proto", "https")})
	add(reqCase{name: "Forwarded spoofed", parts: []string{get("Forwarded: for=203.0.113.66;proto=https\r\n")}, danger: sawRaw("203.0.113.66")})
	add(reqCase{name: "X_Forwarded_For with underscores", parts: []string{get("X_Forwarded_For: 203.0.113.66\r\n")}, danger: sawRaw("203.0.113.66")})
	add(reqCase{name: "X-Forwarded-For with a control byte", parts: []string{get("X-Forwarded-For: 203.0.113.66\x01\r\n")}, danger: sawRaw("203.0.113.66")})

	// --- Upgrades.
	add(reqCase{name: "Upgrade: h2c with HTTP2-Settings", parts: []string{get("Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n")},
		danger: sawHeaderValue("Upgrade", "h2c")})
	add(reqCase{name: "Upgrade without Connection: upgrade", benign: true, parts: []string{get("Upgrade: websocket\r\n")}})
	add(reqCase{name: "WebSocket upgrade request", benign: true, parts: []string{get("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")}})

	// --- Slow clients.
	add(reqCase{name: "slow head (a byte every 200 ms)", pause: 200 * time.Millisecond, wait: 4 * time.Second, trickle: true,
		parts: []string{"GET /c/{ID} HTTP/1.1\r\nHost: conformance.test\r\n", "X-Slow: 1234567890123456789\r\n\r\n"}})
	add(reqCase{name: "slow body (stalls after 3 bytes)", wait: 4 * time.Second,
		parts: []string{post("Content-Length: 100\r\n", "abc")}})
	add(reqCase{name: "head never finished", wait: 4 * time.Second,
		parts: []string{"GET /c/{ID} HTTP/1.1\r\nHost: conformance.test\r\nX-Half: "}})
	return cs
}
