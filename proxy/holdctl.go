package proxy

import (
	"context"
	"fmt"
	"net"
	"sort"
	"time"
)

// The control side of holding (hold.go): pause and resume by upstream
// name, waiting for a pause to end or for requests in flight to finish,
// and the short-interval checks that resume a paused upstream when its
// backend is healthy again.

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
		go func() {
			p.settle()
			h.OnHoldEnd(*p.record(name))
		}()
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
				p.settle()
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
