package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runCLI runs edgectl with args in-process and returns the exit code,
// stdout and stderr.
func runCLI(t *testing.T, f *Factory, args ...string) (int, string, string) {
	t.Helper()
	ios, _, out, errOut := TestIO()
	if f == nil {
		f = &Factory{}
	}
	f.Version, f.IO = "test", ios
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	code := Run(ctx, f, args)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestJSONErrors: with --json every command prints JSON on stdout even when
// it fails, in one shape, with the positions of a bad file's problems; and
// the same failure without --json is one line on stderr and nothing on
// stdout.
func TestJSONErrors(t *testing.T) {
	dir := t.TempDir()
	badFleet := writeFile(t, dir, "fleet.yaml", "ssh: {port: many}\nhosts:\n  - name: a\n    ipv4: 198.18.0.11\nbogus: 1\n")
	badAgent := writeFile(t, dir, "agent.yaml", "listen:\n  - addr: nope\n")
	noDomains := writeFile(t, dir, "nodomains.yaml", "hosts:\n  - {name: a, ipv4: 198.18.0.11}\n")
	state := filepath.Join(dir, "state")
	t.Setenv("EDGECTL_ADMIN_SOCKET", "")
	t.Setenv("EDGECTL_AGENT_CONFIG", "")
	fleetProblems := []jsonProblem{
		{File: badFleet, Line: 1, Col: 13, Message: `"many" is not a whole number`},
		{File: badFleet, Line: 5, Col: 1, Message: `unknown key "bogus"`},
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		message  string // prefix
		problems []jsonProblem
	}{
		{"deploy, invalid fleet", []string{"deploy", badFleet}, 2, "invalid fleet file", fleetProblems},
		{"sweep, invalid fleet", []string{"sweep", badFleet}, 2, "invalid fleet file", fleetProblems},
		{"cert issue, invalid fleet", []string{"cert", "issue", badFleet, "--state", state}, 2, "invalid fleet file", fleetProblems},
		{"cert status, no domains", []string{"cert", "status", noDomains, "--state", state}, 2, noDomains + " lists no domains", nil},
		{"cert renew, missing argument", []string{"cert", "renew"}, 2, "edgectl cert renew needs FLEET.yaml", nil},
		{"diagnose, invalid fleet", []string{"diagnose", "502", "--host", "a", "-f", badFleet}, 2, "invalid fleet file", fleetProblems},
		{"diagnose, bad flags", []string{"diagnose", "502", "--config", "x", "--nginx"}, 2, "--config and --nginx both name the proxy", nil},
		{"agent --check, invalid config", []string{"agent", "--config", badAgent, "--check"}, 2, "invalid agent config",
			[]jsonProblem{{File: badAgent, Line: 2, Col: 11, Message: ""}}},
		{"agent status, nothing running", []string{"agent", "status", "--admin", filepath.Join(dir, "none.sock")}, 1, "", nil},
		{"install, missing config", []string{"install", "--config", filepath.Join(dir, "none.yaml"), "--dry-run"}, 2, "read agent config", nil},
		{"endpoints, missing file", []string{"endpoints", "check", filepath.Join(dir, "none.txt")}, 2, "read endpoints file", nil},
		{"unknown flag", []string{"version", "--bogus"}, 2, "unknown flag: --bogus", nil},
		{"unknown command", []string{"deplo"}, 2, `unknown command "deplo"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, form := range [][]string{{"--json"}, {"-o", "json"}, {"--output=json"}} {
				args := append(append([]string{}, tt.args...), form...)
				code, out, errOut := runCLI(t, nil, args...)
				var got jsonError
				dec := json.NewDecoder(strings.NewReader(out))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&got); err != nil {
					t.Fatalf("%v: stdout is not the error shape: %v\n%s\nstderr: %s", args, err, out, errOut)
				}
				if code != tt.code || got.Error.ExitCode != code || !strings.HasPrefix(got.Error.Message, tt.message) {
					t.Errorf("%v: exit %d, %+v; want %d and a message starting %q", args, code, got.Error, tt.code, tt.message)
				}
				if got.Error.Problems == nil || len(got.Error.Problems) != len(tt.problems) {
					t.Fatalf("%v: problems %+v, want %d", args, got.Error.Problems, len(tt.problems))
				}
				for i, p := range tt.problems {
					g := got.Error.Problems[i]
					if g.File != p.File || g.Line != p.Line || g.Col != p.Col || p.Message != "" && g.Message != p.Message {
						t.Errorf("problem %d: %+v, want %+v", i, g, p)
					}
				}
				if errOut != "" {
					t.Errorf("%v: stderr %q: the error is in the JSON", args, errOut)
				}
			}
			code, out, errOut := runCLI(t, nil, tt.args...)
			if code != tt.code || out != "" || !strings.HasPrefix(errOut, "edgectl: ") {
				t.Errorf("without --json: exit %d, stdout %q, stderr %q", code, out, errOut)
			}
		})
	}
}

// A command that printed its own JSON result and then fails does not print
// a second document.
func TestJSONResultThenFailure(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "endpoints.txt", "DomainList:\napi.example.com\n")
	code, out, _ := runCLI(t, nil, "endpoints", "check", file, "--json")
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil || v["domains"] != 1.0 {
		t.Errorf("exit %d, %v: %s", code, err, out)
	}
}

func TestExitError(t *testing.T) {
	var nilErr *ExitError
	if nilErr.Error() != "" || nilErr.Unwrap() != nil || !nilErr.silent() {
		t.Error("a nil *ExitError is not safe to use")
	}
	if e := silentExit(3); e.Error() != "exit status 3" || exitCode(e) != 3 || !e.(*ExitError).silent() {
		t.Errorf("silentExit(3) = %v, code %d", e, exitCode(e))
	}
	if exitCode(errors.New("cobra's own")) != ExitUsage || exitCode(nil) != ExitOK {
		t.Error("exit codes of plain errors")
	}
	// A silent exit prints nothing more than the command did.
	port := freePort(t)
	code, out, errOut := runCLI(t, nil, "diagnose", "502", "--port", fmt.Sprint(port), "--probe-timeout", "300ms")
	if code != 1 || !strings.HasPrefix(out, "cause: nothing listens") || errOut != "" {
		t.Errorf("diagnose finding a cause: exit %d, stderr %q\n%s", code, errOut, out)
	}
}

// TestUsageOnMissingArgument: a missing or extra argument names what is
// wrong, then the usage line and where to read more.
func TestUsageOnMissingArgument(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"deploy"}, "edgectl: edgectl deploy needs fleet.yaml\nUsage: edgectl deploy fleet.yaml [flags]\nRun 'edgectl deploy --help' for the flags and examples.\n"},
		{[]string{"cert", "status"}, "edgectl: edgectl cert status needs FLEET.yaml\nUsage: edgectl cert status FLEET.yaml [flags]\n"},
		{[]string{"version", "now"}, "edgectl: edgectl version takes no arguments, got now\nUsage: edgectl version [flags]\n"},
		{[]string{"sweep", "--interval", "soon", "f.yaml"}, "edgectl: invalid argument \"soon\" for \"--interval\" flag: time: invalid duration \"soon\"\nUsage: edgectl sweep FLEET.yaml [flags]\n"},
	} {
		code, out, errOut := runCLI(t, nil, tt.args...)
		if code != ExitUsage || out != "" || !strings.HasPrefix(errOut, tt.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr:\n%s\nwant it to start with:\n%s", tt.args, code, out, errOut, tt.want)
		}
	}
}

// TestRootTimeout: --timeout bounds any command once, from the root.
func TestRootTimeout(t *testing.T) {
	code, _, errOut := runCLI(t, nil, "version", "--timeout", "-1s")
	if code != ExitUsage || !strings.Contains(errOut, "--timeout must not be negative") {
		t.Errorf("negative: exit %d, %q", code, errOut)
	}
	// An agent that accepts on its admin socket and never answers.
	sock := hangingSocket(t)
	start := time.Now()
	code, _, errOut = runCLI(t, nil, "agent", "status", "--admin", sock, "--timeout", "300ms")
	if took := time.Since(start); code != ExitProblem || took > 5*time.Second || !strings.Contains(errOut, "deadline exceeded") {
		t.Errorf("status against a hung agent with --timeout 300ms: exit %d after %s: %q", code, took, errOut)
	}
}
