package provision

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/remote"
	"github.com/edgectl/edgectl/remote/remotetest"
)

// backendFleet is deployFleet's agent in front of a backend written out
// in full (YAML flow mapping keys after name: app).
func backendFleet(t *testing.T, keys string) *fleet.Fleet {
	return testFleet(t, `agent:
  listen: [{addr: "[::]:80"}]
  upstreams:
    app:
      servers: [{addr: "[::1]:8000"}, {addr: "127.0.0.1:8000", backup: true}]
      health: {path: /health}
  routes: [{path: /, upstream: app}]
backend: {name: app, health: "http://[::1]:8000/backend-health", `+keys+`}
rollout: {batch: 1, health_timeout: 3s, drain: 0s}
`)
}

// The uvicorn-style app: its code in working_dir, secrets in env_file, run
// as its own user on a dual-stack socket unit.
const mopKeys = `exec: "/opt/mop/venv/bin/uvicorn backend.app.main:app --fd 3", socket: "[::]:8000", working_dir: /opt/mop, user: mop, env_file: /etc/mop/api.env, environment: {LOG_LEVEL: info}`

// mopHost gives the model what the mop app needs on the host.
func mopHost(m *model) {
	m.SetFile("/opt/mop/venv/bin/uvicorn", []byte("#!/opt/mop/venv/bin/python"), 0o755, "root:root")
	m.SetFile("/etc/mop/api.env", []byte("API_SECRET=s3cr3t-value\n"), 0o600, "root:root")
}

// ran reports whether the host ran a command starting with prefix.
func ran(log []string, prefix string) bool {
	return slices.ContainsFunc(log, func(op string) bool { return strings.HasPrefix(op, prefix) })
}

// TestDesiredBackend: every backend key reaches the unit, and socket:
// adds <name>.socket ahead of the service it is required by.
func TestDesiredBackend(t *testing.T) {
	l := DefaultLayout()
	for _, tc := range []struct {
		name    string
		keys    string
		socket  bool
		service []string // lines the service unit has
		not     []string // lines it must not have
	}{
		{"socket, user, env_file", mopKeys, true,
			[]string{"ExecStart=/opt/mop/venv/bin/uvicorn backend.app.main:app --fd 3", "Requires=app.socket", "WorkingDirectory=/opt/mop",
				"User=mop", "EnvironmentFile=/etc/mop/api.env", `Environment="LOG_LEVEL=info"`, "TimeoutStopSec=30s"},
			[]string{"DynamicUser=yes"}},
		{"no user: a dynamic one", `exec: "/opt/app -listen [::]:8000", read_write_paths: [/var/lib/app]`, false,
			[]string{"DynamicUser=yes", "ReadWritePaths=/var/lib/app"},
			[]string{"User=", "Requires=", "WorkingDirectory="}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := backendFleet(t, tc.keys)
			w, err := Desired(f, l, []byte("bin"), Facts{Sums: map[string]string{}})
			if err != nil {
				t.Fatal(err)
			}
			paths := w.Paths()
			si, ui := slices.Index(paths, l.backendSocket("app")), slices.Index(paths, l.backendUnit("app"))
			if ui < 0 || (si >= 0) != tc.socket || (tc.socket && si > ui) {
				t.Fatalf("files %v: want the service, and the socket unit (%v) before it", paths, tc.socket)
			}
			if want := map[bool]string{true: "app.socket"}[tc.socket]; w.BackendSocket != want {
				t.Errorf("BackendSocket %q, want %q", w.BackendSocket, want)
			}
			unit := string(w.Files[ui].Data)
			for _, line := range tc.service {
				if !strings.Contains(unit, "\n"+line+"\n") {
					t.Errorf("the unit lacks %q:\n%s", line, unit)
				}
			}
			for _, line := range tc.not {
				if strings.Contains(unit, "\n"+line) {
					t.Errorf("the unit has %q:\n%s", line, unit)
				}
			}
			if tc.socket {
				sock := string(w.Files[si].Data)
				if !strings.Contains(sock, "\nListenStream=[::]:8000\n") || !strings.Contains(sock, "\nBindIPv6Only=both\n") {
					t.Errorf("socket unit:\n%s", sock)
				}
			}
			if !slices.Contains(ManagedPaths(f, l), l.backendSocket("app")) {
				t.Errorf("ManagedPaths %v lacks the socket unit: a left-over one would go unseen", ManagedPaths(f, l))
			}
		})
	}
}

