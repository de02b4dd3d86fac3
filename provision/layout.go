package provision

import "path"

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

// prevPath is where the previous version of a file is kept for rollback.
func prevPath(p string) string { return p + ".prev" }
