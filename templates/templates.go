// Package templates renders the files edgectl puts on a host: the agent's
// systemd unit, the optional backend unit (and its socket unit), the sysctl
// drop-in and the agent.yaml and endpoints.txt written from fleet.yaml.
// Rendering is pure:
// the same input gives the same bytes, which is what lets deploy compare a
// host's files by hash and change nothing when nothing changed.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	"strings"
	"text/template"
	"time"
)

//go:embed *.tmpl
var files embed.FS

var tmpl = template.Must(template.ParseFS(files, "*.tmpl"))

// Header is the first comment line of every rendered file.
const Header = "Managed by edgectl deploy from fleet.yaml; local edits are overwritten."

// AgentUnit is the input of the edgectl-agent.service unit.
type AgentUnit struct {
	// Binary is the absolute path of the edgectl binary.
	Binary string
	// Config is the absolute path of agent.yaml.
	Config string
	// StopTimeout is how long systemd waits for a drain on stop.
	StopTimeout time.Duration
	// ReadWritePaths are the directories the agent may write under
	// ProtectSystem=strict.
	ReadWritePaths []string
	// Backend is the backend unit name the agent starts after ("" = none).
	Backend string
}

// RenderAgentUnit renders edgectl-agent.service.
func RenderAgentUnit(u AgentUnit) ([]byte, error) {
	for _, p := range append([]string{u.Binary, u.Config}, u.ReadWritePaths...) {
		if err := unitPath(p); err != nil {
			return nil, err
		}
	}
	secs := int((u.StopTimeout + time.Second - 1) / time.Second)
	return render("edgectl-agent.service.tmpl", map[string]any{
		"Header":         Header,
		"Binary":         u.Binary,
		"Config":         u.Config,
		"StopTimeout":    fmt.Sprintf("%ds", secs),
		"ReadWritePaths": strings.Join(u.ReadWritePaths, " "),
		"Backend":        u.Backend,
	})
}

// Sysctl is one setting of the sysctl drop-in, with why it is there.
type Sysctl struct {
	Key, Value, Reason string
}

// RenderSysctl renders /etc/sysctl.d/60-edgectl.conf; nil when there is
// nothing to set (and then deploy writes no drop-in at all).
func RenderSysctl(settings []Sysctl) ([]byte, error) {
	if len(settings) == 0 {
		return nil, nil
	}
	return render("sysctl.conf.tmpl", map[string]any{"Header": Header, "Settings": settings})
}

// AgentYAML is agent.yaml as written on a host: the header, then the
// agent: section of fleet.yaml as given (body nil = every default).
func AgentYAML(body []byte) []byte {
	var b bytes.Buffer
	b.WriteString("# " + Header + "\n")
	if len(bytes.TrimSpace(body)) == 0 {
		b.WriteString("# every setting at its default (see docs/agent.md)\n{}\n")
		return b.Bytes()
	}
	b.Write(body)
	if body[len(body)-1] != '\n' {
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Endpoints renders endpoints.txt: the client failover list, domains first.
func Endpoints(domains, ips []string) []byte {
	var b bytes.Buffer
	b.WriteString("# " + Header + "\nDomainList:\n")
	for _, d := range domains {
		b.WriteString(d + "\n")
	}
	b.WriteString("IPList:\n")
	for _, ip := range ips {
		b.WriteString(ip + "\n")
	}
	return b.Bytes()
}

func render(name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := tmpl.ExecuteTemplate(&b, name, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", strings.TrimSuffix(name, ".tmpl"), err)
	}
	out := b.Bytes()
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return out, nil
}

// unitPath rejects paths that would break or inject into a unit file.
func unitPath(p string) error {
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " \t\n\r%$\\\"'") {
		return fmt.Errorf("path %q cannot go into a systemd unit: it must be absolute, without spaces, quotes, %% or $", p)
	}
	return nil
}
