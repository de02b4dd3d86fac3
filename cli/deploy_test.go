package cli

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/hostlock"
	"github.com/edgectl/edgectl/provision"
	"github.com/edgectl/edgectl/remote"
	"github.com/edgectl/edgectl/remote/remotetest"
)

func TestOutcome(t *testing.T) {
	res := func(statuses ...string) *provision.Result {
		r := &provision.Result{}
		for _, s := range statuses {
			r.Hosts = append(r.Hosts, provision.HostResult{Status: s})
		}
		return r
	}
	for _, tc := range []struct {
		name   string
		res    *provision.Result
		err    error
		code   int
		status string
	}{
		{"all converged", res("deployed", "unchanged"), nil, ExitOK, "ok"},
		{"dry run", res("planned", "unchanged"), nil, ExitOK, "ok"},
		{"nothing converged is failed, not partial", res("rolled-back", "skipped", "skipped"), nil, ExitProblem, "failed"},
		{"some converged", res("deployed", "rolled-back", "skipped"), nil, ExitPartial, "partial"},
		{"unreachable host among deployed ones", res("deployed", "deployed", "unreachable"), nil, ExitPartial, "partial"},
		{"nothing attempted", res("locked", "skipped"), &provision.LockedError{}, ExitProblem, "failed"},
	} {
		code, status := outcome(tc.res, tc.err)
		if code != tc.code || status != tc.status {
			t.Errorf("%s: %d %s, want %d %s", tc.name, code, status, tc.code, tc.status)
		}
	}
}

