package diagnose

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/netnstest"
)

// One test per cause, each with real processes in a fresh network
// namespace (so ports are fixed and nothing else listens). They need root;
// netnstest skips with the reason elsewhere, and a test whose program
// (nginx, nft, python3) is missing skips naming its package.

func TestCauseNothingListening(t *testing.T) {
	t.Parallel()
	ns := netnstest.New(t, netnstest.Options{})
	rep := diagnoseIn(t, ns, Options{Port: 8000})
	wantCause(t, rep, CauseNothingListening, "port 8000")
	if c := check(t, rep, "listen.ipv4"); c.Status != StatusFail {
		t.Errorf("listen.ipv4 %s, want fail", c.Status)
	}
}

func TestCauseSeedOutage(t *testing.T) {
	t.Parallel()
	cfgUpstreams := []string{"[::1]:8000", "127.0.0.1:8000 backup"}
	t.Run("go backend, agent config", func(t *testing.T) {
		t.Parallel()
		ns := netnstest.New(t, netnstest.Options{})
		goBackend(t, ns, "0.0.0.0:8000", healthy, 0)
		rep := diagnoseIn(t, ns, Options{Config: agentYAML(t, "[::]:18080", cfgUpstreams...)})
		wantCause(t, rep, CauseIPv4OnlyBackend, "0.0.0.0:8000", "[::1]:8000", "put 127.0.0.1:8000 first", "Go's [::] listener is dual-stack")
		if c := check(t, rep, "upstream.backend_api.[::1]:8000"); c.Status != StatusFail {
			t.Errorf("upstream [::1] %s, want fail", c.Status)
		}
		if c := check(t, rep, "upstream.backend_api.127.0.0.1:8000"); c.Status != StatusOK {
			t.Errorf("upstream 127.0.0.1 %s, want ok", c.Status)
		}
	})
	t.Run("asyncio backend, nginx", func(t *testing.T) {
		t.Parallel()
		ns := netnstest.New(t, netnstest.Options{})
		startIn(t, ns, "127.0.0.1:8000", "python3", "-c", pyAsyncio, "8000", "0.0.0.0")
		n := startNginx(t, ns, "upstream backend { server [::1]:8000; server 127.0.0.1:8000 backup; }", "", false)
		rep := diagnoseIn(t, ns, n.options())
		wantCause(t, rep, CauseIPv4OnlyBackend, "python", "do not switch it to --host ::", "put 127.0.0.1:8000 first", "upstream backend ("+n.conf)
	})
}

func TestCauseBindV6Only(t *testing.T) {
	t.Parallel()
	ns := netnstest.New(t, netnstest.Options{BindV6Only: true})
	startIn(t, ns, "[::1]:8000", "python3", "-c", pyPlain6, "8000")
	rep := diagnoseIn(t, ns, Options{Config: agentYAML(t, "[::]:18080", "127.0.0.1:8000")})
	wantCause(t, rep, CauseBindV6Only, "net.ipv6.bindv6only = 1", "127.0.0.1:8000", "sysctl")
	if c := check(t, rep, "sysctl.bindv6only"); c.Status != StatusWarn {
		t.Errorf("sysctl.bindv6only %s, want warn", c.Status)
	}
}

func TestCauseV6OnlySocket(t *testing.T) {
	t.Parallel()
	ns := netnstest.New(t, netnstest.Options{})
	startIn(t, ns, "[::1]:8000", "python3", "-c", pyAsyncio, "8000", "::")
	rep := diagnoseIn(t, ns, Options{Config: agentYAML(t, "[::]:18080", "127.0.0.1:8000")})
	wantCause(t, rep, CauseV6OnlySocket, "IPv6-only socket", "net.ipv6.bindv6only is 0", "--host 0.0.0.0")
	if strings.Contains(rep.Cause.Fix, "sysctl") {
		t.Errorf("fix blames the sysctl: %s", rep.Cause.Fix)
	}
}

func TestCauseBackendUnhealthy(t *testing.T) {
	t.Parallel()
	t.Run("500", func(t *testing.T) {
		t.Parallel()
		ns := netnstest.New(t, netnstest.Options{})
		goBackend(t, ns, "[::]:8000", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "database down", http.StatusInternalServerError)
		}), 0)
		rep := diagnoseIn(t, ns, Options{Port: 8000})
		wantCause(t, rep, CauseBackendUnhealthy, "500")
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		ns := netnstest.New(t, netnstest.Options{})
		goBackend(t, ns, "[::]:8000", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		}), 0)
		start := time.Now()
		rep := diagnoseIn(t, ns, Options{Port: 8000, ProbeTimeout: 500 * time.Millisecond})
		wantCause(t, rep, CauseBackendTimeout, "does not answer", "504")
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("run took %s with a 500ms probe timeout", d)
		}
	})
}

