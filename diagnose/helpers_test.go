package diagnose

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/buildtest"
	"github.com/edgectl/edgectl/internal/netnstest"
	"github.com/edgectl/edgectl/remote"
)

// nsHost is a remote.Host inside a network namespace: commands and file
// reads run through `ip netns exec`, so /proc/net and /proc/sys/net show
// the namespace, and dials start there. It is what remote.Local is for a
// process started inside the namespace.
type nsHost struct{ ns *netnstest.NS }

func (h nsHost) Name() string { return "testhost" }

func (h nsHost) Run(ctx context.Context, cmd string, stdin []byte) (remote.Result, error) {
	c := exec.CommandContext(ctx, "ip", "netns", "exec", h.ns.Name(), "/bin/sh", "-c", cmd)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if stdin != nil {
		c.Stdin = bytes.NewReader(stdin)
	}
	err := c.Run()
	res := remote.Result{Stdout: out.Bytes(), Stderr: errb.Bytes()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.ExitCode = ee.ExitCode()
		return res, &remote.ExitError{Host: h.Name(), Cmd: cmd, Result: res}
	}
	return res, err
}

func (h nsHost) ReadFile(ctx context.Context, path string) ([]byte, error) {
	res, err := h.Run(ctx, "cat "+remote.ShellQuote(path), nil)
	if err != nil {
		if strings.Contains(string(res.Stderr), "No such file") {
			return nil, fmt.Errorf("read %s: %w", path, fs.ErrNotExist)
		}
		return nil, err
	}
	return res.Stdout, nil
}

func (h nsHost) WriteFile(context.Context, string, []byte, fs.FileMode) error {
	return errors.ErrUnsupported
}
func (h nsHost) Remove(context.Context, string) error { return errors.ErrUnsupported }
func (h nsHost) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return h.ns.DialContext(ctx, network, addr)
}
func (h nsHost) Close() error { return nil }

// goBackend serves handler on addr inside ns; the owner is the test process.
func goBackend(t *testing.T, ns *netnstest.NS, addr string, handler http.Handler, idle time.Duration) {
	t.Helper()
	var ln net.Listener
	network := "tcp"
	if strings.HasPrefix(addr, "0.0.0.0:") || strings.HasPrefix(addr, "127.") {
		network = "tcp4" // "tcp" would make 0.0.0.0 a dual-stack [::] socket
	}
	if err := ns.Do(func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	}); err != nil {
		t.Fatalf("backend on %s: %v", addr, err)
	}
	srv := &http.Server{Handler: handler, IdleTimeout: idle}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// healthy answers every path with 200.
var healthy = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Write([]byte(`{"status":"healthy"}` + "\n"))
})

// Python backends. Each takes the port as argv[1].
const (
	// pyAsyncio listens like uvicorn --host ::: asyncio sets IPV6_V6ONLY.
	pyAsyncio = `import asyncio, sys
async def h(r, w):
    while True:
        line = await r.readline()
        if not line or line in (b"\r\n", b"\n"):
            break
    w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
    await w.drain()
    w.close()
async def main():
    srv = await asyncio.start_server(h, host=sys.argv[2], port=int(sys.argv[1]))
    await srv.serve_forever()
asyncio.run(main())
`
	// pyPlain6 is a plain socket on [::] that sets nothing: it follows
	// net.ipv6.bindv6only.
	pyPlain6 = `import http.server, socket, sys
class S(http.server.HTTPServer):
    address_family = socket.AF_INET6
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")
    def log_message(self, *a):
        pass
S(("::", int(sys.argv[1])), H).serve_forever()
`
)

// needTool skips the test when a program it drives is not installed, and
// says how to get it (scripts/setup.sh installs them all as root).
func needTool(t *testing.T, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("needs %s in PATH: apt-get install %s (or run scripts/setup.sh as root)", name, pkg)
	}
}

// toolPackages are the Debian packages of the programs tests start.
var toolPackages = map[string]string{"nginx": "nginx-light", "nft": "nftables", "python3": "python3"}

