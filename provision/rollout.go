package provision

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/remote"
)

// Options control a rollout.
type Options struct {
	Layout   Layout
	Binaries *Binaries
	// Dial opens a host: SSH for deploy, the local machine for install.
	Dial Dialer
	// DryRun plans (with diffs) and changes nothing.
	DryRun bool
	// Parallel bounds how many hosts are connected to and planned at once
	// (default 10). Batches of changes follow rollout.batch.
	Parallel int
	// Event receives progress; it may be called from several goroutines.
	Event func(Event)
	// Public reports whether to probe a host's public addresses from this
	// machine in the gate (deploy: yes; install: no).
	Public bool
}

// Event is one progress line for one host.
type Event struct {
	Host string
	Msg  string
}

// Host outcomes in a Result.
const (
	StatusUnchanged   = "unchanged"   // nothing to do
	StatusDeployed    = "deployed"    // changed and passed the gate
	StatusPlanned     = "planned"     // dry run: would change
	StatusRolledBack  = "rolled-back" // failed the gate or apply; previous files restored
	StatusFailed      = "failed"      // failed, and the rollback failed too
	StatusUnreachable = "unreachable" // could not connect or gather facts
	StatusSkipped     = "skipped"     // not reached: the rollout stopped before it
)

// HostResult is what happened on one host.
type HostResult struct {
	Name     string        `json:"name"`
	Status   string        `json:"status"`
	Action   Action        `json:"action,omitempty"`
	Summary  string        `json:"summary"`
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	Plan     *Plan         `json:"plan,omitempty"`
}

// Result is a whole rollout.
type Result struct {
	Hosts []HostResult `json:"hosts"`
	// Stopped is set when a host failed and the rollout stopped.
	Stopped bool `json:"stopped"`
}

// ErrHostKey wraps host-key failures found while connecting: the deploy
// stops before anything is written anywhere.
var ErrHostKey = errors.New("host key verification failed")

type hostState struct {
	host fleet.Host
	res  HostResult
	conn remote.Host
	plan Plan
}

