package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/buildtest"
	"github.com/edgectl/edgectl/internal/sshtest"
	"github.com/edgectl/edgectl/sweep"
	"github.com/edgectl/edgectl/sweep/sweeptest"
)

// The sweep command end to end: the real edgectl binary run inside the lab
// namespace (where the hosts' addresses are) against real agents, a real
// DNS server and a real webhook; exit codes as cron sees them.

func sweepBinary(t *testing.T) string { return buildtest.Edgectl(t) }

// sweepLab is a lab with its binary and a state directory.
type sweepLab struct {
	*sweeptest.Lab
	bin   string
	dir   string
	state string
}

func newSweepLab(t *testing.T) *sweepLab {
	bin := sweepBinary(t)
	lab := sweeptest.New(t, bin)
	dir := t.TempDir()
	return &sweepLab{Lab: lab, bin: bin, dir: dir, state: filepath.Join(dir, "state", "sweep.json")}
}

// writeFleet writes fleet.yaml and returns its path.
func (l *sweepLab) writeFleet(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(l.dir, "fleet.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// run runs edgectl sweep inside the lab and returns exit code and output.
func (l *sweepLab) run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	args = append([]string{"sweep", "--no-color", "--state", l.state, "--ca-file", l.PKI.CAFile}, args...)
	cmd := l.NS.Command(l.bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "EDGECTL_ALERT_WEBHOOK=")
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run sweep: %v", err)
	}
	return code, out.String(), errb.String()
}

// row finds the table row of host and splits it into columns.
func row(t *testing.T, out, host string) []string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, host+" ") {
			return regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(line), -1)
		}
	}
	t.Fatalf("no row for %s in\n%s", host, out)
	return nil
}