// TestGatherBackendFacts runs the facts script with a real shell over a
// directory standing in for the host: the stat of each backend path, and
// env_file only tested, never read.
func TestGatherBackendFacts(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"opt/mop/venv/bin", "etc/mop", "var/lib/mop"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(root, p), []byte("API_SECRET=s3cr3t-value\n"), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(root, p), mode)
	}
	write("opt/mop/venv/bin/uvicorn", 0o755)
	write("etc/mop/api.env", 0o644)
	h := remotetest.Rooted(remote.Local{}, root, "vps1")
	b := &fleet.Backend{Name: "app", Exec: "/opt/mop/venv/bin/uvicorn backend.app.main:app --fd 3", Socket: "[::]:8000",
		WorkingDir: "/opt/mop", EnvFile: "/etc/mop/api.env", ReadWritePaths: []string{"/var/lib/mop", "/var/log/mop"},
		User: "edgectl-test-nobody-xyz"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := DefaultLayout()
	facts, err := Gather(ctx, h, l, []string{l.Binary}, "", b)
	if err != nil {
		t.Fatal(err)
	}
	got := facts.BackendHost
	for _, tc := range []struct {
		path        string
		exists, dir bool
		mode        os.FileMode
	}{
		{"/opt/mop/venv/bin/uvicorn", true, false, 0o755},
		{"/opt/mop", true, true, 0o755},
		{"/etc/mop/api.env", true, false, 0o644},
		{"/var/lib/mop", true, true, 0o755},
		{"/var/log/mop", false, false, 0},
	} {
		f, ok := got.Files[tc.path]
		if !ok || f.Exists != tc.exists || f.Dir != tc.dir || f.Mode != tc.mode {
			t.Errorf("%s: %+v (looked at: %v), want exists %v dir %v mode %04o", tc.path, f, ok, tc.exists, tc.dir, tc.mode)
		}
	}
	if got.UserExists {
		t.Errorf("user edgectl-test-nobody-xyz exists?")
	}
	fs := fleet.CheckBackend(b, nil, got)
	var keys []string
	for _, f := range fs {
		keys = append(keys, string(f.Severity)+" "+f.Key)
	}
	want := []string{"warning backend.env_file", "error backend.read_write_paths[1]", "info backend.user"}
	if !slices.Equal(keys, want) {
		t.Errorf("findings %v, want %v: %+v", keys, want, fs)
	}
}

