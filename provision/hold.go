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
)

// Hold is backend restart: hold. Around the backend's restart the running
// agent pauses the upstreams whose servers are the backend (a loopback
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

// restartHeld restarts the backend with restart as the hold says. Without
// an agent to ask (a first install), an agent that does not know pause,
// or no upstream on the backend, it restarts without holding and says so.
func restartHeld(ctx context.Context, h Host, unit string, restart func() (int, error)) (int, error) {
	hd := h.Hold
	if hd == nil {
		return restart()
	}
	c := agent.NewClientDial(hd.Admin, func(ctx context.Context) (net.Conn, error) { return h.DialContext(ctx, "unix", hd.Admin) })
	defer c.CloseIdle()
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	st, err := c.Status(sctx)
	cancel()
	if err != nil {
		h.logf("restart: hold: the agent is not reachable (%v); restarting the backend without holding requests", err)
		return restart()
	}
	names := hd.heldUpstreams(st)
	if len(names) == 0 {
		h.logf("restart: hold: no agent upstream points at the backend's ports %v; restarting it without holding requests", hd.Ports)
		return restart()
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	ans, err := c.Pause(pctx, agent.PauseRequest{Upstreams: names, TimeoutMS: hd.Timeout.Milliseconds(), WaitIdleMS: min(hd.Timeout/3, 5*time.Second).Milliseconds()})
	cancel()
	if err != nil {
		h.logf("restart: hold: the agent did not pause %s (%v); restarting the backend without holding requests", joinList(names), err)
		return restart()
	}
	start := time.Now()
	h.logf("holding new requests to %s for the restart (at most %s)", joinList(names), hd.Timeout)
	if ans.Inflight != nil && *ans.Inflight > 0 {
		h.logf("%d request(s) still in flight to the backend as it restarts", *ans.Inflight)
	}
	resumed := false
	defer func() {
		if resumed {
			return
		}
		// Never leave an upstream paused: resume now, whatever ended the
		// run (its own time, a stop request, a failed restart).
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := c.Resume(rctx, agent.ResumeRequest{Upstreams: names}); err != nil {
			h.logf("could not resume %s (%v); the agent resumes by itself %s after the pause began", joinList(names), err, hd.Timeout)
			return
		}
		h.logf("resumed %s after %s", joinList(names), time.Since(start).Round(time.Millisecond))
	}()
	n, err := restart()
	if err != nil {
		return n, err
	}
	// The agent releases the requests at its first passing check of the
	// restarted backend, checking every 100 ms: the deploy need not time it.
	wait := hd.Timeout - time.Since(start) + time.Second
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if h.Stop != nil {
		// A stop request ends the wait; the deferred resume releases.
		defer context.AfterFunc(h.Stop, cancel)()
	}
	ans, err = c.Resume(wctx, agent.ResumeRequest{Upstreams: names, WhenHealthy: true, WaitMS: max(wait, time.Second).Milliseconds()})
	switch {
	case err != nil && h.Stop != nil && h.Stop.Err() != nil:
		return n, nil // the restart is done; the run stops at the next step
	case err != nil:
		// The restart is done: the deferred resume releases the requests
		// and the gate judges the backend.
		h.logf("could not have the agent resume %s when the backend is healthy (%v)", joinList(names), err)
		return n, nil
	case ans.Status != "resumed":
		return n, nil // the deferred resume releases them now; the gate judges the backend
	}
	resumed = true
	for _, r := range ans.Pauses {
		msg := fmt.Sprintf("held requests to %s for %s: %d held, %d released (%s)", r.Upstream,
			(time.Duration(r.DurationMS) * time.Millisecond).String(), r.Held, r.Released, r.Ended)
		if r.Rejected > 0 || r.Ended == "expired" {
			msg += fmt.Sprintf("; %d answered 503: the backend did not pass a health check within hold_timeout %s", r.Rejected, hd.Timeout)
		}
		h.logf("%s", msg)
	}
	return n, nil
}
