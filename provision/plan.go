package provision

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/edgectl/edgectl/fleet"
)

// Action is what the agent must do for a plan to take effect.
type Action string

// Actions, from the lightest to the heaviest.
const (
	ActionNone    Action = "none"    // nothing changed
	ActionReload  Action = "reload"  // agent.yaml or endpoints.txt changed: hot reload
	ActionUpgrade Action = "upgrade" // a new binary: zero-downtime socket hand-over
	ActionRestart Action = "restart" // the unit changed (or the agent is not running): drain, restart
	ActionInstall Action = "install" // first install: create the user, enable and start
	ActionCutover Action = "cutover" // another proxy holds the agent's ports: stop it, start the agent (cutover.go)
)

var actionRank = map[Action]int{"": 0, ActionNone: 0, ActionReload: 1, ActionUpgrade: 2, ActionRestart: 3, ActionInstall: 4, ActionCutover: 5}

// heavier returns the heavier of two actions.
func heavier(a, b Action) Action {
	if actionRank[b] > actionRank[a] {
		return b
	}
	return a
}

// File operations in a plan.
const (
	OpCreate    = "create"    // the file does not exist
	OpUpdate    = "update"    // its content differs
	OpFix       = "fix"       // content right, owner or mode wrong
	OpUnchanged = "unchanged" // as it should be
)

// Change is one file of a plan.
type Change struct {
	File
	// Op is create, update, fix or unchanged.
	Op string `json:"op"`
	// Was is the owner and mode on the host when they differ ("0640
	// root:root").
	Was string `json:"was,omitempty"`
	// Diff is a unified diff for text files in a dry run.
	Diff string `json:"diff,omitempty"`
}

// Plan is what deploy will do on one host.
type Plan struct {
	Host  string   `json:"host"`
	Facts Facts    `json:"facts"`
	Files []Change `json:"files"`
	// Action is what the agent does once the files are in place.
	Action Action `json:"action"`
	// Backend is the backend unit; BackendRestart is set when its unit
	// file changed or it is not running.
	Backend        string `json:"backend,omitempty"`
	BackendRestart bool   `json:"backend_restart,omitempty"`
	// BackendSocket is the backend's socket unit ("mop-api.socket", ""
	// without socket:); BackendSocketRestart is set when its unit file
	// changed: the socket is stopped and started with the service.
	BackendSocket        string `json:"backend_socket,omitempty"`
	BackendSocketRestart bool   `json:"backend_socket_restart,omitempty"`
	// CreateUser and CreateGroup are the backend's user and group the
	// host lacks: the prepare step creates them.
	CreateUser  string `json:"create_user,omitempty"`
	CreateGroup string `json:"create_group,omitempty"`
	// Findings are what the plan found about the backend on this host
	// (fleet.CheckBackend): an error stops the deploy before anything is
	// written; warnings are reported.
	Findings []fleet.BackendFinding `json:"findings,omitempty"`
	// Sysctl is set when the drop-in changed and must be applied.
	Sysctl bool `json:"sysctl,omitempty"`
	// Reasons say why the host needs work beyond file contents: the agent
	// runs another config than the one on disk, a unit is down, an earlier
	// deploy was interrupted.
	Reasons []string `json:"reasons,omitempty"`
	// Recover is the interrupted journal of an earlier run this plan
	// completes (its backups are kept as this run's).
	Recover *Journal `json:"recover,omitempty"`
	// Cleanup are temporary files of earlier runs to remove.
	Cleanup []string `json:"cleanup,omitempty"`
	// BinaryNote says which binary is uploaded.
	BinaryNote string `json:"binary"`
	// Holders are the other programs listening where the agent must: the
	// action is then cutover, which needs --takeover.
	Holders []PortHolder `json:"holders,omitempty"`

	install bool // the cutover installs the agent for the first time

	userGroup string // the group a created backend user gets ("" = a new one of its name)
}

