package fleet

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/agentconfig"
)

func TestBackendDefaults(t *testing.T) {
	f := parseOK(t, oneHost+"backend: {name: app, exec: /opt/app/bin/app}\n", testEnv)
	b := f.Backend
	if b.Restart != RestartHold || b.HoldTimeout != 30*time.Second || b.StopTimeout != 30*time.Second || !b.DynamicUser() {
		t.Errorf("defaults %+v", b)
	}
	f = mustLoad(t, "backend.yaml")
	b = f.Backend
	want := &Backend{
		Name: "mop-api", Exec: "/opt/mop/venv/bin/uvicorn backend.app.main:app --fd 3", Socket: "[::]:8000",
		Health: "http://[::1]:8000/health", WorkingDir: "/opt/mop", User: "mop",
		Environment: map[string]string{"LOG_LEVEL": "info", "WORKERS": "2"}, EnvFile: "/etc/mop/api.env",
		ReadWritePaths: []string{"/var/lib/mop"}, StopTimeout: 30 * time.Second, Restart: "hold", HoldTimeout: 30 * time.Second,
	}
	if !reflect.DeepEqual(b, want) {
		t.Errorf("backend.yaml\n got %+v\nwant %+v", b, want)
	}
	if ap, ok := b.SocketAddr(); !ok || ap != netip.MustParseAddrPort("[::]:8000") {
		t.Errorf("socket %v %v", ap, ok)
	}
	if got := strings.Join(b.HostPaths(), " "); got != "/opt/mop/venv/bin/uvicorn /opt/mop /etc/mop/api.env /var/lib/mop" {
		t.Errorf("host paths %s", got)
	}
	// Written values win: plain restart needs no hold timeout.
	f = parseOK(t, oneHost+"backend: {name: app, exec: /a, restart: plain, hold_timeout: 0s, stop_timeout: 2m}\n", testEnv)
	if f.Backend.Restart != RestartPlain || f.Backend.StopTimeout != 2*time.Minute {
		t.Errorf("written values %+v", f.Backend)
	}
}

func TestParseExecBind(t *testing.T) {
	for _, tc := range []struct {
		name, exec string
		want       string // addresses, "fd" when it takes fd 3
		program    string
	}{
		{"install.sh's uvicorn", "/opt/mop/venv/bin/uvicorn backend.app.main:app --host 0.0.0.0 --port 8000", "0.0.0.0:8000", "uvicorn"},
		{"uvicorn defaults", "/opt/v/bin/uvicorn app:app", "127.0.0.1:8000", "uvicorn"},
		{"uvicorn on ::, = form", "/opt/v/bin/uvicorn app:app --host=:: --port=9000", "[::]:9000", "uvicorn"},
		{"uvicorn with fd", "/opt/v/bin/uvicorn app:app --fd 3", "fd", "uvicorn"},
		{"python -m uvicorn", "/opt/v/bin/python3 -m uvicorn app:app --host ::1", "[::1]:8000", "uvicorn"},
		{"uvicorn on a unix socket", "/opt/v/bin/uvicorn app:app --uds /run/app.sock", "", "uvicorn"},
		{"gunicorn two binds", "/opt/v/bin/gunicorn -k uvicorn.workers.UvicornWorker -b 0.0.0.0:8000 --bind [::]:8000 app:app", "0.0.0.0:8000 [::]:8000", "gunicorn"},
		{"gunicorn default", "/opt/v/bin/gunicorn app:app", "127.0.0.1:8000", "gunicorn"},
		{"gunicorn fd", "/opt/v/bin/gunicorn --bind=fd://3 app:app", "fd", "gunicorn"},
		{"hypercorn port only", "/opt/v/bin/hypercorn -b :8080 app:app", "0.0.0.0:8080", "hypercorn"},
		{"an unknown program", "/usr/local/bin/api --listen [::]:8000", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eb := ParseExecBind(tc.exec)
			var got []string
			for _, a := range eb.Addrs {
				got = append(got, a.String())
			}
			if eb.FD {
				got = append(got, "fd")
			}
			if g := strings.Join(got, " "); g != tc.want || eb.Program != tc.program {
				t.Errorf("got %q program %q, want %q %q", g, eb.Program, tc.want, tc.program)
			}
		})
	}
}

