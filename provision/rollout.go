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

// Options control a rollout.
type Options struct {
	Layout   Layout
	Binaries *Binaries
	// Dial opens a host: SSH for deploy, the local machine for install.
	Dial Dialer
	// DryRun plans (with diffs) and changes nothing: no lock, no journal.
	DryRun bool
	// Parallel bounds how many hosts are connected to and planned at once
	// (default 10). Batches of changes follow rollout.batch.
	Parallel int
	// Event receives progress; it may be called from several goroutines.
	Event func(Event)
	// Public reports whether to probe a host's public addresses from this
	// machine in the gate (deploy: yes; install: no).
	Public bool
	// Holder is who takes the hosts' locks (hostlock.Self; its MaxMS is
	// set by Deploy to the run's maximum time).
	Holder hostlock.Holder
	// LockWait is how long a lock held by another run is waited for (0:
	// stop at once naming the holder); ForceUnlock removes it instead.
	LockWait    time.Duration
	ForceUnlock bool
	// Stop, when done (a first SIGINT or SIGTERM), makes every host stop
	// at its next safe point and roll back what it had changed; hosts not
	// reached are skipped.
	Stop context.Context
	// Step is called before each step on each host (a test hook).
	Step func(host, step string)
	// Backend runs around each backend restart.
	Backend BackendHooks
	// DNSDrain, when set (rollout.dns_drain), takes each host's records
	// out of DNS while it is changed (dnsdrain.go).
	DNSDrain *DNSDrain
	// Takeover lets a deploy stop another proxy (a systemd service) that
	// holds the agent's ports and start the agent in its place (a
	// cutover); without it such a host stops the deploy before anything
	// is written (*PortConflictError).
	Takeover bool
}

// Event is one progress line for one host.
type Event struct {
	Host string
	Msg  string
	// Left is set on the ticks of a countdown (the time left), which a
	// terminal shows live and a log may thin out.
	Left time.Duration
}

// Host outcomes in a Result.
const (
	StatusUnchanged   = "unchanged"     // as the fleet says; nothing to do
	StatusDeployed    = "deployed"      // changed and passed the gate
	StatusPlanned     = "planned"       // dry run: would change
	StatusRolledBack  = "rolled-back"   // failed the gate or apply; the previous version restored
	StatusAborted     = "aborted"       // failed before anything was replaced: as it was
	StatusFailed      = "failed"        // failed, and the rollback did not finish: the journal records it
	StatusUnreachable = "unreachable"   // could not connect or gather facts
	StatusHostKey     = "host-key"      // its SSH host key is unknown or changed: not touched
	StatusLogin       = "login-failed"  // no usable key, or every key refused: not touched
	StatusLocked      = "locked"        // another run holds its lock: not touched
	StatusSkipped     = "skipped"       // not reached: the rollout stopped before it
	StatusConflict    = "port-conflict" // another program holds the agent's ports: not touched (see --takeover)
)

// HostResult is what happened on one host.
type HostResult struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Action  Action `json:"action,omitempty"`
	Summary string `json:"summary"`
	Error   string `json:"error,omitempty"`
	// Step is the step that failed.
	Step string `json:"step,omitempty"`
	// Failures are the gate's checks that still failed; Logs the last
	// journal lines of the units involved.
	Failures []string          `json:"failures,omitempty"`
	Logs     map[string]string `json:"logs,omitempty"`
	// Notes say what else happened: a lock taken over, a host key
	// accepted, a connection dialled again.
	Notes      []string      `json:"notes,omitempty"`
	DurationMS int64         `json:"duration_ms"`
	Duration   time.Duration `json:"-"`
	Plan       *Plan         `json:"plan,omitempty"`
	// DNS is what rollout.dns_drain did with the host's records.
	DNS *HostDNS `json:"dns,omitempty"`
	// Err is the error behind Error, for callers that word it.
	Err error `json:"-"`
}

// Result is a whole rollout.
type Result struct {
	Hosts []HostResult `json:"hosts"`
	// Stopped is set when a host failed or a stop was asked, and the
	// rollout did not go on.
	Stopped bool `json:"stopped"`
	// Interrupted is set when Options.Stop ended the rollout.
	Interrupted bool `json:"interrupted,omitempty"`
	// MaxRunMS is the run's maximum time (what its locks say).
	MaxRunMS int64 `json:"max_run_ms"`
}

type hostState struct {
	host    fleet.Host
	res     HostResult
	conn    *remote.Redialer
	plan    Plan
	lock    *hostlock.Lock
	lockErr error
	ledger  *dnsLedger // DNS records an interrupted run left out
}

// Budgets that make up a run's maximum time.
const (
	connectBudget  = time.Minute
	applyBudget    = 3 * time.Minute
	rollbackBudget = 2 * time.Minute
)

// MaxRunTime is the longest a deploy of n hosts may take: connecting,
// waiting for locks, and per batch applying, draining, gating (with time
// to reconnect) and rolling back. Deploy stops applying when it is near,
// so a lock older than this belongs to a run that died.
func MaxRunTime(f *fleet.Fleet, n, parallel int, lockWait time.Duration) time.Duration {
	if parallel <= 0 {
		parallel = 10
	}
	batch := min(max(f.Rollout.Batch, 1), parallel)
	batches := max((n+batch-1)/batch, 1)
	per := applyBudget + f.Rollout.Drain + f.Rollout.HealthTimeout + DefaultReconnect
	return lockWait + connectBudget + time.Duration(batches)*per + rollbackBudget + DefaultReconnect
}

