package proxy

import (
	"time"
)

// Client-side timeouts cost nothing per request: the connection's reader
// and writer record progress with the handler's coarse clock (an atomic
// load and store per system call), and Handler.sweep compares what each
// connection waits for with limits: every few hundred milliseconds. A
// connection past its timeout gets a read or write deadline in the past,
// which wakes the goroutine blocked on it; that goroutine then answers 408
// where an answer is still possible and closes the connection.

// What a client connection is waiting for.
const (
	phaseBusy = iota // the agent itself is working: no client timeout
	phaseIdle        // the next request head
	phaseBody        // more of a request body
)

// Why a connection was interrupted.
const (
	intrNone   = iota
	intrDrain  // the agent drains: idle connections get drainGrace
	intrIdle   // idle_timeout between requests: closed silently
	intrHeader // header_timeout: 408 when part of a head arrived
	intrBody   // body_timeout: 408 when nothing was answered yet
)

// clientReader is the connection as the bufio.Reader sees it: each read
// that returns bytes records the time.
type clientReader struct{ cc *clientConn }

func (r *clientReader) Read(p []byte) (n int, err error) {
	cc := r.cc
	if cc.in.fd >= 0 {
		n, err = cc.in.readRaw(p)
	} else {
		n, err = cc.c.Read(p)
	}
	if n > 0 {
		cc.lastRead.Store(cc.h.now.Load())
	}
	return n, err
}

// clientWriter is the connection as the bufio.Writer sees it: a write in
// progress is visible to the sweeper with the time it started, and sent
// counts what left (so a response that failed before any byte of it went
// out can still become a 502).
type clientWriter struct {
	cc   *clientConn
	sent int64 // bytes written to the connection (the serving goroutine's own)
}

func (w *clientWriter) Write(p []byte) (int, error) {
	cc := w.cc
	cc.writeSince.Store(cc.h.now.Load())
	n, err := cc.c.Write(p)
	cc.writeSince.Store(0)
	w.sent += int64(n)
	return n, err
}

// enterIdle starts waiting for a request head; it reports whether the
// connection was interrupted already (and must close).
func (cc *clientConn) enterIdle(now int64, first bool) (interrupted bool) {
	cc.lastRead.Store(0)
	cc.stateMu.Lock()
	cc.phase, cc.phaseSince, cc.headSeen, cc.first = phaseIdle, now, 0, first
	interrupted = cc.interrupt != intrNone
	cc.stateMu.Unlock()
	return interrupted
}

// leave ends a wait and returns why it was interrupted (intrNone if it
// was not). An interrupted connection serves what it has, then closes.
func (cc *clientConn) leave() int {
	cc.stateMu.Lock()
	cc.phase = phaseBusy
	why := cc.interrupt
	cc.stateMu.Unlock()
	return why
}

// enterBody starts reading a request body.
func (cc *clientConn) enterBody() {
	cc.stateMu.Lock()
	cc.phase, cc.phaseSince = phaseBody, cc.h.now.Load()
	cc.stateMu.Unlock()
}

// checkTimeouts interrupts the connection if what it waits for took longer
// than its limit. now is the coarse clock.
func (cc *clientConn) checkTimeouts(now int64, l *Limits) {
	if ws := cc.writeSince.Load(); ws != 0 && now-ws > int64(l.SendTimeout) {
		// A client that reads nothing for send_timeout: the write fails
		// and the connection closes.
		_ = cc.c.SetWriteDeadline(aLongTimeAgo)
	}
	cc.stateMu.Lock()
	defer cc.stateMu.Unlock()
	// An interrupted connection closes after the request it has; its body
	// (a head that won the race against its deadline) is still bounded.
	if cc.interrupt == intrBody || (cc.interrupt != intrNone && cc.phase != phaseBody) {
		return
	}
	var deadline int64
	why := intrNone
	switch cc.phase {
	case phaseIdle:
		if lr := cc.lastRead.Load(); lr != 0 && cc.headSeen == 0 {
			cc.headSeen = lr // the first sweep that sees part of a head
		}
		switch {
		case cc.first:
			// The first request of a connection has header_timeout
			// from the start (a connection that sends nothing too).
			deadline, why = cc.phaseSince+int64(l.HeaderTimeout), intrHeader
		case cc.headSeen != 0:
			deadline, why = cc.headSeen+int64(l.HeaderTimeout), intrHeader
		default:
			deadline, why = cc.phaseSince+int64(l.IdleTimeout), intrIdle
		}
	case phaseBody:
		last := max(cc.phaseSince, cc.lastRead.Load())
		deadline, why = last+int64(l.BodyTimeout), intrBody
	default:
		return
	}
	if now > deadline {
		cc.interrupt = why
		_ = cc.c.SetReadDeadline(aLongTimeAgo)
	}
}

// interruptIfIdle makes a connection that waits for its next request close
// after drainGrace; a connection in the middle of a request is left alone.
func (cc *clientConn) interruptIfIdle() {
	cc.stateMu.Lock()
	if cc.phase == phaseIdle && cc.interrupt == intrNone {
		cc.interrupt = intrDrain
		_ = cc.c.SetReadDeadline(time.Now().Add(drainGrace))
	}
	cc.stateMu.Unlock()
}

// waitGrace starts waiting for a request that must arrive within
// drainGrace; it reports false when the connection was interrupted
// already.
func (cc *clientConn) waitGrace(now int64) bool {
	cc.lastRead.Store(0)
	cc.stateMu.Lock()
	defer cc.stateMu.Unlock()
	if cc.interrupt != intrNone {
		return false
	}
	cc.phase, cc.phaseSince, cc.headSeen, cc.first, cc.interrupt = phaseIdle, now, 0, false, intrDrain
	_ = cc.c.SetReadDeadline(time.Now().Add(drainGrace))
	return true
}
