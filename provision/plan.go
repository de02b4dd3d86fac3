package provision

import (
	"fmt"
	"strings"
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
)

// Change is one file of a plan.
type Change struct {
	File
	// Op is create, update or unchanged.
	Op string `json:"op"`
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
	// file changed.
	Backend        string `json:"backend,omitempty"`
	BackendRestart bool   `json:"backend_restart,omitempty"`
	// Sysctl is set when the drop-in changed and must be applied.
	Sysctl bool `json:"sysctl,omitempty"`
	// BinaryNote says which binary is uploaded.
	BinaryNote string `json:"binary"`
}

// MakePlan compares what the host has with what it should have.
func MakePlan(host string, facts Facts, want Want, l Layout) Plan {
	p := Plan{Host: host, Facts: facts, Backend: want.Backend, Action: ActionNone}
	changed := map[string]bool{}
	for _, f := range want.Files {
		c := Change{File: f, Op: "unchanged"}
		switch old, ok := facts.Sums[f.Path]; {
		case !ok:
			c.Op = "create"
		case old != f.Sum:
			c.Op = "update"
		}
		if c.Op != "unchanged" {
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
	case changed[l.Binary]:
		p.Action = ActionUpgrade
	case p.anyChanged():
		p.Action = ActionReload
	}
	if want.Backend != "" && changed[l.backendUnit(want.Backend)] {
		p.BackendRestart = true
	}
	p.Sysctl = changed[l.sysctl()]
	return p
}

func (p Plan) anyChanged() bool {
	for _, c := range p.Files {
		if c.Op != "unchanged" {
			return true
		}
	}
	return false
}

// Changed reports whether applying the plan would touch the host.
func (p Plan) Changed() bool { return p.Action != ActionNone || p.anyChanged() }

// Summary is one line: "upgrade: 2 files changed (agent.yaml, edgectl)".
func (p Plan) Summary() string {
	var names []string
	for _, c := range p.Files {
		if c.Op != "unchanged" {
			names = append(names, baseName(c.Path))
		}
	}
	if len(names) == 0 {
		if p.Action == ActionNone {
			return "no change"
		}
		return fmt.Sprintf("%s (no file changed)", p.Action)
	}
	what := string(p.Action)
	if p.Action == ActionNone {
		what = "files only"
	}
	return fmt.Sprintf("%s: %d file(s) changed (%s)", what, len(names), strings.Join(names, ", "))
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}
