package proxy

import (
	"errors"
	"io"
	"strconv"
	"time"
)

// maxInterim bounds the 1xx responses skipped before a final one.
const maxInterim = 32

var errTooManyInterim = errors.New("upstream sent too many 1xx responses")

// exchange sends the request on uc and relays the response to the client.
func (cc *clientConn) exchange(u *Upstream, p *Peer, uc *upConn, start time.Time) (res attemptResult, status int, keep bool, err error) {
	r := &cc.req
	stream := r.chunked || r.contentLength > maxBufferedBody
	// One deadline bounds sending the request and the wait for the head.
	_ = uc.SetDeadline(time.Now().Add(u.responseTO))
	cc.out = cc.appendRequestHead(cc.out[:0], p)
	uc.takeWriter()
	_, _ = uc.bw.Write(cc.out)
	if !stream && len(cc.body) > 0 {
		_, _ = uc.bw.Write(cc.body)
	}
	if stream {
		if st, err := cc.streamBody(u, uc); err != nil {
			return attemptFatal, st, false, err
		}
	}
	if err := uc.bw.Flush(); err != nil {
		uc.close()
		if uc.reused && isConnClosed(err) {
			return attemptRetry, 502, false, &staleError{err}
		}
		return attemptRetry, failStatus(err), false, err
	}
	uc.releaseWriter()
	uc.in.release() // the wait for the response holds no buffer
	if stream {
		// The body may have taken long: the response wait starts now.
		_ = uc.SetReadDeadline(time.Now().Add(u.responseTO))
	}

	// Response head, skipping interim 1xx responses (we answered any
	// Expect: 100-continue ourselves).
	resp := &cc.resp
	for interims := 0; ; interims++ {
		if err = uc.in.wait(); err == nil {
			err = resp.readHead(uc.br)
		} else {
			resp.reset()
		}
		if err == nil {
			err = resp.parseResponse()
		}
		if err == nil && interims > maxInterim {
			err = errTooManyInterim
		}
		if err != nil {
			uc.close()
			if err == io.EOF {
				err = errUpstreamEOF
			}
			if uc.reused && len(resp.buf) == 0 && interims == 0 && isConnClosed(err) {
				return attemptRetry, 502, false, &staleError{err}
			}
			return attemptRetry, failStatus(err), false, err
		}
		if resp.status >= 200 || resp.status == 101 {
			break
		}
	}
	p.observe(time.Since(start))
	p.requests.Add(1)

	if resp.status == 101 {
		if !r.upgradeRequested() || !upgradeOffered(r.upgrade, resp.upgrade) {
			uc.close()
			return attemptFatal, 502, false, errors.New("upstream switched to a protocol the client did not ask for")
		}
		_ = uc.SetReadDeadline(time.Time{})
		cc.runTunnel(uc)
		return attemptDone, 101, false, nil
	}
	// Body reads from now on refresh a read_timeout deadline each; a
	// response that arrived whole costs nothing more.
	uc.readTO = u.readTO
	keep, err = cc.relayResponse(u, p, uc)
	return attemptDone, resp.status, keep, err
}

// upgradeOffered reports whether the protocol a 101 switched to is one the
// request's Upgrade listed.
func upgradeOffered(asked, got []byte) bool {
	found := false
	forEachToken(asked, func(tok []byte) {
		if len(got) > 0 && asciiEqualFold(tok, string(got)) {
			found = true
		}
	})
	return found
}

// streamBody copies a request body too large to buffer (or chunked) from
// the client to the upstream. On failure the upstream connection is closed
// and the status says who failed: 408 (body_timeout), 413 (max_body), 400
// (malformed chunked framing), 499 (the client went away), or a gateway
// status for an upstream that stopped reading.
func (cc *clientConn) streamBody(u *Upstream, uc *upConn) (int, error) {
	r := &cc.req
	if r.expect100 {
		cc.ensureWriter()
		_, _ = cc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		if err := cc.bw.Flush(); err != nil {
			uc.close()
			return 499, errClientBody
		}
	}
	_ = cc.c.SetReadDeadline(time.Time{})
	uc.writeTO = u.readTO // a server that stops reading is cut off too
	cc.enterBody()
	var err error
	if r.chunked {
		err = copyChunked(uc.bw, cc.br, true, cc.lim.MaxBody)
	} else {
		err = copyN(uc.bw, cc.br, r.contentLength)
	}
	why := cc.leave()
	uc.writeTO = 0
	if err == nil {
		return 0, nil
	}
	uc.close()
	switch {
	case !isSrcError(err):
		return failStatus(err), err
	case why == intrBody:
		return 408, errClientBody
	case errors.Is(err, errBodyTooLarge):
		return 413, errClientBody
	case errors.Is(err, errBadFraming):
		return 400, errClientBody
	}
	return 499, errClientBody
}

