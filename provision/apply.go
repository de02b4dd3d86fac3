package provision

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/edgectl/edgectl/agentconfig"
	"github.com/edgectl/edgectl/remote"
)

// The steps of a deploy on one host, in order. Host.Step is called with
// each name before the step runs, and the journal lists the steps done.
const (
	StepLock         = "lock"          // the host's lock is taken (before facts)
	StepPrepare      = "prepare"       // user, directories, stale temporary files, free space
	StepJournal      = "journal"       // the plan is in the journal: nothing replaced yet
	StepBackup       = "backup"        // hard links to the files about to be replaced, checksummed
	StepUpload       = "upload"        // new files under temporary names with owner and mode, checksummed
	StepCheck        = "check"         // the new binary checks the new agent.yaml on the host
	StepInstall      = "install"       // the temporary files renamed over the old ones
	StepSysctl       = "sysctl"        // the sysctl drop-in applied
	StepDaemonReload = "daemon-reload" // systemd reads changed units
	StepBackend      = "backend"       // the backend restarted (BackendHooks around it)
	StepAgent        = "agent"         // the agent reloads, upgrades, restarts or starts
	StepGate         = "gate"          // the health gate
	StepRollback     = "rollback"      // backups restored (after a failure)
)

// Host is what Apply needs besides the plan: the connection, the layout,
// the agent config being installed, and the run it belongs to.
type Host struct {
	remote.Host
	Layout Layout
	Agent  *agentconfig.Config
	// Drain is how long a restarting agent keeps serving with its health
	// answering 503 before it is restarted (rollout.drain).
	Drain time.Duration
	// Log receives progress lines ("writing 3 files", "reloading").
	Log func(format string, a ...any)
	// RunID is the run's token: it names the temporary files and the
	// journal. Holder (user@machine) and Command go into the journal.
	RunID, Holder, Command string
	// Stop, when done, makes the run stop at the next safe point (between
	// steps, or while waiting) with ErrStopped.
	Stop context.Context
	// Step is called with each step's name before it runs (tests pause
	// there; see cli's EDGECTL_TEST_PAUSE_AT).
	Step func(step string)
	// Backend runs around the backend's restart.
	Backend BackendHooks
}

func (h Host) logf(format string, a ...any) {
	if h.Log != nil {
		h.Log(format, a...)
	}
}

func (h Host) run(ctx context.Context, cmd string) error {
	_, err := h.Run(ctx, cmd, nil)
	return err
}

// step is a safe point: the test hook, then a stop request or the end of
// the run's time end the run here.
func (h Host) step(ctx context.Context, name string) error {
	if h.Step != nil {
		h.Step(name)
	}
	if h.Stop != nil && h.Stop.Err() != nil {
		return ErrStopped
	}
	if ctx.Err() != nil {
		return ErrRunTimeout
	}
	return nil
}

// finish records step as done in the journal.
func (h Host) finish(ctx context.Context, j *Journal, step string) error {
	j.Done = append(j.Done, step)
	return writeJournal(ctx, h, j)
}

// ctl runs `edgectl agent <verb>` on the host with the installed binary.
func (h Host) ctl(ctx context.Context, verb string) error {
	if h.Agent.Admin == "" {
		// No admin socket: fall back to signals through systemd.
		switch verb {
		case "reload":
			return h.run(ctx, "systemctl reload -- "+AgentUnitName)
		case "upgrade":
			return h.run(ctx, "systemctl kill --kill-who=main -s USR2 -- "+AgentUnitName)
		default:
			return nil
		}
	}
	return h.run(ctx, fmt.Sprintf("%s agent %s --admin %s", remote.ShellQuote(h.Layout.Binary), verb, remote.ShellQuote(h.Agent.Admin)))
}

