package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/hostlock"
	"github.com/edgectl/edgectl/remote"
)

// applyHost applies, gates and, on failure, rolls back one host, then
// releases its lock.
func applyHost(ctx context.Context, f *fleet.Fleet, o Options, st *hostState, holder hostlock.Holder, logf func(string, ...any)) {
	start := time.Now()
	defer func() { st.res.Duration += time.Since(start) }()
	defer st.release(ctx)
	h := Host{Host: st.conn, Layout: o.Layout, Agent: &f.Agent, Drain: f.Rollout.Drain, Log: logf,
		RunID: holder.Token, Holder: holder.Who(), Command: holder.Command, Stop: o.Stop, Backend: o.Backend,
		Step: func(s string) { o.step(st.host.Name, s) }}
	h, releaseHold := withHold(h, HoldFor(f))
	defer releaseHold(ctx)
	_ = markAgent(ctx, h, f.Agent.Admin, holder, true)
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = markAgent(uctx, h, f.Agent.Admin, holder, false)
	}()
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
		defer cancel()
		if err := removeTemps(cctx, st.conn, o.Layout, ManagedPaths(f, o.Layout)); err != nil {
			st.res.Notes = append(st.res.Notes, "temporary files could not be removed ("+err.Error()+"); the next deploy removes them")
		}
	}()
	j, err := Apply(ctx, h, st.plan)
	if err == nil {
		err = gate(ctx, f, o, st, h, j, holder, logf)
	}
	if n := st.conn.Redials(); n > 0 {
		st.res.Notes = append(st.res.Notes, fmt.Sprintf("the SSH connection was dialled again %d time(s)", n))
	}
	if err == nil {
		st.res.Status = StatusDeployed
		logf("deployed: %s", st.res.Summary)
		return
	}
	st.res.Error, st.res.Err = err.Error(), err
	var se *StepError
	if errors.As(err, &se) {
		st.res.Step = se.Step
	} else if errors.As(err, new(*GateError)) {
		st.res.Step = StepGate
	}
	if j == nil {
		st.res.Status = StatusAborted
		logf("failed before anything was replaced: the host is as it was")
		return
	}
	logf("failed; rolling back")
	j.Error = err.Error()
	if rerr := rollbackRetrying(ctx, h, j); rerr != nil {
		st.res.Status = StatusFailed
		st.res.Error += "; the rollback did not finish: " + rerr.Error() +
			"; the journal on the host records where it stopped, and the next deploy completes or rolls it back"
		logf("rollback FAILED")
		return
	}
	st.res.Status = StatusRolledBack
	logf("rolled back to the previous version")
}

// gate marks the journal, waits for the health gate and records the
// outcome; a failed gate's reasons and unit logs go into the result.
func gate(ctx context.Context, f *fleet.Fleet, o Options, st *hostState, h Host, j *Journal, holder hostlock.Holder, logf func(string, ...any)) error {
	if err := h.step(ctx, StepGate); err != nil {
		return err
	}
	// The agent may be a new process now: tell it again about the deploy.
	_ = markAgent(ctx, h, f.Agent.Admin, holder, true)
	j.State = JournalGating
	if err := writeJournal(ctx, h, j); err != nil {
		return &StepError{StepGate, err}
	}
	g := hostGate(f, o, st)
	for _, c := range st.plan.Files {
		if c.Path == o.Layout.AgentConfig {
			g.ConfigSHA256 = c.Sum
		}
	}
	if g.BackendUnit != "" {
		g.BackendBaseline = j.baseline
	}
	logf("health gate: agent on %s, public %s (up to %s)", joinList(gateTargets(g)), joinList(g.Public), g.Timeout)
	err := g.Wait(ctx, st.conn, o.Stop)
	var ge *GateError
	if errors.As(err, &ge) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		ge.Logs = gateLogs(lctx, st.conn, g, ge)
		cancel()
		st.res.Failures, st.res.Logs = ge.Failures, ge.Logs
	}
	if err != nil {
		return err
	}
	j.State = JournalDeployed
	if err := writeJournal(ctx, h, j); err != nil {
		st.res.Notes = append(st.res.Notes, "passed the gate, but the journal could not be marked finished: "+err.Error())
	}
	return nil
}

// rollbackRetrying rolls back with its own time (the run's may be what ran
// out, or a signal asked to stop), dialling the host again while the
// connection is broken, for up to rollbackBudget plus DefaultReconnect.
func rollbackRetrying(ctx context.Context, h Host, j *Journal) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackBudget+DefaultReconnect)
	defer cancel()
	h.Stop = nil
	for {
		err := Rollback(rctx, h, j)
		if err == nil || !remote.Broken(err) || rctx.Err() != nil {
			return err
		}
		h.logf("rollback: the connection broke (%v); dialling again", err)
		if c, ok := h.Host.(checker); ok {
			_ = c.Check(rctx, 3*time.Second)
		}
		select {
		case <-rctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
}

// hostGate is the health gate for one host of the fleet: the agent's
// listeners, the host's public addresses when o.Public, and the backend's
// health URL and unit.
func hostGate(f *fleet.Fleet, o Options, st *hostState) Gate {
	var public []string
	if o.Public {
		for _, a := range []string{st.host.IPv4, st.host.IPv6} {
			if a != "" {
				public = append(public, a)
			}
		}
	}
	health := ""
	if f.Backend != nil {
		health = f.Backend.Health
	}
	g := NewGate(&f.Agent, st.plan.Facts, public, health, f.Rollout.HealthTimeout)
	g.Binary = o.Layout.Binary
	if f.Backend != nil {
		g.BackendUnit = f.Backend.Name + ".service"
	}
	return g
}

func gateTargets(g Gate) []string {
	if g.Loopback6 {
		return []string{"[::1]", "127.0.0.1"}
	}
	return []string{"127.0.0.1"}
}

// joinList is "a, b" (or "none"), never Go's "[a b]".
func joinList(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	out := s[0]
	for _, x := range s[1:] {
		out += ", " + x
	}
	return out
}
