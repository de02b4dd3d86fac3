//go:build linux

package proxy

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// What a loop client is doing.
const (
	lcIdle     = iota // waiting for (or parsing) a request head
	lcUpstream        // a request is with an upstream
)

// lclient is a client connection on an event loop.
type lclient struct {
	l       *evLoop
	fd      int
	release func() // the connection limit's slot
	cc      *clientConn
	in      []byte // read and not yet used
	scan    headScan
	out     []byte // to write
	closed  bool

	state      int
	readable   bool  // an edge arrived since the socket was last drained
	eof        bool  // the client closed its side
	first      bool  // no request served yet (header_timeout from the start)
	idleSince  int64 // lcIdle since (loop clock, unix ns)
	headAt     int64 // the first byte of the awaited head arrived
	drainAt    int64 // a drain closes the idle connection at this time
	outAt      int64 // a write has waited since (send_timeout)
	closeAfter bool  // close once out is written
	inflight   bool  // counted in Handler.inflight

	// The request with an upstream.
	start      time.Time
	e          entry
	rt         *route
	u          *Upstream
	up         *lup
	tried      uint64
	fresh      bool
	idem       bool
	lastStatus int
}

func (c *lclient) onEvent(ev uint32) {
	if ev&unix.EPOLLOUT != 0 && len(c.out) > 0 {
		c.flush()
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.readable = true
	}
	c.step()
}

// step serves the requests that are complete, one at a time: a request
// waits until the answer to the previous one is written.
func (c *lclient) step() {
	for !c.closed && c.state == lcIdle && len(c.out) == 0 {
		if c.readable && len(c.in) <= maxHeadBytes {
			full, eof, err := c.l.readFD(c.fd, &c.in, maxHeadBytes+1)
			if err != nil {
				c.close()
				return
			}
			c.readable = full // the buffer filled: more may wait
			c.eof = c.eof || eof
		}
		start, end, ok := c.scan.find(c.in)
		if !ok {
			switch {
			case len(c.in)-start > maxHeadBytes:
				c.cc.req.reset()
				c.fail(431, "request head too large")
			case c.eof:
				c.close()
			case len(c.in) > start && c.headAt == 0:
				c.headAt = c.l.nowNS
			}
			if len(c.in) == start && start > 0 {
				c.in = c.l.keepBuf(c.in[:0]) // only blank lines
				c.scan.reset()
			}
			return
		}
		c.request(start, end)
	}
}

// resume goes on with the requests the client sent meanwhile, once the
// one with an upstream was answered (from an upstream's event or the
// sweep: nothing else would look at them).
func (c *lclient) resume() {
	if !c.closed && c.state == lcIdle {
		c.step()
	}
}

// fail answers an error that closes the connection.
func (c *lclient) fail(status int, msg string) {
	c.out = appendError(c.out, &c.cc.req, status, msg, true)
	c.closeAfter = true
	c.flush()
}

