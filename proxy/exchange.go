package proxy

import (
	"errors"
	"io"
	"time"
)

// exchange sends the request on uc and relays the response to the client.
func (cc *clientConn) exchange(u *Upstream, p *Peer, uc *upConn, start time.Time) (res attemptResult, status int, keep bool, err error) {
	r := &cc.req
	stream := r.chunked || r.contentLength > maxBufferedBody
	cc.out = cc.appendRequestHead(cc.out[:0], p)
	_, _ = uc.bw.Write(cc.out)
	if !stream && len(cc.body) > 0 {
		_, _ = uc.bw.Write(cc.body)
	}
	if stream {
		if r.expect100 {
			_, _ = cc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			if err := cc.bw.Flush(); err != nil {
				uc.close()
				return attemptFatal, 499, false, errClientBody
			}
		}
		_ = cc.c.SetReadDeadline(time.Time{})
		var cerr error
		if r.chunked {
			cerr = copyChunked(uc.bw, cc.br, true)
		} else {
			cerr = copyN(uc.bw, cc.br, r.contentLength)
		}
		if cerr != nil {
			uc.close()
			if isSrcError(cerr) {
				return attemptFatal, 499, false, errClientBody
			}
			return attemptFatal, failStatus(cerr), false, cerr
		}
	}
	if err := uc.bw.Flush(); err != nil {
		uc.close()
		if uc.reused && isConnClosed(err) {
			return attemptRetry, 502, false, &staleError{err}
		}
		return attemptRetry, failStatus(err), false, err
	}

	// Response head, skipping interim 1xx responses (we answered any
	// Expect: 100-continue ourselves).
	_ = uc.SetReadDeadline(time.Now().Add(u.responseTO))
	resp := &cc.resp
	for {
		err = resp.readHead(uc.br)
		if err == nil {
			err = resp.parseResponse()
		}
		if err != nil {
			uc.close()
			if err == io.EOF {
				err = errUpstreamEOF
			}
			if uc.reused && len(resp.buf) == 0 && isConnClosed(err) {
				return attemptRetry, 502, false, &staleError{err}
			}
			return attemptRetry, failStatus(err), false, err
		}
		if resp.status >= 200 || resp.status == 101 {
			break
		}
	}
	// The deadline bounds the wait for the head only: clear it before a
	// body that is not already buffered is streamed. A small response
	// that arrived whole keeps it (one timer update saved per request);
	// the next request on this connection sets a new one anyway.
	if resp.status == 101 || resp.chunked || resp.contentLength < 0 || int64(uc.br.Buffered()) < resp.contentLength {
		_ = uc.SetReadDeadline(time.Time{})
	}
	p.observe(time.Since(start))
	p.requests.Add(1)

	if resp.status == 101 {
		if !r.connUpgrade || r.upgrade == nil {
			uc.close()
			return attemptFatal, 502, false, errors.New("upstream switched protocols without an upgrade request")
		}
		cc.runTunnel(uc)
		return attemptDone, 101, false, nil
	}
	keep, err = cc.relayResponse(u, p, uc)
	return attemptDone, resp.status, keep, err
}

