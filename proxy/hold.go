package proxy

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Holding (pause and resume): while an upstream is paused, a request that
// would go to it waits at the point where it picks its server, so a
// backend restart fails nothing. Requests already sent are not affected.
// Resume releases every held request at once. A pause ends by itself after
// its timeout, and the requests still held then get 503 with Retry-After;
// so do those beyond the queue cap. A held request whose client closes the
// connection leaves the queue at once.
//
// The gate costs one atomic load per request while no pause is active.
// It belongs to the upstream's name: a reload keeps it (and its held
// requests). It applies to HTTP requests only; L4 streams are not held.

// Hold defaults.
const (
	// DefaultHoldTimeout bounds a pause when none is given.
	DefaultHoldTimeout = 30 * time.Second
	// DefaultMaxHeld caps the requests held per upstream.
	DefaultMaxHeld = 4096
	// HoldCheckInterval is how often the health of a paused upstream is
	// checked while it waits to resume on a passing check.
	HoldCheckInterval = 100 * time.Millisecond
	// holdCheckTimeout bounds one such check for upstreams without
	// health: (a TCP connect).
	holdCheckTimeout = time.Second
	// holdRetryAfter is the Retry-After of a 503 from the gate, seconds.
	holdRetryAfter = "1"
)

// How a paused upstream resumes by itself (besides its timeout).
const (
	resumeManual    int32 = iota // only Resume
	resumeAfterDown              // the first passing check after a failing one
	resumeHealthy                // the first passing check
)

// How a pause ended.
const (
	EndResumed = "resumed" // Resume
	EndHealthy = "healthy" // a health check passed
	EndExpired = "expired" // its timeout passed: held requests got 503
)

// HoldOptions configure a pause.
type HoldOptions struct {
	// Timeout ends the pause by itself (DefaultHoldTimeout when 0).
	Timeout time.Duration
	// MaxHeld caps the requests waiting (DefaultMaxHeld when 0).
	MaxHeld int
	// ResumeWhenHealthy checks the upstream every HoldCheckInterval and
	// resumes at the first passing check after one failed: the backend
	// went away and came back.
	ResumeWhenHealthy bool
}

// ErrUnknownUpstream is returned for a name the table does not have.
var ErrUnknownUpstream = errors.New("unknown upstream")

// holdGate is one upstream's pause state, shared by the Upstreams of
// successive tables.
type holdGate struct {
	cur atomic.Pointer[pause] // nil: not paused (the hot path's only load)

	mu   sync.Mutex // pause and end
	last *pause

	// Totals for metrics.
	pauses, released, full, expired, gone atomic.Uint64
}

// pause is one pause of an upstream; its release channel is closed when it
// ends.
type pause struct {
	since    time.Time
	timeout  atomic.Int64 // from since, ns
	max      atomic.Int64
	release  chan struct{}
	timer    *time.Timer
	resume   atomic.Int32
	watching atomic.Bool
	sawDown  atomic.Bool
	waiting  atomic.Int64

	held, released, rejected, gone atomic.Uint64

	// Set once under holdGate.mu before release closes.
	ended    string
	duration time.Duration
}

// HoldStatus is an upstream's pause as shown by /status: set while it is
// paused or once it was.
type HoldStatus struct {
	Paused bool `json:"paused"`
	// While paused: when it started, for how long, the bound, how it
	// resumes by itself (manual, healthy_after_down, healthy), the
	// requests held now and the cap.
	Since     *time.Time `json:"since,omitempty"`
	PausedMS  int64      `json:"paused_ms,omitempty"`
	TimeoutMS int64      `json:"timeout_ms,omitempty"`
	Resume    string     `json:"resume,omitempty"`
	Held      int64      `json:"held"`
	MaxHeld   int        `json:"max_held,omitempty"`
	// Inflight is the requests being served by the upstream's servers.
	Inflight int64 `json:"inflight"`
	// Last is the pause that ended last.
	Last *PauseRecord `json:"last,omitempty"`
}

// PauseRecord is what one finished pause did.
type PauseRecord struct {
	Upstream   string    `json:"upstream"`
	Started    time.Time `json:"started"`
	DurationMS int64     `json:"duration_ms"`
	// Ended is resumed, healthy or expired.
	Ended string `json:"ended"`
	// Held requests waited; Released went on to the upstream; Rejected
	// got 503 (queue full or expired); ClientGone closed while held.
	Held       uint64 `json:"held"`
	Released   uint64 `json:"released"`
	Rejected   uint64 `json:"rejected"`
	ClientGone uint64 `json:"client_gone"`
}

