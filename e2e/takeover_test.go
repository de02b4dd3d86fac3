package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/buildtest"
	"github.com/edgectl/edgectl/internal/testbed"
)

// TestTakeover replaces nginx on VPS built like the old install.sh:
// import nginx's config, a deploy without --takeover changes nothing and
// exits 2, with --takeover the agent serves on both families (HTTP, and
// HTTPS with the same certificate once cert import ran again) while 64
// keepalive clients keep sending, nginx is stopped and disabled with its
// config kept; on a second node a deploy whose agent cannot start brings
// nginx back, active, enabled and serving.
//
// nginx is not in the testbed's base tree: the VPS run this machine's
// Debian binary (/usr/sbin/nginx, bound read-only; its libraries are all
// in the base tree, which is the same Debian release).
func TestTakeover(t *testing.T) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		nginx = "/usr/sbin/nginx"
		if _, err := os.Stat(nginx); err != nil {
			t.Skip("nginx is not installed on this machine (apt-get install nginx-light); the VPS borrow its binary")
		}
	}
	if p, err := filepath.EvalSymlinks(nginx); err == nil {
		nginx = p
	}
	bin := buildtest.Binary(t, "./cmd/edgectl", "e2e-v1")
	app := buildtest.Binary(t, "./internal/sampleapp", "e2e")
	b := testbed.StartT(t, testbed.Options{Hosts: testbed.DualStack(2),
		BindRO: map[string]string{app: "/opt/sample/sampleapp", nginx: "/usr/sbin/nginx"}})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	certPEM, keyPEM, cert := testCert(t)
	wantSerial := cert.SerialNumber.String()
	for _, h := range b.Hosts {
		if out, err := b.Run(ctx, h.Name, oldInstall(certPEM, keyPEM)); err != nil {
			t.Fatalf("old install.sh on %s: %v\n%s", h.Name, err, out)
		}
		for _, a := range hostAddrs(h, "80") {
			code, server, body, err := get("http://" + a + "/")
			if err != nil || code != 200 || !strings.HasPrefix(server, "nginx") || !strings.HasPrefix(body, "ok from") {
				t.Fatalf("nginx on %s before the takeover: %v %d %q %q", a, err, code, server, body)
			}
		}
		for _, a := range hostAddrs(h, "443") {
			if s, err := servedSerial(a, cert); err != nil || s != wantSerial {
				t.Fatalf("nginx's certificate on %s: %v serial %s, want %s", a, err, s, wantSerial)
			}
		}
	}
	dir := t.TempDir()
	base := filepath.Join(dir, "base.yaml")
	writeFile(t, base, b.FleetYAML("domains: ["+takeoverDomain+"]\n"))
	agentPath := filepath.Join(dir, "agent.yaml")
	r := edgectl(t, bin, "import", "nginx", "--host", "vps1", "-f", base, "-o", agentPath)
	if r.code != 0 {
		t.Fatalf("import nginx:\n%s", r)
	}
	imported, err := os.ReadFile(agentPath)
	if err != nil {
		t.Fatal(err)
	}
	if !contains(string(imported), "'[::]:80'", "'[::]:443'", "tls: true", "'[::1]:8000'", "127.0.0.1:8000", "backup: true") {
		t.Fatalf("the imported agent.yaml lacks nginx's listeners or upstream:\n%s", imported)
	}
	fleetFor := func(agent string) string {
		var s strings.Builder
		s.WriteString("domains: [" + takeoverDomain + "]\nagent:\n  access_log: \"off\"\n")
		for line := range strings.Lines(agent) {
			if strings.HasPrefix(line, "access_log:") {
				continue
			}
			s.WriteString("  " + line)
		}
		s.WriteString("\nrollout:\n  batch: 1\n  health_timeout: 20s\n  drain: 1s\n")
		return s.String()
	}
	fleetPath := filepath.Join(dir, "fleet.yaml")
	writeFile(t, fleetPath, b.FleetYAML(fleetFor(string(imported))))

	t.Run("without --takeover nothing is written and deploy exits 2", func(t *testing.T) {
		r := edgectl(t, bin, "deploy", fleetPath, "--yes")
		if r.code != 2 || !contains(r.stdout+r.stderr, "edgectl deploy "+fleetPath+" --takeover",
			"port 80 (ipv4, 0.0.0.0:80) is held by nginx", "port 443 (ipv6, [::]:443) is held by nginx", "unit nginx.service", "port-conflict") {
			t.Fatalf("want exit 2 naming each holder and the command with --takeover:\n%s", r)
		}
		for _, h := range b.Hosts {
			out, _ := b.Run(ctx, h.Name, "ls -d /usr/local/bin/edgectl /etc/edgectl /etc/systemd/system/edgectl-agent.service /var/lib/edgectl/deploy.json /var/lib/edgectl/lock 2>/dev/null; true")
			if s := strings.TrimSpace(string(out)); s != "" {
				t.Errorf("%s: a refused cutover left %s", h.Name, s)
			}
			if a, e := unitStates(t, b, h.Name, "nginx"); a != "active" || e != "enabled" {
				t.Errorf("%s: nginx %s/%s after a refused cutover", h.Name, a, e)
			}
		}
	})

	t.Run("--takeover replaces nginx under keepalive load", func(t *testing.T) {
		// The certificate goes into tls.certs_dir first; the agent's user
		// can read it only once cert import runs again after the install
		// (see docs/import.md).
		if r := edgectl(t, bin, "cert", "import", fleetPath, "--hosts", "vps1"); r.code != 0 {
			t.Fatalf("cert import:\n%s", r)
		}
		vps1 := b.Host("vps1")
		l := startKeepaliveLoad(hostAddrs(vps1, "80"), 64)
		time.Sleep(time.Second)
		start := time.Now()
		r := edgectl(t, bin, "deploy", fleetPath, "--yes", "--takeover", "--hosts", "vps1", "--json")
		took := time.Since(start)
		time.Sleep(time.Second)
		rep := l.finish()
		d := parseDeploy(t, r)
		if r.code != 0 || len(d.Hosts) != 1 || d.Hosts[0].Status != "deployed" || d.Hosts[0].Action != "cutover" {
			t.Fatalf("deploy --takeover:\n%s", r)
		}
		t.Logf("MEASURED cutover of vps1 under 64 keepalive connections: %d ok, %d refused over %s, %d other failures, failures spread over %s; deploy %s",
			rep.ok, rep.refused, rep.refusedWindow.Round(time.Millisecond), rep.other, rep.window.Round(time.Millisecond), took.Round(10*time.Millisecond))
		if line := lineWith(r.stderr, "started in"); line != "" {
			t.Logf("MEASURED on the host: %s", strings.TrimSpace(line))
		}
		if len(rep.sample) > 0 {
			t.Logf("MEASURED failure kinds: %s", strings.Join(rep.sample, " | "))
		}
		if rep.ok < 64 {
			t.Fatalf("the load got only %d answers: it did not run through the cutover", rep.ok)
		}
		for _, a := range hostAddrs(vps1, "80") {
			code, server, body, err := get("http://" + a + "/health")
			if err != nil || code != 200 || strings.HasPrefix(server, "nginx") || !strings.Contains(body, `"healthy"`) {
				t.Fatalf("agent health on %s: %v %d %q %q", a, err, code, server, body)
			}
			if code, server, body, err := get("http://" + a + "/"); err != nil || code != 200 || strings.HasPrefix(server, "nginx") || !strings.HasPrefix(body, "ok from") {
				t.Fatalf("the agent on %s does not reach the backend: %v %d %q %q", a, err, code, server, body)
			}
		}
		if a, e := unitStates(t, b, "vps1", "nginx"); a != "inactive" || e != "disabled" {
			t.Fatalf("nginx is %s/%s after the cutover, want inactive/disabled", a, e)
		}
		if out, err := b.Run(ctx, "vps1", "test -s /etc/nginx/conf.d/api.conf && test -s /etc/nginx/nginx.conf && grep -c nginx.service /var/lib/edgectl/deploy.json"); err != nil {
			t.Fatalf("nginx's config or the journal's takeover record is missing: %v %s", err, out)
		}
		// Now the certificate again, owned by the agent's user: HTTPS with
		// nginx's serial on both families.
		if r := edgectl(t, bin, "cert", "import", fleetPath, "--hosts", "vps1"); r.code != 0 {
			t.Fatalf("cert import after the cutover:\n%s", r)
		}
		for _, a := range hostAddrs(vps1, "443") {
			var s string
			var err error
			for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
				if s, err = servedSerial(a, cert); err == nil && s == wantSerial {
					break
				}
			}
			if err != nil || s != wantSerial {
				t.Fatalf("the agent's certificate on %s: %v serial %s, want nginx's %s", a, err, s, wantSerial)
			}
		}
	})

	t.Run("a cutover whose agent cannot start brings nginx back", func(t *testing.T) {
		// A listener on an address vps2 does not have: the agent's start
		// fails once nginx is stopped.
		broken := strings.Replace(string(imported), "listen:\n", "listen:\n  - addr: \"198.18.255.254:8081\"\n", 1)
		p := filepath.Join(dir, "fleet-broken.yaml")
		writeFile(t, p, b.FleetYAML(fleetFor(broken)))
		r := edgectl(t, bin, "deploy", p, "--yes", "--takeover", "--hosts", "vps2", "--json")
		d := parseDeploy(t, r)
		if r.code != 1 || len(d.Hosts) != 1 || d.Hosts[0].Status != "rolled-back" || (d.Hosts[0].Step != "agent" && d.Hosts[0].Step != "gate") {
			t.Fatalf("broken cutover: want exit 1, rolled back at the agent or gate step:\n%s", r)
		}
		if !strings.Contains(r.stderr, "rolling back the cutover: starting nginx.service again") {
			t.Errorf("the run does not say it started nginx again:\n%s", r.stderr)
		}
		if a, e := unitStates(t, b, "vps2", "nginx"); a != "active" || e != "enabled" {
			t.Fatalf("nginx is %s/%s after the rollback, want active/enabled", a, e)
		}
		if a, _ := unitStates(t, b, "vps2", "edgectl-agent"); a == "active" {
			t.Fatalf("the agent still runs after the rollback")
		}
		for _, a := range hostAddrs(b.Host("vps2"), "80") {
			code, server, body, err := get("http://" + a + "/")
			if err != nil || code != 200 || !strings.HasPrefix(server, "nginx") || !strings.HasPrefix(body, "ok from") {
				t.Fatalf("nginx on %s after the rollback: %v %d %q %q", a, err, code, server, body)
			}
		}
		for _, a := range hostAddrs(b.Host("vps2"), "443") {
			if s, err := servedSerial(a, cert); err != nil || s != wantSerial {
				t.Fatalf("nginx's certificate on %s after the rollback: %v %s", a, err, s)
			}
		}
	})

	t.Run("a deploy killed between stopping nginx and starting the agent is completed by the next", func(t *testing.T) {
		// The run pauses before its agent step (the journal records the
		// takeover); the host then gets the first half of the cutover
		// command, nginx disabled and stopped, and the run is killed: the
		// host serves nothing on 80 and 443.
		p := start(t, bin, []string{"EDGECTL_TEST_PAUSE_AT=vps2:agent"}, "deploy", fleetPath, "--yes", "--takeover", "--hosts", "vps2")
		if !p.paused(t) {
			t.Fatalf("the deploy never reached the agent step:\n%s", p.wait(t))
		}
		if out, err := b.Run(ctx, "vps2", "systemctl disable --quiet nginx && systemctl stop nginx"); err != nil {
			p.signal(syscall.SIGKILL)
			t.Fatalf("stop nginx: %v %s", err, out)
		}
		p.signal(syscall.SIGKILL)
		p.signal(syscall.SIGCONT)
		p.wait(t)
		if _, _, _, err := get("http://" + hostAddrs(b.Host("vps2"), "80")[0] + "/"); err == nil {
			t.Fatalf("vps2 still answers on port 80 after the kill")
		}
		// The rerun, without --takeover: the interrupted run had it.
		r := edgectl(t, bin, "deploy", fleetPath, "--yes", "--hosts", "vps2", "--json")
		d := parseDeploy(t, r)
		if r.code != 0 || len(d.Hosts) != 1 || d.Hosts[0].Status != "deployed" || d.Hosts[0].Action != "cutover" {
			t.Fatalf("rerun after the kill: want deployed/cutover:\n%s", r)
		}
		for _, a := range hostAddrs(b.Host("vps2"), "80") {
			if code, server, body, err := get("http://" + a + "/"); err != nil || code != 200 || strings.HasPrefix(server, "nginx") || !strings.HasPrefix(body, "ok from") {
				t.Fatalf("the agent on %s after the rerun: %v %d %q %q", a, err, code, server, body)
			}
		}
		if a, e := unitStates(t, b, "vps2", "nginx"); a != "inactive" || e != "disabled" {
			t.Fatalf("nginx is %s/%s after the completed cutover", a, e)
		}
		if out, err := b.Run(ctx, "vps2", "grep -c '\"state\": \"deployed\"' /var/lib/edgectl/deploy.json && test -s /etc/nginx/conf.d/api.conf"); err != nil {
			t.Fatalf("journal or nginx config after the rerun: %v %s", err, out)
		}
	})
}