// appendRequestHead renders the request head for the upstream: hop-by-hop
// fields removed, X-Forwarded-* and X-Real-IP set.
func (cc *clientConn) appendRequestHead(b []byte, p *Peer) []byte {
	r := &cc.req
	b = append(b, r.method...)
	b = append(b, ' ')
	b = append(b, r.target...)
	b = append(b, " HTTP/1.1\r\n"...)
	var xff [][]byte
	for _, f := range r.headers {
		if r.hopByHop(f.key) {
			continue
		}
		switch len(f.key) {
		case 9:
			if asciiEqualFold(f.key, "x-real-ip") {
				continue
			}
		case 15:
			if asciiEqualFold(f.key, "x-forwarded-for") {
				xff = append(xff, f.value)
				continue
			}
		case 16:
			if asciiEqualFold(f.key, "x-forwarded-host") {
				continue
			}
		case 17:
			if asciiEqualFold(f.key, "x-forwarded-proto") {
				continue
			}
		}
		b = append(b, f.key...)
		b = append(b, ": "...)
		b = append(b, f.value...)
		b = append(b, "\r\n"...)
	}
	if r.host == nil {
		b = append(b, "Host: "...)
		b = append(b, p.Addr...)
		b = append(b, "\r\n"...)
	} else {
		b = append(b, "X-Forwarded-Host: "...)
		b = append(b, r.host...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "X-Forwarded-For: "...)
	for _, v := range xff {
		b = append(b, v...)
		b = append(b, ", "...)
	}
	b = append(b, cc.remote...)
	b = append(b, "\r\nX-Real-IP: "...)
	b = append(b, cc.remote...)
	if cc.tls {
		b = append(b, "\r\nX-Forwarded-Proto: https\r\n"...)
	} else {
		b = append(b, "\r\nX-Forwarded-Proto: http\r\n"...)
	}
	if r.chunked {
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	if r.connUpgrade && r.upgrade != nil {
		b = append(b, "Connection: Upgrade\r\nUpgrade: "...)
		b = append(b, r.upgrade...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

// body framing of a response towards the client
const (
	frameNone    = iota // no body
	frameLength         // Content-Length, copied as is
	frameChunked        // chunked, passed through
	frameDechunk        // chunked from upstream, raw bytes to an HTTP/1.0 client
	frameRechunk        // close-delimited from upstream, chunked to the client
	frameEOF            // close-delimited to the client too
)

// relayResponse writes the response head and streams the body to the
// client, then returns the upstream connection to the pool when it can be
// reused.
func (cc *clientConn) relayResponse(u *Upstream, p *Peer, uc *upConn) (keep bool, err error) {
	r, resp := &cc.req, &cc.resp
	keep = cc.clientKeepAlive()
	frame := frameLength
	switch {
	case asciiEqualFold(r.method, "head") || resp.status == 204 || resp.status == 304 || resp.status < 200:
		frame = frameNone
	case resp.chunked && r.minor >= 1:
		frame = frameChunked
	case resp.chunked:
		frame, keep = frameDechunk, false
	case resp.contentLength >= 0:
		frame = frameLength
	case r.minor >= 1:
		frame = frameRechunk
	default:
		frame, keep = frameEOF, false
	}
	b := appendStatusLine(cc.out[:0], resp.status, resp.reason)
	b = resp.appendEndToEnd(b)
	if frame == frameChunked || frame == frameRechunk {
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	if !keep {
		b = append(b, "Connection: close\r\n"...)
	} else if r.minor == 0 {
		b = append(b, "Connection: keep-alive\r\n"...)
	}
	b = append(b, "\r\n"...)
	cc.out = b
	if _, err := cc.bw.Write(b); err != nil {
		uc.close()
		return false, err
	}
	reusable := !resp.connClose
	switch frame {
	case frameLength:
		if resp.contentLength > 0 {
			err = copyN(cc.bw, uc.br, resp.contentLength)
		}
	case frameChunked:
		err = copyChunked(cc.bw, uc.br, true)
	case frameDechunk:
		err = copyChunked(cc.bw, uc.br, false)
	case frameRechunk, frameEOF:
		err = copyToEOF(cc.bw, uc.br, frame == frameRechunk)
		reusable = false
	}
	if err != nil {
		uc.close()
		if isSrcError(err) {
			p.passiveFail(time.Now(), err)
		}
		return false, err
	}
	if reusable && u.keepalive > 0 && !u.closed.Load() {
		p.idle.put(uc, u.keepalive, time.Now())
	} else {
		uc.close()
	}
	if err := cc.bw.Flush(); err != nil {
		return false, err
	}
	return keep, nil
}