// settle waits (up to a second) until every request the ended pause held
// has counted how it went on, so that its record adds up.
func (p *pause) settle() {
	for i := 0; i < 1000 && p.waiting.Load() > 0; i++ {
		time.Sleep(time.Millisecond)
	}
}

func (p *pause) record(name string) *PauseRecord {
	return &PauseRecord{Upstream: name, Started: p.since.UTC(), DurationMS: p.duration.Milliseconds(), Ended: p.ended,
		Held: p.held.Load(), Released: p.released.Load(), Rejected: p.rejected.Load(), ClientGone: p.gone.Load()}
}

// start pauses the gate, or updates a pause in progress (a new timeout
// from now, the new cap and resume mode; held requests keep waiting).
func (g *holdGate) start(o HoldOptions, expire func(*pause)) *pause {
	if o.Timeout <= 0 {
		o.Timeout = DefaultHoldTimeout
	}
	if o.MaxHeld <= 0 {
		o.MaxHeld = DefaultMaxHeld
	}
	mode := resumeManual
	if o.ResumeWhenHealthy {
		mode = resumeAfterDown
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.cur.Load()
	if p == nil {
		p = &pause{since: time.Now(), release: make(chan struct{})}
		g.pauses.Add(1)
	} else {
		p.timer.Stop()
	}
	p.timeout.Store(int64(time.Since(p.since) + o.Timeout))
	p.max.Store(int64(o.MaxHeld))
	p.resume.Store(mode)
	p.timer = time.AfterFunc(o.Timeout, func() { expire(p) })
	g.cur.Store(p)
	return p
}

// end finishes p (if it is still the gate's pause) and releases its held
// requests; with EndExpired they get 503. It reports whether it ended p.
func (g *holdGate) end(p *pause, how string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cur.Load() != p {
		return false
	}
	g.cur.Store(nil)
	p.timer.Stop()
	p.ended, p.duration = how, time.Since(p.since)
	close(p.release)
	g.last = p
	return true
}

func (g *holdGate) status(u *Upstream, now time.Time) *HoldStatus {
	g.mu.Lock()
	p, last := g.cur.Load(), g.last
	g.mu.Unlock()
	if p == nil && last == nil {
		return nil
	}
	s := &HoldStatus{Paused: p != nil}
	for _, pr := range u.peers {
		s.Inflight += pr.inflight.Load()
	}
	if p != nil {
		since := p.since.UTC()
		s.Since, s.PausedMS, s.TimeoutMS = &since, now.Sub(p.since).Milliseconds(), time.Duration(p.timeout.Load()).Milliseconds()
		s.Resume = [...]string{"manual", "healthy_after_down", "healthy"}[p.resume.Load()]
		s.Held, s.MaxHeld = p.waiting.Load(), int(p.max.Load())
	}
	if last != nil {
		s.Last = last.record(u.Name)
	}
	return s
}

// Answers of the gate to the client.
const (
	msgHoldFull    = "upstream paused for a restart and its queue is full; retry shortly"
	msgHoldExpired = "upstream paused for a restart longer than the agent holds requests; retry shortly"
)

// hold makes a request wait while u is paused. It returns 0 when the
// request may go on, or the status to answer (503, or 499 when the client
// went away) with what happened in e.err.
func (cc *clientConn) hold(u *Upstream, e *entry, stream bool) (status int, msg string) {
	g := u.hold
	p := g.cur.Load()
	if p == nil {
		return 0, ""
	}
	if n, max := p.waiting.Add(1), p.max.Load(); n > max {
		p.waiting.Add(-1)
		p.rejected.Add(1)
		g.full.Add(1)
		e.err = fmt.Sprintf("upstream %s is paused and already holds %d requests (the cap)", u.Name, max)
		return 503, msgHoldFull
	}
	p.held.Add(1)
	defer p.waiting.Add(-1)
	gone := cc.watchGone(stream)
	for gone != nil {
		select {
		case <-p.release:
			if cc.stopWatch(gone) {
				return heldGone(g, p, e), ""
			}
			gone = nil
		case v := <-gone:
			if v {
				return heldGone(g, p, e), ""
			}
			gone = nil // the client sent more (a next request): it is there
		}
	}
	<-p.release
	if p.ended == EndExpired {
		p.rejected.Add(1)
		g.expired.Add(1)
		e.err = fmt.Sprintf("upstream %s stayed paused past its hold timeout (%s)", u.Name, time.Duration(p.timeout.Load()).Round(time.Millisecond))
		return 503, msgHoldExpired
	}
	p.released.Add(1)
	g.released.Add(1)
	return 0, ""
}

func heldGone(g *holdGate, p *pause, e *entry) int {
	p.gone.Add(1)
	g.gone.Add(1)
	e.err = "the client closed the connection while the request was held"
	return 499
}

// watchGone returns a channel that yields once the client closes the
// connection (nil when that cannot be seen: a request body still unread,
// or a next request already buffered). A plain socket is watched with a
// MSG_PEEK read in the netpoller, which neither takes nor touches the
// read buffer; any other connection (TLS, the pipes HTTP/2 streams are
// bridged through) by peeking through its reader, whose buffer holds
// nothing the request still uses (readHead copies the head into head.buf,
// the buffered body is in cc.body). Nothing the client sends is lost.
func (cc *clientConn) watchGone(stream bool) chan bool {
	r := &cc.req
	if (stream && (r.chunked || r.contentLength > 0)) || (cc.br != nil && cc.br.Buffered() > 0) {
		return nil
	}
	ch := make(chan bool, 1)
	if sc, ok := cc.c.(syscall.Conn); ok {
		rc, err := sc.SyscallConn()
		if err != nil {
			return nil
		}
		go func() { ch <- peekGone(rc) }()
		return ch
	}
	if cc.br == nil {
		return nil
	}
	go func() {
		_, err := cc.br.Peek(1)
		ch <- err != nil && !isTimeout(err)
	}()
	return ch
}

// peekGone waits until the socket is readable and reports whether that
// is the client's close (EOF or an error) rather than bytes; a deadline
// (stopWatch) ends the wait with false.
func peekGone(rc syscall.RawConn) bool {
	gone := false
	err := rc.Read(func(fd uintptr) bool {
		var b [1]byte
		for {
			n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
				return false // nothing yet: wait for readability
			case err != nil || n == 0:
				gone = true // reset, or FIN
			}
			return true // bytes (a next request): the client is there
		}
	})
	return gone || err != nil && !isTimeout(err)
}