// request takes the head in c.in[start:end] and serves it.
func (c *lclient) request(start, end int) {
	cc := c.cc
	r := &cc.req
	r.reset()
	r.buf = append(r.buf, c.in[start:end]...)
	c.in = c.in[:copy(c.in, c.in[end:])]
	c.in = c.l.keepBuf(c.in)
	c.scan.reset()
	c.headAt = 0
	c.start = time.Now()
	if err := r.parseRequest(); err != nil {
		switch {
		case errors.Is(err, errUnsupportedTE):
			c.fail(501, "unsupported transfer-encoding")
		case errors.Is(err, errHeadTooLarge):
			c.fail(431, "too many header fields")
		default:
			c.fail(400, "malformed request")
		}
		return
	}
	switch {
	case r.chunked || r.contentLength > 0 || r.expect100:
		c.handoff(handoffBody)
		return
	case r.upgradeRequested():
		c.handoff(handoffUpgrade)
		return
	}
	h := c.l.h
	path, msg := r.requestPath()
	if msg != "" {
		c.fail(400, msg)
		return
	}
	t := h.table.Load()
	cc.lim = &t.limits
	c.e = entry{start: c.start, remote: cc.remote, method: r.method, host: r.host, target: r.target}
	if h.Local != nil {
		lq := &cc.local
		if lq.Header == nil {
			lq.Header = cc.reqHeader
		}
		lq.Method, lq.Path, lq.Target, lq.Host, lq.TLS, lq.Remote = r.method, path, r.target, hostOnly(r.host), false, cc.remote
		if lr := h.Local(lq); lr != nil {
			c.begin()
			keep := cc.clientKeepAlive()
			c.out = appendSimple(c.out, r, lr.Status, lr.Header, lr.Body, !keep)
			c.e.status, c.e.route = lr.Status, "local"
			h.ctr.local.observe(lr.Status, time.Since(c.start))
			c.finish(keep)
			return
		}
	}
	rt := t.match(hostOnly(r.host), path)
	if rt == nil {
		c.begin()
		keep := cc.clientKeepAlive()
		c.out = appendError(c.out, r, 404, "no route for this host and path", !keep)
		c.e.status, c.e.route = 404, "no_route"
		h.ctr.noRoute.observe(404, time.Since(c.start))
		c.finish(keep)
		return
	}
	u := rt.up
	if u.tlsConfig != nil || u.keepalive <= 0 || u.hold.cur.Load() != nil {
		c.handoff(handoffUpstream)
		return
	}
	c.begin()
	c.rt, c.u = rt, u
	c.e.route = rt.name
	c.state = lcUpstream
	c.tried, c.idem, c.lastStatus = 0, idempotent(r.method), 503
	c.next()
}

// begin counts the request in flight (Handler.Wait).
func (c *lclient) begin() {
	c.inflight = true
	c.l.h.inflight.Add(1)
	c.first = false
}

// finish ends the request whose answer is in c.out: the access log line,
// then the write.
func (c *lclient) finish(keep bool) {
	c.l.h.lctr.requests.Add(1)
	c.l.h.Log.write(&c.e, &c.cc.logBuf)
	c.state = lcIdle
	c.idleSince = c.l.nowNS
	c.rt, c.u, c.up = nil, nil, nil
	if !keep {
		c.closeAfter = true
	}
	c.flush()
}

// next tries the next server, as forward does: up to the upstream's tries,
// each server once.
func (c *lclient) next() {
	u, e := c.u, &c.e
	if e.attempts >= u.tries {
		c.giveUp()
		return
	}
	i := u.pick(time.Now(), c.tried, &c.cc.cand)
	if i < 0 {
		c.giveUp()
		return
	}
	c.tried |= 1 << uint(i)
	e.attempts++
	if e.attempts > 1 {
		u.failovers.Add(1)
	}
	p := u.peers[i]
	e.upstream = p.Addr
	c.fresh = false
	c.try(p)
}

// try sends the request to p on an idle connection, or a new one.
func (c *lclient) try(p *Peer) {
	var up *lup
	if !c.fresh {
		up = c.l.idleGet(p, c.u)
	}
	if up == nil {
		var err error
		if up, err = c.l.dial(p, c.u); err != nil {
			err = &dialError{err}
			p.passiveFail(time.Now(), err)
			c.lastStatus, c.e.err = failStatus(err), err.Error()
			c.next()
			return
		}
	}
	p.inflight.Add(1)
	c.up, up.c = up, c
	up.u = c.u // a peer kept across a reload serves the new upstream
	up.gotHead, up.interims, up.verify = false, 0, false
	up.scan.reset()
	up.out = c.cc.appendRequestHead(up.out[:0], p)
	if up.connecting {
		up.deadline = c.l.nowNS + int64(c.u.connectTO)
		return
	}
	up.deadline = c.l.nowNS + int64(c.u.responseTO)
	up.flush()
}