func TestCauseKeepaliveRace(t *testing.T) {
	t.Parallel()
	ns := netnstest.New(t, netnstest.Options{})
	goBackend(t, ns, "[::]:8000", healthy, 200*time.Millisecond)
	n := startNginx(t, ns, "upstream backend { server 127.0.0.1:8000; keepalive 8; keepalive_timeout 60s; }", "", false)
	rep := diagnoseIn(t, ns, n.options())
	wantCause(t, rep, CauseKeepaliveRace, "keeps them 1m0s", "keepalive_timeout")
	if c := check(t, rep, "keepalive"); !strings.Contains(c.Evidence, "closed an idle keepalive connection after") {
		t.Errorf("keepalive evidence %q lacks the measured close", c.Evidence)
	}
}

func TestCauseWrongPort(t *testing.T) {
	t.Parallel()
	ns := netnstest.New(t, netnstest.Options{})
	goBackend(t, ns, "[::]:8000", healthy, 0)
	rep := diagnoseIn(t, ns, Options{Config: agentYAML(t, "[::]:18080", "127.0.0.1:8001")})
	wantCause(t, rep, CauseWrongPort, "port 8001 where nothing listens", "port 8000", "from 8001 to 8000")
}

func TestCausePortTaken(t *testing.T) {
	t.Parallel()
	ns := netnstest.New(t, netnstest.Options{})
	cmd := startIn(t, ns, "127.0.0.1:8000", "python3", "-m", "http.server", "--bind", "0.0.0.0", "8000")
	rep := diagnoseIn(t, ns, Options{Port: 8000, Expect: "uvicorn", HealthPath: "/"})
	pid := rep.Cause
	wantCause(t, rep, CausePortTaken, "not by uvicorn", "http.server", "exe /")
	// ip netns exec replaces itself with python: the pid is the same.
	if want := "pid " + itoa(cmd.Process.Pid); !strings.Contains(pid.Summary, want) {
		t.Errorf("summary %q lacks %q", pid.Summary, want)
	}
}

func TestCauseIPv6Disabled(t *testing.T) {
	t.Parallel()
	ns := netnstest.New(t, netnstest.Options{DisableIPv6: true})
	goBackend(t, ns, "0.0.0.0:8000", healthy, 0)
	rep := diagnoseIn(t, ns, Options{Config: agentYAML(t, "0.0.0.0:18080", "[::1]:8000", "127.0.0.1:8000 backup")})
	wantCause(t, rep, CauseIPv6Disabled, "IPv6 is disabled", "[::1]:8000", "use 127.0.0.1:8000")
}

func TestCauseFirewallIPv6(t *testing.T) {
	t.Parallel()
	ns := netnstest.New(t, netnstest.Options{})
	needTool(t, "nft", "nftables")
	for _, args := range [][]string{
		{"add", "table", "ip6", "edgetest"},
		{"add", "chain", "ip6", "edgetest", "in", "{ type filter hook input priority 0; }"},
		{"add", "rule", "ip6", "edgetest", "in", "tcp", "dport", "8000", "drop"},
	} {
		if out, err := ns.Command("nft", args...).CombinedOutput(); err != nil {
			t.Fatalf("nft %v: %v: %s", args, err, out)
		}
	}
	goBackend(t, ns, "[::]:8000", healthy, 0)
	start := time.Now()
	rep := diagnoseIn(t, ns, Options{Config: agentYAML(t, "[::]:18080", "[::1]:8000", "127.0.0.1:8000 backup"), ProbeTimeout: 500 * time.Millisecond})
	wantCause(t, rep, CauseFirewallIPv6, "IPv6 only", "dport 8000", "nft")
	if c := check(t, rep, "firewall.ipv4"); c.Status != StatusOK {
		t.Errorf("firewall.ipv4 %s, want ok", c.Status)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("run took %s with a 500ms probe timeout", d)
	}
}