// seedAgent is install.sh's upstream: [::1] primary, 127.0.0.1 backup.
func seedAgent() *agentconfig.Config {
	return &agentconfig.Config{Upstreams: map[string]*agentconfig.Upstream{
		"backend_api": {Servers: []agentconfig.Server{{Addr: "[::1]:8000"}, {Addr: "127.0.0.1:8000", Backup: true}}},
	}}
}

func TestCheckBackend(t *testing.T) {
	okFiles := map[string]HostFile{
		"/opt/mop/venv/bin/uvicorn": {Exists: true, Mode: 0o755, Owner: "root"},
		"/opt/mop":                  {Exists: true, Dir: true, Mode: 0o755, Owner: "root"},
		"/etc/mop/api.env":          {Exists: true, Mode: 0o600, Owner: "root"},
		"/var/lib/mop":              {Exists: true, Dir: true, Mode: 0o750, Owner: "mop"},
	}
	with := func(path string, f HostFile) map[string]HostFile {
		m := map[string]HostFile{}
		for k, v := range okFiles {
			m[k] = v
		}
		m[path] = f
		return m
	}
	base := Backend{
		Name: "mop-api", Exec: "/opt/mop/venv/bin/uvicorn backend.app.main:app --fd 3", Socket: "[::]:8000",
		Health: "http://[::1]:8000/health", WorkingDir: "/opt/mop", User: "mop", EnvFile: "/etc/mop/api.env",
		ReadWritePaths: []string{"/var/lib/mop"},
	}
	edit := func(fn func(b *Backend)) Backend {
		b := base
		fn(&b)
		return b
	}
	for _, tc := range []struct {
		name    string
		backend Backend
		host    BackendHost
		want    []string // "severity key: part of the message"
	}{
		{"all there", base, BackendHost{Files: okFiles, UserExists: true}, nil},
		{"nothing looked at", base, BackendHost{UserExists: true}, nil},
		{"env_file missing", base, BackendHost{Files: with("/etc/mop/api.env", HostFile{}), UserExists: true},
			[]string{"error backend.env_file: env_file /etc/mop/api.env does not exist on the host"}},
		{"env_file world-readable", base, BackendHost{Files: with("/etc/mop/api.env", HostFile{Exists: true, Mode: 0o644}), UserExists: true},
			[]string{"warning backend.env_file: readable by other users (mode 0644); chmod 600"}},
		{"working_dir missing", base, BackendHost{Files: with("/opt/mop", HostFile{}), UserExists: true},
			[]string{"error backend.working_dir: working_dir /opt/mop is not a directory"}},
		{"program missing", base, BackendHost{Files: with("/opt/mop/venv/bin/uvicorn", HostFile{}), UserExists: true},
			[]string{"error backend.exec: /opt/mop/venv/bin/uvicorn does not exist on the host"}},
		{"program not executable", base, BackendHost{Files: with("/opt/mop/venv/bin/uvicorn", HostFile{Exists: true, Mode: 0o644}), UserExists: true},
			[]string{"error backend.exec: not an executable file"}},
		{"writable path missing", base, BackendHost{Files: with("/var/lib/mop", HostFile{}), UserExists: true},
			[]string{"error backend.read_write_paths[0]: /var/lib/mop does not exist on the host"}},
		{"writable path owned by root", base, BackendHost{Files: with("/var/lib/mop", HostFile{Exists: true, Dir: true, Mode: 0o755, Owner: "root"}), UserExists: true},
			[]string{"warning backend.read_write_paths[0]: owned by root (mode 0755), not by mop"}},
		{"dynamic user cannot own a path", edit(func(b *Backend) { b.User = "" }), BackendHost{Files: okFiles},
			[]string{"warning backend.read_write_paths[0]: the dynamic user the app runs as cannot write it"}},
		{"user to be created", base, BackendHost{Files: okFiles},
			[]string{"info backend.user: user mop does not exist on the host; deploy creates it"}},
		{"install.sh's 0.0.0.0 exec kept", edit(func(b *Backend) {
			b.Socket, b.Exec = "", "/opt/mop/venv/bin/uvicorn backend.app.main:app --host 0.0.0.0 --port 8000"
		}), BackendHost{Files: okFiles, UserExists: true}, []string{
			"error agent.upstreams.backend_api.servers[0].addr: IPv4-only bind behind the [::1] primary (upstreams.backend_api): uvicorn binding 0.0.0.0:8000 accepts no IPv6",
			"error backend.health: IPv4-only bind behind the [::1] health URL",
		}},
		{"uvicorn on :: behind the 127.0.0.1 backup", edit(func(b *Backend) {
			b.Socket, b.Exec = "", "/opt/mop/venv/bin/uvicorn app:app --host :: --port 8000"
		}), BackendHost{Files: okFiles, UserExists: true}, []string{
			"error agent.upstreams.backend_api.servers[1].addr: IPv6-only bind behind the 127.0.0.1 backup (upstreams.backend_api): uvicorn binding [::]:8000 is IPv6-only",
		}},
		{"gunicorn on :: follows bindv6only: fine", edit(func(b *Backend) {
			b.Socket, b.Exec = "", "/opt/mop/venv/bin/gunicorn -b [::]:8000 app:app"
		}), BackendHost{Files: okFiles, UserExists: true}, nil},
		{"another port is not this backend's", edit(func(b *Backend) {
			b.Socket, b.Exec, b.Health = "", "/opt/mop/venv/bin/uvicorn app:app --host 0.0.0.0 --port 9000", ""
		}), BackendHost{Files: okFiles, UserExists: true}, nil},
		{"IPv4 socket behind [::1]", edit(func(b *Backend) { b.Socket = "0.0.0.0:8000" }), BackendHost{Files: okFiles, UserExists: true}, []string{
			"error agent.upstreams.backend_api.servers[0].addr: IPv4-only bind behind the [::1] primary (upstreams.backend_api): socket 0.0.0.0:8000 accepts no IPv6",
			"error backend.health: IPv4-only bind",
		}},
		{"socket but exec binds itself", edit(func(b *Backend) { b.Exec = "/opt/mop/venv/bin/uvicorn app:app --host :: --port 8000" }),
			BackendHost{Files: okFiles, UserExists: true}, []string{"error backend.exec: socket [::]:8000 hands the app its listening socket as fd 3, but exec binds [::]:8000 itself; start uvicorn with --fd 3"}},
		{"fd without socket", edit(func(b *Backend) { b.Socket = "" }), BackendHost{Files: okFiles, UserExists: true},
			[]string{"error backend.socket: exec takes an inherited socket (fd 3) but backend has no socket"}},
		{"unknown program: no bind judgement", edit(func(b *Backend) { b.Socket, b.Exec = "", "/usr/local/bin/api" }),
			BackendHost{Files: with("/usr/local/bin/api", HostFile{Exists: true, Mode: 0o755}), UserExists: true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := CheckBackend(&tc.backend, seedAgent(), tc.host)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d findings, want %d:\n%v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				head, part, _ := strings.Cut(w, ": ")
				g := got[i]
				if string(g.Severity)+" "+g.Key != head || !strings.Contains(g.Message, part) {
					t.Errorf("finding %d: %s %s: %s\nwant %s: …%s…", i, g.Severity, g.Key, g.Message, head, part)
				}
			}
		})
	}
}