// TestDeployOutput: a failed gate is shown once, with the checks still
// failing, the unit's last log lines and the command to run next; no Go
// list syntax; JSON has the error object and the next command.
func TestDeployOutput(t *testing.T) {
	gateErr := &provision.GateError{Timeout: 20 * time.Second, Failures: []string{"agent on [::1]:80: upstream app 0/2 servers live", "public 198.18.0.11:80: HTTP 503"}}
	res := &provision.Result{Stopped: true, Hosts: []provision.HostResult{
		{Name: "vps1", Status: provision.StatusRolledBack, Summary: "reload: 1 file(s) changed (agent.yaml)", Step: provision.StepGate,
			Error: gateErr.Error(), Err: gateErr, Failures: gateErr.Failures,
			Logs: map[string]string{"app.service": "line one\nline two"}, Duration: 1234 * time.Millisecond, DurationMS: 1234},
		{Name: "vps2", Status: provision.StatusSkipped, Summary: "not touched: the rollout stopped at a failed host"},
	}}
	ios, _, out, _ := TestIO()
	r := &rollouter{f: &Factory{IO: ios}, g: &GlobalOptions{Output: "text"}, fleetPath: "fleet.yaml"}
	err := r.print(res, 2*time.Second, nil)
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != ExitProblem || ee.Err.Error() != "no host converged; see above" {
		t.Fatalf("exit: %v", err)
	}
	s := out.String()
	for _, want := range []string{"vps1: rolled-back: not healthy within 20s: agent on [::1]:80: upstream app 0/2 servers live; public 198.18.0.11:80: HTTP 503\n",
		"  last lines of app.service (journalctl -u app.service -n 20 --no-pager):\n    line one\n    line two\n",
		"  next: edgectl diagnose 502 --host vps1 -f fleet.yaml\n", "2 host(s): 1 rolled-back, 1 skipped in 2s\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Count(s, "upstream app 0/2") != 1 {
		t.Errorf("the failure is printed more than once:\n%s", s)
	}
	if strings.Contains(s, "[agent") || strings.Contains(s, "[vps") {
		t.Errorf("Go list syntax in the output:\n%s", s)
	}
	out.Reset()
	r.g.Output = "json"
	_ = r.print(res, 2*time.Second, nil)
	var j struct {
		Status string `json:"status"`
		Error  struct {
			Message  string `json:"message"`
			ExitCode int    `json:"exit_code"`
		} `json:"error"`
		Next  []string `json:"next"`
		Hosts []struct {
			DurationMS int64 `json:"duration_ms"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal(out.Bytes(), &j); err != nil || j.Status != "failed" || j.Error.ExitCode != 1 ||
		len(j.Next) != 1 || j.Next[0] != "edgectl diagnose 502 --host vps1 -f fleet.yaml" || j.Hosts[0].DurationMS != 1234 {
		t.Fatalf("json: %v %+v\n%s", err, j, out.String())
	}
}

func TestStoppedWording(t *testing.T) {
	r := &rollouter{g: &GlobalOptions{}, fleetPath: "fleet.yaml"}
	for _, tc := range []struct {
		h    provision.HostResult
		want string
	}{
		{provision.HostResult{Status: provision.StatusRolledBack, Err: provision.ErrStopped}, "stopped by a signal before the change was complete; rolled back to the previous version"},
		{provision.HostResult{Status: provision.StatusAborted, Err: provision.ErrStopped}, "stopped by a signal before anything was replaced; the host is as it was"},
		{provision.HostResult{Name: "vps1", Status: provision.StatusLocked, Error: "vps1: locked by a@b", Err: &hostlock.HeldError{}},
			"vps1: locked by a@b; to wait for it use --lock-wait; if its run is dead: edgectl lock release fleet.yaml --hosts vps1 (or --force-unlock)"},
	} {
		if got := r.hostError(tc.h); got != tc.want {
			t.Errorf("got %q\nwant %q", got, tc.want)
		}
	}
}

func TestFitColumn(t *testing.T) {
	rows := [][]string{{"vps1", "deployed", strings.Repeat("very long change ", 10), "1.2s"}}
	fitColumn(rows, 2, 60, 4)
	line := strings.Join(rows[0], "  ")
	if n := utf8.RuneCountInString(line); n >= 60 || !strings.HasSuffix(rows[0][2], "…") {
		t.Fatalf("%d columns: %q", n, line)
	}
	rows = [][]string{{"vps1", "deployed", strings.Repeat("x", 200), "1s"}}
	fitColumn(rows, 2, 0, 4) // not a terminal: whole lines
	if len(rows[0][2]) != 200 {
		t.Fatal("a line was cut off a terminal")
	}
}

func TestSSHAdvice(t *testing.T) {
	hk := &remote.HostKeyError{Kind: remote.HostKeyUnknown, Host: "vps1", Addr: "198.18.0.11:22", File: "kh", Fingerprint: "SHA256:x"}
	err := sshAdvice(hk)
	var got *remote.HostKeyError
	if !errors.As(err, &got) || !strings.HasSuffix(err.Error(), "verify the fingerprint, then record it (run again with --accept-new to record it)") {
		t.Fatalf("%v", err)
	}
	other := errors.New("x")
	if sshAdvice(other) != other {
		t.Fatal("other errors must pass unchanged")
	}
}

// TestLockStatusAndRelease runs `lock status` and `lock release` against
// recording fake hosts: one locked by another operator with an interrupted
// journal, one free.
func TestLockStatusAndRelease(t *testing.T) {
	ctx := context.Background()
	hosts := map[string]*remotetest.Fake{"vps1": remotetest.NewFake("vps1"), "vps2": remotetest.NewFake("vps2")}
	other := hostlock.Self(hostlock.KindDeploy, "deploy fleet.yaml", time.Hour)
	other.User, other.Machine, other.MachineID = "alice", "laptop", "elsewhere"
	if _, err := hostlock.Acquire(ctx, hosts["vps1"], other, hostlock.Options{}); err != nil {
		t.Fatal(err)
	}
	hosts["vps1"].SetFile("/var/lib/edgectl/deploy.json", []byte(`{"version":1,"run":"r","holder":"alice@laptop","command":"deploy fleet.yaml","state":"applying","done":["journal","backup"]}`), 0o644, "root:root")
	path := t.TempDir() + "/fleet.yaml"
	if err := os.WriteFile(path, []byte("ssh: {identity_file: '', known_hosts: /dev/null}\nhosts: [{name: vps1, ipv4: 198.18.0.11}, {name: vps2, ipv4: 198.18.0.12}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dial := func(_ context.Context, h fleet.Host) (remote.Host, error) { return hosts[h.Name], nil }
	ios, _, out, _ := TestIO()
	f := &Factory{IO: ios}
	if err := lockRun(ctx, f, &GlobalOptions{Output: "text"}, &lockOptions{FleetPath: path, Dial: dial}); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"vps1  held", "alice@laptop", "deploy fleet.yaml (pid ", "vps2  free",
		"vps1: interrupted: deploy fleet.yaml by alice@laptop", "stopped after step backup (applying)"} {
		if !strings.Contains(s, want) {
			t.Errorf("lock status lacks %q:\n%s", want, s)
		}
	}
	out.Reset()
	if err := lockRun(ctx, f, &GlobalOptions{Output: "json"}, &lockOptions{FleetPath: path, Dial: dial, Release: true, Hosts: []string{"vps1"}}); err != nil {
		t.Fatal(err)
	}
	var j struct {
		Hosts []struct {
			Name     string `json:"name"`
			Released bool   `json:"released"`
			Lock     struct {
				Holder struct {
					User string `json:"user"`
				} `json:"holder"`
			} `json:"lock"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal(out.Bytes(), &j); err != nil || len(j.Hosts) != 1 || !j.Hosts[0].Released || j.Hosts[0].Lock.Holder.User != "alice" {
		t.Fatalf("release: %v %s", err, out.String())
	}
	if hosts["vps1"].File("/var/lib/edgectl/lock") != nil {
		t.Fatal("the lock is still there")
	}
}