// Deploy converges hosts to the fleet: connect to and plan every host
// (Parallel at a time), then apply changes rollout.batch hosts at a time,
// each gated and rolled back on failure, stopping at the first failed
// batch. A host-key problem on any host stops everything before the first
// write and returns an error wrapping ErrHostKey.
func Deploy(ctx context.Context, f *fleet.Fleet, hosts []fleet.Host, o Options) (*Result, error) {
	if o.Parallel <= 0 {
		o.Parallel = 10
	}
	emit := func(host, format string, a ...any) {
		if o.Event != nil {
			o.Event(Event{Host: host, Msg: fmt.Sprintf(format, a...)})
		}
	}
	states := make([]*hostState, len(hosts))
	var keyErrs []error
	var mu sync.Mutex
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for i, h := range hosts {
		states[i] = &hostState{host: h, res: HostResult{Name: h.Name}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			st := states[i]
			start := time.Now()
			err := planHost(ctx, f, h, o, st, func(format string, a ...any) { emit(h.Name, format, a...) })
			st.res.Duration = time.Since(start)
			if err != nil {
				var hk *remote.HostKeyError
				if errors.As(err, &hk) {
					mu.Lock()
					keyErrs = append(keyErrs, err)
					mu.Unlock()
				}
				st.res.Status, st.res.Error = StatusUnreachable, err.Error()
				emit(h.Name, "unreachable: %v", err)
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, st := range states {
			if st.conn != nil {
				st.conn.Close()
			}
		}
	}()
	res := &Result{}
	if len(keyErrs) > 0 {
		for _, st := range states {
			if st.res.Status == "" {
				st.res.Status, st.res.Summary = StatusSkipped, "not touched: a host key check failed"
			}
			res.Hosts = append(res.Hosts, st.res)
		}
		return res, fmt.Errorf("%w; nothing was changed on any host:\n  %w", ErrHostKey, errors.Join(keyErrs...))
	}
	var todo []*hostState
	for _, st := range states {
		if st.res.Status != "" {
			continue
		}
		if !st.plan.Changed() {
			st.res.Status = StatusUnchanged
			continue
		}
		if o.DryRun {
			st.res.Status = StatusPlanned
			continue
		}
		todo = append(todo, st)
	}
	// rollout.batch hosts change at once, never more than --parallel.
	batch := min(max(f.Rollout.Batch, 1), o.Parallel)
	for i := 0; i < len(todo) && !res.Stopped; i += batch {
		group := todo[i:min(i+batch, len(todo))]
		var wg sync.WaitGroup
		for _, st := range group {
			wg.Add(1)
			go func() {
				defer wg.Done()
				applyHost(ctx, f, o, st, func(format string, a ...any) { emit(st.res.Name, format, a...) })
			}()
		}
		wg.Wait()
		for _, st := range group {
			if st.res.Status != StatusDeployed {
				res.Stopped = true
			}
		}
	}
	for _, st := range states {
		if st.res.Status == "" {
			st.res.Status, st.res.Summary = StatusSkipped, "not touched: the rollout stopped at a failed host"
		}
		res.Hosts = append(res.Hosts, st.res)
	}
	return res, nil
}

// planHost connects, gathers facts and plans one host.
func planHost(ctx context.Context, f *fleet.Fleet, h fleet.Host, o Options, st *hostState, logf func(string, ...any)) error {
	conn, err := o.Dial(ctx, h)
	if err != nil {
		return err
	}
	st.conn = conn
	facts, err := Gather(ctx, conn, o.Layout, ManagedPaths(f, o.Layout))
	if err != nil {
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
	st.plan = MakePlan(h.Name, facts, want, o.Layout)
	st.plan.BinaryNote = note
	if o.DryRun {
		for i, c := range st.plan.Files {
			switch {
			case c.Op == "unchanged":
			case !c.Text:
				st.plan.Files[i].Diff = fmt.Sprintf("binary %s: sha256 %s → %s (%s)", c.Path, short(facts.Sums[c.Path]), short(c.Sum), note)
			case c.Op == "create":
				st.plan.Files[i].Diff = Diff(c.Path, nil, c.Data)
			default:
				old, err := conn.ReadFile(ctx, c.Path)
				if err != nil {
					return fmt.Errorf("read %s for the diff: %w", c.Path, err)
				}
				st.plan.Files[i].Diff = Diff(c.Path, old, c.Data)
			}
		}
	}
	st.res.Action, st.res.Summary = st.plan.Action, st.plan.Summary()
	p := st.plan
	st.res.Plan = &p
	line := fmt.Sprintf("%s, %s, %s", facts.OS, facts.Arch, st.res.Summary)
	for _, c := range st.plan.Files {
		if c.Path == o.Layout.Binary && c.Op != "unchanged" {
			line += "; uploads " + note
		}
	}
	logf("%s", line)
	return nil
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	if sum == "" {
		return "(none)"
	}
	return sum
}

// applyHost applies, gates and, on failure, rolls back one host.
func applyHost(ctx context.Context, f *fleet.Fleet, o Options, st *hostState, logf func(string, ...any)) {
	start := time.Now()
	defer func() { st.res.Duration += time.Since(start) }()
	h := Host{Host: st.conn, Layout: o.Layout, Agent: &f.Agent, Drain: f.Rollout.Drain, Log: logf}
	err := Apply(ctx, h, st.plan)
	if err == nil {
		var public []string
		if o.Public {
			for _, a := range []string{st.host.IPv4, st.host.IPv6} {
				if a != "" {
					public = append(public, a)
				}
			}
		}
		backend := ""
		if f.Backend != nil {
			backend = f.Backend.Health
		}
		g := NewGate(&f.Agent, st.plan.Facts, public, backend, f.Rollout.HealthTimeout)
		logf("health gate: agent on %v, public %v (up to %s)", gateTargets(g), public, g.Timeout)
		err = g.Wait(ctx, st.conn)
	}
	if err == nil {
		st.res.Status = StatusDeployed
		logf("deployed: %s", st.res.Summary)
		return
	}
	st.res.Error = err.Error()
	logf("FAILED: %v", err)
	// Roll back with a fresh context: the deploy's may be what ran out.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if rerr := Rollback(rctx, h, st.plan); rerr != nil {
		st.res.Status = StatusFailed
		st.res.Error += "; rollback failed too: " + rerr.Error()
		logf("rollback FAILED: %v", rerr)
		return
	}
	st.res.Status = StatusRolledBack
	logf("rolled back to the previous version")
}

func gateTargets(g Gate) []string {
	if g.Loopback6 {
		return []string{"[::1]", "127.0.0.1"}
	}
	return []string{"127.0.0.1"}
}