// stopWatch ends a watchGone and reports whether the client went away.
func (cc *clientConn) stopWatch(ch chan bool) bool {
	if ch == nil {
		return false
	}
	select {
	case gone := <-ch:
		return gone
	default:
	}
	_ = cc.c.SetReadDeadline(aLongTimeAgo)
	gone := <-ch
	_ = cc.c.SetReadDeadline(time.Time{})
	return gone
}

// writeHoldError answers a request the gate refused: 503 with Retry-After.
func (cc *clientConn) writeHoldError(msg string, closeConn bool) {
	cc.writeSimple(503, []string{"Content-Type", "application/json", "Retry-After", holdRetryAfter}, errorBody(503, msg), closeConn)
}

// writeHoldMetrics renders the gate's gauges and counters.
func writeHoldMetrics(w interface {
	WriteString(string) (int, error)
}, t *Table, names []string) {
	line := func(s string) { _, _ = w.WriteString(s + "\n") }
	line("# HELP edgectl_upstream_paused Whether the upstream is paused (requests to it are held).")
	line("# TYPE edgectl_upstream_paused gauge")
	for _, n := range names {
		g, v := t.Upstreams[n].hold, "0"
		if p := g.cur.Load(); p != nil {
			v = "1"
		}
		line("edgectl_upstream_paused{upstream=" + q(n) + "} " + v)
	}
	line("# HELP edgectl_upstream_held Requests waiting for a paused upstream now.")
	line("# TYPE edgectl_upstream_held gauge")
	for _, n := range names {
		v := int64(0)
		if p := t.Upstreams[n].hold.cur.Load(); p != nil {
			v = p.waiting.Load()
		}
		line("edgectl_upstream_held{upstream=" + q(n) + "} " + strconv.FormatInt(v, 10))
	}
	line("# HELP edgectl_upstream_hold_requests_total Requests held for a paused upstream, by outcome (released, queue_full, expired, client_gone).")
	line("# TYPE edgectl_upstream_hold_requests_total counter")
	for _, n := range names {
		g := t.Upstreams[n].hold
		for _, o := range [...]struct {
			name string
			v    uint64
		}{{"released", g.released.Load()}, {"queue_full", g.full.Load()}, {"expired", g.expired.Load()}, {"client_gone", g.gone.Load()}} {
			line("edgectl_upstream_hold_requests_total{upstream=" + q(n) + ",outcome=\"" + o.name + "\"} " + strconv.FormatUint(o.v, 10))
		}
	}
	line("# HELP edgectl_upstream_pauses_total Pauses of the upstream.")
	line("# TYPE edgectl_upstream_pauses_total counter")
	for _, n := range names {
		line("edgectl_upstream_pauses_total{upstream=" + q(n) + "} " + strconv.FormatUint(t.Upstreams[n].hold.pauses.Load(), 10))
	}
}
