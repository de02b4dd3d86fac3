package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/hostlock"
	"github.com/edgectl/edgectl/remote"
	"github.com/edgectl/edgectl/remote/remotetest"
)

// model is a host for provision's tests: remotetest.Fake's file system
// plus a small model of what runs on it, answering the programs deploy
// calls (systemctl, useradd, journalctl, the edgectl binary). The agent
// starts only with a config file it can read (owner group edgectl, or
// world-readable), loads it on start and reload, and reports its hash; a
// backend whose unit says "--exit 1" restart-loops. Health answers come
// from a real HTTP server the fake's DialContext reaches.
type model struct {
	*remotetest.Fake
	t      *testing.T
	layout Layout

	mu        sync.Mutex
	user      bool            // the edgectl user exists
	users     map[string]bool // other users (the backend's)
	groups    map[string]bool
	units     map[string]*UnitState
	agentOn   bool
	agentVer  string
	agentSum  string
	draining  bool
	dead      atomic.Bool // the deploy process "was killed": nothing reaches the host
	restarts  int         // agent restarts
	backendUp bool
	srv       *httptest.Server
}

func newModel(t *testing.T) *model {
	m := &model{Fake: remotetest.NewFake("vps1"), t: t, layout: DefaultLayout(), units: map[string]*UnitState{},
		users: map[string]bool{}, groups: map[string]bool{}}
	for p, c := range map[string]string{
		"/etc/os-release":                          "ID=debian\nVERSION_ID=12\n",
		"/proc/1/comm":                             "systemd\n",
		"/proc/sys/net/ipv6/bindv6only":            "0\n",
		"/proc/sys/net/ipv6/conf/all/disable_ipv6": "0\n",
		"/proc/net/if_inet6":                       "00000000000000000000000000000001 01 80 10 80       lo\n",
	} {
		m.SetFile(p, []byte(c), 0o644, "root:root")
	}
	for _, d := range []string{"/usr/local/bin", "/etc/systemd/system", "/etc/sysctl.d", "/var/lib", "/run"} {
		m.Fake.Run(context.Background(), "mkdir -p -- "+d, nil)
	}
	m.SetFile("/opt/app", []byte("the app"), 0o755, "root:root") // backend.exec's program
	m.Handlers["id"] = func(_ *remotetest.Fake, args []string, _ []byte) (string, string, int) {
		m.mu.Lock()
		defer m.mu.Unlock()
		name := args[len(args)-1]
		if (name == "edgectl" && m.user) || m.users[name] {
			return "998\n", "", 0
		}
		return "", "id: '" + name + "': no such user\n", 1
	}
	m.Handlers["useradd"] = func(_ *remotetest.Fake, args []string, _ []byte) (string, string, int) {
		m.mu.Lock()
		defer m.mu.Unlock()
		name := args[len(args)-1]
		if (name == "edgectl" && m.user) || m.users[name] {
			return "", "useradd: user '" + name + "' already exists\n", 9
		}
		for i, a := range args {
			switch {
			case a == "--user-group" && m.groups[name]:
				return "", "useradd: group " + name + " exists - if you want to add this user to that group, use -g.\n", 9
			case a == "--user-group":
				m.groups[name] = true
			case a == "--gid" && !m.groups[args[i+1]]:
				return "", "useradd: group '" + args[i+1] + "' does not exist\n", 6
			}
		}
		if name == "edgectl" {
			m.user = true
		} else {
			m.users[name] = true
		}
		return "", "", 0
	}
	m.Handlers["groupadd"] = func(_ *remotetest.Fake, args []string, _ []byte) (string, string, int) {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.groups[args[len(args)-1]] = true
		return "", "", 0
	}
	m.Handlers["getent"] = func(_ *remotetest.Fake, args []string, _ []byte) (string, string, int) {
		m.mu.Lock()
		defer m.mu.Unlock()
		db, name := args[1], args[len(args)-1]
		if (db == "passwd" && m.users[name]) || (db == "group" && m.groups[name]) {
			return name + ":x:998:998::/nonexistent:/usr/sbin/nologin\n", "", 0
		}
		return "", "", 2
	}
	m.Handlers["systemctl"] = m.systemctl
	m.Handlers["journalctl"] = func(_ *remotetest.Fake, args []string, _ []byte) (string, string, int) {
		return "2025-01-01T00:00:00+0000 vps1 app[42]: fatal: cannot bind [::]:8000\n", "", 0
	}
	m.Fallback = m.binary
	m.Fail = func(op string, args []string) error {
		if m.dead.Load() {
			return fmt.Errorf("the deploy process was killed: %w", fs.ErrPermission)
		}
		return nil
	}
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.srv.Close)
	m.Dial = m.dial
	return m
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// kill makes every later operation of the run fail, as if its process died.
func (m *model) kill(on bool) { m.dead.Store(on) }

