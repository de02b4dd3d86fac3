package provision

import (
	"errors"
	"strings"
	"testing"

	"github.com/edgectl/edgectl/remote/remotetest"
)

// withNginx adds to the model an nginx.service (enabled, running, pid 412)
// listening on 0.0.0.0:80 and [::]:80 with its config in /etc/nginx. The
// agent cannot start while nginx holds port 80.
func withNginx(t *testing.T, m *model) *nginxModel { return withNginxOn(t, m, "80") }

// withNginxOn is withNginx with nginx on another port: the agent cannot
// start while its config listens on that port and nginx holds it.
func withNginxOn(t *testing.T, m *model, port string) *nginxModel {
	n := &nginxModel{m: m, active: true, enabled: true}
	m.SetFile("/etc/nginx/nginx.conf", []byte("http { server { listen 80; listen [::]:80; } }\n"), 0o644, "root:root")
	m.SetFile("/proc/412/cgroup", []byte("0::/system.slice/nginx.service\n"), 0o444, "root:root")
	inner := m.Handlers["systemctl"]
	m.Handlers["systemctl"] = func(f *remotetest.Fake, args []string, stdin []byte) (string, string, int) {
		var verb string
		var units []string
		for i := 1; i < len(args); i++ {
			switch a := args[i]; {
			case a == "-p":
				i++
			case strings.HasPrefix(a, "-"):
			case verb == "":
				verb = a
			default:
				units = append(units, a)
			}
		}
		if len(units) == 1 && units[0] == "nginx.service" {
			return n.systemctl(verb)
		}
		cfg, _ := m.Content(m.layout.AgentConfig)
		if verb == "restart" && len(units) == 1 && units[0] == AgentUnitName && n.holds() && strings.Contains(cfg, "]:"+port) {
			m.mu.Lock()
			m.units[AgentUnitName] = &UnitState{ActiveState: "failed", SubState: "failed", Result: "exit-code", ExecMainStatus: 1}
			m.agentOn = false
			m.mu.Unlock()
			return "", "Job for edgectl-agent.service failed (listen [::]:80: address already in use)\n", 1
		}
		return inner(f, args, stdin)
	}
	m.Handlers["ss"] = func(*remotetest.Fake, []string, []byte) (string, string, int) {
		var b strings.Builder
		b.WriteString("LISTEN 0      128          0.0.0.0:22        0.0.0.0:*    users:((\"sshd\",pid=90,fd=3))\n")
		if n.holds() {
			users := `users:(("nginx",pid=413,fd=6),("nginx",pid=412,fd=6))`
			b.WriteString("LISTEN 0      511          0.0.0.0:" + port + "        0.0.0.0:*    " + users + "\n")
			b.WriteString("LISTEN 0      511             [::]:" + port + "           [::]:*    " + users + "\n")
		}
		m.mu.Lock()
		if m.agentOn {
			b.WriteString("LISTEN 0      4096               *:80              *:*    users:((\"edgectl\",pid=900,fd=7))\n")
		}
		m.mu.Unlock()
		return b.String(), "", 0
	}
	return n
}

type nginxModel struct {
	m               *model
	active, enabled bool
	// onStop runs when nginx is stopped (a test kills the run there).
	onStop func()
}

func (n *nginxModel) holds() bool {
	n.m.mu.Lock()
	defer n.m.mu.Unlock()
	return n.active
}

func (n *nginxModel) systemctl(verb string) (string, string, int) {
	n.m.mu.Lock()
	defer n.m.mu.Unlock()
	switch verb {
	case "is-active":
		if n.active {
			return "active\n", "", 0
		}
		return "inactive\n", "", 3
	case "is-enabled":
		if n.enabled {
			return "enabled\n", "", 0
		}
		return "disabled\n", "", 1
	case "show":
		st := "ActiveState=inactive\nSubState=dead\n"
		if n.active {
			st = "ActiveState=active\nSubState=running\n"
		}
		return st + "NRestarts=0\nExecMainStatus=0\nResult=success\n", "", 0
	case "start", "restart":
		if n.m.agentOn {
			return "", "nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)\n", 1
		}
		n.active = true
	case "stop":
		n.active = false
		if n.onStop != nil {
			n.onStop()
		}
	case "enable":
		n.enabled = true
	case "disable":
		n.enabled = false
	}
	return "", "", 0
}

func (n *nginxModel) check(t *testing.T, active, enabled bool) {
	t.Helper()
	n.m.mu.Lock()
	defer n.m.mu.Unlock()
	if n.active != active || n.enabled != enabled {
		t.Errorf("nginx: active %v enabled %v, want active %v enabled %v", n.active, n.enabled, active, enabled)
	}
	if _, ok := n.m.Content("/etc/nginx/nginx.conf"); !ok {
		t.Errorf("nginx's config was removed")
	}
}

