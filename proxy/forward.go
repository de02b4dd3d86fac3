package proxy

import (
	"context"
	"errors"
	"io"
	"time"
)

// maxBufferedBody is the largest request body read fully before it is
// forwarded, so that the request can be replayed on another server.
const maxBufferedBody = 64 << 10

var errClientBody = errors.New("client request body")

// outcome of one attempt on one peer.
type attemptResult int

const (
	attemptDone  attemptResult = iota // a response was relayed (or the client failed)
	attemptRetry                      // failed; nothing reached the client; may retry
	attemptFatal                      // failed; may not retry
)

// serveRequest answers the request in cc.req. keep reports whether the
// client connection may carry another request.
func (cc *clientConn) serveRequest(start time.Time) (keep bool) {
	h, r := cc.h, &cc.req
	target := r.target
	path, msg := r.requestPath()
	if msg != "" {
		cc.writeError(400, msg, true)
		return false
	}
	host := hostOnly(r.host)
	e := entry{start: start, remote: cc.remote, method: r.method, host: r.host, target: target}
	t := h.table.Load()
	cc.lim = &t.limits
	if max := cc.lim.MaxBody; max > 0 && r.contentLength > max {
		// Refused before a byte of it is read (nginx's
		// client_max_body_size); the connection closes with the body
		// unread.
		cc.writeError(413, "request body larger than the agent accepts (limits.max_body)", true)
		e.status, e.route = 413, "limit"
		h.Log.write(&e, &cc.logBuf)
		return false
	}

	if h.Local != nil {
		// The request view is reused per connection: no allocation here.
		lq := &cc.local
		if lq.Header == nil {
			lq.Header = cc.reqHeader
		}
		lq.Method, lq.Path, lq.Target, lq.Host, lq.TLS, lq.Remote = r.method, path, target, host, cc.tls, cc.remote
		lr := h.Local(lq)
		if lr != nil {
			keep = cc.clientKeepAlive() && cc.discardBody()
			cc.writeSimple(lr.Status, lr.Header, lr.Body, !keep)
			e.status, e.route = lr.Status, "local"
			h.ctr.local.observe(lr.Status, time.Since(start))
			h.Log.write(&e, &cc.logBuf)
			return keep
		}
	}
	rt := t.match(host, path)
	if rt == nil {
		keep = cc.clientKeepAlive() && cc.discardBody()
		cc.writeError(404, "no route for this host and path", !keep)
		e.status, e.route = 404, "no_route"
		h.ctr.noRoute.observe(404, time.Since(start))
		h.Log.write(&e, &cc.logBuf)
		return keep
	}
	e.route = rt.name
	keep, status := cc.forward(rt.up, &e)
	e.status = status
	rt.stats.observe(status, time.Since(start))
	h.Log.write(&e, &cc.logBuf)
	return keep
}

// requestPath checks what parseRequest leaves to the server: the target
// is a path (origin-form, or "*"), and HTTP/1.1 has a Host. It returns the
// path without the query, or what is wrong. Absolute-form and
// authority-form targets are refused: the agent is not a forward proxy.
func (h *head) requestPath() (path []byte, problem string) {
	path = h.target
	if i := indexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if len(path) == 0 || (path[0] != '/' && !(len(path) == 1 && path[0] == '*')) {
		return nil, "request target must be a path"
	}
	if h.minor >= 1 && h.host == nil {
		return nil, "missing Host header"
	}
	return path, ""
}

// reqHeader returns the first value of a request header; name is matched
// case-insensitively.
func (cc *clientConn) reqHeader(name string) []byte {
	for _, f := range cc.req.headers {
		if asciiEqualFold(f.key, name) {
			return f.value
		}
	}
	return nil
}