// TestDeployBackend deploys the backend's keys to the model host and
// checks what was written, what ran, and what a plan refuses.
func TestDeployBackend(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(m *model)
		keys  string
		// status and the error's parts, when not deployed
		status string
		errHas []string
		// the host's log has these operations (prefixes, in this order),
		// and not those
		ops, notOps []string
		check       func(t *testing.T, m *model, h HostResult)
	}{
		{
			name: "the mop app: user created, socket unit installed and started before the service", setup: mopHost, keys: mopKeys,
			status: StatusDeployed,
			ops: []string{
				"id -u mop",
				"useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin mop",
				"systemctl enable --quiet -- app.socket app.service",
				"systemctl stop -- app.service app.socket",
				"systemctl start -- app.socket app.service",
			},
			notOps: []string{"groupadd", "read /etc/mop/api.env", "cat -- /etc/mop/api.env"},
			check: func(t *testing.T, m *model, _ HostResult) {
				if !m.users["mop"] || !m.groups["mop"] {
					t.Errorf("user mop %v, group mop %v: want both created", m.users["mop"], m.groups["mop"])
				}
				if u := m.unit("app.socket"); u.ActiveState != "active" {
					t.Errorf("app.socket is %s", u.ActiveState)
				}
				c, _ := m.Content("/etc/systemd/system/app.service")
				for _, line := range []string{"Requires=app.socket", "User=mop", "WorkingDirectory=/opt/mop", "EnvironmentFile=/etc/mop/api.env"} {
					if !strings.Contains(c, line) {
						t.Errorf("app.service lacks %s", line)
					}
				}
			},
		},
		{
			name: "user and group exist: nothing created",
			setup: func(m *model) {
				mopHost(m)
				m.users["mop"], m.groups["mop"] = true, true
			},
			keys: mopKeys, status: StatusDeployed,
			notOps: []string{"useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin mop", "id -u mop", "groupadd"},
		},
		{
			name: "a group of its own: created first, the user joins it", setup: mopHost,
			keys: mopKeys + ", group: mopgrp", status: StatusDeployed,
			ops: []string{
				"getent group mopgrp",
				"groupadd --system mopgrp",
				"id -u mop",
				"useradd --system --gid mopgrp --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin mop",
			},
		},
		{
			name: "the user's group exists already: the new user joins it",
			setup: func(m *model) {
				mopHost(m)
				m.groups["mop"] = true
			},
			keys: mopKeys, status: StatusDeployed,
			ops: []string{"useradd --system --gid mop --no-create-home"},
		},
		{
			name: "env_file missing: refused, nothing written",
			setup: func(m *model) {
				mopHost(m)
				m.Fake.Remove(context.Background(), "/etc/mop/api.env")
			},
			keys: mopKeys, status: StatusAborted,
			errHas: []string{"backend.env_file: env_file /etc/mop/api.env does not exist on the host; create it there"},
			notOps: []string{"useradd", "systemctl enable", "write /etc/systemd/system/", "write /var/lib/edgectl/deploy.json"},
		},
		{
			name:   "working_dir missing: refused, nothing written",
			setup:  mopHost,
			keys:   `exec: "/opt/app --fd 3", socket: "[::]:8000", working_dir: /srv/app`,
			status: StatusAborted,
			errHas: []string{"backend.working_dir: working_dir /srv/app is not a directory on the host"},
			notOps: []string{"systemctl enable", "write /etc/systemd/system/", "write /var/lib/edgectl/deploy.json"},
		},
		{
			name:   "IPv4-only bind behind the [::1] primary: refused with the fix",
			setup:  mopHost,
			keys:   `exec: "/opt/mop/venv/bin/uvicorn backend.app.main:app --host 0.0.0.0 --port 8000", working_dir: /opt/mop`,
			status: StatusAborted,
			errHas: []string{"IPv4-only bind behind the [::1]", `socket: "[::]:8000"`, "--fd 3"},
			notOps: []string{"systemctl enable", "write /etc/systemd/system/"},
		},
		{
			name: "gunicorn -b 0.0.0.0: refused, the IPv4-only bind named",
			setup: func(m *model) {
				mopHost(m)
				m.SetFile("/opt/mop/venv/bin/gunicorn", []byte("#!/opt/mop/venv/bin/python"), 0o755, "root:root")
			},
			keys:   `exec: "/opt/mop/venv/bin/gunicorn -b 0.0.0.0:8000 backend.app.main:app", working_dir: /opt/mop`,
			status: StatusAborted,
			errHas: []string{"IPv4-only bind behind the [::1] primary", "gunicorn binding 0.0.0.0:8000", "--bind fd://3"},
			notOps: []string{"systemctl enable", "write /etc/systemd/system/"},
		},
		{
			name: "gunicorn --bind 0.0.0.0 and [::]: both families, deployed",
			setup: func(m *model) {
				mopHost(m)
				m.SetFile("/opt/mop/venv/bin/gunicorn", []byte("#!/opt/mop/venv/bin/python"), 0o755, "root:root")
			},
			keys:   `exec: "/opt/mop/venv/bin/gunicorn --bind 0.0.0.0:8000 --bind [::1]:8000 backend.app.main:app", working_dir: /opt/mop`,
			status: StatusDeployed,
			ops:    []string{"systemctl enable --quiet -- app.service", "systemctl restart -- app.service"},
		},
		{
			name: "env_file readable by others: deployed with a warning", setup: func(m *model) {
				mopHost(m)
				m.File("/etc/mop/api.env").Mode = 0o644
			},
			keys: mopKeys, status: StatusDeployed,
			check: func(t *testing.T, _ *model, h HostResult) {
				want := "warning: backend.env_file: env_file /etc/mop/api.env is readable by other users (mode 0644); chmod 600 /etc/mop/api.env"
				if !slices.Contains(h.Notes, want) {
					t.Errorf("notes %q lack %q", h.Notes, want)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newModel(t)
			if _, err := m.Fake.Run(context.Background(), "mkdir -p -- /opt/mop /etc/mop /srv", nil); err != nil {
				t.Fatal(err)
			}
			tc.setup(m)
			m.ResetLog()
			f := backendFleet(t, tc.keys)
			res, err := m.deploy(t, f, "bin-v1", nil)
			if len(res.Hosts) != 1 {
				t.Fatalf("hosts %+v, %v", res.Hosts, err)
			}
			h := res.Hosts[0]
			if h.Status != tc.status {
				t.Fatalf("status %s (%s), want %s; error %v", h.Status, h.Summary, tc.status, err)
			}
			if tc.status == StatusAborted {
				var pe *PlanProblemError
				if !errors.As(err, &pe) || !slices.Equal(pe.Hosts, []string{"vps1"}) {
					t.Errorf("Deploy's error %v, want a PlanProblemError naming vps1", err)
				}
				for _, s := range tc.errHas {
					if !strings.Contains(h.Error, s) {
						t.Errorf("error %q lacks %q", h.Error, s)
					}
				}
				if m.Fake.File(m.layout.Lock()) != nil {
					t.Errorf("the lock is still held")
				}
			} else if err != nil {
				t.Fatal(err)
			}
			log := m.Log()
			rest := log
			for _, op := range tc.ops {
				i := slices.IndexFunc(rest, func(s string) bool { return strings.HasPrefix(s, op) })
				if i < 0 {
					t.Errorf("the host did not run %q (after the operations before it):\n%s", op, strings.Join(log, "\n"))
					break
				}
				rest = rest[i+1:]
			}
			for _, op := range tc.notOps {
				if ran(log, op) {
					t.Errorf("the host ran %q", op)
				}
			}
			for _, op := range log {
				if strings.Contains(op, "api.env") && !strings.HasPrefix(op, "test ") && !strings.HasPrefix(op, "stat ") {
					t.Errorf("env_file touched beyond test and stat: %q", op)
				}
			}
			if out := fmt.Sprintf("%+v", res); strings.Contains(out, "s3cr3t") {
				t.Errorf("the result holds env_file's content: %s", out)
			}
			if tc.status == StatusDeployed {
				m.state(t, m.want(t, f, "bin-v1"))
			}
			if tc.check != nil {
				tc.check(t, m, h)
			}
		})
	}
}