func (m *model) systemctl(_ *remotetest.Fake, args []string, _ []byte) (string, string, int) {
	var verb string
	var units []string
	for i := 1; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-p" || a == "-s" || a == "--kill-who":
			i++
		case strings.HasPrefix(a, "-"):
		case verb == "":
			verb = a
		default:
			units = append(units, a)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch verb {
	case "is-active":
		u := m.unit(units[0])
		if u.ActiveState == "active" {
			return "active\n", "", 0
		}
		return u.ActiveState + "\n", "", 3
	case "show":
		u := m.unit(units[0])
		return fmt.Sprintf("ActiveState=%s\nSubState=%s\nNRestarts=%d\nExecMainStatus=%d\nResult=%s\n", u.ActiveState, u.SubState, u.NRestarts, u.ExecMainStatus, u.Result), "", 0
	case "restart", "start":
		for _, u := range units {
			if msg := m.start(u); msg != "" {
				return "", msg, 1
			}
		}
	case "disable", "stop":
		for _, u := range units {
			m.stop(u)
		}
	case "reload":
		return m.reload()
	case "kill":
		m.agentVer = m.binVersion(m.layout.Binary)
	}
	return "", "", 0
}

func (m *model) unit(name string) *UnitState {
	if u := m.units[name]; u != nil {
		return u
	}
	return &UnitState{ActiveState: "inactive", SubState: "dead", Result: "success"}
}

func (m *model) stop(name string) {
	m.units[name] = &UnitState{ActiveState: "inactive", SubState: "dead", Result: "success"}
	switch {
	case name == AgentUnitName:
		m.agentOn = false
	case !strings.HasSuffix(name, ".socket"):
		m.backendUp = false
	}
}

// start models systemd starting a unit (with m.mu held).
func (m *model) start(name string) string {
	if name == AgentUnitName {
		m.restarts++
		cfg := m.Fake.File(m.layout.AgentConfig)
		if cfg == nil || !readableByAgent(cfg) || m.Fake.File(m.layout.Binary) == nil {
			m.units[name] = &UnitState{ActiveState: "failed", SubState: "failed", Result: "exit-code", ExecMainStatus: 2}
			m.agentOn = false
			return ""
		}
		m.units[name] = &UnitState{ActiveState: "active", SubState: "running", Result: "success"}
		m.agentOn, m.draining = true, false
		m.agentSum, m.agentVer = cfg.Sum(), m.binVersion(m.layout.Binary)
		return ""
	}
	if n, ok := strings.CutSuffix(name, ".socket"); ok {
		if m.Fake.File(m.layout.backendSocket(n)) == nil {
			return "Unit " + name + " not found."
		}
		m.units[name] = &UnitState{ActiveState: "active", SubState: "listening", Result: "success"}
		return ""
	}
	unit := m.Fake.File(m.layout.backendUnit(strings.TrimSuffix(name, ".service")))
	if unit == nil {
		return "Unit " + name + " not found."
	}
	// Requires=<name>.socket starts the socket first, or fails the start.
	if sock := strings.TrimSuffix(name, ".service") + ".socket"; strings.Contains(string(unit.Data), "Requires="+sock) {
		if msg := m.start(sock); msg != "" {
			return "Dependency failed for " + name + ": " + msg
		}
	}
	if strings.Contains(string(unit.Data), "--exit 1") {
		m.units[name] = &UnitState{ActiveState: "activating", SubState: "auto-restart", NRestarts: 2, ExecMainStatus: 1, Result: "exit-code"}
		m.backendUp = false
		return ""
	}
	m.units[name] = &UnitState{ActiveState: "active", SubState: "running", Result: "success"}
	m.backendUp = true
	return ""
}