// giveUp answers with the last failure once no server is left to try.
func (c *lclient) giveUp() {
	if c.e.attempts == 0 {
		c.e.err = "no live upstream server"
	}
	c.answerError(c.lastStatus)
}

// answerError answers the request with a gateway error.
func (c *lclient) answerError(status int) {
	keep := c.cc.clientKeepAlive()
	c.out = appendError(c.out, &c.cc.req, status, errorMessage(status), !keep)
	c.e.status = status
	c.rt.stats.observe(status, time.Since(c.start))
	c.finish(keep)
}

// attemptFailed handles a failure on up before a response reached the
// client, with forward's rules: a stale keepalive connection is replayed
// once on a new one, a connect failure or an idempotent request goes to
// the next server, anything else is answered.
func (c *lclient) attemptFailed(up *lup, err error) {
	p := up.p
	up.close()
	c.up = nil
	p.inflight.Add(-1)
	if up.reused && !c.fresh && errors.Is(err, errStale) {
		p.stale.Add(1)
		c.fresh = true
		c.try(p)
		return
	}
	p.passiveFail(time.Now(), err)
	c.lastStatus, c.e.err = failStatus(err), err.Error()
	var de *dialError
	if errors.As(err, &de) || c.idem {
		c.next()
		return
	}
	c.answerError(c.lastStatus)
}

// flush writes what c.out holds; the rest waits for EPOLLOUT.
func (c *lclient) flush() {
	if c.closed {
		return
	}
	n, err := writeFD(c.fd, c.out)
	if err != nil {
		c.close()
		return
	}
	c.out = c.out[:copy(c.out, c.out[n:])]
	if len(c.out) > 0 {
		if c.outAt == 0 {
			c.outAt = c.l.nowNS
		}
		return
	}
	c.outAt = 0
	if cap(c.out) > 2*loopMaxBody {
		c.out = nil
	}
	if up := c.up; up != nil {
		// In the middle of a response body: read the server again if it
		// waited for the client.
		if up.paused {
			up.response()
		}
		return
	}
	if c.inflight {
		c.inflight = false
		c.l.h.inflight.Add(-1)
	}
	if c.closeAfter {
		c.close()
	}
}

// close closes the connection and whatever it holds.
func (c *lclient) close() {
	if c.closed {
		return
	}
	if c.up != nil {
		c.up.p.inflight.Add(-1)
		c.up.close()
		c.up = nil
	}
	c.l.closeFD(c.fd)
	c.closeNow()
}

// closeNow releases what the connection holds once its socket is gone.
func (c *lclient) closeNow() {
	c.closed = true
	delete(c.l.clients, c)
	if c.inflight {
		c.inflight = false
		c.l.h.inflight.Add(-1)
	}
	c.l.h.conns.Add(-1)
	if c.release != nil {
		c.release()
	}
	c.in = c.l.keepBuf(c.in[:0])
	c.dropCC()
}

func (c *lclient) dropCC() {
	if cc := c.cc; cc != nil {
		cc.h, cc.lim = nil, nil
		clientConnPool.Put(cc)
		c.cc = nil
	}
}

// detach takes the connection off the loop: its socket becomes a net.Conn
// (with release) for the goroutine engine, c.in goes ahead of it.
func (c *lclient) detach(prefix []byte) (*prefixConn, error) {
	c.l.forget(c.fd)
	c.closed = true
	delete(c.l.clients, c)
	nc, err := fdConn(c.fd, "client")
	if err != nil {
		c.l.h.conns.Add(-1)
		if c.release != nil {
			c.release()
		}
		return nil, err
	}
	if c.release != nil {
		nc = &releaseConn{Conn: nc, release: c.release}
	}
	c.l.h.conns.Add(-1) // serveOn counts it again
	return &prefixConn{Conn: nc, prefix: prefix}, nil
}