func TestCutoverNeedsTakeover(t *testing.T) {
	m := newModel(t)
	n := withNginx(t, m)
	f := deployFleet(t, "60s", appExec)
	res, err := m.deploy(t, f, "bin-v1", nil)
	var pe *PortConflictError
	if !errors.As(err, &pe) {
		t.Fatalf("Deploy: %v, want a PortConflictError", err)
	}
	want := "vps1: port 80 (ipv4, 0.0.0.0:80) is held by nginx (pid 412, unit nginx.service)"
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "[::]:80") {
		t.Errorf("error %q does not name %q and [::]:80", err, want)
	}
	if len(res.Hosts) != 1 || res.Hosts[0].Status != StatusConflict || res.Hosts[0].Plan == nil || res.Hosts[0].Plan.Action != ActionCutover {
		t.Fatalf("result %+v", res.Hosts)
	}
	for _, op := range m.Log() {
		if strings.HasPrefix(op, "write ") && !strings.Contains(op, "lock") {
			t.Errorf("a refused cutover wrote %s", op)
		}
		if strings.HasPrefix(op, "systemctl ") && !strings.Contains(op, "is-") && !strings.Contains(op, "show") {
			t.Errorf("a refused cutover ran %s", op)
		}
	}
	if m.Fake.File(m.layout.Binary) != nil || m.journal(t) != nil || m.Fake.File(m.layout.Lock()) != nil {
		t.Errorf("files were left: %v", m.Paths())
	}
	n.check(t, true, true)
}

func TestCutover(t *testing.T) {
	m := newModel(t)
	n := withNginx(t, m)
	f := deployFleet(t, "60s", appExec)
	h := m.host(t, f, "bin-v1", func(o *Options) { o.Takeover = true })
	if h.Status != StatusDeployed || h.Action != ActionCutover {
		t.Fatalf("cutover: %+v\n%s", h, strings.Join(m.Log(), "\n"))
	}
	m.state(t, m.want(t, f, "bin-v1"))
	n.check(t, false, false)
	j := m.journal(t)
	if j == nil || j.State != JournalDeployed || j.Takeover == nil || len(j.Takeover.Units) != 1 ||
		j.Takeover.Units[0] != (TakeoverUnit{Name: "nginx.service", Enabled: "enabled", Active: "active"}) || !j.Takeover.Install {
		t.Fatalf("journal: %+v", j)
	}
	// The old proxy stops and the agent starts in one command.
	one := false
	for _, op := range m.Log() {
		if strings.Contains(op, "systemctl stop -- nginx.service") {
			one = true
		}
	}
	if !one {
		t.Errorf("nginx was not stopped by the cutover command:\n%s", strings.Join(m.Log(), "\n"))
	}
	// Next run: nothing holds the ports but the agent, nothing to do.
	h = m.host(t, f, "bin-v1", nil)
	if h.Status != StatusUnchanged {
		t.Fatalf("second deploy: %+v", h)
	}
}

func TestCutoverFailedGateRestoresNginx(t *testing.T) {
	m := newModel(t)
	n := withNginx(t, m)
	f := deployFleet(t, "60s", "/opt/app --exit 1")
	h := m.host(t, f, "bin-v1", func(o *Options) { o.Takeover = true })
	if h.Status != StatusRolledBack || h.Step != StepGate {
		t.Fatalf("cutover with a failing backend: %+v", h)
	}
	n.check(t, true, true)
	m.mu.Lock()
	on := m.agentOn
	m.mu.Unlock()
	if on || m.Fake.File(m.layout.Binary) != nil {
		t.Errorf("after the rollback the agent runs (%v) or its binary is left", on)
	}
	if j := m.journal(t); j == nil || j.State != JournalRolledBack {
		t.Errorf("journal %+v", j)
	}
}

func TestCutoverDisabledNginxStaysDisabled(t *testing.T) {
	m := newModel(t)
	n := withNginx(t, m)
	n.enabled = false
	f := deployFleet(t, "60s", "/opt/app --exit 1")
	h := m.host(t, f, "bin-v1", func(o *Options) { o.Takeover = true })
	if h.Status != StatusRolledBack {
		t.Fatalf("%+v", h)
	}
	n.check(t, true, false)
}

