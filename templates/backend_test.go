package templates

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/internal/golden"
)

// The backend's shapes: as before the backend keys existed (name and exec
// only), a dynamic user with writable paths, everything set, and the
// socket-activated app with its .socket unit.
func TestRenderBackend(t *testing.T) {
	full := BackendUnit{
		Name: "mop-api", Exec: "/opt/mop/venv/bin/uvicorn backend.app.main:app --host :: --port 8000 --log-format %h",
		WorkingDir: "/opt/mop", User: "mop", Group: "mop",
		Environment:    map[string]string{"LOG_LEVEL": "info", "GREETING": `say "hi" 100% \o/`, "EMPTY": ""},
		EnvFile:        "/etc/mop/api.env",
		ReadWritePaths: []string{"/var/lib/mop", "/var/log/mop"}, StopTimeout: 1500 * time.Millisecond,
	}
	for _, tc := range []struct {
		name string
		unit BackendUnit
	}{
		{"backend_minimal", BackendUnit{Name: "api", Exec: "/usr/local/bin/api --listen [::]:8000"}},
		{"backend_dynamic", BackendUnit{Name: "api", Exec: "/usr/local/bin/api", ReadWritePaths: []string{"/var/lib/api"}, StopTimeout: 30 * time.Second}},
		{"backend_full", full},
		{"backend_home", BackendUnit{Name: "bot", Exec: "/home/bot/venv/bin/python -m bot", WorkingDir: "/home/bot/app", User: "bot"}},
		{"backend_socket", BackendFromFleet(&fleet.Backend{
			Name: "mop-api", Exec: "/opt/mop/venv/bin/uvicorn backend.app.main:app --fd 3", Socket: "[::]:8000",
			WorkingDir: "/opt/mop", User: "mop", Environment: map[string]string{"LOG_LEVEL": "info"},
			EnvFile: "/etc/mop/api.env", ReadWritePaths: []string{"/var/lib/mop"}, StopTimeout: 30 * time.Second,
		})},
		{"backend_socket_ipv4", BackendUnit{Name: "api", Exec: "/usr/local/bin/api --fd 3", Socket: "127.0.0.1:9000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, err := RenderBackendUnit(tc.unit)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, tc.name+".service", filepath.Join("testdata", tc.name+".service.golden"), svc)
			sock, err := RenderBackendSocket(tc.unit)
			if err != nil {
				t.Fatal(err)
			}
			if tc.unit.Socket == "" {
				if sock != nil || tc.unit.SocketUnitName() != "" {
					t.Fatalf("no socket: must render no socket unit, got %q", sock)
				}
				if strings.Contains(string(svc), ".socket") {
					t.Fatal("no socket: the service must not require one")
				}
				return
			}
			golden.Check(t, tc.name+".socket", filepath.Join("testdata", tc.name+".socket.golden"), sock)
			if !strings.Contains(string(svc), "Requires="+tc.unit.SocketUnitName()) {
				t.Fatal("the service must require its socket unit")
			}
		})
	}
}

func TestRenderBackendRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		unit BackendUnit
	}{
		{"newline in exec", BackendUnit{Name: "x", Exec: "/bin/a\nExecStartPre=/bin/evil"}},
		{"relative exec", BackendUnit{Name: "x", Exec: "bin/a"}},
		{"name with a slash", BackendUnit{Name: "../x", Exec: "/bin/a"}},
		{"relative working dir", BackendUnit{Name: "x", Exec: "/bin/a", WorkingDir: "opt"}},
		{"space in a writable path", BackendUnit{Name: "x", Exec: "/bin/a", ReadWritePaths: []string{"/var/lib/a b"}}},
		{"newline in a value", BackendUnit{Name: "x", Exec: "/bin/a", Environment: map[string]string{"A": "1\nExecStartPre=/bin/evil"}}},
		{"= in a name", BackendUnit{Name: "x", Exec: "/bin/a", Environment: map[string]string{"A=B": "1"}}},
		{"user with a space", BackendUnit{Name: "x", Exec: "/bin/a", User: "a b"}},
		{"socket by name", BackendUnit{Name: "x", Exec: "/bin/a", Socket: "localhost:8000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if b, err := RenderBackendUnit(tc.unit); err == nil {
				t.Fatalf("rendered:\n%s", b)
			}
		})
	}
}