// handoff gives the connection to the goroutine engine with the head it
// sent and what followed, to be served from the start of that request.
func (c *lclient) handoff(why int) {
	c.l.h.lctr.handoffs[why].Add(1)
	prefix := append(append([]byte(nil), c.cc.req.buf...), c.in...)
	c.in = c.l.keepBuf(c.in[:0])
	conn, err := c.detach(prefix)
	cc := c.cc
	c.cc = nil
	if err != nil {
		c.cc = cc
		c.dropCC()
		return
	}
	cc.req.reset()
	go c.l.h.serveOn(cc, conn, false, cc.remote, nil)
}

// handoffResponse gives the client and up to the goroutine engine to relay
// a response the loop does not buffer (chunked, close-delimited, large).
func (c *lclient) handoffResponse(up *lup, rest []byte) {
	l, h := c.l, c.l.h
	h.lctr.handoffs[handoffResponse].Add(1)
	pending := append([]byte(nil), c.in...)
	c.in = l.keepBuf(c.in[:0])
	l.forget(up.fd)
	up.closed = true
	unc, uerr := fdConn(up.fd, "upstream")
	conn, err := c.detach(pending)
	cc, u, p, rt, e, start := c.cc, c.u, up.p, c.rt, c.e, c.start
	c.cc, c.up = nil, nil
	if err != nil || uerr != nil {
		p.inflight.Add(-1)
		if unc != nil {
			_ = unc.Close()
		}
		if conn != nil {
			_ = conn.Close()
		}
		if c.inflight {
			c.inflight = false
			h.inflight.Add(-1)
		}
		c.cc = cc
		c.dropCC()
		return
	}
	uc := newUpConn(&prefixConn{Conn: unc, prefix: append([]byte(nil), rest...)}, p)
	if len(rest) > 0 {
		// In the reader, as they would be for the goroutine engine: a
		// body that is bad from its first byte still gets a clean 502.
		_, _ = uc.br.Peek(min(len(rest), uc.br.Size()))
	}
	uc.reused = up.reused
	uc.readTO = u.readTO
	counted := c.inflight
	c.inflight = false
	go h.serveOn(cc, conn, false, cc.remote, func(cc *clientConn) bool {
		keep, _ := cc.relayResponse(u, p, uc)
		p.inflight.Add(-1)
		e.status = cc.resp.status
		rt.stats.observe(e.status, time.Since(start))
		h.Log.write(&e, &cc.logBuf)
		if counted {
			h.inflight.Add(-1)
		}
		return keep
	})
}

// checkTimeouts is the sweeper's check (timeouts.go) for a loop client.
func (c *lclient) checkTimeouts(now int64, lim *Limits, draining bool) {
	if c.closed {
		return
	}
	if c.outAt != 0 && now-c.outAt > int64(lim.SendTimeout) {
		c.close()
		return
	}
	if up := c.up; up != nil {
		if up.deadline != 0 && now > up.deadline {
			err := error(fmt.Errorf("%w", os.ErrDeadlineExceeded))
			if up.connecting {
				err = &dialError{err}
			}
			if up.gotHead {
				up.bodyFailed(err) // the head was read: the body stalled
			} else {
				c.attemptFailed(up, err)
			}
			c.resume()
		}
		return
	}
	if c.state != lcIdle || len(c.out) > 0 {
		return
	}
	if draining && len(c.in) == 0 {
		if c.drainAt == 0 {
			c.drainAt = now + int64(drainGrace)
		} else if now > c.drainAt {
			c.close()
			return
		}
	}
	var deadline int64
	header := true
	switch {
	case c.first:
		deadline = c.idleSince + int64(lim.HeaderTimeout)
	case c.headAt != 0:
		deadline = c.headAt + int64(lim.HeaderTimeout)
	default:
		deadline, header = c.idleSince+int64(lim.IdleTimeout), false
	}
	if now <= deadline {
		return
	}
	if header && len(c.in) > 0 {
		c.cc.req.reset()
		c.fail(408, "request head not received in time")
		return
	}
	c.close()
}