// TestNginxErrorLog drives a real nginx into each upstream error and checks
// the error log is summarised by cause and count.
func TestNginxErrorLog(t *testing.T) {
	t.Parallel()
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			time.Sleep(1500 * time.Millisecond)
		case "/close":
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				c.Close()
			}
			return
		case "/big":
			w.Header().Set("X-Big", strings.Repeat("b", 16<<10))
		}
		w.Write([]byte("ok\n"))
	})
	tests := []struct {
		name     string
		upstream string
		backend  bool
		paths    []string
		pattern  string
		cause    string
	}{
		{"refused", "upstream backend { server 127.0.0.1:8000; }", false, []string{"/"}, "connect() failed (111", CauseNothingListening},
		{"timeout", "upstream backend { server 127.0.0.1:8000; }", true, []string{"/slow"}, "upstream timed out (110", CauseBackendTimeout},
		{"no live upstreams", "upstream backend { server 127.0.0.1:8001 max_fails=1 fail_timeout=30s; server [::1]:8001 max_fails=1 fail_timeout=30s; }", false, []string{"/", "/", "/"}, "no live upstreams", CauseNothingListening},
		{"prematurely closed", "upstream backend { server 127.0.0.1:8000; }", true, []string{"/close"}, "upstream prematurely closed connection", CauseUpstreamClosed},
		{"too big header", "upstream backend { server 127.0.0.1:8000; }", true, []string{"/big"}, "upstream sent too big header", CauseHeaderTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ns := netnstest.New(t, netnstest.Options{})
			if tt.backend {
				goBackend(t, ns, "[::]:8000", backend, 0)
			}
			n := startNginx(t, ns, tt.upstream, "proxy_read_timeout 500ms;", false)
			for _, p := range tt.paths {
				if st := get(t, ns, "http://127.0.0.1:18080"+p); st < 500 {
					t.Fatalf("GET %s through nginx: %d, want a 5xx", p, st)
				}
			}
			rep := diagnoseIn(t, ns, n.options())
			c := check(t, rep, "errorlog")
			if c.Status != StatusFail || !strings.Contains(c.Evidence, tt.pattern) {
				t.Errorf("errorlog %s %q, want fail naming %q\n%s", c.Status, c.Evidence, tt.pattern, dump(rep))
			}
			wantCause(t, rep, tt.cause)
		})
	}
}

func TestHealthyNginx(t *testing.T) {
	t.Parallel()
	ns := netnstest.New(t, netnstest.Options{})
	goBackend(t, ns, "[::]:8000", healthy, 0)
	n := startNginx(t, ns, "upstream backend { server [::1]:8000; server 127.0.0.1:8000 backup; keepalive 8; }", "", false)
	if st := get(t, ns, "http://127.0.0.1:18080/"); st != 200 {
		t.Fatalf("GET through nginx: %d", st)
	}
	rep := diagnoseIn(t, ns, n.options())
	if rep.Cause != nil || rep.Status != "ok" {
		t.Fatalf("healthy nginx host: %s", dump(rep))
	}
	if c := check(t, rep, "proxy.health"); c.Status != StatusOK {
		t.Errorf("proxy.health %s", c.Status)
	}
}

func TestHealthyAgent(t *testing.T) {
	t.Parallel()
	ns := netnstest.New(t, netnstest.Options{})
	goBackend(t, ns, "[::]:8000", healthy, 0)
	cfg := agentYAML(t, "[::]:18080", "[::1]:8000", "127.0.0.1:8000 backup")
	startIn(t, ns, "[::1]:18080", edgectlBin(t), "agent", "--config", cfg)
	start := time.Now()
	rep := diagnoseIn(t, ns, Options{Config: cfg})
	took := time.Since(start)
	if rep.Cause != nil || rep.Status != "ok" {
		t.Fatalf("healthy agent host: %s", dump(rep))
	}
	c := check(t, rep, "proxy.health")
	if c.Status != StatusOK || !strings.Contains(c.Summary, "agent answers") {
		t.Errorf("proxy.health %s %q", c.Status, c.Summary)
	}
	t.Logf("healthy local run (through ip netns exec): %s", took)
	if took > 3*time.Second {
		t.Errorf("healthy run took %s, want well under the probe timeout", took)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestAllProbesTimeOut: every probe is dropped on both families; the run
// is bounded by the probe timeout, not by the number of checks.
func TestAllProbesTimeOut(t *testing.T) {
	t.Parallel()
	ns := netnstest.New(t, netnstest.Options{})
	needTool(t, "nft", "nftables")
	for _, args := range [][]string{
		{"add", "table", "inet", "edgetest"},
		{"add", "chain", "inet", "edgetest", "in", "{ type filter hook input priority 0; }"},
		{"add", "rule", "inet", "edgetest", "in", "tcp", "dport", "{ 8000, 18080 }", "drop"},
	} {
		if out, err := ns.Command("nft", args...).CombinedOutput(); err != nil {
			t.Fatalf("nft %v: %v: %s", args, err, out)
		}
	}
	goBackend(t, ns, "[::]:8000", healthy, 0)
	goBackend(t, ns, "[::]:18080", healthy, 0)
	const timeout = time.Second
	start := time.Now()
	rep := diagnoseIn(t, ns, Options{Config: agentYAML(t, "[::]:18080", "[::1]:8000", "127.0.0.1:8000", "[::1]:8001 backup"), ProbeTimeout: timeout})
	took := time.Since(start)
	wantCause(t, rep, CauseFirewallIPv6)
	t.Logf("every probe dropped, probe timeout %s: run took %s", timeout, took)
	if took > timeout+1500*time.Millisecond {
		t.Errorf("run took %s, want about one probe timeout (%s)", took, timeout)
	}
}