func readableByAgent(n *remotetest.Inode) bool {
	_, group, _ := strings.Cut(n.Owner, ":")
	return n.Mode&0o004 != 0 || (group == "edgectl" && n.Mode&0o040 != 0)
}

func (m *model) binVersion(p string) string {
	if n := m.Fake.File(p); n != nil {
		return strings.TrimPrefix(string(n.Data), "bin-")
	}
	return ""
}

func (m *model) reload() (string, string, int) {
	if !m.agentOn {
		return "", "agent admin socket: connection refused (is the agent running?)\n", 1
	}
	cfg := m.Fake.File(m.layout.AgentConfig)
	if cfg == nil || !readableByAgent(cfg) {
		return "", "reload rejected: permission denied\n", 1
	}
	m.agentSum = cfg.Sum()
	return "reloaded\n", "", 0
}

// binary answers the edgectl binary (installed or uploaded).
func (m *model) binary(f *remotetest.Fake, args []string, _ []byte) (string, string, int) {
	n := f.File(args[0])
	if n == nil || !strings.HasPrefix(string(n.Data), "bin-") {
		return "", "sh: " + args[0] + ": not found\n", 127
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case len(args) > 1 && args[1] == "version":
		return "edgectl " + strings.TrimPrefix(string(n.Data), "bin-") + " (go1.26, linux/amd64)\n", "", 0
	case len(args) > 3 && args[2] == "--check":
		cfg := f.File(args[4])
		if cfg == nil {
			return "", "read agent config: no such file\n", 2
		}
		if strings.Contains(string(cfg.Data), "invalid") {
			return "", args[4] + ":3:5: upstream invalid is not defined\n", 2
		}
		return args[4] + ": ok\n", "", 0
	case len(args) > 2 && args[2] == "status":
		if !m.agentOn {
			return "", "agent admin socket: connection refused\n", 1
		}
		b, _ := json.Marshal(map[string]any{"version": m.agentVer, "config_sha256": m.agentSum, "draining": m.draining})
		return string(b) + "\n", "", 0
	case len(args) > 2 && args[2] == "reload":
		return m.reload()
	case len(args) > 2 && args[2] == "upgrade":
		if !m.agentOn {
			return "", "connection refused\n", 1
		}
		m.agentVer = m.binVersion(m.layout.Binary)
		if cfg := f.File(m.layout.AgentConfig); cfg != nil && readableByAgent(cfg) {
			m.agentSum = cfg.Sum()
		}
		return "upgraded\n", "", 0
	case len(args) > 2 && args[2] == "drain":
		m.draining = true
		return "draining\n", "", 0
	}
	return "", "", 0
}