func TestSweepCommand(t *testing.T) {
	l := newSweepLab(t)
	h1 := l.AddHost(t, 21, sweeptest.HostOptions{})
	h2 := l.AddHost(t, 22, sweeptest.HostOptions{})
	h3 := l.AddHost(t, 23, sweeptest.HostOptions{Stopped: true})
	h4 := l.AddHost(t, 24, sweeptest.HostOptions{CertValid: 5 * 24 * time.Hour})
	l.DropIPv6(t, h2)
	for _, h := range []*sweeptest.Host{h1, h2, h4} {
		h.WaitUpstreams(t, false)
	}
	dns := l.StartDNS(t, map[string][]string{sweeptest.Domain: {h1.IPv4, h1.IPv6}})
	healthy := l.writeFleet(t, l.FleetYAML(dns.Addr, []*sweeptest.Host{h1}, ""))

	t.Run("healthy exits 0", func(t *testing.T) {
		code, out, errs := l.run(t, healthy)
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
		r := row(t, out, h1.Name)
		if len(r) != 6 || r[1] != "ok" || r[2] != "ok" || !strings.HasPrefix(r[3], "ok 8") || r[5] != "-" {
			t.Fatalf("row %q", r)
		}
		if !strings.HasSuffix(out, "1 host, 2 addresses: 2 ok, 0 failed; DNS: ok; healthy\n") {
			t.Fatalf("summary:\n%s", out)
		}
	})
	t.Run("quiet when healthy", func(t *testing.T) {
		code, out, errs := l.run(t, healthy, "--quiet")
		if code != 0 || out != "" || errs != "" {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
		}
	})

	// Every trouble at once, each in its column; a stale address in DNS.
	dns.Set(map[string][]string{sweeptest.Domain: {h1.IPv4, h2.IPv4, h2.IPv6, h3.IPv4, h4.IPv4, h4.IPv6, h1.IPv6, "198.18.0.99"}})
	all := []*sweeptest.Host{h1, h2, h3, h4}
	metrics := filepath.Join(l.dir, "sweep.prom")
	code, out, errs := l.run(t, l.writeFleet(t, l.FleetYAML(dns.Addr, all, "")), "--quiet", "--metrics-file", metrics)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errs)
	}
	for _, tc := range []struct {
		host         string
		v4, v6, tlsP string
	}{
		{h1.Name, "ok", "ok", "ok "},
		{h2.Name, "ok", "fail (timeout)", "ok "},
		{h3.Name, "fail (refused)", "fail (refused)", "-"},
		{h4.Name, "ok", "ok", "warn 4d"},
	} {
		r := row(t, out, tc.host)
		if r[1] != tc.v4 || r[2] != tc.v6 || !strings.HasPrefix(r[3], tc.tlsP) {
			t.Errorf("%s: row %q, want ipv4 %q ipv6 %q tls %q…", tc.host, r, tc.v4, tc.v6, tc.tlsP)
		}
	}
	for _, want := range []string{
		"\n4 hosts, 8 addresses: 5 ok, 3 failed; DNS: 2 unhealthy addresses still in DNS (" + h3.IPv4 + ", " + h2.IPv6 + "); " +
			"1 address in DNS that is not in the fleet (198.18.0.99); 1 host with a certificate problem; degraded\n",
		"\n  - dns: " + h3.IPv4 + " (" + h3.Name + ") is in DNS but failed its probe",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	prom, err := os.ReadFile(metrics)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf("edgectl_sweep_up{host=%q,family=\"ipv6\",address=\"[%s]:%d\"} 0", h2.Name, h2.IPv6, sweeptest.Port),
		fmt.Sprintf("edgectl_sweep_up{host=%q,family=\"ipv4\",address=\"%s:%d\"} 1", h2.Name, h2.IPv4, sweeptest.Port),
		"edgectl_sweep_dns_unexpected 1\n",
	} {
		if !bytes.Contains(prom, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}

	t.Run("json", func(t *testing.T) {
		code, out, _ := l.run(t, l.writeFleet(t, l.FleetYAML(dns.Addr, all, "")), "--json")
		var rep sweep.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 {
			t.Fatalf("exit %d, %v\n%s", code, err, out)
		}
		if rep.Status != "degraded" || len(rep.DNS.Unexpected) != 1 || rep.Hosts[1].IPv6.Kind != "timeout" {
			t.Fatalf("report %+v", rep)
		}
	})

	t.Run("lock", func(t *testing.T) {
		lock, err := sweep.AcquireLock(l.state + ".lock")
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Release()
		code, _, errs := l.run(t, healthy)
		want := fmt.Sprintf("another sweep is running (pid %d, lock %s.lock)", os.Getpid(), l.state)
		if code != 1 || !strings.Contains(errs, want) {
			t.Fatalf("exit %d, stderr %q, want %q", code, errs, want)
		}
	})

	t.Run("watch serves metrics", func(t *testing.T) {
		ln := l.Listen(t, "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		cmd := l.NS.Command(l.bin, "sweep", healthy, "--watch", "--interval", "200ms", "--quiet",
			"--listen", addr, "--state", filepath.Join(l.dir, "watch.json"), "--ca-file", l.PKI.CAFile)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		client := &http.Client{Transport: &http.Transport{DialContext: l.Dial}, Timeout: time.Second}
		var body []byte
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			resp, err := client.Get("http://" + addr + "/metrics")
			if err == nil {
				body, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				if bytes.Contains(body, []byte("edgectl_sweep_healthy 1")) {
					break
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		err := cmd.Wait()
		if !bytes.Contains(body, []byte("edgectl_sweep_healthy 1")) {
			t.Fatalf("metrics %s\nstderr %s", body, errb.String())
		}
		if err != nil {
			t.Fatalf("--watch after SIGTERM: %v (want exit 0)\n%s", err, errb.String())
		}
	})
}

// The webhook hears about a transition once: after fail_after failed
// sweeps, and after recover_after passing ones; never on the sweeps in
// between.
func TestSweepCommandAlerts(t *testing.T) {
	l := newSweepLab(t)
	h := l.AddHost(t, 31, sweeptest.HostOptions{})
	dns := l.StartDNS(t, map[string][]string{sweeptest.Domain: {h.IPv4, h.IPv6}})
	var mu sync.Mutex
	var alerts []sweep.Alert
	hook := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a sweep.Alert
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil || r.URL.Path != "/hooks/T0/SECRET" {
			http.Error(w, "bad", 400)
			return
		}
		mu.Lock()
		alerts = append(alerts, a)
		mu.Unlock()
	}))
	hook.Listener = l.Listen(t, "127.0.0.1:0")
	hook.Start()
	defer hook.Close()
	fleet := l.writeFleet(t, l.FleetYAML(dns.Addr, []*sweeptest.Host{h},
		"  fail_after: 2\n  recover_after: 2\n  alert_webhook: "+hook.URL+"/hooks/T0/SECRET\n"))

	sweepOnce := func(wantCode int) string {
		t.Helper()
		code, out, errs := l.run(t, fleet, "--quiet")
		if code != wantCode || strings.Contains(out+errs, "SECRET") {
			t.Fatalf("exit %d (want %d)\n%s%s", code, wantCode, out, errs)
		}
		mu.Lock()
		defer mu.Unlock()
		var s []string
		for _, a := range alerts {
			s = append(s, a.Family+" "+a.Status)
		}
		return strings.Join(s, ",")
	}
	steps := []struct {
		do   func()
		code int
		want string
	}{
		{func() { h.Stop(t) }, 1, ""},
		{nil, 1, "ipv4 down,ipv6 down"},
		{nil, 1, "ipv4 down,ipv6 down"},
		{func() { h.Start(t); h.WaitUpstreams(t, false) }, 0, "ipv4 down,ipv6 down"},
		{nil, 0, "ipv4 down,ipv6 down,ipv4 recovered,ipv6 recovered"},
		{nil, 0, "ipv4 down,ipv6 down,ipv4 recovered,ipv6 recovered"},
	}
	for i, s := range steps {
		if s.do != nil {
			s.do()
		}
		if got := sweepOnce(s.code); got != s.want {
			t.Fatalf("after sweep %d: alerts %q, want %q", i+1, got, s.want)
		}
	}
	mu.Lock()
	a := alerts[0]
	mu.Unlock()
	if a.Host != h.Name || a.Address != net.JoinHostPort(h.IPv4, fmt.Sprint(sweeptest.Port)) ||
		!strings.Contains(a.Text, "is DOWN after 2 failed sweeps: connection refused") {
		t.Fatalf("alert %+v", a)
	}
}