// lup is an upstream connection on an event loop.
type lup struct {
	l          *evLoop
	fd         int
	p          *Peer
	u          *Upstream
	c          *lclient // the client whose request it carries; nil while idle
	in, out    []byte
	scan       headScan
	connecting bool
	reused     bool
	verify     bool // look for unexpected bytes before reuse
	closed     bool
	idleSince  int64 // in the idle pool since (loop clock)
	deadline   int64 // connect, response or body read deadline; 0 none
	gotHead    bool  // the final response head was parsed
	interims   int
	frame      int   // the response's framing towards the client
	keep       bool  // the client connection stays open after it
	remaining  int64 // body bytes still to relay
	dirty      bool  // bytes beyond the response arrived: never reused
	readable   bool  // an edge arrived since the socket was last drained
	paused     bool  // not read while the client is behind
}

func (up *lup) close() {
	if up.closed {
		return
	}
	up.closed = true
	up.l.closeFD(up.fd)
	up.in = up.l.keepBuf(up.in[:0])
}

// peerSent reports whether an idle connection has bytes or a close waiting
// (one non-blocking MSG_PEEK), as peerClosed does for the goroutine engine.
func (up *lup) peerSent() bool {
	var b [1]byte
	_, _, err := unix.Recvfrom(up.fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return err != unix.EAGAIN // bytes, a FIN (0, nil) or an error
}

func (up *lup) onEvent(ev uint32) {
	c := up.c
	if c != nil {
		defer c.resume()
	}
	if c == nil {
		// Idle: bytes or a close from the server make it unusable.
		if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			up.close()
		}
		return
	}
	if up.connecting {
		if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		if e, err := unix.GetsockoptInt(up.fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || e != 0 {
			if err == nil {
				err = syscall.Errno(e)
			}
			c.attemptFailed(up, &dialError{os.NewSyscallError("connect", err)})
			return
		}
		up.connecting = false
		up.deadline = up.l.nowNS + int64(up.u.responseTO)
	}
	if len(up.out) > 0 {
		if !up.flush() {
			return
		}
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		up.readable = true
		up.response()
	}
}

// flush writes the request; false when the attempt failed.
func (up *lup) flush() bool {
	n, err := writeFD(up.fd, up.out)
	if err != nil {
		if up.reused && isConnClosed(err) {
			err = &staleError{err}
		}
		up.c.attemptFailed(up, err)
		return false
	}
	up.out = up.out[:copy(up.out, up.out[n:])]
	return true
}

// response reads the response: the head is parsed whole, then the body
// (Content-Length framed or none) is relayed as it arrives. While the
// client has loopMaxBody unwritten the server is not read (the socket
// stays readable: flush comes back here).
func (up *lup) response() {
	for up.readable && up.c != nil && !up.closed {
		if !up.gotHead {
			if !up.readHead() {
				return
			}
			continue
		}
		if len(up.c.out) > loopMaxBody {
			up.paused = true
			return
		}
		up.paused = false
		full, eof, err := up.l.readFD(up.fd, &up.in, loopMaxBody)
		up.readable = full
		up.relayBody(eof, err)
	}
}

// readHead reads until the final response head is parsed and the answer
// started; false when the exchange ended or waits for more.
func (up *lup) readHead() bool {
	c := up.c
	full, eof, err := up.l.readFD(up.fd, &up.in, maxHeadBytes+1)
	up.readable = full
	resp := &c.cc.resp
	for {
		start, end, ok := up.scan.find(up.in)
		if !ok {
			switch {
			case len(up.in)-start > maxHeadBytes:
				err = errHeadTooLarge
			case err == nil && eof:
				err = errUpstreamEOF
			}
			if err != nil {
				if up.reused && len(up.in) == 0 && up.interims == 0 && isConnClosed(err) {
					err = &staleError{err}
				}
				c.attemptFailed(up, err)
			}
			return false
		}
		resp.reset()
		resp.buf = append(resp.buf, up.in[start:end]...)
		if perr := resp.parseResponse(); perr != nil {
			c.attemptFailed(up, perr)
			return false
		}
		up.in = up.in[:copy(up.in, up.in[end:])]
		up.scan.reset()
		if resp.status >= 200 || resp.status == 101 {
			break
		}
		if up.interims++; up.interims > maxInterim {
			c.attemptFailed(up, errTooManyInterim)
			return false
		}
	}
	p := up.p
	p.observe(time.Since(c.start))
	p.requests.Add(1)
	if resp.status == 101 {
		// The request asked for no upgrade (those are handed over).
		up.close()
		c.up = nil
		p.inflight.Add(-1)
		err := errors.New("upstream switched to a protocol the client did not ask for")
		p.passiveFail(time.Now(), err)
		c.e.err = err.Error()
		c.answerError(502)
		return false
	}
	frame, keep := responseFrame(&c.cc.req, resp, c.cc.clientKeepAlive())
	if frame != frameNone && frame != frameLength {
		c.handoffResponse(up, up.in)
		return false
	}
	up.gotHead = true
	up.frame, up.keep = frame, keep
	up.remaining = 0
	if frame == frameLength {
		up.remaining = resp.contentLength
	}
	c.out = appendResponseHead(c.out, &c.cc.req, resp, frame, keep)
	if up.u.readTO > 0 {
		// From the head on, each read gets read_timeout (otherwise the
		// response_timeout deadline stands, as in the goroutine engine).
		up.deadline = up.l.nowNS + int64(up.u.readTO)
	}
	up.relayBody(eof, err)
	return up.c != nil
}

// relayBody moves what up.in holds of the body to the client and ends the
// exchange when the body is complete or cannot be.
func (up *lup) relayBody(eof bool, err error) {
	c := up.c
	if n := int64(len(up.in)); n > 0 {
		take := min(n, up.remaining)
		c.out = append(c.out, up.in[:take]...)
		up.remaining -= take
		if take < n {
			up.dirty = true // bytes beyond the framing: never reused
		}
		up.in = up.l.keepBuf(up.in[:0])
		if up.u.readTO > 0 {
			up.deadline = up.l.nowNS + int64(up.u.readTO)
		}
	}
	if up.remaining > 0 {
		if err != nil || eof {
			if err == nil {
				err = errUpstreamEOF
			}
			up.bodyFailed(err)
			return
		}
		c.flush()
		return
	}
	resp := &c.cc.resp
	reuse := !up.dirty && err == nil && !eof && resp.keepsConn() &&
		up.u.keepalive > 0 && !up.u.closed.Load()
	p := up.p
	up.c, c.up = nil, nil
	up.deadline, up.gotHead, up.dirty, up.paused = 0, false, false, false
	p.inflight.Add(-1)
	if reuse {
		// A response without a body may have more on the way: look
		// before the next reuse.
		up.verify = up.frame == frameNone
		up.l.idlePut(up)
	} else {
		up.close()
	}
	c.e.status = resp.status
	c.rt.stats.observe(resp.status, time.Since(c.start))
	c.finish(up.keep)
}

// bodyFailed ends an exchange whose response body stopped short: the
// server is marked, the client gets what arrived and the connection
// closes, as relayResponse does.
func (up *lup) bodyFailed(err error) {
	c := up.c
	p := up.p
	up.close()
	c.up = nil
	p.inflight.Add(-1)
	p.passiveFail(time.Now(), srcErr(err))
	c.e.err = err.Error()
	c.e.status = c.cc.resp.status
	c.rt.stats.observe(c.e.status, time.Since(c.start))
	c.finish(false)
}
