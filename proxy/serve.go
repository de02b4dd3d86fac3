package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// clientConn is one client connection and its reusable per-request state.
type clientConn struct {
	h      *Handler
	c      net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	tls    bool
	remote string

	req    head
	resp   head
	out    []byte // scratch for heads
	body   []byte // buffered request body (replayable)
	logBuf []byte // access log line scratch
	local  LocalRequest

	stateMu     sync.Mutex
	waiting     bool      // blocked reading the next request head
	waitSince   time.Time // when it started waiting
	interrupted bool      // the drain or the idle sweeper woke us
}

// drainGrace is how long an idle keepalive connection may still deliver a
// request once a drain starts. A client may have sent its next request
// just as we decided to close; closing at once would reset it. A request
// that arrives in the grace is served with Connection: close.
const drainGrace = 250 * time.Millisecond

// interruptIfIdle makes a connection that waits for its next request close
// after drainGrace; a connection in the middle of a request is left alone.
func (cc *clientConn) interruptIfIdle() {
	cc.stateMu.Lock()
	if cc.waiting {
		cc.interrupted = true
		_ = cc.c.SetReadDeadline(time.Now().Add(drainGrace))
	}
	cc.stateMu.Unlock()
}

// interruptIfIdleSince closes a connection that has waited for a request
// since before deadline (the keepalive and header timeout).
func (cc *clientConn) interruptIfIdleSince(deadline time.Time) {
	cc.stateMu.Lock()
	if cc.waiting && cc.waitSince.Before(deadline) {
		cc.interrupted = true
		_ = cc.c.SetReadDeadline(aLongTimeAgo)
	}
	cc.stateMu.Unlock()
}

// waitGrace starts waiting for a request that must arrive within
// drainGrace; it reports false when the connection was interrupted
// already.
func (cc *clientConn) waitGrace(now time.Time) bool {
	cc.stateMu.Lock()
	defer cc.stateMu.Unlock()
	if cc.interrupted {
		return false
	}
	cc.waiting, cc.waitSince, cc.interrupted = true, now, true
	_ = cc.c.SetReadDeadline(time.Now().Add(drainGrace))
	return true
}

func (cc *clientConn) setWaiting(w bool, now time.Time) (interrupted bool) {
	cc.stateMu.Lock()
	cc.waiting = w
	cc.waitSince = now
	interrupted = cc.interrupted
	cc.stateMu.Unlock()
	return interrupted
}

// serve runs the request loop until the connection should close.
func (cc *clientConn) serve() {
	h := cc.h
	for {
		if h.draining.Load() && cc.br.Buffered() == 0 {
			// The drain started after the last response went out
			// without Connection: close, so the client may have sent
			// its next request already: give it drainGrace like an idle
			// connection. Closing now would reset that request.
			if !cc.waitGrace(h.clock()) {
				return
			}
		} else if cc.setWaiting(true, h.clock()) {
			// No per-request deadline: Handler.sweep closes connections
			// that wait longer than IdleTimeout, which costs nothing per
			// request.
			return
		}
		err := cc.req.readHead(cc.br)
		if cc.setWaiting(false, time.Time{}) {
			if err != nil || cc.c.SetReadDeadline(time.Time{}) != nil {
				return
			}
			// A full request arrived as we drained: serve it, then close.
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

// writeError sends a small JSON error response. With closeConn the
// connection is closed after it.
func (cc *clientConn) writeError(status int, msg string, closeConn bool) {
	body := make([]byte, 0, 64)
	body = append(body, `{"error":`...)
	body = appendJSONString(body, msg)
	body = append(body, `,"status":`...)
	body = strconv.AppendInt(body, int64(status), 10)
	body = append(body, "}\n"...)
	cc.writeSimple(status, []string{"Content-Type", "application/json"}, body, closeConn)
}

// writeSimple writes a complete response with a fixed body.
func (cc *clientConn) writeSimple(status int, hdr []string, body []byte, closeConn bool) {
	b := appendStatusLine(cc.out[:0], status, nil)
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
	} else if cc.req.minor == 0 {
		b = append(b, "Connection: keep-alive\r\n"...)
	}
	b = append(b, "\r\n"...)
	cc.out = b
	_, _ = cc.bw.Write(b)
	if !asciiEqualFold(cc.req.method, "head") {
		_, _ = cc.bw.Write(body)
	}
	_ = cc.bw.Flush()
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
		if _, err := cc.br.Discard(int(r.contentLength)); err != nil {
			return false
		}
	}
	return true
}
