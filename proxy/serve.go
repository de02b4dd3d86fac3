package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// clientConn is one client connection and its reusable per-request state.
type clientConn struct {
	h      *Handler
	c      net.Conn
	br     *bufio.Reader // held only while a request is read (see lazyReader)
	bw     *bufio.Writer // held only while a response is written
	in     lazyReader
	rd     clientReader
	wr     clientWriter
	tls    bool
	remote string     // the client's IP as text (logs, X-Forwarded-For)
	peer   netip.Addr // the same, parsed (trusted_proxies)

	req    head
	resp   head
	lim    *Limits // of the table serving the current request
	out    []byte  // scratch for heads
	body   []byte  // buffered request body (replayable)
	logBuf []byte  // access log line scratch
	local  LocalRequest
	cand   [64]int // scratch for Upstream.pick

	// Progress for the timeout sweeper (coarse clock, unix ns).
	lastRead   atomic.Int64 // last read that returned bytes; 0 = none since the wait began
	writeSince atomic.Int64 // a write to the client in progress since; 0 = none

	stateMu    sync.Mutex
	phase      int   // phaseIdle, phaseBody or phaseBusy
	phaseSince int64 // when the phase began
	headSeen   int64 // when a sweep first saw part of the awaited head
	first      bool  // waiting for the connection's first request
	interrupt  int   // why the drain or the sweeper woke us (intrNone: it did not)
}

// drainGrace is how long an idle keepalive connection may still deliver a
// request once a drain starts. A client may have sent its next request
// just as we decided to close; closing at once would reset it. A request
// that arrives in the grace is served with Connection: close.
const drainGrace = 250 * time.Millisecond

// serve runs the request loop until the connection should close. first
// says the connection has served no request yet (header_timeout runs from
// its start).
func (cc *clientConn) serve(first bool) {
	h := cc.h
	for ; ; first = false {
		cc.releaseWriter()
		cc.in.release()
		if h.draining.Load() && cc.in.buffered() == 0 {
			// The drain started after the last response went out
			// without Connection: close, so the client may have sent
			// its next request already: give it drainGrace like an idle
			// connection. Closing now would reset that request.
			if !cc.waitGrace(h.nowNS()) {
				return
			}
		} else if cc.enterIdle(h.nowNS(), first) {
			return
		}
		err := cc.in.wait()
		if err == nil {
			err = cc.req.readHead(cc.br)
		} else {
			cc.req.reset() // nothing of a head arrived
		}
		if why := cc.leave(); why != intrNone {
			if err != nil {
				if why == intrHeader && len(cc.req.buf) > 0 {
					cc.writeError(408, "request head not received in time", true)
				}
				return
			}
			if cc.c.SetReadDeadline(time.Time{}) != nil {
				return
			}
			// A full request arrived as we were interrupting: serve it,
			// then close.
		}
		if err != nil {
			switch {
			case errors.Is(err, errHeadTooLarge):
				cc.writeError(431, "request head too large", true)
			case err == io.EOF || isTimeout(err) || isConnClosed(err):
			default:
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					cc.writeError(400, "malformed request", true)
				}
			}
			return
		}
		start := time.Now()
		if err := cc.req.parseRequest(); err != nil {
			switch {
			case errors.Is(err, errUnsupportedTE):
				cc.writeError(501, "unsupported transfer-encoding", true)
			case errors.Is(err, errHeadTooLarge):
				cc.writeError(431, "too many header fields", true)
			default:
				cc.writeError(400, "malformed request", true)
			}
			return
		}
		h.inflight.Add(1)
		keep := cc.serveRequest(start)
		h.inflight.Add(-1)
		if !keep {
			return
		}
	}
}

// ensureWriter takes the response writer from its pool. A connection holds
// one only while it writes a response: thousands of connections that never
// finish a head, wait for their next request or for an upstream's answer
// cost no writer.
func (cc *clientConn) ensureWriter() {
	if cc.bw == nil {
		cc.bw = clientWriterPool.Get().(*bufio.Writer)
		cc.bw.Reset(&cc.wr)
	}
}

// releaseWriter gives the writer back once everything in it was sent.
func (cc *clientConn) releaseWriter() {
	if cc.bw != nil && cc.bw.Buffered() == 0 {
		cc.bw.Reset(nil)
		clientWriterPool.Put(cc.bw)
		cc.bw = nil
	}
}

// writeError sends a small JSON error response. With closeConn the
// connection is closed after it.
func (cc *clientConn) writeError(status int, msg string, closeConn bool) {
	cc.writeSimple(status, jsonHeader, errorBody(status, msg), closeConn)
}

// jsonHeader is the header of the agent's own error answers.
var jsonHeader = []string{"Content-Type", "application/json"}

// appendError appends the JSON error answer to req that writeError sends.
func appendError(b []byte, req *head, status int, msg string, closeConn bool) []byte {
	return appendSimple(b, req, status, jsonHeader, errorBody(status, msg), closeConn)
}

// errorBody is the JSON body of an error response.
func errorBody(status int, msg string) []byte {
	body := make([]byte, 0, 64)
	body = append(body, `{"error":`...)
	body = appendJSONString(body, msg)
	body = append(body, `,"status":`...)
	body = strconv.AppendInt(body, int64(status), 10)
	body = append(body, "}\n"...)
	return body
}

// writeSimple writes a complete response with a fixed body.
func (cc *clientConn) writeSimple(status int, hdr []string, body []byte, closeConn bool) {
	cc.ensureWriter()
	cc.out = appendSimple(cc.out[:0], &cc.req, status, hdr, body, closeConn)
	_, _ = cc.bw.Write(cc.out)
	_ = cc.bw.Flush()
}

// appendSimple appends a complete response with a fixed body to b: the
// answer to req (a HEAD gets the head only) from either engine.
func appendSimple(b []byte, req *head, status int, hdr []string, body []byte, closeConn bool) []byte {
	b = appendStatusLine(b, status, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		b = append(b, hdr[i]...)
		b = append(b, ": "...)
		b = append(b, hdr[i+1]...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n"...)
	if closeConn {
		b = append(b, "Connection: close\r\n"...)
	} else if req.minor == 0 {
		b = append(b, "Connection: keep-alive\r\n"...)
	}
	b = append(b, "\r\n"...)
	if !asciiEqualFold(req.method, "head") {
		b = append(b, body...)
	}
	return b
}

// clientKeepAlive reports whether the connection may serve another request
// after this one.
func (cc *clientConn) clientKeepAlive() bool {
	return !cc.req.connClose && !cc.h.draining.Load()
}

// discardBody consumes a small request body so the connection stays in
// sync after a response that did not need it; large or chunked bodies close
// the connection instead.
func (cc *clientConn) discardBody() bool {
	r := &cc.req
	if r.chunked || r.contentLength > maxBufferedBody || r.expect100 {
		return r.contentLength == 0
	}
	if r.contentLength > 0 {
		cc.enterBody()
		_, err := cc.br.Discard(int(r.contentLength))
		if cc.leave() != intrNone || err != nil {
			return false
		}
	}
	return true
}