// startIn runs a program inside ns and waits until addr accepts.
func startIn(t *testing.T, ns *netnstest.NS, addr string, name string, args ...string) *exec.Cmd {
	t.Helper()
	if pkg, ok := toolPackages[name]; ok {
		needTool(t, name, pkg)
	}
	cmd := ns.Command(name, args...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		c, err := ns.DialContext(ctx, "tcp", addr)
		cancel()
		if err == nil {
			c.Close()
			return cmd
		}
		select {
		case <-done:
			t.Fatalf("%s exited before listening on %s: %s", name, addr, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s: %v", name, addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// agentYAML writes an agent configuration with one upstream.
func agentYAML(t *testing.T, listen string, servers ...string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "listen:\n  - addr: %q\nadmin: \"\"\nhealth_path: /health\naccess_log: \"off\"\nupstreams:\n  backend_api:\n    servers:\n", listen)
	for _, s := range servers {
		backup := strings.HasSuffix(s, " backup")
		fmt.Fprintf(&b, "      - addr: %q\n", strings.TrimSuffix(s, " backup"))
		if backup {
			b.WriteString("        backup: true\n")
		}
	}
	b.WriteString("    health:\n      path: /health\n      interval: 200ms\nroutes:\n  - path: /\n    upstream: backend_api\n")
	p := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// nginx is a private nginx in a namespace.
type nginx struct {
	dir, conf, errorLog string
}

// startNginx runs nginx in ns with upstream block `upstream` and a server
// on 127.0.0.1:18080 (and [::1] unless noV6) proxying / to it.
func startNginx(t *testing.T, ns *netnstest.NS, upstream, locationExtra string, noV6 bool) *nginx {
	t.Helper()
	dir := t.TempDir()
	n := &nginx{dir: dir, conf: filepath.Join(dir, "nginx.conf"), errorLog: filepath.Join(dir, "error.log")}
	listen6 := "listen [::1]:18080;"
	if noV6 {
		listen6 = ""
	}
	tmp := filepath.Join(dir, "tmp")
	conf := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[2]s info;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[3]s/body;
    proxy_temp_path %[3]s/proxy;
    fastcgi_temp_path %[3]s/fastcgi;
    uwsgi_temp_path %[3]s/uwsgi;
    scgi_temp_path %[3]s/scgi;
    %[4]s
    server {
        listen 127.0.0.1:18080;
        %[5]s
        server_name _;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            %[6]s
        }
    }
}
`, dir, n.errorLog, tmp, upstream, listen6, locationExtra)
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(n.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	startIn(t, ns, "127.0.0.1:18080", "nginx", "-p", dir, "-c", n.conf)
	return n
}

func (n *nginx) options() Options {
	return Options{Nginx: true, NginxConf: n.conf, NginxPrefix: n.dir}
}

// get sends a request through the proxy inside ns and returns the status.
func get(t *testing.T, ns *netnstest.NS, url string) int {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: ns.DialContext, DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// diagnoseIn runs the diagnosis inside ns.
func diagnoseIn(t *testing.T, ns *netnstest.NS, o Options) *Report {
	t.Helper()
	if o.ProbeTimeout == 0 {
		o.ProbeTimeout = time.Second
	}
	rep, err := Run(t.Context(), nsHost{ns}, o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

// check returns the check with id, failing the test when absent.
func check(t *testing.T, rep *Report, id string) Check {
	t.Helper()
	for _, c := range rep.Checks {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no check %s in %s", id, dump(rep))
	return Check{}
}

// wantCause fails unless the report names cause id with every substring.
func wantCause(t *testing.T, rep *Report, id string, subs ...string) {
	t.Helper()
	if rep.Cause == nil || rep.Cause.ID != id {
		t.Fatalf("cause %+v, want %s\n%s", rep.Cause, id, dump(rep))
	}
	text := rep.Cause.Summary + "\n" + rep.Cause.Fix
	for _, s := range subs {
		if !strings.Contains(text, s) {
			t.Errorf("cause text lacks %q:\n%s", s, text)
		}
	}
	if rep.Status != "problem" {
		t.Errorf("status %q with a cause, want problem", rep.Status)
	}
}

func dump(rep *Report) string {
	var b strings.Builder
	if rep.Cause != nil {
		fmt.Fprintf(&b, "cause %s: %s\nfix: %s\n", rep.Cause.ID, rep.Cause.Summary, rep.Cause.Fix)
	}
	for _, c := range rep.Checks {
		fmt.Fprintf(&b, "%-28s %-4s %s | %s\n", c.ID, c.Status, c.Summary, c.Evidence)
	}
	return b.String()
}

// edgectlBin builds the edgectl binary once per test process.
func edgectlBin(t *testing.T) string { return buildtest.Edgectl(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	buildtest.Cleanup()
	os.Exit(code)
}