func idempotent(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

// forward sends the request to u with retries and relays the response.
func (cc *clientConn) forward(u *Upstream, e *entry) (keep bool, status int) {
	r := &cc.req
	stream := r.chunked || r.contentLength > maxBufferedBody
	cc.body = cc.body[:0]
	if !stream && r.contentLength > 0 {
		if r.expect100 {
			cc.ensureWriter()
			_, _ = cc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			if err := cc.bw.Flush(); err != nil {
				return false, 499
			}
		}
		if cap(cc.body) < int(r.contentLength) {
			cc.body = make([]byte, r.contentLength)
		}
		cc.body = cc.body[:r.contentLength]
		cc.enterBody()
		_, err := io.ReadFull(cc.br, cc.body)
		if why := cc.leave(); err != nil {
			e.err = "reading request body: " + err.Error()
			if why == intrBody {
				cc.writeError(408, "request body not received in time (limits.body_timeout)", true)
				return false, 408
			}
			return false, 499
		}
	}
	if !stream {
		cc.in.release() // the request is read: the upstream's answer is awaited without a read buffer
	}
	replayable := !stream
	idem := idempotent(r.method)
	if u.hold.cur.Load() != nil {
		switch st, msg := cc.hold(u, e, stream); st {
		case 0:
		case 499:
			return false, st
		default:
			keep = cc.clientKeepAlive() && (!stream || cc.discardBody())
			cc.writeHoldError(msg, !keep)
			return keep, st
		}
	}
	now := time.Now()
	var tried uint64
	lastStatus := 503
	for e.attempts < u.tries {
		i := u.pick(now, tried, &cc.cand)
		if i < 0 {
			break
		}
		tried |= 1 << uint(i)
		e.attempts++
		if e.attempts > 1 {
			u.failovers.Add(1)
		}
		p := u.peers[i]
		e.upstream = p.Addr
		res, st, k, err := cc.attempt(u, p, replayable)
		switch res {
		case attemptDone:
			return k, st
		case attemptRetry:
			lastStatus = st
			e.err = err.Error()
			var de *dialError
			if errors.As(err, &de) || (idem && replayable) {
				now = time.Now()
				continue
			}
			// Bytes reached the server and the method is not idempotent
			// (or the body was streamed): do not send it twice.
		case attemptFatal:
			if err != nil {
				e.err = err.Error()
			}
			if st == 499 {
				return false, st
			}
			lastStatus = st
		}
		keep = cc.clientKeepAlive() && !stream
		cc.writeError(st, errorMessage(st), !keep)
		return keep, st
	}
	if e.attempts == 0 {
		e.err = "no live upstream server"
	}
	keep = cc.clientKeepAlive() && (!stream || e.attempts == 0 && cc.discardBody())
	cc.writeError(lastStatus, errorMessage(lastStatus), !keep)
	return keep, lastStatus
}

func errorMessage(status int) string {
	switch status {
	case 502:
		return "upstream refused or reset the connection"
	case 503:
		return "no live upstream server"
	case 504:
		return "upstream timed out"
	}
	return statusText(status)
}

// failStatus maps an attempt's error to the status a client would get.
func failStatus(err error) int {
	if isTimeout(err) {
		return 504
	}
	return 502
}

// attempt tries one peer. A reused keepalive connection that the peer had
// already closed is retried once on a fresh connection to the same peer
// without counting as a try: the peer never saw the request.
func (cc *clientConn) attempt(u *Upstream, p *Peer, replayable bool) (res attemptResult, status int, keep bool, err error) {
	ctx := context.Background()
	fresh := false
	for {
		now := time.Now()
		uc, err := u.acquire(ctx, p, now, fresh, !replayable)
		if err != nil {
			p.passiveFail(now, err)
			return attemptRetry, failStatus(err), false, err
		}
		p.inflight.Add(1)
		res, status, keep, err := cc.exchange(u, p, uc, now)
		p.inflight.Add(-1)
		if res == attemptRetry && uc.reused && !fresh && replayable && errors.Is(err, errStale) {
			p.stale.Add(1)
			fresh = true
			continue
		}
		if res == attemptRetry || (res == attemptFatal && err != nil && !errors.Is(err, errClientBody)) {
			p.passiveFail(time.Now(), err)
		}
		return res, status, keep, err
	}
}

// errStale marks a failure on a reused connection before any response byte.
var errStale = errors.New("stale keepalive connection")

type staleError struct{ err error }

func (e *staleError) Error() string { return e.err.Error() }
func (e *staleError) Unwrap() error { return e.err }
func (e *staleError) Is(target error) bool {
	return target == errStale
}
