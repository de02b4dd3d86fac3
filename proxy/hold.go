package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
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
// or a next request already buffered). It peeks at the connection from a
// goroutine, so nothing the client sends is lost.
func (cc *clientConn) watchGone(stream bool) chan bool {
	r := &cc.req
	if (stream && (r.chunked || r.contentLength > 0)) || cc.br.Buffered() > 0 {
		return nil
	}
	ch := make(chan bool, 1)
	go func() {
		_, err := cc.br.Peek(1)
		ch <- err != nil && !isTimeout(err)
	}()
	return ch
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

// upstreams resolves names in the current table (all when empty).
func (h *Handler) upstreams(names []string) ([]*Upstream, error) {
	t := h.table.Load()
	if len(names) == 0 {
		out := make([]*Upstream, 0, len(t.Upstreams))
		for _, u := range t.Upstreams {
			out = append(out, u)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out, nil
	}
	out := make([]*Upstream, 0, len(names))
	for _, n := range names {
		u := t.Upstreams[n]
		if u == nil {
			known := make([]string, 0, len(t.Upstreams))
			for k := range t.Upstreams {
				known = append(known, k)
			}
			sort.Strings(known)
			return nil, fmt.Errorf("%w %q (the agent has: %v)", ErrUnknownUpstream, n, known)
		}
		out = append(out, u)
	}
	return out, nil
}

// Pause holds new requests to the named upstreams (every upstream when
// names is empty) until Resume, a passing health check (with
// o.ResumeWhenHealthy) or o.Timeout. Pausing a paused upstream renews its
// timeout. It returns the upstreams' hold status.
func (h *Handler) Pause(names []string, o HoldOptions) ([]UpstreamStatus, error) {
	ups, err := h.upstreams(names)
	if err != nil {
		return nil, err
	}
	for _, u := range ups {
		name, g := u.Name, u.hold
		p := g.start(o, func(p *pause) { h.endHold(name, g, p, EndExpired) })
		if o.ResumeWhenHealthy {
			h.watchHold(u.Name, u.hold, p)
		}
	}
	return h.holdStatus(ups), nil
}

// Resume releases the requests held for the named upstreams (all when
// names is empty). With whenHealthy it only arms the release: the first
// passing health check does it (bounded by the pause's timeout). Before an
// immediate release, servers marked down get one check, so the released
// requests find the restarted backend live. It returns the status of the
// upstreams that were paused.
func (h *Handler) Resume(names []string, whenHealthy bool) ([]UpstreamStatus, error) {
	all, err := h.upstreams(names)
	if err != nil {
		return nil, err
	}
	var ups []*Upstream
	for _, u := range all {
		p := u.hold.cur.Load()
		if p == nil {
			continue
		}
		ups = append(ups, u)
		if whenHealthy {
			p.resume.Store(resumeHealthy)
			h.watchHold(u.Name, u.hold, p)
			continue
		}
		u.holdCheck(func(pr *Peer) bool { return !pr.live(time.Now()) })
		h.endHold(u.Name, u.hold, p, EndResumed)
	}
	return h.holdStatus(ups), nil
}

// endHold ends p and tells OnHoldEnd.
func (h *Handler) endHold(name string, g *holdGate, p *pause, how string) {
	if g.end(p, how) && h.OnHoldEnd != nil {
		h.OnHoldEnd(*p.record(name))
	}
}

// WaitIdle waits until no request is in flight to the named upstreams'
// servers (all when empty), or ctx ends: after a pause, the backend may
// then stop without cutting a request. It returns how many are in flight.
func (h *Handler) WaitIdle(ctx context.Context, names []string) (int64, error) {
	ups, err := h.upstreams(names)
	if err != nil {
		return 0, err
	}
	inflight := func() int64 {
		n := int64(0)
		for _, u := range ups {
			for _, p := range u.peers {
				n += p.inflight.Load()
			}
		}
		return n
	}
	// A request that passed the gate just before the pause counts once
	// it picked its server: zero must hold twice in a row.
	zeros := 0
	for {
		n := inflight()
		if n == 0 {
			zeros++
		} else {
			zeros = 0
		}
		if zeros == 2 {
			return 0, nil
		}
		select {
		case <-ctx.Done():
			return n, nil
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// WaitResumed waits until none of the named upstreams (all when empty) is
// paused, or ctx ends, and returns their last pauses (none for an upstream
// never paused).
func (h *Handler) WaitResumed(ctx context.Context, names []string) ([]PauseRecord, error) {
	ups, err := h.upstreams(names)
	if err != nil {
		return nil, err
	}
	var out []PauseRecord
	for _, u := range ups {
		if p := u.hold.cur.Load(); p != nil {
			select {
			case <-p.release:
			case <-ctx.Done():
				return out, fmt.Errorf("upstream %s is still paused: %w", u.Name, ctx.Err())
			}
		}
		u.hold.mu.Lock()
		last := u.hold.last
		u.hold.mu.Unlock()
		if last != nil {
			out = append(out, *last.record(u.Name))
		}
	}
	return out, nil
}

func (h *Handler) holdStatus(ups []*Upstream) []UpstreamStatus {
	now := time.Now()
	out := make([]UpstreamStatus, 0, len(ups))
	for _, u := range ups {
		out = append(out, u.Status(now))
	}
	return out
}

// watchHold checks a paused upstream every HoldCheckInterval and resumes
// it on a passing check as its resume mode says. One loop per pause; it
// follows reloads by name and ends with the pause.
func (h *Handler) watchHold(name string, g *holdGate, p *pause) {
	if !p.watching.CompareAndSwap(false, true) {
		return
	}
	go func() {
		t := time.NewTicker(HoldCheckInterval)
		defer t.Stop()
		for {
			select {
			case <-p.release:
				return
			case <-t.C:
			}
			u := h.table.Load().Upstreams[name]
			if u == nil || u.hold != g {
				continue
			}
			if !u.holdCheck(func(*Peer) bool { return true }) {
				p.sawDown.Store(true)
				continue
			}
			if p.resume.Load() == resumeHealthy || p.sawDown.Load() {
				h.endHold(name, g, p, EndHealthy)
				return
			}
		}
	}()
}

// holdCheck runs one check on the peers want selects, in parallel: the
// upstream's active check (a TCP connect when it has none). A pass is
// recorded as decisive, clearing passive marks, so released requests find
// the peer live; failures are not recorded (the regular checks do that).
// It reports whether any check passed.
func (u *Upstream) holdCheck(want func(*Peer) bool) bool {
	type result struct {
		p   *Peer
		rtt time.Duration
		err error
	}
	var peers []*Peer
	for _, p := range u.peers {
		if want(p) {
			peers = append(peers, p)
		}
	}
	res := make(chan result, len(peers))
	for _, p := range peers {
		go func() {
			var r result
			r.p = p
			if u.health != nil {
				r.rtt, r.err = u.check(u.healthClient(p), p)
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), holdCheckTimeout)
				start := time.Now()
				var c net.Conn
				c, r.err = u.dialer.DialContext(ctx, "tcp", p.Addr)
				r.rtt = time.Since(start)
				cancel()
				if r.err == nil {
					_ = c.Close()
				}
			}
			res <- r
		}()
	}
	ok := false
	for range peers {
		r := <-res
		if r.err == nil {
			r.p.record(time.Now(), r.rtt, nil, true)
			r.p.observe(r.rtt)
			ok = true
		}
	}
	return ok
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