// MakePlan compares what the host has with what it should have. It looks
// beyond content hashes: owner and mode of every file, the config the
// agent actually loaded, whether the agent and the backend run, and the
// journal of an interrupted deploy. So a host is "unchanged" only when it
// is as the fleet says.
func MakePlan(host string, facts Facts, want Want, l Layout) Plan {
	p := Plan{Host: host, Facts: facts, Backend: want.Backend, BackendSocket: want.BackendSocket, Action: ActionNone, Cleanup: facts.StaleTemps}
	changed := map[string]bool{}
	var agentSum string
	for _, f := range want.Files {
		if f.Path == l.AgentConfig {
			agentSum = f.Sum
		}
		c := Change{File: f, Op: OpUnchanged}
		old, ok := facts.Sums[f.Path]
		switch {
		case !ok:
			c.Op = OpCreate
		case old != f.Sum:
			c.Op = OpUpdate
		default:
			if ff, ok := facts.Files[f.Path]; ok && (ff.Mode.Perm() != f.Mode.Perm() || ff.Owner != f.Owner) {
				c.Op, c.Was = OpFix, fmt.Sprintf("%04o %s", ff.Mode.Perm(), ff.Owner)
			}
		}
		if c.Op != OpUnchanged {
			changed[f.Path] = true
		}
		p.Files = append(p.Files, c)
	}
	_, hasBinary := facts.Sums[l.Binary]
	_, hasUnit := facts.Sums[l.agentUnit()]
	switch {
	case !hasBinary || !hasUnit || !facts.User:
		p.Action = ActionInstall
	case changed[l.agentUnit()] || facts.Active != "active":
		p.Action = ActionRestart
		if !changed[l.agentUnit()] {
			p.Reasons = append(p.Reasons, fmt.Sprintf("the agent is not running (%s)", orUnknown(facts.Active)))
		}
	case changed[l.Binary]:
		p.Action = ActionUpgrade
	case facts.Agent != nil && installedVersion(facts.Version) != "" && facts.Agent.Version != "" && installedVersion(facts.Version) != facts.Agent.Version:
		p.Action = ActionUpgrade
		p.Reasons = append(p.Reasons, fmt.Sprintf("the agent runs %s, the binary on disk is %s", facts.Agent.Version, facts.Version))
	case p.anyChanged():
		p.Action = ActionReload
	case facts.Agent != nil && facts.Agent.ConfigSHA256 != "" && agentSum != "" && facts.Agent.ConfigSHA256 != agentSum:
		p.Action = ActionReload
		p.Reasons = append(p.Reasons, fmt.Sprintf("the agent runs another config (sha256 %s) than agent.yaml (%s)", short(facts.Agent.ConfigSHA256), short(agentSum)))
	}
	if want.BackendSocket != "" && changed[l.backendSocket(want.Backend)] {
		p.BackendSocketRestart = true
		changed[l.backendUnit(want.Backend)] = true // the service runs on the socket: it restarts with it
	}
	if want.Backend != "" && changed[l.backendUnit(want.Backend)] {
		p.BackendRestart = true
	}
	p.planBackendUser(want, facts.BackendHost)
	if want.Backend != "" && p.Action != ActionInstall && !changed[l.backendUnit(want.Backend)] && facts.Backend != nil && facts.Backend.ActiveState != "active" {
		p.BackendRestart = true
		p.Reasons = append(p.Reasons, fmt.Sprintf("the backend %s is not running (%s)", want.Backend, facts.Backend.ActiveState))
	}
	p.Sysctl = changed[l.sysctl()]
	if len(facts.Holders) > 0 {
		p.Holders, p.install = facts.Holders, p.Action == ActionInstall
		p.Action = ActionCutover
		if p.install && want.Backend != "" {
			p.BackendRestart = true // an install starts the backend
		}
	}
	if j := facts.Journal; !j.Finished() {
		p.recoverFrom(j)
	}
	return p
}

// recoverFrom folds an interrupted run's unfinished work into the plan:
// the agent action and backend restart it had not done yet are done now,
// and its verified backups stay this run's, so that a failure rolls back
// to the state before the interrupted run.
func (p *Plan) recoverFrom(j *Journal) {
	p.Recover = j
	p.Reasons = append(p.Reasons, "completes an interrupted deploy: "+j.Describe())
	if !j.done(StepAgent) {
		p.Action = heavier(p.Action, j.Action)
	}
	if j.BackendRestart && !j.done(StepBackend) {
		p.BackendRestart = true
		p.BackendSocketRestart = p.BackendSocketRestart || j.socketChanged()
	}
	if j.Sysctl && !j.done(StepSysctl) {
		p.Sysctl = true
	}
}

// installedVersion is the version in `edgectl version`'s line ("edgectl
// v1.2.0 (go1.26, linux/amd64)").
func installedVersion(line string) string {
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "edgectl" {
		return ""
	}
	return f[1]
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func (p Plan) anyChanged() bool {
	for _, c := range p.Files {
		if c.Op != OpUnchanged {
			return true
		}
	}
	return false
}

// Changed reports whether applying the plan would touch the host.
func (p Plan) Changed() bool {
	return p.Action != ActionNone || p.anyChanged() || p.BackendRestart || p.Recover != nil || p.CreateUser != "" || p.CreateGroup != ""
}

// Summary is one line: "upgrade: 2 files changed (agent.yaml, edgectl)".
func (p Plan) Summary() string {
	var names []string
	for _, c := range p.Files {
		switch c.Op {
		case OpUnchanged:
		case OpFix:
			names = append(names, baseName(c.Path)+" owner/mode")
		default:
			names = append(names, baseName(c.Path))
		}
	}
	what := string(p.Action)
	if p.Action == ActionNone {
		what = "files only"
	}
	var s string
	switch {
	case len(names) > 0:
		s = fmt.Sprintf("%s: %d file(s) changed (%s)", what, len(names), strings.Join(names, ", "))
	case p.Action != ActionNone:
		s = fmt.Sprintf("%s (no file changed)", p.Action)
	case p.BackendRestart:
		s = "backend restart"
	case p.CreateUser != "" || p.CreateGroup != "":
		s = "creates the backend's user " + strings.TrimSpace(p.CreateUser+" "+p.CreateGroup)
	case p.Recover != nil:
		s = "gate (completing an interrupted deploy)"
	default:
		return "no change"
	}
	if p.BackendRestart && (len(names) > 0 || p.Action != ActionNone) {
		s += " + backend restart"
	}
	if p.Recover != nil && !strings.HasPrefix(s, "gate") {
		s += "; completes an interrupted deploy"
	}
	return s
}

// changes are the files the plan writes or repairs.
func (p Plan) changes() []Change {
	var out []Change
	for _, c := range p.Files {
		if c.Op != OpUnchanged {
			out = append(out, c)
		}
	}
	return out
}

func modeString(m fs.FileMode) string { return fmt.Sprintf("%04o", m.Perm()) }

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
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
