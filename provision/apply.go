package provision

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/edgectl/edgectl/agentconfig"
	"github.com/edgectl/edgectl/remote"
)

// Host is what Apply needs besides the plan: the layout and the agent
// config being installed (admin socket, directories).
type Host struct {
	remote.Host
	Layout Layout
	Agent  *agentconfig.Config
	// Drain is how long a restarting agent keeps serving with its health
	// answering 503 before it is restarted (rollout.drain).
	Drain time.Duration
	// Log receives progress lines ("writing 3 files", "reloading").
	Log func(format string, a ...any)
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

// ctl runs `edgectl agent <verb>` on the host with the installed binary.
func (h Host) ctl(ctx context.Context, verb string) error {
	if h.Agent.Admin == "" {
		// No admin socket: fall back to signals through systemd.
		switch verb {
		case "reload":
			return h.run(ctx, "systemctl reload "+AgentUnitName)
		case "upgrade":
			return h.run(ctx, "systemctl kill --kill-who=main -s USR2 "+AgentUnitName)
		default:
			return nil
		}
	}
	return h.run(ctx, fmt.Sprintf("%s agent %s --admin %s", remote.ShellQuote(h.Layout.Binary), verb, remote.ShellQuote(h.Agent.Admin)))
}

// Apply puts the plan's files in place, keeping the previous version of
// each as <path>.prev, and makes the agent pick them up. On an error after
// the first write, the caller should Rollback.
func Apply(ctx context.Context, h Host, p Plan) error {
	if !p.Changed() {
		return nil
	}
	if !p.Facts.Systemd {
		return fmt.Errorf("%s: PID 1 is not systemd; edgectl installs the agent as a systemd service", h.Name())
	}
	if err := prepare(ctx, h); err != nil {
		return err
	}
	var changed []Change
	for _, c := range p.Files {
		if c.Op != "unchanged" {
			changed = append(changed, c)
		}
	}
	// Keep the previous version of every file about to be replaced.
	var backup strings.Builder
	backup.WriteString("set -e\n")
	for _, c := range changed {
		if c.Op == "update" {
			fmt.Fprintf(&backup, "cp -p %s %s\n", remote.ShellQuote(c.Path), remote.ShellQuote(prevPath(c.Path)))
		}
	}
	if err := h.run(ctx, backup.String()); err != nil {
		return fmt.Errorf("keep previous versions: %w", err)
	}
	h.logf("writing %d file(s)", len(changed))
	var chown strings.Builder
	chown.WriteString("set -e\n")
	for _, c := range changed {
		if err := h.WriteFile(ctx, c.Path, c.Data, c.Mode); err != nil {
			return fmt.Errorf("write %s: %w", c.Path, err)
		}
		fmt.Fprintf(&chown, "chown %s %s\n", remote.ShellQuote(c.Owner), remote.ShellQuote(c.Path))
	}
	if err := h.run(ctx, chown.String()); err != nil {
		return fmt.Errorf("set owners: %w", err)
	}
	// The host's own binary checks the config it will run: paths and
	// listeners that only make sense there.
	if err := h.run(ctx, fmt.Sprintf("%s agent --check --config %s", remote.ShellQuote(h.Layout.Binary), remote.ShellQuote(h.Layout.AgentConfig))); err != nil {
		return fmt.Errorf("agent.yaml rejected on the host: %w", err)
	}
	if p.Sysctl {
		h.logf("applying %s", h.Layout.sysctl())
		if err := h.run(ctx, "sysctl -q -p "+remote.ShellQuote(h.Layout.sysctl())); err != nil {
			return fmt.Errorf("apply sysctl drop-in: %w", err)
		}
	}
	if unitsChanged(changed) {
		if err := h.run(ctx, "systemctl daemon-reload"); err != nil {
			return err
		}
	}
	if p.Backend != "" && (p.BackendRestart || p.Action == ActionInstall) {
		h.logf("starting backend %s", p.Backend)
		unit := remote.ShellQuote(p.Backend + ".service")
		if err := h.run(ctx, "systemctl enable --quiet "+unit+" && systemctl restart "+unit); err != nil {
			return fmt.Errorf("start backend: %w", err)
		}
	}
	return act(ctx, h, p.Action)
}

// act makes the agent take the new files.
func act(ctx context.Context, h Host, a Action) error {
	switch a {
	case ActionInstall:
		h.logf("enabling and starting %s", AgentUnitName)
		return h.run(ctx, "systemctl enable --quiet "+AgentUnitName+" && systemctl restart "+AgentUnitName)
	case ActionRestart:
		if h.Drain > 0 && h.ctl(ctx, "drain") == nil {
			h.logf("draining for %s before the restart", h.Drain)
			select {
			case <-time.After(h.Drain):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		h.logf("restarting %s", AgentUnitName)
		return h.run(ctx, "systemctl restart "+AgentUnitName)
	case ActionUpgrade:
		h.logf("upgrading the agent in place (socket hand-over)")
		return h.ctl(ctx, "upgrade")
	case ActionReload:
		h.logf("reloading the agent")
		return h.ctl(ctx, "reload")
	}
	return nil
}

// prepare creates the edgectl user and the directories the files go to.
func prepare(ctx context.Context, h Host) error {
	cfg := h.Agent
	var b strings.Builder
	b.WriteString("set -e\n")
	b.WriteString("id -u edgectl >/dev/null 2>&1 || useradd --system --user-group --no-create-home --home-dir " +
		remote.ShellQuote(h.Layout.StateDir) + " --shell /usr/sbin/nologin edgectl\n")
	dirs := []string{h.Layout.ConfigDir, path.Dir(h.Layout.Binary), h.Layout.UnitDir, h.Layout.SysctlDir}
	if cfg.Endpoints.File != "" {
		dirs = append(dirs, path.Dir(cfg.Endpoints.File))
	}
	for _, d := range dirs {
		fmt.Fprintf(&b, "install -d -m 0755 %s\n", remote.ShellQuote(d))
	}
	if cfg.TLS.CertsDir != "" {
		// The agent (user edgectl) reads the keys; cert writes them 0600
		// with the owner of this directory.
		fmt.Fprintf(&b, "install -d -m 0750 -o edgectl -g edgectl %s\n", remote.ShellQuote(cfg.TLS.CertsDir))
	}
	if cfg.ACMEChallengeDir != "" {
		fmt.Fprintf(&b, "install -d -m 0755 %s\n", remote.ShellQuote(cfg.ACMEChallengeDir))
	}
	if err := h.run(ctx, b.String()); err != nil {
		return fmt.Errorf("create the edgectl user and directories: %w", err)
	}
	return nil
}

func unitsChanged(cs []Change) bool {
	for _, c := range cs {
		if strings.HasSuffix(c.Path, ".service") {
			return true
		}
	}
	return false
}

// Rollback restores the files Apply replaced from their .prev copies,
// removes the ones it created, and makes the agent run the old set again.
func Rollback(ctx context.Context, h Host, p Plan) error {
	var changed []Change
	var b strings.Builder
	for _, c := range p.Files {
		switch c.Op {
		case "update":
			changed = append(changed, c)
			fmt.Fprintf(&b, "if [ -e %[2]s ]; then mv -f %[2]s %[1]s; fi\n", remote.ShellQuote(c.Path), remote.ShellQuote(prevPath(c.Path)))
		case "create":
			changed = append(changed, c)
			fmt.Fprintf(&b, "rm -f %s\n", remote.ShellQuote(c.Path))
		}
	}
	if len(changed) == 0 {
		return nil
	}
	h.logf("rolling back %d file(s)", len(changed))
	if p.Action == ActionInstall {
		// Nothing ran before: stop what this deploy started.
		units := AgentUnitName
		if p.Backend != "" {
			units += " " + remote.ShellQuote(p.Backend+".service")
		}
		b.WriteString("systemctl disable --now --quiet " + units + " 2>/dev/null || true\n")
	}
	if p.Sysctl && p.Facts.BindV6Only >= 0 {
		fmt.Fprintf(&b, "sysctl -q -w net.ipv6.bindv6only=%d\n", p.Facts.BindV6Only)
	}
	if unitsChanged(changed) {
		b.WriteString("systemctl daemon-reload\n")
	}
	if err := h.run(ctx, b.String()); err != nil {
		return fmt.Errorf("restore previous files: %w", err)
	}
	if p.Action == ActionInstall {
		return nil
	}
	if p.Backend != "" && p.BackendRestart {
		if err := h.run(ctx, "systemctl restart "+remote.ShellQuote(p.Backend+".service")); err != nil {
			return fmt.Errorf("restart backend: %w", err)
		}
	}
	// An agent that died on the new version comes back with a restart;
	// one still running takes the old files the way it took the new.
	if h.run(ctx, "systemctl is-active --quiet "+AgentUnitName) != nil {
		return h.run(ctx, "systemctl restart "+AgentUnitName)
	}
	a := p.Action
	if a == ActionRestart {
		h.Drain = 0
	}
	return act(ctx, h, a)
}
