package agent_test

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The admin subcommands drive a real agent process through its socket: the
// path deploy takes on every host (it runs them over SSH).
func TestAgentCtlCommands(t *testing.T) {
	port := freePort(t, "127.0.0.1")
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cfg := writeFile(t, "agent.yaml", agentYAML{
		listen: []string{net.JoinHostPort("127.0.0.1", port)}, admin: sock,
		servers: []server{{addr: "127.0.0.1:1"}},
	}.String())
	p := startAgent(t, cfg)
	c := &http.Client{}
	health := "http://" + net.JoinHostPort("127.0.0.1", port) + "/health"
	waitReady(t, p, c, health)

	ctl := func(args ...string) (string, error) {
		out, err := exec.Command(edgectl(t), append([]string{"agent", "--admin", sock}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := ctl("status", "--json"); err != nil || !strings.Contains(out, `"reloads": 0`) {
		t.Fatalf("status: %v\n%s", err, out)
	}
	if out, err := ctl("drain"); err != nil || strings.TrimSpace(out) != "draining" {
		t.Fatalf("drain: %v %s", err, out)
	}
	if code, _, _, _ := get(c, health); code != 503 {
		t.Fatalf("health after drain = %d, want 503", code)
	}
	if out, err := ctl("undrain"); err != nil {
		t.Fatalf("undrain: %v %s", err, out)
	}
	if code, _, _, _ := get(c, health); code != 200 {
		t.Fatalf("health after undrain = %d, want 200", code)
	}
	if out, err := ctl("reload"); err != nil || strings.TrimSpace(out) != "reloaded" {
		t.Fatalf("reload: %v %s", err, out)
	}
	// A broken config is rejected with its position and exit 1.
	writeFileAt(t, cfg, "listen: [\n")
	out, err := ctl("reload")
	if exitCode(err) != 1 || !strings.Contains(out, "agent.yaml:") {
		t.Fatalf("reload of a broken config: exit %d\n%s", exitCode(err), out)
	}
	if out, err := ctl("status", "--admin", filepath.Join(t.TempDir(), "none.sock")); exitCode(err) != 1 || !strings.Contains(out, "is the agent running?") {
		t.Fatalf("status without an agent: exit %d\n%s", exitCode(err), out)
	}
}

// writeFileAt replaces the file at path with content.
func writeFileAt(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