// body framing of a response towards the client
const (
	frameNone    = iota // no body
	frameLength         // Content-Length, copied as is
	frameChunked        // chunked, re-framed
	frameDechunk        // chunked from upstream, raw bytes to an HTTP/1.0 client
	frameRechunk        // close-delimited from upstream, chunked to the client
	frameEOF            // close-delimited to the client too
)

// responseFrame chooses how the body of resp goes to the client of req,
// and whether the client connection may stay open after it.
func responseFrame(r, resp *head, keep bool) (int, bool) {
	noBody := asciiEqualFold(r.method, "head") || resp.status == 204 || resp.status == 304 || resp.status < 200
	switch {
	case noBody:
		return frameNone, keep
	case resp.chunked && r.minor >= 1:
		return frameChunked, keep
	case resp.chunked:
		return frameDechunk, false
	case resp.contentLength >= 0:
		return frameLength, keep
	case r.minor >= 1:
		return frameRechunk, keep
	}
	return frameEOF, false
}

// appendResponseHead appends the head of resp as the client of r gets it
// with frame: end-to-end fields only, framing written by the agent.
func appendResponseHead(b []byte, r, resp *head, frame int, keep bool) []byte {
	b = appendStatusLine(b, resp.status, resp.reason)
	b = resp.appendEndToEnd(b)
	switch {
	case frame == frameChunked || frame == frameRechunk:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	case frame == frameLength || (frame == frameNone && resp.status >= 200 && resp.status != 204 && resp.contentLength >= 0):
		// A HEAD or 304 answer keeps the length it describes.
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, resp.contentLength, 10)
		b = append(b, "\r\n"...)
	}
	if !keep {
		b = append(b, "Connection: close\r\n"...)
	} else if r.minor == 0 {
		b = append(b, "Connection: keep-alive\r\n"...)
	}
	return append(b, "\r\n"...)
}

// relayResponse writes the response head and streams the body to the
// client, then returns the upstream connection to the pool when it can be
// reused: only when the response was consumed exactly, with no byte left
// beyond its framing.
func (cc *clientConn) relayResponse(u *Upstream, p *Peer, uc *upConn) (keep bool, err error) {
	resp := &cc.resp
	frame, keep := responseFrame(&cc.req, resp, cc.clientKeepAlive())
	cc.out = appendResponseHead(cc.out[:0], &cc.req, resp, frame, keep)
	b := cc.out
	sent := cc.wr.sent
	cc.ensureWriter()
	if _, err := cc.bw.Write(b); err != nil {
		uc.close()
		return false, err
	}
	badTrailers := false
	switch frame {
	case frameLength:
		if resp.contentLength > 0 {
			err = copyN(cc.bw, uc.br, resp.contentLength)
		}
	case frameChunked, frameDechunk:
		err = copyChunkedTrailers(cc.bw, uc.br, frame == frameChunked, 0, true)
		if err == errBadTrailers {
			err, badTrailers = nil, true
		}
	case frameRechunk, frameEOF:
		err = copyToEOF(cc.bw, uc.br, frame == frameRechunk)
	}
	if err != nil {
		uc.close()
		if isSrcError(err) {
			p.passiveFail(time.Now(), err)
			if cc.wr.sent == sent {
				// Not a byte of this response left yet: the client gets
				// a clean 502 instead of a cut connection.
				cc.bw.Reset(&cc.wr)
				cc.writeError(502, "upstream sent a malformed body", true)
				return false, err
			}
		}
		return false, err
	}
	if !badTrailers && reusableAfter(resp, frame, uc) && u.keepalive > 0 && !u.closed.Load() {
		uc.readTO = 0
		// A response without a body that came with bytes after its head
		// may have more on the way: look before the next reuse.
		uc.verify = frame == frameNone
		uc.in.release()
		p.idle.put(uc, u.keepalive, time.Now())
	} else {
		uc.close()
	}
	if err := cc.bw.Flush(); err != nil {
		return false, err
	}
	return keep, nil
}

// keepsConn reports whether a response head allows its connection to be
// reused: the server did not ask to close, and its framing was not
// ambiguous (Content-Length with chunked, chunked in HTTP/1.0).
func (h *head) keepsConn() bool {
	return !h.connClose && !h.bothCLTE && !h.teOnOld
}

// reusableAfter reports whether an upstream connection may carry another
// request once resp was relayed with frame: the server did not ask to
// close, the framing was unambiguous (not Content-Length and chunked
// together, not chunked in HTTP/1.0), the body was delimited by its
// framing (not by the close), and nothing is buffered beyond it: a byte
// there belongs to no request, and the next client would read it as its
// response.
func reusableAfter(resp *head, frame int, uc *upConn) bool {
	switch {
	case !resp.keepsConn():
		return false
	case frame == frameRechunk || frame == frameEOF:
		return false
	case uc.br.Buffered() > 0, uc.unreadPrefix():
		return false
	}
	return true
}
