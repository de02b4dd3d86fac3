package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/edgectl/edgectl/remote"
)

// Rollback restores the host to what it was before the run of journal j:
// every file j replaced comes back from its verified backup, every file j
// created is removed, then systemd, the backend and the agent take the old
// files. It restores only backups whose checksum still matches the
// journal, and it can be run again after it was cut off: files already
// restored are left alone. The journal ends in state rolled-back.
func Rollback(ctx context.Context, h Host, j *Journal) error {
	if h.Step != nil {
		h.Step(StepRollback)
	}
	j.State = JournalRollingBack
	if err := writeJournal(ctx, h, j); err != nil {
		return err
	}
	var paths []string
	for _, f := range j.Files {
		switch f.Op {
		case OpUpdate:
			if f.PrevSHA256 != "" {
				paths = append(paths, f.Path, f.Prev)
			}
		case OpCreate:
			paths = append(paths, f.Path)
		}
	}
	have, err := sums(ctx, h, paths)
	if err != nil {
		return err
	}
	q := remote.ShellQuote
	var b strings.Builder
	b.WriteString("set -e\n")
	if j.Takeover != nil {
		// First free the ports the old proxy gets back.
		b.WriteString(stopAgentCmd(j))
	}
	// This run's uploads that were never moved into place.
	var staged []string
	for _, f := range j.Files {
		if f.Op == OpCreate || f.Op == OpUpdate {
			staged = append(staged, q(stagePath(f.Path, j.Run)))
		}
	}
	if len(staged) > 0 {
		fmt.Fprintf(&b, "rm -f -- %s\n", strings.Join(staged, " "))
	}
	// Units this run started whose files go away are stopped (and their
	// links removed) while systemd still has their files.
	if stop := startedUnits(h.Layout, j, have); len(stop) > 0 {
		b.WriteString("systemctl disable --now --quiet -- " + strings.Join(stop, " ") + " 2>/dev/null || true\n")
	}
	var problems []error
	n := 0
	restored := map[string]bool{}
	for _, f := range j.Files {
		switch {
		case f.Op == OpUpdate && f.PrevSHA256 == "":
			// Its backup was never verified, so it was never replaced.
		case f.Op == OpUpdate && have[f.Path] == f.PrevSHA256:
			// Already the old version.
		case f.Op == OpUpdate && have[f.Prev] == f.PrevSHA256:
			// A new hard link renamed over the file: atomic, and the
			// backup stays for another try.
			tmp := stagePath(f.Path, "rollback-"+j.Run)
			fmt.Fprintf(&b, "ln -f -- %s %s\nmv -f -- %s %s\n", q(f.Prev), q(tmp), q(tmp), q(f.Path))
			n++
			restored[f.Path] = true
		case f.Op == OpUpdate:
			problems = append(problems, &BackupError{Path: f.Path, Backup: f.Prev, Want: f.PrevSHA256, Got: have[f.Prev]})
		case f.Op == OpCreate:
			if _, ok := have[f.Path]; ok {
				fmt.Fprintf(&b, "rm -f -- %s\n", q(f.Path))
				n++
				restored[f.Path] = true
			}
		}
	}
	h.logf("rolling back: restoring %d file(s)", n)
	if j.Sysctl && j.done(StepSysctl) && j.BindV6Only >= 0 {
		fmt.Fprintf(&b, "sysctl -q -w net.ipv6.bindv6only=%d\n", j.BindV6Only)
	}
	if unitsChanged(j) {
		b.WriteString("systemctl daemon-reload\n")
	}
	if err := h.run(ctx, b.String()); err != nil {
		return fmt.Errorf("restore the previous files: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("could not restore every file: %w", errors.Join(problems...))
	}
	switch {
	case j.Takeover != nil:
		if err := restoreTakenOver(ctx, h, j.Takeover); err != nil {
			return err
		}
		if j.Takeover.AgentActive {
			if err := restartOld(ctx, h, j, restored); err != nil {
				return err
			}
		}
	case j.Action != ActionInstall:
		if err := restartOld(ctx, h, j, restored); err != nil {
			return err
		}
	}
	j.State = JournalRolledBack
	return writeJournal(ctx, h, j)
}

// startedUnits are the units a rollback of j stops and disables, quoted:
// after a first install everything it started (nothing ran before), else
// a backend socket unit the run created.
func startedUnits(l Layout, j *Journal, have map[string]string) []string {
	q := remote.ShellQuote
	if j.Action == ActionInstall || (j.Takeover != nil && j.Takeover.Install) {
		units := []string{AgentUnitName}
		if j.Backend != "" {
			if j.BackendSocket != "" {
				units = append(units, q(j.BackendSocket))
			}
			units = append(units, q(j.Backend+".service"))
		}
		return units
	}
	if j.Backend == "" {
		return nil
	}
	sock := l.backendSocket(j.Backend)
	if f := j.file(sock); f != nil && f.Op == OpCreate {
		if _, ok := have[sock]; ok {
			return []string{q(j.Backend + ".socket")}
		}
	}
	return nil
}

// restartOld makes the backend and the agent run the restored files, and
// waits until the agent runs the restored config. The agent does what the
// restored files need: a restart for its unit, an upgrade for its binary,
// else a reload.
func restartOld(ctx context.Context, h Host, j *Journal, restored map[string]bool) error {
	if j.Backend != "" && j.BackendRestart && (j.done(StepBackend) || j.done(StepInstall)) {
		h.logf("restarting backend %s on its previous version", j.Backend)
		if _, err := restartBackend(ctx, h, j.backendUnits(h.Layout)); err != nil {
			return err
		}
	}
	// An agent that died on the new version comes back with a restart;
	// one still running takes the old files the way it took the new.
	if h.run(ctx, "systemctl is-active --quiet -- "+AgentUnitName) != nil {
		if err := h.run(ctx, "systemctl restart -- "+AgentUnitName); err != nil {
			return fmt.Errorf("restart the agent: %w", err)
		}
	} else if len(restored) > 0 || j.done(StepAgent) {
		a := ActionReload
		switch {
		case restored[h.Layout.agentUnit()]:
			a = ActionRestart
		case restored[h.Layout.Binary]:
			a = ActionUpgrade
		}
		h.Drain, h.Stop = 0, nil
		if err := act(ctx, h, a); err != nil {
			return fmt.Errorf("make the agent take the previous files: %w", err)
		}
	}
	return waitConfig(ctx, h, j, 15*time.Second)
}

// waitConfig waits until the agent reports running the config on disk
// (agents too old to report it are taken at their word).
func waitConfig(ctx context.Context, h Host, j *Journal, within time.Duration) error {
	if h.Agent.Admin == "" {
		return nil
	}
	deadline := time.Now().Add(within)
	var last string
	for {
		have, err := sums(ctx, h, []string{h.Layout.AgentConfig})
		if err != nil {
			return err
		}
		a, err := agentStatus(ctx, h)
		switch {
		case err == nil && (a.ConfigSHA256 == "" || a.ConfigSHA256 == have[h.Layout.AgentConfig]):
			return nil
		case err == nil:
			last = fmt.Sprintf("the agent runs config %s, agent.yaml is %s", short(a.ConfigSHA256), short(have[h.Layout.AgentConfig]))
		default:
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after the rollback %s", last)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// agentStatus runs `edgectl agent status --json` on the host.
func agentStatus(ctx context.Context, h Host) (*AgentFacts, error) {
	res, err := h.Run(ctx, fmt.Sprintf("%s agent status --json --admin %s", remote.ShellQuote(h.Layout.Binary), remote.ShellQuote(h.Agent.Admin)), nil)
	if err != nil {
		return nil, fmt.Errorf("agent status: %w", err)
	}
	var a AgentFacts
	if err := json.Unmarshal(res.Stdout, &a); err != nil {
		return nil, fmt.Errorf("agent status: not the agent's JSON: %w", err)
	}
	return &a, nil
}
