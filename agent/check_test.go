package agent

import (
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgectl/edgectl/agentconfig"
)

// hardenedUnit is the sandbox part of the agent's unit as deploy writes it.
const hardenedUnit = `[Service]
User=edgectl
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
RuntimeDirectory=edgectl
StateDirectory=edgectl
LogsDirectory=edgectl
ReadWritePaths=/run/edgectl /var/lib/edgectl
`

func TestCheck(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		unit     string // "" = no unit installed
		problems []string
		warnings []string
	}{
		{name: "empty file says so", yaml: "{}\n",
			warnings: []string{"no routes: and no streams:"}},
		{name: "defaults fit the unit", yaml: "{}\n", unit: hardenedUnit,
			warnings: []string{"no routes"}},
		{name: "access log under the logs directory", unit: hardenedUnit,
			yaml: "access_log: /var/log/edgectl/access.log\nroutes: [{path: /, upstream: a}]\nupstreams: {a: {servers: [{addr: \"[::1]:8000\"}]}}\n"},
		{name: "access log where the unit is read-only", unit: hardenedUnit,
			yaml:     "access_log: /srv/logs/access.log\nroutes: [{path: /, upstream: a}]\nupstreams: {a: {servers: [{addr: \"[::1]:8000\"}]}}\n",
			problems: []string{"access_log /srv/logs/access.log: the unit", "ProtectSystem=strict makes it read-only"}},
		{name: "admin socket in a private /tmp", unit: hardenedUnit,
			yaml:     "admin: /tmp/agent.sock\n",
			problems: []string{"admin /tmp/agent.sock", "PrivateTmp=yes"}, warnings: []string{"no routes"}},
		{name: "certificates under /root", unit: hardenedUnit,
			yaml:     "listen: [{addr: \"[::]:443\", tls: true}]\ntls: {certs_dir: /root/certs}\n",
			problems: []string{"tls.certs_dir /root/certs", "ProtectHome=yes"}, warnings: []string{"no routes"}},
		{name: "without a unit nothing is held against the sandbox",
			yaml:     "admin: /tmp/agent.sock\naccess_log: /srv/logs/access.log\n",
			warnings: []string{"no routes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := agentconfig.Parse("agent.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			unit := filepath.Join(t.TempDir(), "edgectl-agent.service")
			if tt.unit != "" {
				if err := os.WriteFile(unit, []byte(tt.unit), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			res := Check(cfg, unit)
			matchAll(t, "problems", res.Problems, tt.problems)
			matchAll(t, "warnings", res.Warnings, tt.warnings)
		})
	}
}

// matchAll wants every item of want in the joined got, and got empty when
// want is.
func matchAll(t *testing.T, what string, got, want []string) {
	t.Helper()
	joined := strings.Join(got, "\n")
	if len(want) == 0 && len(got) > 0 {
		t.Errorf("unexpected %s:\n%s", what, joined)
	}
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("%s lack %q:\n%s", what, w, joined)
		}
	}
}

// TestCheckPermissions: a directory in ReadWritePaths that the unit's user
// cannot write to is refused, naming owner and mode.
func TestCheckPermissions(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a directory owned by another user")
	}
	if _, err := user.Lookup("nobody"); err != nil {
		t.Skip("no user nobody here")
	}
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	// t.TempDir lives under /tmp: tell the sandbox it is not private.
	unit := filepath.Join(dir, "unit")
	_ = os.WriteFile(unit, []byte("[Service]\nUser=nobody\nProtectSystem=strict\nReadWritePaths="+logs+"\n"), 0o644)
	cfg, err := agentconfig.Parse("agent.yaml", []byte("admin: \"\"\naccess_log: "+filepath.Join(logs, "access.log")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	res := Check(cfg, unit)
	matchAll(t, "problems", res.Problems, []string{"owned by uid 0", "user nobody cannot create files"})
	if err := os.Chmod(logs, 0o777); err != nil {
		t.Fatal(err)
	}
	if res := Check(cfg, unit); len(res.Problems) != 0 {
		t.Errorf("a world-writable directory refused: %v", res.Problems)
	}
}
