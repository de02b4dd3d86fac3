package provision

import (
	"path"

	"github.com/edgectl/edgectl/remote"
)

// Layout is where edgectl puts things on a host (docs/deploy.md, "On a host").
// Tests point it under a temporary root; production uses DefaultLayout.
type Layout struct {
	// Binary is the edgectl binary the agent unit runs.
	Binary string
	// ConfigDir holds agent.yaml, endpoints.txt and certs/.
	ConfigDir string
	// AgentConfig is agent.yaml.
	AgentConfig string
	// UnitDir is where unit files go (/etc/systemd/system).
	UnitDir string
	// SysctlDir is where the sysctl drop-in goes (/etc/sysctl.d).
	SysctlDir string
	// StateDir is the agent's state directory (/var/lib/edgectl).
	StateDir string
	// RunDir holds the admin socket (/run/edgectl).
	RunDir string
}

// DefaultLayout is the layout every host gets (docs/deploy.md).
func DefaultLayout() Layout {
	return Layout{
		Binary:      "/usr/local/bin/edgectl",
		ConfigDir:   "/etc/edgectl",
		AgentConfig: "/etc/edgectl/agent.yaml",
		UnitDir:     "/etc/systemd/system",
		SysctlDir:   "/etc/sysctl.d",
		StateDir:    "/var/lib/edgectl",
		RunDir:      "/run/edgectl",
	}
}

// AgentUnitName is the agent's systemd unit.
const AgentUnitName = "edgectl-agent.service"

// SysctlFile is the name of the drop-in in SysctlDir.
const SysctlFile = "60-edgectl.conf"

func (l Layout) agentUnit() string           { return path.Join(l.UnitDir, AgentUnitName) }
func (l Layout) sysctl() string              { return path.Join(l.SysctlDir, SysctlFile) }
func (l Layout) backendUnit(n string) string { return path.Join(l.UnitDir, n+".service") }

// backendSocket is the backend's socket unit (backend.socket).
func (l Layout) backendSocket(n string) string { return path.Join(l.UnitDir, n+".socket") }

// Journal is the deploy journal and Lock the per-host lock, in StateDir.
func (l Layout) Journal() string { return path.Join(l.StateDir, JournalName) }
func (l Layout) Lock() string    { return path.Join(l.StateDir, LockName) }

// Names of the journal and the lock in StateDir.
const (
	JournalName = "deploy.json"
	LockName    = "lock"
)

// prevPath is where the previous version of a file is kept for rollback.
func prevPath(p string) string { return p + ".prev" }

// stagePath is where run uploads the new version of p before renaming it
// into place: a name the next run recognises as a temporary file.
func stagePath(p, run string) string {
	return path.Join(path.Dir(p), "."+path.Base(p)+remote.TempInfix+run)
}
