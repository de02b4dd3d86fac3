package conformance

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

func sleep3s() { time.Sleep(3 * time.Second) }

// response is one response as the client parsed it.
type response struct {
	Status int
	Head   string
	Body   string
}

// clientResult is what the client got for a case.
type clientResult struct {
	Raw       string // every byte received
	Responses []response
	Closed    bool // the proxy closed the connection
	TimedOut  bool // nothing more came within the wait
	Broken    bool // bytes that do not parse as responses
}

// exchange sends the parts of a request (with pause between them) on a
// new connection to addr and reads until want final responses arrived
// (then a short quiet wait for stray bytes), the connection closes, or
// wait passes without a byte. head tells which responses have no body.
func exchange(addr string, parts []string, pause time.Duration, want int, head bool, wait, quiet time.Duration) clientResult {
	var r clientResult
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		r.Broken = true
		return r
	}
	defer c.Close()
	go func() {
		for i, p := range parts {
			if i > 0 {
				time.Sleep(pause)
			}
			if _, err := io.WriteString(c, p); err != nil {
				return
			}
		}
	}()
	var raw bytes.Buffer
	buf := make([]byte, 64<<10)
	deadline := wait
	for {
		_ = c.SetReadDeadline(time.Now().Add(deadline))
		n, err := c.Read(buf)
		raw.Write(buf[:n])
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				r.TimedOut = true
			} else {
				r.Closed = true
			}
			break
		}
		resps, complete, broken := parseResponses(raw.Bytes(), head)
		if broken {
			r.Broken = true
		}
		if complete >= want && !broken {
			deadline = quiet // stray bytes after the answers?
			_ = resps
		}
	}
	r.Raw = raw.String()
	r.Responses, _, r.Broken = parseResponses(raw.Bytes(), head)
	if r.Closed && len(r.Responses) >= want {
		r.TimedOut = false
	}
	if len(r.Responses) >= want && r.TimedOut {
		r.TimedOut = false // the quiet wait after complete answers
	}
	return r
}

// parseResponses splits raw into complete final responses (1xx skipped).
// broken is set when bytes cannot be a response.
func parseResponses(raw []byte, head bool) (out []response, complete int, broken bool) {
	br := bufio.NewReader(bytes.NewReader(raw))
	for {
		if _, err := br.Peek(1); err != nil {
			return out, len(out), false
		}
		var h strings.Builder
		for {
			line, err := br.ReadString('\n')
			h.WriteString(line)
			if err != nil {
				return out, len(out), !couldBeResponse(h.String())
			}
			if line == "\r\n" || line == "\n" {
				break
			}
		}
		hs := h.String()
		if !strings.HasPrefix(hs, "HTTP/1.") || len(hs) < 12 {
			return out, len(out), true
		}
		st, err := strconv.Atoi(hs[9:12])
		if err != nil {
			return out, len(out), true
		}
		if st >= 100 && st < 200 && st != 101 {
			continue
		}
		resp := response{Status: st, Head: hs}
		if st == 101 {
			// What follows is the switched protocol, not HTTP.
			rest, _ := io.ReadAll(br)
			resp.Body = string(rest)
			return append(out, resp), len(out) + 1, false
		}
		noBody := head || st == 204 || st == 304
		switch {
		case noBody:
		case hasChunked(hs):
			body, err := readChunked(br)
			if err != nil {
				return out, len(out), false // incomplete
			}
			resp.Body = body
		case len(headerValuesResp(hs, "Content-Length")) > 0:
			n, err := strconv.Atoi(strings.TrimSpace(headerValuesResp(hs, "Content-Length")[0]))
			if err != nil {
				return out, len(out), true
			}
			b := make([]byte, n)
			if _, err := io.ReadFull(br, b); err != nil {
				return out, len(out), false
			}
			resp.Body = string(b)
		default:
			rest, _ := io.ReadAll(br) // until the close
			resp.Body = string(rest)
			out = append(out, resp)
			return out, len(out) - 1, false // complete only once closed
		}
		out = append(out, resp)
	}
}

// couldBeResponse reports whether s starts like a response (or is the
// start of one).
func couldBeResponse(s string) bool {
	n := min(len(s), 7)
	return s[:n] == "HTTP/1."[:n]
}

func hasChunked(head string) bool {
	for _, v := range headerValuesResp(head, "Transfer-Encoding") {
		if strings.Contains(strings.ToLower(v), "chunked") {
			return true
		}
	}
	return false
}

func headerValuesResp(head, name string) []string { return headerValues(head, name) }

func readChunked(br *bufio.Reader) (string, error) {
	var body strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		size, err := strconv.ParseInt(strings.TrimSpace(strings.SplitN(line, ";", 2)[0]), 16, 64)
		if err != nil || size < 0 || size > 1<<26 {
			return "", io.ErrUnexpectedEOF
		}
		if size == 0 {
			for {
				tl, err := br.ReadString('\n')
				if err != nil {
					return "", err
				}
				if tl == "\r\n" || tl == "\n" {
					return body.String(), nil
				}
			}
		}
		b := make([]byte, size)
		if _, err := io.ReadFull(br, b); err != nil {
			return "", err
		}
		body.Write(b)
		if _, err := br.ReadString('\n'); err != nil {
			return "", err
		}
	}
}
