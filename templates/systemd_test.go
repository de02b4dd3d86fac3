package templates

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/buildtest"
	"github.com/edgectl/edgectl/internal/testbed"
)

// TestBackendUnitsUnderSystemd starts the rendered backend units under
// real systemd on a VPS with net.ipv6.bindv6only=1 and checks what the app
// gets: one socket that answers on both families (loopbacks and the public
// addresses), its working directory, user, environment (quoting included)
// and env file, a file system it can write only where read_write_paths
// says, and a listening socket that stays open while the app restarts, so
// that an app which finishes what it accepted (unitapp does) fails no
// request across a restart: new connections wait in the socket's backlog.
// A second unit checks the dynamic user. Root and systemd-nspawn only.
func TestBackendUnitsUnderSystemd(t *testing.T) {
	if err := testbed.Check(); err != nil {
		t.Skipf("testbed %v", err)
	}
	app := buildtest.Binary(t, "./templates/testdata/unitapp", "test")
	appDir := t.TempDir()
	if err := os.Mkdir(filepath.Join(appDir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(app, filepath.Join(appDir, "bin", "unitapp")); err != nil {
		data, _ := os.ReadFile(app)
		if err := os.WriteFile(filepath.Join(appDir, "bin", "unitapp"), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bed := testbed.StartT(t, testbed.Options{
		Hosts:  []testbed.HostSpec{{Name: "vps1", IPv4: true, IPv6: true, BindV6Only: true}},
		BindRO: map[string]string{appDir: "/opt/mop"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run := func(cmd string) string {
		t.Helper()
		out, err := bed.Run(ctx, "vps1", cmd)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return string(out)
	}
	put := func(path string, data []byte, mode string) {
		t.Helper()
		run(fmt.Sprintf("mkdir -p %s && echo %s | base64 -d > %s && chmod %s %s", filepath.Dir(path), base64.StdEncoding.EncodeToString(data), path, mode, path))
	}
	mop := BackendUnit{
		Name: "mop-api", Exec: "/opt/mop/bin/unitapp -env LOG_LEVEL,GREETING,EMPTY,SECRET", Socket: "[::]:8000",
		WorkingDir: "/opt/mop", User: "mop",
		Environment: map[string]string{"LOG_LEVEL": "info", "GREETING": `say "hi" 100% \o/ $HOME`, "EMPTY": ""},
		EnvFile:     "/etc/mop/api.env", ReadWritePaths: []string{"/var/lib/mop"}, StopTimeout: 10 * time.Second,
	}
	dyn := BackendUnit{Name: "dyn-api", Exec: "/opt/mop/bin/unitapp -listen [::]:8001", ReadWritePaths: []string{"/var/lib/dyn"}}
	for _, u := range []BackendUnit{mop, dyn} {
		svc, err := RenderBackendUnit(u)
		if err != nil {
			t.Fatal(err)
		}
		put("/etc/systemd/system/"+u.Name+".service", svc, "0644")
		if sock, err := RenderBackendSocket(u); err != nil {
			t.Fatal(err)
		} else if sock != nil {
			put("/etc/systemd/system/"+u.SocketUnitName(), sock, "0644")
		}
	}
	put("/etc/mop/api.env", []byte("SECRET=s3cr3t value\n"), "0600")
	// What deploy does for a backend with a user and writable paths.
	run("useradd --system --no-create-home --shell /usr/sbin/nologin mop && install -d -o mop -m 0750 /var/lib/mop && install -d -m 0777 /var/lib/dyn")
	run("systemctl daemon-reload && systemctl enable --now mop-api.socket && systemctl start mop-api.service dyn-api.service")

	type info struct {
		Cwd  string            `json:"cwd"`
		UID  int               `json:"uid"`
		User string            `json:"user"`
		PID  int               `json:"pid"`
		Env  map[string]string `json:"env"`
	}
	get := func(url string) info {
		t.Helper()
		out := run("curl -sS --fail --max-time 5 " + url)
		var i info
		if err := json.Unmarshal([]byte(out), &i); err != nil {
			t.Fatalf("%s: %v: %q", url, err, out)
		}
		return i
	}
	h := bed.Host("vps1")
	// One socket, both families, whatever bindv6only says: the loopbacks
	// and the public addresses.
	for _, url := range []string{"http://127.0.0.1:8000/", "http://[::1]:8000/"} {
		i := get(url)
		want := map[string]string{"LOG_LEVEL": "info", "GREETING": `say "hi" 100% \o/ $HOME`, "EMPTY": "", "SECRET": "s3cr3t value"}
		if i.Cwd != "/opt/mop" || i.User != "mop" || fmt.Sprint(i.Env) != fmt.Sprint(want) {
			t.Errorf("%s: %+v; want cwd /opt/mop, user mop, env %v", url, i, want)
		}
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for _, addr := range []string{h.IPv4, h.IPv6} {
		resp, err := client.Get("http://" + net.JoinHostPort(addr, "8000") + "/")
		if err != nil {
			t.Fatalf("the socket unit must serve %s from outside: %v", addr, err)
		}
		resp.Body.Close()
	}
	// Writable only where read_write_paths says (and a private /tmp).
	for path, ok := range map[string]bool{"/var/lib/mop/x": true, "/tmp/x": true, "/opt/mop/x": false, "/etc/x": false, "/var/tmp/x": true, "/root/x": false} {
		out, err := bed.Run(ctx, "vps1", "curl -sS --max-time 5 -o /dev/null -w '%{http_code}' 'http://[::1]:8000/write?path="+path+"'")
		if err != nil {
			t.Fatalf("write %s: %v", path, err)
		}
		if got := string(out) == "200"; got != ok {
			t.Errorf("the app writing %s: status %s, want writable=%v", path, out, ok)
		}
	}
	// Restarting the app keeps the socket: no connection is refused.
	sockSince := run("systemctl show -P ActiveEnterTimestampMonotonic mop-api.socket")
	before := get("http://[::1]:8000/").PID
	var failed, done atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, addr := range []string{h.IPv4, h.IPv6} {
		wg.Go(func() {
			var local string
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
				DialContext: func(ctx context.Context, n, a string) (net.Conn, error) {
					conn, err := (&net.Dialer{}).DialContext(ctx, n, a)
					if err == nil {
						local = conn.LocalAddr().String()
					}
					return conn, err
				}}}
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get("http://" + net.JoinHostPort(addr, "8000") + "/")
				if err != nil {
					failed.Add(1)
					t.Logf("during the restart: %v (from %s)", err, local)
				} else {
					resp.Body.Close()
				}
				done.Add(1)
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	run("systemctl restart mop-api.service")
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if after := get("http://127.0.0.1:8000/").PID; after == before {
		t.Errorf("the app was not restarted (pid %d)", after)
	}
	if s := run("systemctl show -P ActiveEnterTimestampMonotonic mop-api.socket"); s != sockSince {
		t.Errorf("restarting the service restarted its socket (%s → %s)", strings.TrimSpace(sockSince), strings.TrimSpace(s))
	}
	if failed.Load() > 0 {
		out, _ := bed.Run(ctx, "vps1", "journalctl -u mop-api --no-pager -o short-monotonic | grep -B12 -A6 Stopping")
		t.Logf("the app's journal around the restart:\n%s", out)
		t.Errorf("%d of %d requests failed while the app restarted behind its socket", failed.Load(), done.Load())
	}
	t.Logf("%d requests over both families during the restart, %d failed", done.Load(), failed.Load())
	// The dynamic user: not root, cannot write the app's directory.
	if i := get("http://[::1]:8001/"); i.UID == 0 || i.Cwd != "/" {
		t.Errorf("dynamic user: %+v; want a non-root uid in /", i)
	}
	if out, _ := bed.Run(ctx, "vps1", "curl -s -o /dev/null -w '%{http_code}' 'http://127.0.0.1:8001/write?path=/opt/mop/y'"); string(out) == "200" {
		t.Error("the dynamic user could write /opt/mop")
	}
}
