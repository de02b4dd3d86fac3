package templates

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/golden"
)

func TestRender(t *testing.T) {
	agent := func(u AgentUnit) func() ([]byte, error) { return func() ([]byte, error) { return RenderAgentUnit(u) } }
	for _, tc := range []struct {
		name   string
		render func() ([]byte, error)
	}{
		{"agent.service", agent(AgentUnit{Binary: "/usr/local/bin/edgectl", Config: "/etc/edgectl/agent.yaml",
			StopTimeout: 45 * time.Second, ReadWritePaths: []string{"/run/edgectl", "/var/lib/edgectl"}})},
		{"agent_backend.service", agent(AgentUnit{Binary: "/usr/local/bin/edgectl", Config: "/etc/edgectl/agent.yaml",
			StopTimeout: 1500 * time.Millisecond, ReadWritePaths: []string{"/run/edgectl"}, Backend: "mop-api"})},
		{"backend.service", func() ([]byte, error) {
			return RenderBackendUnit(BackendUnit{Name: "mop-api", Exec: "/opt/mop/venv/bin/uvicorn app.main:app --host :: --port 8000 --log-format %h"})
		}},
		{"sysctl.conf", func() ([]byte, error) {
			return RenderSysctl([]Sysctl{{Key: "net.ipv6.bindv6only", Value: "0", Reason: "the backend binds [::]; with bindv6only=1 it would refuse IPv4"}})
		}},
		{"agent.yaml", func() ([]byte, error) { return AgentYAML([]byte("listen:\n  - addr: \"[::]:80\"")), nil }},
		{"agent_default.yaml", func() ([]byte, error) { return AgentYAML(nil), nil }},
		{"endpoints.txt", func() ([]byte, error) {
			return Endpoints([]string{"api.example.com"}, []string{"198.18.0.11", "fd00:e:d9e::11"}), nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.render()
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, tc.name, filepath.Join("testdata", tc.name+".golden"), got)
		})
	}
}

func TestRenderRejectsUnsafe(t *testing.T) {
	if _, err := RenderAgentUnit(AgentUnit{Binary: "/usr/bin/x; rm -rf /", Config: "/etc/a.yaml"}); err == nil || !strings.Contains(err.Error(), "systemd unit") {
		t.Fatalf("a path with spaces must be refused, got %v", err)
	}
	if _, err := RenderBackendUnit(BackendUnit{Name: "x", Exec: "/bin/a\nExecStartPre=/bin/evil"}); err == nil {
		t.Fatal("a newline in exec must be refused")
	}
	if b, _ := RenderSysctl(nil); b != nil {
		t.Fatal("no settings must render no file")
	}
}