// Usage and configuration errors exit 2 and say where.
func TestSweepCommandUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "fleet.yaml")
	os.WriteFile(bad, []byte("hosts:\n  - name: a\n    ipv4: 198.18.0.300\n"), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"invalid fleet", []string{"sweep", bad, "--state", filepath.Join(dir, "s.json")}, bad + ":3:11: "},
		{"missing fleet", []string{"sweep", filepath.Join(dir, "none.yaml"), "--state", filepath.Join(dir, "s.json")}, "read fleet file"},
		{"resolver without port", []string{"sweep", bad, "--resolver", "198.18.0.53"}, "--resolver \"198.18.0.53\" must be host:port"},
		{"listen without watch", []string{"sweep", bad, "--listen", "127.0.0.1:0"}, "needs --watch"},
		{"no file", []string{"sweep"}, "edgectl sweep needs FLEET.yaml\nUsage: edgectl sweep FLEET.yaml [flags]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ios, _, _, errb := TestIO()
			code := Run(context.Background(), &Factory{IO: ios}, tc.args)
			if code != ExitUsage || !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q, want 2 and %q", code, errb.String(), tc.want)
			}
		})
	}
}

// --deep logs in over real SSH (sshd inside the lab) and reads the agent's
// /status from its admin socket and the host's own bindv6only.
func TestSweepCommandDeep(t *testing.T) {
	l := newSweepLab(t)
	if err := l.NS.Sysctl("net.ipv6.bindv6only", "1"); err != nil {
		t.Fatal(err)
	}
	h := l.AddHost(t, 41, sweeptest.HostOptions{DeadUpstream: true})
	h.WaitUpstreams(t, true)
	srv := sshtest.Start(t, sshtest.Options{Netns: l.NS, Addrs: []string{h.IPv4, h.IPv6}})
	dns := l.StartDNS(t, map[string][]string{sweeptest.Domain: {h.IPv4, h.IPv6}})
	fleet := fmt.Sprintf("ssh:\n  user: %s\n  identity_file: %s\n  known_hosts: %s\n", srv.User, srv.IdentityFile, srv.KnownHostsFile) +
		l.FleetYAML(dns.Addr, []*sweeptest.Host{h}, "")
	code, out, errs := l.run(t, l.writeFleet(t, fleet), "--deep", "--json")
	var rep sweep.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 {
		t.Fatalf("exit %d, %v\n%s%s", code, err, out, errs)
	}
	a := rep.Hosts[0].Agent
	if a == nil || a.Source != "admin socket" || a.BindV6Only != 1 || len(a.Upstreams) != 1 || a.Upstreams[0].Live != 0 ||
		len(a.Upstreams[0].Down) != 1 || a.Upstreams[0].Down[0] != net.JoinHostPort(h.IPv4, "9") {
		t.Fatalf("agent %+v\n%s", a, errs)
	}
	if p := rep.Problems; len(p) != 1 || p[0].Check != "upstreams" {
		t.Fatalf("problems %+v", p)
	}
	// An unknown host key is refused: --deep never trusts blindly.
	os.WriteFile(srv.KnownHostsFile, nil, 0o600)
	_, out, _ = l.run(t, l.writeFleet(t, fleet), "--deep", "--json")
	rep = sweep.Report{}
	json.Unmarshal([]byte(out), &rep)
	if a := rep.Hosts[0].Agent; a == nil || a.Status != "fail" || !strings.Contains(a.Error, "connect for --deep") {
		t.Fatalf("agent with an unknown host key: %+v", a)
	}
	t.Logf("unknown host key: %s", rep.Hosts[0].Agent.Error)
}
