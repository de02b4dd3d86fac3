package provision

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/edgectl/edgectl/agent"
	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/remote"
)

// Hold is backend restart: hold. Around the backend's restart (the
// BackendHooks of the run) the running agent pauses the upstreams whose servers are the backend (a loopback
// address on one of its ports): new requests wait in the agent instead of
// failing, and the agent releases them at its first passing health check
// of the restarted backend. The pause is always ended, on every path; the
// agent ends it by itself after Timeout anyway.
type Hold struct {
	// Admin is the agent's admin socket on the host.
	Admin string
	// Ports are where the backend listens; none known: every upstream
	// whose servers are all loopback addresses is held.
	Ports []uint16
	// Timeout bounds the pause (backend.hold_timeout).
	Timeout time.Duration
}

// HoldFor returns the Hold of a fleet whose backend restarts with
// restart: hold, or nil (no backend, restart: plain, no admin socket).
func HoldFor(f *fleet.Fleet) *Hold {
	b := f.Backend
	if b == nil || b.Restart != fleet.RestartHold || f.Agent.Admin == "" {
		return nil
	}
	return &Hold{Admin: f.Agent.Admin, Ports: backendPorts(b), Timeout: b.HoldTimeout}
}

// backendPorts are the ports the backend listens on as far as fleet.yaml
// tells: its socket, what its exec binds, its health URL.
func backendPorts(b *fleet.Backend) []uint16 {
	var out []uint16
	add := func(p uint16) {
		if p != 0 && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if ap, ok := b.SocketAddr(); ok {
		add(ap.Port())
	}
	for _, ap := range fleet.ParseExecBind(b.Exec).Addrs {
		add(ap.Port())
	}
	if u, err := url.Parse(b.Health); err == nil && b.Health != "" {
		if n, err := strconv.ParseUint(u.Port(), 10, 16); err == nil {
			add(uint16(n))
		}
	}
	return out
}

// heldUpstreams picks the agent's upstreams that point at the backend.
func (hd *Hold) heldUpstreams(st *agent.Status) []string {
	var out []string
	for _, u := range st.Upstreams {
		local, match := len(u.Peers) > 0, false
		for _, p := range u.Peers {
			host, port, err := net.SplitHostPort(p.Addr)
			if err != nil {
				local = false
				continue
			}
			a, err := netip.ParseAddr(host)
			isLocal := host == "localhost" || err == nil && (a.IsLoopback() || a.IsUnspecified())
			n, _ := strconv.ParseUint(port, 10, 16)
			if isLocal && slices.Contains(hd.Ports, uint16(n)) {
				match = true
			}
			local = local && isLocal
		}
		if match || len(hd.Ports) == 0 && local {
			out = append(out, u.Name)
		}
	}
	return out
}

// withHold returns h with BackendHooks that hold requests around every
// backend restart of the run (the apply's, and a rollback's), and the
// release the caller defers: it resumes whatever is still paused, so no
// path leaves an upstream paused. Without a hold h is returned as it is.
func withHold(h Host, hd *Hold) (Host, func(context.Context)) {
	if hd == nil {
		return h, func(context.Context) {}
	}
	r := &holdRun{hd: *hd, h: h}
	r.c = agent.NewClientDial(hd.Admin, func(ctx context.Context) (net.Conn, error) { return h.DialContext(ctx, "unix", hd.Admin) })
	next := h.Backend
	h.Backend = BackendHooks{
		Before: func(ctx context.Context, host remote.Host, unit string) error {
			r.pause(ctx)
			if next.Before != nil {
				return next.Before(ctx, host, unit)
			}
			return nil
		},
		After: func(ctx context.Context, host remote.Host, unit string) error {
			if next.After != nil {
				if err := next.After(ctx, host, unit); err != nil {
					return err
				}
			}
			r.resumeWhenHealthy(ctx, host, unit)
			return nil
		},
	}
	return h, func(ctx context.Context) {
		r.release(ctx)
		r.c.CloseIdle()
	}
}

// holdRun is the hold of one host's run: what is paused since when.
type holdRun struct {
	hd    Hold
	h     Host
	c     *agent.Client
	names []string // paused now; nil: nothing
	start time.Time
}

// pause pauses the agent's upstreams on the backend. Without an agent to
// ask (a first install), an agent that does not know pause, or no
// upstream on the backend, it says so and the restart goes on unheld.
func (r *holdRun) pause(ctx context.Context) {
	h, hd := r.h, r.hd
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	st, err := r.c.Status(sctx)
	cancel()
	if err != nil {
		h.logf("restart: hold: the agent is not reachable (%v); restarting the backend without holding requests", err)
		return
	}
	names := hd.heldUpstreams(st)
	if len(names) == 0 {
		h.logf("restart: hold: no agent upstream points at the backend's ports %v; restarting it without holding requests", hd.Ports)
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	ans, err := r.c.Pause(pctx, agent.PauseRequest{Upstreams: names, TimeoutMS: hd.Timeout.Milliseconds(), WaitIdleMS: min(hd.Timeout/3, 5*time.Second).Milliseconds()})
	cancel()
	if err != nil {
		h.logf("restart: hold: the agent did not pause %s (%v); restarting the backend without holding requests", joinList(names), err)
		return
	}
	if r.names == nil {
		r.start = time.Now()
	}
	r.names = names
	h.logf("holding new requests to %s for the restart (at most %s)", joinList(names), hd.Timeout)
	if ans.Inflight != nil && *ans.Inflight > 0 {
		h.logf("%d request(s) still in flight to the backend as it restarts", *ans.Inflight)
	}
}

// resumeWhenHealthy has the agent release the held requests at its first
// passing check of the restarted backend (every 100 ms, so the deploy
// need not time it), waits for that, and logs how long requests were
// held. When that does not happen, or systemd says the unit failed or is
// restart-looping meanwhile (no check will pass: waiting out hold_timeout
// would only delay the rollback), it resumes at once: the gate judges
// the backend.
func (r *holdRun) resumeWhenHealthy(ctx context.Context, host remote.Host, unit string) {
	if r.names == nil {
		return
	}
	h, names := r.h, r.names
	// The wait is bounded by the pause's own timeout (a stop request
	// waits for it too: the restart is done, and a rollback's restart
	// holds the same way).
	wait := r.hd.Timeout - time.Since(r.start) + time.Second
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	failing := make(chan string, 1)
	go func() {
		why := watchUnit(wctx, host, unit)
		if why != "" {
			cancel() // no check will pass: stop waiting for one
		}
		failing <- why
	}()
	ans, err := r.c.Resume(wctx, agent.ResumeRequest{Upstreams: names, WhenHealthy: true, WaitMS: max(wait, time.Second).Milliseconds()})
	cancel()
	if why := <-failing; why != "" {
		h.logf("the backend (%s) %s: releasing the held requests now", unit, why)
		r.release(ctx)
		return
	}
	if err != nil || ans.Status != "resumed" {
		if err != nil {
			h.logf("could not have the agent resume %s when the backend is healthy (%v)", joinList(names), err)
		}
		r.release(ctx)
		return
	}
	r.names = nil
	for _, p := range ans.Pauses {
		msg := fmt.Sprintf("held requests to %s for %s: %d held, %d released (%s)", p.Upstream,
			(time.Duration(p.DurationMS) * time.Millisecond).String(), p.Held, p.Released, p.Ended)
		if p.Rejected > 0 || p.Ended == "expired" {
			msg += fmt.Sprintf("; %d answered 503: the backend did not pass a health check within hold_timeout %s", p.Rejected, r.hd.Timeout)
		}
		h.logf("%s", msg)
	}
}

// release resumes what is still paused, now, whatever ended the run (its
// own time, a stop request, a failed restart); the agent would resume by
// itself after the hold timeout anyway.
func (r *holdRun) release(ctx context.Context) {
	if r.names == nil {
		return
	}
	names := r.names
	r.names = nil
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := r.c.Resume(rctx, agent.ResumeRequest{Upstreams: names}); err != nil {
		r.h.logf("could not resume %s (%v); the agent resumes by itself %s after the pause began", joinList(names), err, r.hd.Timeout)
		return
	}
	r.h.logf("resumed %s after %s", joinList(names), time.Since(r.start).Round(time.Millisecond))
}

// watchUnit polls unit every holdWatchInterval until ctx ends and returns
// why it will not come up by itself (UnitState.Failing), or "" when ctx
// ended first. A failed poll is not a verdict.
func watchUnit(ctx context.Context, host remote.Host, unit string) string {
	baseline := -1
	t := time.NewTicker(holdWatchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ""
		case <-t.C:
		}
		st, err := unitState(ctx, host, unit)
		if err != nil {
			continue
		}
		if baseline < 0 {
			baseline = st.NRestarts
		}
		if why := st.Failing(baseline); why != "" {
			return why
		}
	}
}

// holdWatchInterval is how often a held restart asks systemd about the
// backend unit.
const holdWatchInterval = 500 * time.Millisecond