// TestCutoverKilledAfterStop: the run dies right after nginx stopped,
// before the agent started: port 80 is free and nothing serves. The next
// deploy, even without --takeover, completes the cutover; or, when its
// gate fails, brings nginx back.
func TestCutoverKilledAfterStop(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rerun   string
		status  string
		nginxOn bool
	}{
		{"rerun completes", appExec, StatusDeployed, false},
		{"failing rerun restores nginx", "/opt/app --exit 1", StatusRolledBack, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newModel(t)
			n := withNginx(t, m)
			n.onStop = func() { m.kill(true) }
			f := deployFleet(t, "60s", appExec)
			h := m.host(t, f, "bin-v1", func(o *Options) { o.Takeover = true; o.Holder = deadHolder(t) })
			m.kill(false)
			n.onStop = nil
			if h.Status == StatusDeployed {
				t.Fatalf("killed run reported %+v", h)
			}
			n.check(t, false, false)
			if j := m.journal(t); j == nil || j.Finished() || j.Takeover == nil {
				t.Fatalf("the killed run's journal: %+v", j)
			}
			h = m.host(t, deployFleet(t, "60s", tc.rerun), "bin-v1", nil)
			if h.Status != tc.status {
				t.Fatalf("rerun: %+v\n%s", h, strings.Join(m.Log(), "\n"))
			}
			n.check(t, tc.nginxOn, tc.nginxOn)
			if tc.status == StatusDeployed {
				m.state(t, m.want(t, f, "bin-v1"))
			}
		})
	}
}

// TestCheckConflicts: without --takeover every holder stops the deploy;
// with it only holders it must not stop do (no unit, SSH, systemd's own);
// an interrupted cutover's rerun has the consent of the interrupted run.
func TestCheckConflicts(t *testing.T) {
	nginx := PortHolder{Port: 80, Program: "nginx", Unit: "nginx.service"}
	tests := []struct {
		name     string
		holders  []PortHolder
		recover  *Journal
		takeover bool
		want     int // holders reported
	}{
		{name: "nginx without --takeover", holders: []PortHolder{nginx}, want: 1},
		{name: "nginx with --takeover", holders: []PortHolder{nginx}, takeover: true},
		{name: "no unit", holders: []PortHolder{{Port: 80, Program: "python3"}}, takeover: true, want: 1},
		{name: "sshd on the agent's port", holders: []PortHolder{nginx, {Port: 80, Program: "sshd", Unit: "ssh.service"}}, takeover: true, want: 1},
		{name: "systemd's own", holders: []PortHolder{{Port: 53, Program: "systemd-resolve", Unit: "systemd-resolved.service"}}, takeover: true, want: 1},
		{name: "rerun of an interrupted cutover", holders: []PortHolder{nginx}, recover: &Journal{State: JournalApplying, Takeover: &Takeover{}}},
		{name: "nothing held"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &hostState{}
			st.host.Name = "vps1"
			st.plan = Plan{Holders: tc.holders, Recover: tc.recover}
			err := checkConflicts([]*hostState{st}, tc.takeover)
			n := 0
			if pe, ok := err.(*PortConflictError); ok {
				n = len(pe.Conflicts[0].Holders)
			} else if err != nil {
				t.Fatal(err)
			}
			if n != tc.want {
				t.Errorf("reported %d holders (%v), want %d", n, err, tc.want)
			}
		})
	}
}

// TestCutoverOfARunningAgent: the agent serves on 80, nginx on 443; a new
// config takes 443 over and fails its gate: nginx is back on 443 and the
// agent runs its previous config again.
func TestCutoverOfARunningAgent(t *testing.T) {
	m := newModel(t)
	n := withNginxOn(t, m, "443")
	v1 := deployFleet(t, "60s", appExec)
	if h := m.host(t, v1, "bin-v1", nil); h.Status != StatusDeployed || h.Action != ActionInstall {
		t.Fatalf("install beside nginx on 443: %+v", h)
	}
	tls := testFleet(t, `agent:
  listen: [{addr: "[::]:80"}, {addr: "[::]:443", tls: true}]
  upstreams:
    app:
      servers: [{addr: "[::1]:8000"}, {addr: "127.0.0.1:8000", backup: true}]
      health: {path: /health}
  routes: [{path: /, upstream: app}]
backend: {name: app, exec: "/opt/app --exit 1", health: "http://[::1]:8000/backend-health"}
rollout: {batch: 1, health_timeout: 3s, drain: 0s}
`)
	h := m.host(t, tls, "bin-v1", func(o *Options) { o.Takeover = true })
	if h.Status != StatusRolledBack || h.Action != ActionCutover {
		t.Fatalf("cutover of 443 with a failing backend: %+v", h)
	}
	n.check(t, true, true)
	m.state(t, m.want(t, v1, "bin-v1"))
	if j := m.journal(t); j == nil || j.Takeover == nil || j.Takeover.Install || !j.Takeover.AgentActive {
		t.Fatalf("journal %+v", j)
	}
}
