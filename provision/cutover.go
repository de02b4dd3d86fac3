package provision

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgectl/edgectl/remote"
)

// A cutover is a deploy onto a host where another proxy (nginx, caddy,
// haproxy) holds the ports the agent listens on. The files are written as
// for an install; then, in one remote command, the old proxy's units are
// disabled and stopped and the agent is enabled and started, back to back,
// so the ports are free for as short a time as possible. The gate follows.
// A failed gate, or any error once the old proxy was stopped, stops and
// disables the agent and enables and starts the old units again (as they
// were: only what was enabled is enabled again). Nothing of the old proxy
// is deleted: its configuration stays on disk.
//
// The journal records the takeover (Journal.Takeover) before the old
// proxy is touched. A run killed between stopping the old proxy and
// starting the agent leaves a host that serves nothing on those ports;
// the next deploy of the host completes the cutover (it starts the agent
// and gates it, without asking for --takeover again: the interrupted run
// had it) and restores the old proxy when that gate fails.

// Takeover is the journal's record of a cutover: the old proxy's units and
// what they were before, so a rollback (or the rollback of a rerun)
// restores them.
type Takeover struct {
	// Holders are the sockets the old proxy held, with their units.
	Holders []PortHolder `json:"holders"`
	// Units are the units stopped (and disabled) for the agent.
	Units []TakeoverUnit `json:"units"`
	// Install is set when the agent was not installed before: a rollback
	// stops and disables it (and the backend it installed).
	Install bool `json:"install,omitempty"`
	// AgentActive is set when the agent ran (on other ports) before: a
	// rollback starts it again on its previous files.
	AgentActive bool `json:"agent_active,omitempty"`
}

// TakeoverUnit is one unit of the old proxy.
type TakeoverUnit struct {
	Name string `json:"name"`
	// Enabled and Active are systemctl is-enabled and is-active before the
	// takeover.
	Enabled string `json:"enabled"`
	Active  string `json:"active"`
}

// wasEnabled reports whether systemd started the unit at boot.
func (u TakeoverUnit) wasEnabled() bool {
	return u.Enabled == "enabled" || u.Enabled == "enabled-runtime"
}

// PortConflict is one host where other programs hold the agent's ports.
type PortConflict struct {
	Host    string
	Holders []PortHolder
}

// PortConflictError is returned by Deploy, before anything is written,
// when other programs hold the agent's ports on some hosts and the run
// was not told to take them over, or cannot (a holder that is no systemd
// service).
type PortConflictError struct {
	Conflicts []PortConflict
	// Takeover is set when the run was told to take over: then the
	// conflicts are holders it cannot stop.
	Takeover bool
}

func (e *PortConflictError) Error() string {
	var b strings.Builder
	if e.Takeover {
		fmt.Fprintf(&b, "programs that deploy does not stop (not a systemd service, or one the host needs: SSH, D-Bus, systemd) hold the agent's ports on %s; nothing was changed on any host (free the ports or change agent.listen, then deploy again):", plural(len(e.Conflicts), "host"))
	} else {
		fmt.Fprintf(&b, "other programs hold the agent's ports on %s; nothing was changed on any host:", plural(len(e.Conflicts), "host"))
	}
	for _, c := range e.Conflicts {
		for _, h := range c.Holders {
			fmt.Fprintf(&b, "\n  %s: %s", c.Host, h.Describe())
		}
	}
	return b.String()
}

// Describe is one line: "port 80 (ipv4, 0.0.0.0:80) is held by nginx (pid
// 412, unit nginx.service)".
func (h PortHolder) Describe() string {
	unit := "no systemd unit"
	if h.Unit != "" {
		unit = "unit " + h.Unit
	}
	return fmt.Sprintf("port %d (%s, %s) is held by %s (pid %d, %s)", h.Port, h.Family, h.Addr, orUnknown(h.Program), h.PID, unit)
}

// checkConflicts returns the error that stops a deploy before any write
// when a host's plan is a cutover it may not or cannot do (nil: none).
func checkConflicts(states []*hostState, takeover bool) error {
	e := &PortConflictError{Takeover: takeover}
	for _, st := range states {
		if st.res.Status != "" || len(st.plan.Holders) == 0 {
			continue
		}
		// An interrupted cutover had --takeover: its rerun completes it.
		consent := takeover || (st.plan.Recover != nil && st.plan.Recover.Takeover != nil)
		var bad []PortHolder
		for _, h := range st.plan.Holders {
			if !consent || !canStop(h.Unit) {
				bad = append(bad, h)
			}
		}
		if len(bad) > 0 {
			e.Conflicts = append(e.Conflicts, PortConflict{Host: st.host.Name, Holders: bad})
		}
	}
	if len(e.Conflicts) == 0 {
		return nil
	}
	return e
}

// canStop reports whether a cutover may stop unit: a service, and not
// one the host needs to be reached or run at all (SSH, D-Bus, systemd's).
func canStop(unit string) bool {
	switch unit {
	case "", "ssh.service", "sshd.service", "dbus.service", "dbus-broker.service":
		return false
	}
	return !strings.HasPrefix(unit, "systemd-") && !strings.HasPrefix(unit, "init.scope")
}