// TestBackendSocketChanges: a socket unit added, changed or dropped, and
// the rollback of a run that added or changed one.
func TestBackendSocketChanges(t *testing.T) {
	const (
		plain   = `exec: "/opt/app -listen [::]:8000"`
		sock    = `exec: "/opt/app --fd 3", socket: "[::]:8000"`
		sock2   = `exec: "/opt/app --fd 3", socket: "[::]:8001"`
		badSock = `exec: "/opt/app --fd 3 --exit 1", socket: "[::]:8000"`
		bad2    = `exec: "/opt/app --fd 3 --exit 1", socket: "[::]:8001"`
	)
	for _, tc := range []struct {
		name       string
		from, to   string
		status     string
		ops        []string // in this order
		socketFrom string   // the socket unit after the run: "from", "to" or "" (none)
	}{
		{"added: the service stops before the socket takes the port", plain, sock, StatusDeployed,
			[]string{"systemctl enable --quiet -- app.socket app.service", "systemctl stop -- app.service app.socket", "systemctl start -- app.socket app.service"}, "to"},
		{"unchanged socket, new service: only the service restarts", sock, `exec: "/opt/app --fd 3 --workers 2", socket: "[::]:8000"`, StatusDeployed,
			[]string{"systemctl enable --quiet -- app.socket app.service", "systemctl restart -- app.service"}, "to"},
		{"changed socket: both restart", sock, sock2, StatusDeployed,
			[]string{"systemctl stop -- app.service app.socket", "systemctl start -- app.socket app.service"}, "to"},
		{"added, then the gate fails: the socket is stopped and removed", plain, badSock, StatusRolledBack,
			[]string{"systemctl start -- app.socket app.service", "systemctl disable --now --quiet -- app.socket", "rm -f -- /etc/systemd/system/app.socket", "systemctl daemon-reload", "systemctl enable --quiet -- app.service", "systemctl restart -- app.service"}, ""},
		{"changed, then the gate fails: the old socket is back and restarted", sock, bad2, StatusRolledBack,
			[]string{"systemctl start -- app.socket app.service", "mv -f -- /etc/systemd/system/.app.socket", "systemctl daemon-reload", "systemctl stop -- app.service app.socket", "systemctl start -- app.socket app.service"}, "from"},
		{"dropped: refused, the left-over socket named", sock, plain, StatusAborted,
			[]string{}, "from"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newModel(t)
			from, to := backendFleet(t, tc.from), backendFleet(t, tc.to)
			if h := m.host(t, from, "bin-v1", nil); h.Status != StatusDeployed {
				t.Fatalf("first deploy: %+v", h)
			}
			m.ResetLog()
			res, err := m.deploy(t, to, "bin-v1", nil)
			h := res.Hosts[0]
			if h.Status != tc.status {
				t.Fatalf("status %s: %s (%v)", h.Status, h.Error, err)
			}
			if tc.status == StatusAborted && !strings.Contains(h.Error, "backend.socket: the host has /etc/systemd/system/app.socket from an earlier deploy, but backend has no socket") {
				t.Errorf("error %q", h.Error)
			}
			log := m.Log()
			rest := log
			for _, op := range tc.ops {
				i := slices.IndexFunc(rest, func(s string) bool { return strings.HasPrefix(s, op) })
				if i < 0 {
					t.Fatalf("the host did not run %q (after the operations before it):\n%s", op, strings.Join(log, "\n"))
				}
				rest = rest[i+1:]
			}
			want := map[string]*fleet.Fleet{"from": from, "to": to}[tc.socketFrom]
			got, have := m.Content(m.layout.backendSocket("app"))
			switch {
			case want == nil && have:
				t.Errorf("the socket unit is still there:\n%s", got)
			case want != nil:
				w := m.want(t, want, "bin-v1")
				m.state(t, w)
				if u := m.unit("app.socket"); u.ActiveState != "active" {
					t.Errorf("app.socket is %s", u.ActiveState)
				}
			}
			if want == nil {
				m.state(t, m.want(t, from, "bin-v1"))
				if u := m.unit("app.socket"); u.ActiveState == "active" {
					t.Errorf("app.socket still runs")
				}
			}
		})
	}
}