// Apply puts the plan's files in place and makes the agent (and backend)
// take them. It writes the journal before replacing anything and after
// every step, makes verified backups first, uploads every file under a
// temporary name with its final owner and mode, checks the new config
// with the new binary, and only then renames the files into place.
//
// The journal is returned once it was written (nil before): a failure
// after that is undone by Rollback with it; a failure before it changed
// nothing that matters.
func Apply(ctx context.Context, h Host, p Plan) (*Journal, error) {
	if !p.Changed() {
		return nil, nil
	}
	if !p.Facts.Systemd {
		return nil, &StepError{StepPrepare, fmt.Errorf("PID 1 is not systemd; edgectl installs the agent as a systemd service")}
	}
	changes := p.changes()
	if err := h.step(ctx, StepPrepare); err != nil {
		return nil, err
	}
	if err := checkSpace(h, p, changes); err != nil {
		return nil, &StepError{StepPrepare, err}
	}
	if err := h.retrying(ctx, func() error { return prepare(ctx, h, p.Cleanup) }); err != nil {
		return nil, &StepError{StepPrepare, err}
	}
	j := newJournal(h, p, changes)
	if err := h.step(ctx, StepJournal); err != nil {
		return nil, err
	}
	if err := h.finish(ctx, j, StepJournal); err != nil {
		return nil, &StepError{StepJournal, err}
	}
	// Steps that can run twice are tried again when the connection
	// breaks; a broken connection in the others fails the run (and the
	// rollback, which can always run again, puts the host back).
	steps := []struct {
		name  string
		do    func() error
		when  bool
		again bool
	}{
		{StepBackup, func() error { return backup(ctx, h, j, p) }, true, true},
		{StepUpload, func() error { return upload(ctx, h, changes) }, true, true},
		{StepCheck, func() error { return checkConfig(ctx, h, changes) }, true, true},
		{StepInstall, func() error { h.logf("installing %d file(s)", len(changes)); return install(ctx, h, changes) }, true, false},
		{StepSysctl, func() error {
			h.logf("applying %s", h.Layout.sysctl())
			return h.run(ctx, "sysctl -q -p -- "+remote.ShellQuote(h.Layout.sysctl()))
		}, p.Sysctl, true},
		{StepDaemonReload, func() error { return h.run(ctx, "systemctl daemon-reload") }, unitsChanged(j), true},
		{StepBackend, func() error {
			h.logf("restarting backend %s", p.Backend)
			n, err := restartBackend(ctx, h, p.Backend+".service")
			j.baseline = n
			return err
		}, p.Backend != "" && (p.BackendRestart || p.Action == ActionInstall), false},
		{StepAgent, func() error { return act(ctx, h, p.Action) }, true, false},
	}
	for _, s := range steps {
		if !s.when {
			continue
		}
		if err := h.step(ctx, s.name); err != nil {
			return j, err
		}
		do := s.do
		if s.again {
			do = func() error { return h.retrying(ctx, s.do) }
		}
		if err := do(); err != nil {
			return j, &StepError{s.name, err}
		}
		if err := h.finish(ctx, j, s.name); err != nil {
			return j, &StepError{s.name, err}
		}
	}
	return j, nil
}

// newJournal records the plan, taking over the backups and created files
// of an interrupted run the plan completes.
func newJournal(h Host, p Plan, changes []Change) *Journal {
	j := &Journal{Version: 1, Run: h.RunID, Holder: h.Holder, Command: h.Command, Started: time.Now(), State: JournalApplying,
		Action: p.Action, Backend: p.Backend, BackendRestart: p.Backend != "" && (p.BackendRestart || p.Action == ActionInstall),
		Sysctl: p.Sysctl, BindV6Only: p.Facts.BindV6Only, baseline: -1}
	for _, c := range changes {
		j.Files = append(j.Files, JournalFile{Path: c.Path, Op: c.Op, SHA256: c.Sum, Mode: c.Mode, Owner: c.Owner})
	}
	r := p.Recover
	if r == nil {
		return j
	}
	j.Inherited, j.BindV6Only = r.Run, r.BindV6Only
	if r.Action == ActionInstall {
		j.Action = ActionInstall // a rollback must stop what the first install started
	}
	for _, rf := range r.Files {
		switch {
		case rf.Op == OpUpdate && rf.PrevSHA256 != "":
			f := j.file(rf.Path)
			if f == nil {
				j.Files = append(j.Files, JournalFile{Path: rf.Path, Op: OpUpdate, SHA256: p.Facts.Sums[rf.Path], Mode: rf.Mode, Owner: rf.Owner})
				f = &j.Files[len(j.Files)-1]
			}
			f.Op, f.Prev, f.PrevSHA256, f.Inherited = OpUpdate, rf.Prev, rf.PrevSHA256, true
		case rf.Op == OpCreate:
			f := j.file(rf.Path)
			if f == nil {
				if _, exists := p.Facts.Sums[rf.Path]; !exists {
					continue
				}
				j.Files = append(j.Files, JournalFile{Path: rf.Path, Op: OpCreate, SHA256: p.Facts.Sums[rf.Path], Mode: rf.Mode, Owner: rf.Owner})
				continue
			}
			f.Op = OpCreate
		}
	}
	return j
}

// act makes the agent take the new files.
func act(ctx context.Context, h Host, a Action) error {
	switch a {
	case ActionInstall:
		h.logf("enabling and starting %s", AgentUnitName)
		return h.run(ctx, "systemctl enable --quiet -- "+AgentUnitName+" && systemctl restart -- "+AgentUnitName)
	case ActionRestart:
		if h.Drain > 0 && h.ctl(ctx, "drain") == nil {
			h.logf("draining for %s before the restart", h.Drain)
			if err := h.wait(h.Drain); err != nil {
				return err
			}
		}
		h.logf("restarting %s", AgentUnitName)
		return h.run(ctx, "systemctl restart -- "+AgentUnitName)
	case ActionUpgrade:
		h.logf("upgrading the agent in place (socket hand-over)")
		return h.ctl(ctx, "upgrade")
	case ActionReload:
		h.logf("reloading the agent")
		return h.ctl(ctx, "reload")
	}
	return nil
}

func unitsChanged(j *Journal) bool {
	for _, f := range j.Files {
		if strings.HasSuffix(f.Path, ".service") && f.Op != OpFix {
			return true
		}
	}
	return false
}