// Deploy converges hosts to the fleet: connect to every host (Parallel at
// a time), take every host's lock, gather facts and plan under it, then
// apply changes rollout.batch hosts at a time, each gated and rolled back
// on failure, stopping at the first failed batch. An SSH set-up problem
// (host key, login) or a lock held elsewhere stops everything before the
// first write (*SSHSetupError, *LockedError).
func Deploy(ctx context.Context, f *fleet.Fleet, hosts []fleet.Host, o Options) (*Result, error) {
	if o.Parallel <= 0 {
		o.Parallel = 10
	}
	if o.Stop == nil {
		o.Stop = context.Background()
	}
	emit := func(host, format string, a ...any) {
		if o.Event != nil {
			o.Event(Event{Host: host, Msg: fmt.Sprintf(format, a...)})
		}
	}
	maxRun := MaxRunTime(f, len(hosts), o.Parallel, o.LockWait) + o.DNSDrain.budget(f, len(hosts), o.Parallel)
	if dl, ok := ctx.Deadline(); ok {
		maxRun = min(maxRun, time.Until(dl)+rollbackBudget+DefaultReconnect)
	}
	holder := o.Holder
	if holder.Token == "" {
		holder = hostlock.Self(hostlock.KindDeploy, "deploy", maxRun)
	}
	holder.MaxMS = maxRun.Milliseconds()
	// Applying stops in time for a rollback to fit in the maximum.
	runCtx, cancel := context.WithTimeout(ctx, maxRun-rollbackBudget-DefaultReconnect)
	defer cancel()
	res := &Result{MaxRunMS: holder.MaxMS}
	states := dialAll(runCtx, hosts, o, emit)
	defer func() {
		for _, st := range states {
			if st.conn != nil {
				st.conn.Close()
			}
		}
	}()
	finish := func(skip string) {
		for _, st := range states {
			if st.res.Status == "" {
				st.res.Status, st.res.Summary = StatusSkipped, skip
			}
			st.res.DurationMS = st.res.Duration.Milliseconds()
			res.Hosts = append(res.Hosts, st.res)
		}
	}
	var setup []error
	var live []*hostState
	for _, st := range states {
		switch st.res.Status {
		case StatusHostKey, StatusLogin:
			setup = append(setup, st.res.Err)
		case "":
			live = append(live, st)
		}
	}
	if len(setup) > 0 {
		finish("not touched: SSH is not set up for every host")
		return res, &SSHSetupError{Errs: setup}
	}
	if !o.DryRun {
		if errs := lockAll(runCtx, live, holder, o, emit); len(errs) > 0 {
			for _, st := range live {
				var he *hostlock.HeldError
				if errors.As(st.lockErr, &he) {
					st.res.Status, st.res.Summary, st.res.Error, st.res.Err = StatusLocked, "not touched: "+he.Status.Describe(), st.lockErr.Error(), st.lockErr
				} else if st.lockErr != nil {
					st.res.Status, st.res.Error, st.res.Err = StatusUnreachable, st.lockErr.Error(), st.lockErr
				}
			}
			finish("not touched: another run holds the lock of a host")
			return res, &LockedError{Errs: errs}
		}
		for _, st := range live {
			o.step(st.host.Name, StepLock)
		}
	}
	planAll(runCtx, f, live, o, emit)
	if err := checkConflicts(live, o.Takeover); err != nil {
		markConflicts(err.(*PortConflictError), live)
		for _, st := range live {
			st.release(runCtx)
		}
		finish("not touched: another program holds the agent's ports on a host")
		return res, err
	}
	if err := refuseProblems(live); err != nil {
		for _, st := range live {
			st.release(runCtx)
		}
		finish("not touched: the plan of another host has problems")
		return res, err
	}
	prepareDrains(runCtx, f, o, live, emit)
	var todo []*hostState
	for _, st := range live {
		switch {
		case st.res.Status != "":
			st.release(runCtx)
		case !st.plan.Changed():
			st.res.Status = StatusUnchanged
			st.release(runCtx)
		case o.DryRun:
			st.res.Status = StatusPlanned
		default:
			todo = append(todo, st)
		}
	}
	// rollout.batch hosts change at once, never more than --parallel.
	batch := min(max(f.Rollout.Batch, 1), o.Parallel)
	for i := 0; i < len(todo) && !res.Stopped; i += batch {
		if o.Stop.Err() != nil || runCtx.Err() != nil {
			res.Stopped = true
			break
		}
		group := todo[i:min(i+batch, len(todo))]
		var wg sync.WaitGroup
		for _, st := range group {
			wg.Go(func() {
				logf := func(format string, a ...any) { emit(st.res.Name, format, a...) }
				o.DNSDrain.around(runCtx, f, o, st, holder, logf, func() { applyHost(runCtx, f, o, st, holder, logf) })
			})
		}
		wg.Wait()
		for _, st := range group {
			if st.res.Status != StatusDeployed {
				res.Stopped = true
			}
		}
	}
	res.Interrupted = o.Stop.Err() != nil
	for _, st := range todo {
		st.release(runCtx)
	}
	why := "not touched: the rollout stopped at a failed host"
	switch {
	case res.Interrupted:
		why = "not touched: the deploy was interrupted"
	case runCtx.Err() != nil:
		why = "not touched: the run's time limit was reached"
	}
	finish(why)
	return res, nil
}

func (o Options) step(host, step string) {
	if o.Step != nil {
		o.Step(host, step)
	}
}
