package provision

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/hostlock"
	"github.com/edgectl/edgectl/remote"
)

// dialAll connects to every host, Parallel at a time, sorting failures
// into host-key, login and unreachable.
func dialAll(ctx context.Context, hosts []fleet.Host, o Options, emit func(string, string, ...any)) []*hostState {
	states := make([]*hostState, len(hosts))
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for i, h := range hosts {
		st := &hostState{host: h, res: HostResult{Name: h.Name}}
		states[i] = st
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			start := time.Now()
			defer func() { st.res.Duration += time.Since(start) }()
			conn, err := o.Dial(ctx, h)
			if err != nil {
				var hk *remote.HostKeyError
				var ae *remote.AuthError
				switch {
				case errors.As(err, &hk):
					st.res.Status, st.res.Summary = StatusHostKey, "not touched: host key "+string(hk.Kind)
				case errors.As(err, &ae):
					st.res.Status, st.res.Summary = StatusLogin, "not touched: cannot log in"
				default:
					st.res.Status = StatusUnreachable
				}
				st.res.Error, st.res.Err = err.Error(), err
				emit(h.Name, "%s", st.res.Status)
				return
			}
			if a, ok := conn.(interface{ AcceptedKey() string }); ok && a.AcceptedKey() != "" {
				what := "recorded in known_hosts"
				if o.DryRun {
					what = "trusted for this dry run only (not recorded)"
				}
				st.res.Notes = append(st.res.Notes, fmt.Sprintf("new host key %s %s", a.AcceptedKey(), what))
			}
			st.conn = remote.NewRedialer(h.Name, conn, func(ctx context.Context) (remote.Host, error) { return o.Dial(ctx, h) })
		})
	}
	wg.Wait()
	return states
}

// planAll gathers facts and plans every live host, Parallel at a time.
func planAll(ctx context.Context, f *fleet.Fleet, states []*hostState, o Options, emit func(string, string, ...any)) {
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for _, st := range states {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			start := time.Now()
			defer func() { st.res.Duration += time.Since(start) }()
			if err := planHost(ctx, f, o, st, func(format string, a ...any) { emit(st.host.Name, format, a...) }); err != nil {
				st.res.Status, st.res.Error, st.res.Err = StatusUnreachable, err.Error(), err
				emit(st.host.Name, "unreachable")
			}
		})
	}
	wg.Wait()
}

// planHost gathers facts and plans one host.
func planHost(ctx context.Context, f *fleet.Fleet, o Options, st *hostState, logf func(string, ...any)) error {
	conn := st.conn
	facts, err := Gather(ctx, conn, o.Layout, ManagedPaths(f, o.Layout), f.Agent.Admin, f.Backend)
	if err != nil {
		return err
	}
	if facts.Holders, err = GatherHolders(ctx, conn, NeededBinds(&f.Agent)); err != nil {
		return err
	}
	bin, note, err := o.Binaries.For(facts.Arch)
	if err != nil {
		return err
	}
	want, err := Desired(f, o.Layout, bin, facts)
	if err != nil {
		return err
	}
	st.plan = MakePlan(st.host.Name, facts, want, o.Layout)
	st.plan.BinaryNote = note
	st.plan.Findings = backendFindings(f, facts, want, o.Layout)
	for _, fd := range st.plan.Findings {
		if fd.Severity == fleet.SeverityWarning {
			st.res.Notes = append(st.res.Notes, fmt.Sprintf("warning: %s: %s", fd.Key, fd.Message))
		}
	}
	if o.DryRun {
		if err := addDiffs(ctx, conn, &st.plan, facts, note); err != nil {
			return err
		}
		if ls, err := hostlock.Read(ctx, conn, o.Layout.Lock()); err == nil && ls.Held {
			st.res.Notes = append(st.res.Notes, "locked by "+ls.Describe())
		}
	}
	st.res.Action, st.res.Summary = st.plan.Action, st.plan.Summary()
	p := st.plan
	st.res.Plan = &p
	line := fmt.Sprintf("%s, %s, %s", facts.OS, facts.Arch, st.res.Summary)
	for _, c := range st.plan.Files {
		if c.Path == o.Layout.Binary && (c.Op == OpCreate || c.Op == OpUpdate) {
			line += "; uploads " + note
		}
	}
	logf("%s", line)
	return nil
}

// addDiffs fills the plan's diffs for a dry run.
func addDiffs(ctx context.Context, h remote.Host, p *Plan, facts Facts, note string) error {
	for i, c := range p.Files {
		switch {
		case c.Op == OpUnchanged:
		case c.Op == OpFix:
			p.Files[i].Diff = fmt.Sprintf("%s: owner and mode %s → %s %s", c.Path, c.Was, modeString(c.Mode), c.Owner)
		case !c.Text:
			p.Files[i].Diff = fmt.Sprintf("binary %s: sha256 %s → %s (%s)", c.Path, short(facts.Sums[c.Path]), short(c.Sum), note)
		case c.Op == OpCreate:
			p.Files[i].Diff = Diff(c.Path, nil, c.Data)
		default:
			old, err := h.ReadFile(ctx, c.Path)
			if err != nil {
				return fmt.Errorf("read %s for the diff: %w", c.Path, err)
			}
			p.Files[i].Diff = Diff(c.Path, old, c.Data)
		}
	}
	return nil
}