// newTakeover is the journal's record for a plan that takes ports over,
// joined with an interrupted run's record (whose units' earlier states
// win: they are what the host had before either run).
func newTakeover(p Plan) *Takeover {
	var t *Takeover
	if r := p.Recover; r != nil && r.Takeover != nil {
		c := *r.Takeover
		c.Units = slices.Clone(c.Units)
		t = &c
	}
	if len(p.Holders) == 0 {
		return t
	}
	if t == nil {
		t = &Takeover{Install: p.install, AgentActive: p.Facts.Active == "active"}
	}
	t.Holders = append(t.Holders, p.Holders...)
	for _, h := range p.Holders {
		if h.Unit == "" || slices.ContainsFunc(t.Units, func(u TakeoverUnit) bool { return u.Name == h.Unit }) {
			continue
		}
		t.Units = append(t.Units, TakeoverUnit{Name: h.Unit, Enabled: h.Enabled, Active: h.Active})
	}
	return t
}

func (t *Takeover) unitNames() []string {
	var out []string
	for _, u := range t.Units {
		out = append(out, remote.ShellQuote(u.Name))
	}
	return out
}

// cutover disables and stops the old proxy's units and enables and starts
// the agent in one command, so the ports are free only between the two.
// The host's clock around the stop and the start says how long each took.
func cutover(ctx context.Context, h Host, t *Takeover) error {
	units := strings.Join(t.unitNames(), " ")
	h.logf("cutover: stopping %s and starting %s", units, AgentUnitName)
	cmd := "systemctl enable --quiet -- " + AgentUnitName + " && date +%s%N"
	if units != "" {
		cmd += " && systemctl disable --quiet -- " + units + " && date +%s%N && systemctl stop -- " + units
	}
	cmd += " && date +%s%N && systemctl restart -- " + AgentUnitName + " && date +%s%N"
	res, err := h.Run(ctx, cmd, nil)
	if err != nil {
		return err
	}
	var ns []int64
	for _, f := range strings.Fields(string(res.Stdout)) {
		if n, err := strconv.ParseInt(f, 10, 64); err == nil {
			ns = append(ns, n)
		}
	}
	if len(ns) == 4 {
		stop, start := time.Duration(ns[2]-ns[1]), time.Duration(ns[3]-ns[2])
		h.logf("cutover: %s stopped in %s, %s started in %s (ports free for at most %s)", units,
			stop.Round(time.Millisecond), AgentUnitName, start.Round(time.Millisecond), (stop + start).Round(time.Millisecond))
	}
	return nil
}

// actJournaled makes the agent take the new files: a cutover with the
// journal's takeover record, any other action with act.
func actJournaled(ctx context.Context, h Host, a Action, j *Journal) error {
	if a == ActionCutover {
		t := j.Takeover
		if t == nil {
			t = &Takeover{}
		}
		return cutover(ctx, h, t)
	}
	return act(ctx, h, a)
}

// restoreTakenOver runs in a rollback of a cutover, after the agent was
// stopped: the old proxy's units are enabled again when they were and
// started when they ran, and must then be active.
func restoreTakenOver(ctx context.Context, h Host, t *Takeover) error {
	q := remote.ShellQuote
	var b strings.Builder
	var started []string
	for _, u := range t.Units {
		if u.wasEnabled() {
			fmt.Fprintf(&b, "systemctl enable --quiet -- %s\n", q(u.Name))
		}
		if u.Active == "active" || u.Active == "reloading" || u.Active == "activating" {
			fmt.Fprintf(&b, "systemctl start -- %s\n", q(u.Name))
			started = append(started, u.Name)
		}
	}
	if b.Len() == 0 {
		return nil
	}
	h.logf("rolling back the cutover: starting %s again", strings.Join(started, ", "))
	if err := h.run(ctx, "set -e\n"+b.String()); err != nil {
		return fmt.Errorf("start the old proxy again (%s): %w", strings.Join(started, ", "), err)
	}
	// systemctl start returns once the unit started; make sure it stays.
	deadline := time.Now().Add(10 * time.Second)
	for _, u := range started {
		for {
			st, err := unitState(ctx, h, u)
			if err == nil && st.ActiveState == "active" {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the old proxy %s is %s after the rollback; see journalctl -u %s", u, orUnknown(st.ActiveState), u)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	return nil
}

// stopAgentCmd is the rollback's shell line that frees the ports again
// when the agent ran before the cutover (after a cutover that installed
// it, startedUnits stops and disables it with its backend).
func stopAgentCmd(j *Journal) string {
	if j.Takeover.Install {
		return ""
	}
	return "systemctl stop -- " + AgentUnitName + " 2>/dev/null || true\n"
}

// markConflicts gives each conflicting host its status and summary.
func markConflicts(e *PortConflictError, states []*hostState) {
	for _, c := range e.Conflicts {
		for _, st := range states {
			if st.host.Name != c.Host {
				continue
			}
			var ports, lines []string
			for _, h := range c.Holders {
				ports = append(ports, fmt.Sprintf("%d/%s %s", h.Port, h.Family, orUnknown(h.Program)))
				lines = append(lines, h.Describe())
			}
			st.res.Status, st.res.Err = StatusConflict, e
			st.res.Summary = "not touched: ports held by another program: " + strings.Join(ports, ", ")
			st.res.Error = strings.Join(lines, "; ")
		}
	}
}