// TestFirstInstallRollbackStopsSocket: a first install whose backend
// fails leaves no unit running or enabled, its socket unit included.
func TestFirstInstallRollbackStopsSocket(t *testing.T) {
	m := newModel(t)
	f := backendFleet(t, `exec: "/opt/app --fd 3 --exit 1", socket: "[::]:8000"`)
	res, err := m.deploy(t, f, "bin-v1", nil)
	if err != nil || res.Hosts[0].Status != StatusRolledBack {
		t.Fatalf("%+v %v", res.Hosts, err)
	}
	if !ran(m.Log(), "systemctl disable --now --quiet -- edgectl-agent.service app.socket app.service") {
		t.Errorf("the units were not all stopped:\n%s", strings.Join(m.Log(), "\n"))
	}
	for _, u := range []string{"app.socket", "app.service", AgentUnitName} {
		if st := m.unit(u); st.ActiveState == "active" {
			t.Errorf("%s still runs", u)
		}
	}
	for _, p := range []string{m.layout.backendSocket("app"), m.layout.backendUnit("app")} {
		if m.Fake.File(p) != nil {
			t.Errorf("%s is still there", p)
		}
	}
}

// TestSysctlOnlyWithoutSocket: with bindv6only=1 a backend binding [::]
// itself needs the drop-in; one on a socket unit (BindIPv6Only=both) does
// not, unless an earlier deploy wrote it (then it is kept).
func TestSysctlOnlyWithoutSocket(t *testing.T) {
	l := DefaultLayout()
	for _, tc := range []struct {
		name    string
		keys    string
		managed bool
		want    bool
	}{
		{"binds [::] itself", `exec: "/opt/app -listen [::]:8000"`, false, true},
		{"socket unit", `exec: "/opt/app --fd 3", socket: "[::]:8000"`, false, false},
		{"socket unit, drop-in already there", `exec: "/opt/app --fd 3", socket: "[::]:8000"`, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			facts := Facts{BindV6Only: 1, Sums: map[string]string{}}
			if tc.managed {
				facts.Sums[l.sysctl()] = "abc"
			}
			w, err := Desired(backendFleet(t, tc.keys), l, []byte("bin"), facts)
			if err != nil {
				t.Fatal(err)
			}
			if got := slices.Contains(w.Paths(), l.sysctl()); got != tc.want {
				t.Errorf("drop-in written %v, want %v", got, tc.want)
			}
		})
	}
}

// TestKilledBeforeSocketStart: a run that added the socket unit and died
// before the backend step leaves the unit in place; the rerun completes it
// and still stops the service before starting the socket.
func TestKilledBeforeSocketStart(t *testing.T) {
	m := newModel(t)
	m.host(t, backendFleet(t, `exec: "/opt/app -listen [::]:8000"`), "bin-v1", nil)
	sock := backendFleet(t, `exec: "/opt/app --fd 3", socket: "[::]:8000"`)
	h := m.host(t, sock, "bin-v1", func(o *Options) {
		o.Holder = deadHolder(t)
		o.Step = func(_, s string) {
			if s == StepBackend {
				m.kill(true)
			}
		}
	})
	m.kill(false)
	if h.Status == StatusDeployed {
		t.Fatalf("killed at the backend step, the run reported %s", h.Status)
	}
	m.ResetLog()
	if h := m.host(t, sock, "bin-v1", nil); h.Status != StatusDeployed {
		t.Fatalf("rerun: %+v", h)
	}
	if !ran(m.Log(), "systemctl stop -- app.service app.socket") {
		t.Errorf("the rerun did not stop the service before starting the socket:\n%s", strings.Join(m.Log(), "\n"))
	}
	m.state(t, m.want(t, sock, "bin-v1"))
}