// dial reaches the model's agent (port 80) and backend (port 8000).
func (m *model) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if network == "unix" {
		return nil, fmt.Errorf("dial unix %s: %w", addr, syscall.ECONNREFUSED)
	}
	_, port, _ := net.SplitHostPort(addr)
	m.mu.Lock()
	up := (port == "80" && m.agentOn) || (port == "8000" && m.backendUp)
	m.mu.Unlock()
	if !up {
		return nil, fmt.Errorf("dial %s: %w", addr, syscall.ECONNREFUSED)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", m.srv.Listener.Addr().String())
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (m *model) serve(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.URL.Path == "/backend-health" || r.Host == "[::1]:8000" {
		if m.backendUp {
			fmt.Fprintln(w, "ok")
			return
		}
		w.WriteHeader(502)
		return
	}
	live := 0
	if m.backendUp {
		live = 2
	}
	status, code := "healthy", 200
	if live == 0 {
		status = "degraded"
	}
	if m.draining {
		status, code = "draining", 503
	}
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"status":%q,"upstreams":{"app":{"live":%d,"total":2}}}`+"\n", status, live)
}

// state is what a test checks after a run: the host is wholly on one
// version, the agent runs it, nothing is left behind.
func (m *model) state(t *testing.T, want Want) {
	t.Helper()
	for _, f := range want.Files {
		n := m.Fake.File(f.Path)
		if n == nil {
			t.Errorf("%s is missing", f.Path)
			continue
		}
		if n.Sum() != f.Sum || n.Mode.Perm() != f.Mode.Perm() || n.Owner != f.Owner {
			t.Errorf("%s: sha256 %s %04o %s, want %s %04o %s", f.Path, short(n.Sum()), n.Mode.Perm(), n.Owner, short(f.Sum), f.Mode.Perm(), f.Owner)
		}
		if f.Path == m.layout.AgentConfig {
			m.mu.Lock()
			on, loaded := m.agentOn, m.agentSum
			m.mu.Unlock()
			if !on || loaded != f.Sum {
				t.Errorf("the agent runs config %s (running %v), want %s", short(loaded), on, short(f.Sum))
			}
		}
		if f.Path == m.layout.Binary {
			m.mu.Lock()
			v := m.agentVer
			m.mu.Unlock()
			if want := strings.TrimPrefix(string(f.Data), "bin-"); v != want {
				t.Errorf("the agent runs version %s, want %s", v, want)
			}
		}
	}
	if want.Backend != "" {
		m.mu.Lock()
		up := m.backendUp
		m.mu.Unlock()
		if !up {
			t.Errorf("the backend is not running")
		}
	}
	if tmp := m.Glob("/*/*" + remote.TempInfix + "*"); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	for _, d := range []string{"/usr/local/bin", "/etc/edgectl", "/etc/systemd/system", "/var/lib/edgectl"} {
		if tmp := m.Glob(d + "/.*" + remote.TempInfix + "*"); len(tmp) > 0 {
			t.Errorf("temporary files left: %v", tmp)
		}
	}
	if m.Fake.File(m.layout.Lock()) != nil {
		c, _ := m.Content(m.layout.Lock())
		t.Errorf("the lock is still held: %s", c)
	}
}

// journal reads the host's journal.
func (m *model) journal(t *testing.T) *Journal {
	t.Helper()
	c, ok := m.Content(m.layout.Journal())
	if !ok {
		return nil
	}
	var j Journal
	if err := json.Unmarshal([]byte(c), &j); err != nil {
		t.Fatalf("journal: %v\n%s", err, c)
	}
	return &j
}

// deployFleet is the test fleet: an agent in front of a backend, with a
// varying keepalive_timeout (ka) and backend command.
func deployFleet(t *testing.T, ka, exec string) *fleet.Fleet {
	return testFleet(t, fmt.Sprintf(`agent:
  listen: [{addr: "[::]:80"}]
  upstreams:
    app:
      servers: [{addr: "[::1]:8000"}, {addr: "127.0.0.1:8000", backup: true}]
      keepalive_timeout: %s
      health: {path: /health}
  routes: [{path: /, upstream: app}]
backend: {name: app, exec: %q, health: "http://[::1]:8000/backend-health"}
rollout: {batch: 1, health_timeout: 3s, drain: 0s}
`, ka, exec))
}

// binaries serves data as the running binary.
func binaries(t *testing.T, data string) *Binaries {
	p := filepath.Join(t.TempDir(), "edgectl")
	if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
		t.Fatal(err)
	}
	return &Binaries{Self: p, GOOS: "linux", Arch: "amd64"}
}

// deadHolder is a lock holder whose process has exited on this machine,
// as a killed deploy's is.
func deadHolder(t *testing.T) hostlock.Holder {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	h := hostlock.Self(hostlock.KindDeploy, "deploy fleet.yaml", time.Hour)
	h.PID = cmd.Process.Pid
	return h
}

// run deploys f to the model with binary bin.
func (m *model) deploy(t *testing.T, f *fleet.Fleet, bin string, tune func(*Options)) (*Result, error) {
	t.Helper()
	o := Options{Layout: m.layout, Binaries: binaries(t, bin), Parallel: 1,
		Dial: func(context.Context, fleet.Host) (remote.Host, error) { return m, nil }}
	if tune != nil {
		tune(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return Deploy(ctx, f, f.Hosts, o)
}

// want is what the fleet wants on the model.
func (m *model) want(t *testing.T, f *fleet.Fleet, bin string) Want {
	t.Helper()
	w, err := Desired(f, m.layout, []byte(bin), Facts{BindV6Only: 0, Sums: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	return w
}
