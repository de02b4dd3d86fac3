package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/testbed"
)

// version is one state of the fleet: a binary and a fleet file, and what
// every host holds once deployed (path → sha256, per host).
type version struct {
	name, bin, fleet string
	agentVersion     string
	sums             map[string]map[string]string
}

// managed are the files every end-state check compares.
var managed = []string{"/usr/local/bin/edgectl", "/etc/edgectl/agent.yaml", "/etc/edgectl/endpoints.txt",
	"/etc/systemd/system/sample-api.service", "/etc/systemd/system/edgectl-agent.service"}

// snapshot records what the hosts hold now as v's files.
func (v *version) snapshot(t *testing.T, b *testbed.Bed) {
	t.Helper()
	v.sums = map[string]map[string]string{}
	for _, h := range b.Hosts {
		v.sums[h.Name] = hostSums(t, b, h.Name)
	}
}

func hostSums(t *testing.T, b *testbed.Bed, host string) map[string]string {
	t.Helper()
	out, err := b.Run(context.Background(), host, "sha256sum -- "+strings.Join(managed, " ")+" 2>/dev/null; true")
	if err != nil {
		t.Fatalf("%s: %v", host, err)
	}
	m := map[string]string{}
	for line := range strings.Lines(string(out)) {
		if sum, p, ok := strings.Cut(strings.TrimSpace(line), "  "); ok {
			m[p] = sum
		}
	}
	return m
}

// endState checks that host holds version v in full and runs it: every
// managed file, agent.yaml's owner and mode, the config hash and version
// the agent reports, both units active, no temporary file, no lock, a
// finished journal, a binary that runs. It returns a one-line summary.
func endState(t *testing.T, b *testbed.Bed, host string, v *version) string {
	t.Helper()
	ctx := context.Background()
	got := hostSums(t, b, host)
	for _, p := range managed {
		if got[p] != v.sums[host][p] {
			t.Errorf("%s: %s has sha256 %.12s, want %s's %.12s", host, p, got[p], v.name, v.sums[host][p])
		}
	}
	out, err := b.Run(ctx, host, `stat -c '%a %U:%G' /etc/edgectl/agent.yaml; systemctl is-active edgectl-agent sample-api; `+
		`find /etc/edgectl /usr/local/bin /etc/systemd/system /var/lib/edgectl -maxdepth 1 -name '.*.edgectl.tmp-*'; `+
		`test -e /var/lib/edgectl/lock && echo LOCKED; /usr/local/bin/edgectl version >/dev/null && echo RUNS; true`)
	if err != nil {
		t.Fatalf("%s: %v", host, err)
	}
	if want := "640 root:edgectl\nactive\nactive\nRUNS\n"; string(out) != want {
		t.Errorf("%s: owner/mode, units, temporary files, lock, binary:\n%s\nwant:\n%s", host, out, want)
	}
	st, err := b.Run(ctx, host, "/usr/local/bin/edgectl agent status --json")
	var s struct {
		Version      string `json:"version"`
		ConfigSHA256 string `json:"config_sha256"`
	}
	if err != nil || json.Unmarshal(st, &s) != nil {
		t.Errorf("%s: agent status: %v\n%s", host, err, st)
	} else if s.ConfigSHA256 != v.sums[host]["/etc/edgectl/agent.yaml"] || s.Version != v.agentVersion {
		t.Errorf("%s: the agent runs config %.12s version %s, want %.12s %s", host, s.ConfigSHA256, s.Version, v.sums[host]["/etc/edgectl/agent.yaml"], v.agentVersion)
	}
	j, _ := b.Run(ctx, host, "cat /var/lib/edgectl/deploy.json 2>/dev/null; true")
	var jr struct{ State string }
	if len(j) > 0 && (json.Unmarshal(j, &jr) != nil || (jr.State != "deployed" && jr.State != "rolled-back")) {
		t.Errorf("%s: the journal is not finished: %s", host, j)
	}
	return fmt.Sprintf("%s on %s (agent %s, config %.8s)", host, v.name, s.Version, s.ConfigSHA256)
}

// run is edgectl with extra environment.
func run(t *testing.T, bin string, env []string, args ...string) result {
	t.Helper()
	p := start(t, bin, env, args...)
	return p.wait(t)
}

// proc is an edgectl run in the background.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	mu             sync.Mutex
	lines          chan string
	started        time.Time
	done           chan struct{}
	res            result
}

func start(t *testing.T, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{lines: make(chan string, 1000), done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = &p.stdout
	pr, pw := io.Pipe()
	p.cmd.Stderr = pw
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
	}()
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		pw.Close()
		p.mu.Lock()
		p.res = result{stdout: p.stdout.String(), stderr: p.stderr.String(), took: time.Since(p.started)}
		p.mu.Unlock()
		if ee, ok := err.(*exec.ExitError); ok {
			p.res.code = ee.ExitCode()
		}
		close(p.done)
	}()
	return p
}

// paused waits until the run stops at its test pause (EDGECTL_TEST_PAUSE_AT)
// and reports whether it did; false when it finished without reaching it.
func (p *proc) paused(t *testing.T) bool {
	t.Helper()
	deadline := time.After(3 * time.Minute)
	for {
		select {
		case l := <-p.lines:
			if strings.HasPrefix(l, "edgectl: test pause at ") {
				// Stopped (SIGSTOP) right after printing.
				for i := 0; i < 200; i++ {
					if s, _ := os.ReadFile(filepath.Join("/proc", fmt.Sprint(p.cmd.Process.Pid), "stat")); strings.Contains(string(s), ") T ") {
						return true
					}
					time.Sleep(10 * time.Millisecond)
				}
				t.Fatalf("edgectl printed its pause but did not stop")
			}
		case <-p.done:
			return false
		case <-deadline:
			p.cmd.Process.Kill()
			t.Fatalf("edgectl never reached its pause:\n%s", p.stderr.String())
		}
	}
}

func (p *proc) signal(sig syscall.Signal) { _ = p.cmd.Process.Signal(sig) }

func (p *proc) wait(t *testing.T) result {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(6 * time.Minute):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("edgectl did not finish:\n%s", p.res)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.res
}

// firstLine is the first line of s that mentions host (for the outcome
// table), or the tally line.
func lineWith(s, sub string) string {
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// outcome logs one row of the fault table: case, first run, rerun, end.
func outcome(t *testing.T, name string, first result, firstMsg string, rerun *result, rerunMsg, end string) {
	t.Helper()
	re := "-"
	if rerun != nil {
		re = fmt.Sprintf("exit %d after %s: %s", rerun.code, rerun.took.Round(100*time.Millisecond), rerunMsg)
	}
	t.Logf("OUTCOME | %s | exit %d after %s: %s | %s | %s", name, first.code, first.took.Round(100*time.Millisecond), firstMsg, re, end)
}
