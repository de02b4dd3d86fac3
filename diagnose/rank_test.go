package diagnose

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/probe"
)

// Facts → verdict, without a host: judge is a pure function of what was
// gathered, so its ranking of causes and the wording of every mode are
// tested as tables (the namespace tests in causes_test.go gather the same
// facts from real processes).

var (
	goAPI   = &Process{PID: 42, Exe: "/usr/local/bin/api", Cmdline: "/usr/local/bin/api", Go: true}
	uvicorn = &Process{PID: 43, Exe: "/usr/bin/python3.11", Cmdline: "/opt/venv/bin/python /opt/venv/bin/uvicorn app:app --host ::"}
	plainPy = &Process{PID: 44, Exe: "/usr/bin/python3.11", Cmdline: "python3 server.py"}

	ok200    = probe.Result{Connected: true, Status: 200, Latency: time.Millisecond}
	refused  = probe.Result{Kind: probe.KindRefused, Err: errors.New("connect: connection refused")}
	dropped  = probe.Result{Kind: probe.KindTimeout, Err: errors.New("i/o timeout")}
	stuck    = probe.Result{Connected: true, Kind: probe.KindTimeout, Err: errors.New("i/o timeout")}
	status5  = probe.Result{Connected: true, Status: 500}
	resetRes = probe.Result{Connected: true, Kind: probe.KindReset, Err: errors.New("connection reset by peer")}

	v6ok       = ipv6State{Loopback: true}
	fwReadable = "@@uid 0\n@@nft\n@@read\n@@ip6tables\n@@read\n@@iptables\n@@read\n"
)

func sock(addr string, owner *Process) Socket {
	return Socket{Addr: netip.MustParseAddrPort(addr), Owner: owner}
}

// agentFacts: the agent in front of servers ("ADDR" or "ADDR backup"),
// its health path answering 200 on [::1]:80 and 127.0.0.1:80.
func agentFacts(servers ...string) *facts {
	u := &Upstream{Name: "backend_api", Scheme: "http", HealthPath: "/health", Where: "/etc/edgectl/agent.yaml: upstreams.backend_api",
		Keepalive: true, KeepaliveTimeout: 60 * time.Second}
	for _, s := range servers {
		addr, backup := strings.CutSuffix(s, " backup")
		u.Servers = append(u.Servers, Server{Addr: netip.MustParseAddrPort(addr), Backup: backup})
	}
	p := &Proxy{Kind: "agent", Source: "/etc/edgectl/agent.yaml", HealthPath: "/health", Upstreams: []*Upstream{u},
		Listeners: []Listener{{Addr: netip.MustParseAddrPort("[::]:80")}}, Looked: []string{"agent configuration /etc/edgectl/agent.yaml"}}
	return newFacts(p, &Options{Config: p.Source})
}

// nginxFacts is agentFacts for nginx.
func nginxFacts(servers ...string) *facts {
	f := agentFacts(servers...)
	f.proxy.Kind, f.proxy.Source, f.proxy.HealthPath = "nginx", "nginx -T", ""
	f.proxy.Upstreams[0].Name, f.proxy.Upstreams[0].Where = "backend", "/etc/nginx/conf.d/api.conf:2"
	f.proxy.Looked = []string{"no agent configuration at /etc/edgectl/agent.yaml", "nginx configuration from `nginx -T`"}
	f.o = &Options{Nginx: true}
	f.o.defaults()
	return f
}

// bareFacts: only a port was named.
func bareFacts(port int) *facts {
	o := &Options{Port: port}
	p := &Proxy{}
	if err := applyTarget(p, withDefaults(o)); err != nil {
		panic(err)
	}
	return newFacts(p, o)
}

func withDefaults(o *Options) *Options { o.defaults(); return o }

func newFacts(p *Proxy, o *Options) *facts {
	o.defaults()
	f := &facts{host: "edge-1", o: o, proxy: p, now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), v6: v6ok,
		probes: map[netip.AddrPort]outcome{}, idle: map[string]idleResult{}, candidates: map[uint16][]candidate{}, fwText: fwReadable, unitsSkip: noUnits}
	for _, s := range backendProbes(p) {
		f.probes[s.Addr] = outcome{Spec: s, Res: refused}
	}
	for _, s := range proxyProbes(p) {
		f.proxyProbes = append(f.proxyProbes, outcome{Spec: s, Res: probe.Result{Connected: true, Status: 200, Body: []byte(`{"status":"ok"}`)}})
	}
	for _, u := range p.Upstreams {
		f.idle[u.Name] = idleResult{Spec: probeSpec{Addr: u.Servers[0].Addr}, NoKeepalive: true}
	}
	return f
}

// answer sets the health probe result of addr.
func (f *facts) answer(addr string, r probe.Result) *facts {
	a := netip.MustParseAddrPort(addr)
	o := f.probes[a]
	o.Res = r
	f.probes[a] = o
	return f
}

func (f *facts) listen(socks ...Socket) *facts { f.socks = append(f.socks, socks...); return f }

func TestCauseRanking(t *testing.T) {
	tests := []struct {
		name  string
		facts *facts
		cause string   // "" = healthy
		want  []string // in the summary or fix
		not   []string // in neither
	}{
		{name: "healthy agent", facts: agentFacts("[::1]:8000", "127.0.0.1:8000 backup").
			listen(sock("[::]:8000", goAPI)).answer("[::1]:8000", ok200).answer("127.0.0.1:8000", ok200)},
		{name: "nothing listens, bare port", facts: bareFacts(8000), cause: CauseNothingListening,
			want: []string{"nothing listens on port 8000", "start the backend"}, not: []string{"proxy", "upstream"}},
		{name: "nothing listens behind the agent", facts: agentFacts("[::1]:8000"), cause: CauseNothingListening,
			want: []string{"upstream backend_api of /etc/edgectl/agent.yaml"}},
		{name: "seed outage, bare port", facts: bareFacts(8000).listen(sock("127.0.0.1:8000", goAPI)).answer("127.0.0.1:8000", ok200),
			cause: CauseIPv4OnlyBackend, want: []string{"IPv4 only", "[::1]:8000 is refused while 127.0.0.1:8000 answers", "address the backend as 127.0.0.1:8000 first", "Go's [::] listener"},
			not: []string{"proxy's upstream", "upstream"}},
		{name: "seed outage behind the agent", facts: agentFacts("[::1]:8000", "127.0.0.1:8000 backup").listen(sock("127.0.0.1:8000", uvicorn)).answer("127.0.0.1:8000", ok200),
			cause: CauseIPv4OnlyBackend, want: []string{"tries [::1]:8000 first", "put 127.0.0.1:8000 first in upstream backend_api of /etc/edgectl/agent.yaml", "do not switch it to --host ::"}},
		{name: "IPv6-only backend, bare port", facts: bareFacts(8000).listen(sock("[::1]:8000", goAPI)).answer("[::1]:8000", ok200),
			cause: CauseIPv6OnlyBackend, want: []string{"IPv6 only", "127.0.0.1:8000 is refused", "listen on 0.0.0.0:8000"}, not: []string{"upstream", "proxy"}},
		{name: "a firewall drop explains a timeout before anything else", facts: func() *facts {
			f := agentFacts("[::1]:8000", "127.0.0.1:8000 backup").listen(sock("[::]:8000", goAPI)).answer("[::1]:8000", dropped).answer("127.0.0.1:8000", ok200)
			f.fwText = "@@uid 0\n@@nft\ntable ip6 filter {\nchain input {\ntcp dport 8000 drop\n}\n}\n@@read\n"
			return f
		}(), cause: CauseFirewallIPv6, want: []string{"drops TCP port 8000 on IPv6 only", "nft"}},
		{name: "disabled IPv6 comes before the firewall", facts: func() *facts {
			f := agentFacts("[::1]:8000", "127.0.0.1:8000 backup").listen(sock("127.0.0.1:8000", goAPI)).answer("127.0.0.1:8000", ok200)
			f.v6 = ipv6State{DisableAll: 1, DisableLo: 1}
			return f
		}(), cause: CauseIPv6Disabled, want: []string{"IPv6 is disabled", "use 127.0.0.1:8000 in upstream backend_api"}},
		{name: "disabled IPv6, bare port", facts: func() *facts {
			f := bareFacts(8000).listen(sock("127.0.0.1:8000", goAPI)).answer("127.0.0.1:8000", ok200)
			f.v6 = ipv6State{DisableAll: 1, DisableLo: 1}
			return f
		}(), cause: CauseIPv6Disabled, want: []string{"[::1]:8000 cannot be reached", "address the backend as 127.0.0.1:8000"}, not: []string{"upstream"}},
		{name: "a wrong program on the port beats its failing probe", facts: func() *facts {
			f := bareFacts(8000).listen(sock("0.0.0.0:8000", plainPy)).answer("127.0.0.1:8000", status5)
			f.o.Expect = "uvicorn"
			return f
		}(), cause: CausePortTaken, want: []string{"held by python3.11 (pid 44), not by uvicorn"}},
		{name: "the agent on its own backend port", facts: agentFacts("127.0.0.1:80").listen(sock("[::]:80", &Process{PID: 7, Exe: "/usr/local/bin/edgectl"})).answer("127.0.0.1:80", ok200),
			cause: CausePortTaken, want: []string{"held by the proxy itself"}},
		{name: "bindv6only refuses IPv4 on a plain [::] socket", facts: func() *facts {
			f := agentFacts("127.0.0.1:8000").listen(sock("[::]:8000", plainPy))
			f.v6.BindV6Only = 1
			return f
		}(), cause: CauseBindV6Only, want: []string{"net.ipv6.bindv6only = 1", "127.0.0.1:8000 (used by upstream backend_api", "sysctl --system"}},
		{name: "asyncio sets IPV6_V6ONLY itself", facts: agentFacts("127.0.0.1:8000").listen(sock("[::]:8000", uvicorn)),
			cause: CauseV6OnlySocket, want: []string{"IPv6-only socket", "net.ipv6.bindv6only is 0", "--host 0.0.0.0"}, not: []string{"sysctl -w"}},
		{name: "asyncio, bare port", facts: bareFacts(8000).listen(sock("[::]:8000", uvicorn)).answer("[::1]:8000", ok200),
			cause: CauseV6OnlySocket, want: []string{"so 127.0.0.1:8000 is refused", "first wherever the backend is addressed"}, not: []string{"upstream", "used by"}},
		{name: "stuck backend", facts: bareFacts(8000).listen(sock("[::]:8000", goAPI)).answer("[::1]:8000", stuck).answer("127.0.0.1:8000", stuck),
			cause: CauseBackendTimeout, want: []string{"does not answer /health within 2s", "504"}},
		{name: "dropped with something listening looks like a firewall", facts: bareFacts(8000).listen(sock("[::]:8000", goAPI)).answer("[::1]:8000", dropped).answer("127.0.0.1:8000", dropped),
			cause: CauseFirewallIPv6, want: []string{"time out", "ip6tables-save"}},
		{name: "unhealthy backend", facts: bareFacts(8000).listen(sock("[::]:8000", goAPI)).answer("[::1]:8000", status5).answer("127.0.0.1:8000", status5),
			cause: CauseBackendUnhealthy, want: []string{"answers /health on [::1]:8000 with 500", "api (pid 42)"}},
		{name: "resets", facts: bareFacts(8000).listen(sock("[::]:8000", goAPI)).answer("[::1]:8000", resetRes).answer("127.0.0.1:8000", resetRes),
			cause: CauseBackendReset, want: []string{"closes connections without answering"}},
		{name: "wrong port behind the agent", facts: func() *facts {
			f := agentFacts("127.0.0.1:8001").listen(sock("[::]:8000", goAPI))
			f.candidates[8001] = []candidate{{Sock: sock("[::]:8000", goAPI), Out: outcome{Spec: probeSpec{Path: "/health"}, Res: ok200}}}
			return f
		}(), cause: CauseWrongPort, want: []string{"points at port 8001 where nothing listens", "from 8001 to 8000"}},
		{name: "a failing primary beats the keepalive race", facts: func() *facts {
			f := nginxFacts("[::1]:8000", "127.0.0.1:8000").listen(sock("127.0.0.1:8000", goAPI)).answer("127.0.0.1:8000", ok200)
			f.idle["backend"] = idleResult{Spec: probeSpec{Addr: netip.MustParseAddrPort("127.0.0.1:8000")}, Closed: true, After: 200 * time.Millisecond}
			return f
		}(), cause: CauseIPv4OnlyBackend},
		{name: "keepalive race when every server answers", facts: func() *facts {
			f := nginxFacts("127.0.0.1:8000").listen(sock("[::]:8000", goAPI)).answer("127.0.0.1:8000", ok200)
			f.idle["backend"] = idleResult{Spec: probeSpec{Addr: netip.MustParseAddrPort("127.0.0.1:8000")}, Closed: true, After: 200 * time.Millisecond}
			return f
		}(), cause: CauseKeepaliveRace, want: []string{"keeps them 1m0s", "keepalive_timeout 100ms", "/etc/nginx/conf.d/api.conf:2"}},
		{name: "the proxy down while the backend answers", facts: func() *facts {
			f := agentFacts("[::1]:8000").listen(sock("[::]:8000", goAPI)).answer("[::1]:8000", ok200)
			for i := range f.proxyProbes {
				f.proxyProbes[i].Res = refused
			}
			return f
		}(), cause: CauseProxyDown, want: []string{"agent is not answering", "systemctl start edgectl-agent"}},
		{name: "the proxy down beats a failing backup", facts: func() *facts {
			f := agentFacts("[::1]:8000", "[::1]:8001 backup").listen(sock("[::]:8000", goAPI)).answer("[::1]:8000", ok200)
			for i := range f.proxyProbes {
				f.proxyProbes[i].Res = refused
			}
			return f
		}(), cause: CauseProxyDown},
		{name: "a failing backup alone", facts: agentFacts("[::1]:8000", "[::1]:8001 backup").listen(sock("[::]:8000", goAPI)).answer("[::1]:8000", ok200),
			cause: CauseNothingListening, want: []string{"backup nothing listens on port 8001", "failover will not work"}},
		{name: "yesterday's errors in nginx's log", facts: func() *facts {
			f := nginxFacts("127.0.0.1:8000").listen(sock("[::]:8000", goAPI)).answer("127.0.0.1:8000", ok200)
			f.log = &logSummary{Files: []string{"/var/log/nginx/error.log"}, Lines: 10, Counts: []logCount{{Pattern: logPatterns[2], Count: 7, Last: "2026/01/02 02:00:00", Upstream: "http://127.0.0.1:8000/"}}}
			return f
		}(), cause: CauseBackendTimeout, want: []string{"7× \"upstream timed out (110\"", "answers its health path now"}},
		{name: "an expired certificate last", facts: func() *facts {
			f := agentFacts("[::1]:8000").listen(sock("[::]:8000", goAPI)).answer("[::1]:8000", ok200)
			f.tlsProbes = []outcome{{Spec: probeSpec{Addr: netip.MustParseAddrPort("[::1]:443"), Scheme: "https", Path: "/health"},
				Res: probe.Result{Connected: true, Status: 200, TLS: &probe.TLSInfo{NotAfter: f.now.Add(-time.Hour)}}}}
			return f
		}(), cause: CauseCertificate, want: []string{"expired", "edgectl cert renew"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, cause := judge(tt.facts)
			if tt.cause == "" {
				if cause != nil {
					t.Fatalf("cause %s: %s; want none", cause.ID, cause.Summary)
				}
				return
			}
			if cause == nil || cause.ID != tt.cause {
				t.Fatalf("cause %+v, want %s", cause, tt.cause)
			}
			text := cause.Summary + "\n" + cause.Fix
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("lacks %q:\n%s", w, text)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(text, n) {
					t.Errorf("says %q, which is not true in this mode:\n%s", n, text)
				}
			}
		})
	}
}

// TestChecksTrueForTheMode: what a check says depends on what the run
// could know: no proxy talk without a proxy, "not installed" is not "needs
// root", and every configuration looked for is named.
func TestChecksTrueForTheMode(t *testing.T) {
	tests := []struct {
		name     string
		facts    *facts
		check    string
		status   Status
		summary  string // substring
		hint     Hint
		notInAny string // in no summary or fix of the run
	}{
		{name: "bare port names no proxy", facts: bareFacts(8000), check: "proxy.config", status: StatusSkip,
			summary: "no proxy named: only the backend at port 8000 was checked", hint: HintProxy, notInAny: "proxy's upstream"},
		{name: "bare port, proxy not checked", facts: bareFacts(8000), check: "proxy.health", status: StatusSkip, summary: "not checked: no proxy named", hint: HintProxy},
		{name: "bare port, no TLS talk", facts: bareFacts(8000), check: "tls.cert", status: StatusSkip, summary: "not checked: no proxy named"},
		{name: "bare port, no error log", facts: bareFacts(8000), check: "errorlog", status: StatusSkip, summary: "no proxy named"},
		{name: "nginx without an error log", facts: nginxFacts("127.0.0.1:8000"), check: "errorlog", status: StatusSkip, summary: "names no error log", hint: HintErrorLog},
		{name: "bare port, no flags in summaries", facts: bareFacts(8000), check: "systemd", status: StatusSkip, summary: "none owns a backend port, and none was named", hint: HintUnit, notInAny: "--"},
		{name: "agent found where looked", facts: agentFacts("[::1]:8000"), check: "proxy.config", status: StatusOK,
			summary: "agent configuration /etc/edgectl/agent.yaml (1 upstream, 1 server)"},
		{name: "nginx found after the agent's file", facts: nginxFacts("[::1]:8000", "127.0.0.1:8000"), check: "proxy.config", status: StatusOK,
			summary: "nginx configuration from `nginx -T` (1 upstream, 2 servers); no agent configuration at /etc/edgectl/agent.yaml"},
		{name: "firewall tools not installed", facts: func() *facts {
			f := bareFacts(8000)
			f.fwText = "@@uid 0\n@@nft\n@@missing\n@@ip6tables\n@@missing\n@@iptables\n@@missing\n"
			return f
		}(), check: "firewall.ipv6", status: StatusSkip, summary: "no firewall tools on the host (nft, ip6tables-save, iptables-save not installed)", notInAny: "root"},
		{name: "firewall tools need root", facts: func() *facts {
			f := bareFacts(8000)
			f.fwText = "@@uid 1000\n@@nft\n@@failed\n@@ip6tables\n@@missing\n@@iptables\n@@failed\n"
			return f
		}(), check: "firewall.ipv4", status: StatusSkip, summary: "cannot read firewall rules as uid 1000: nft, iptables-save need root; ip6tables-save not installed", hint: HintRoot},
		{name: "firewall refused even to root", facts: func() *facts {
			f := bareFacts(8000)
			f.fwText = "@@uid 0\n@@nft\n@@failed\n@@ip6tables\n@@failed\n@@iptables\n@@failed\n"
			return f
		}(), check: "firewall.ipv4", status: StatusSkip, summary: "failed (no CAP_NET_ADMIN", notInAny: "need root"},
		{name: "unknown owner as a user", facts: func() *facts {
			f := bareFacts(8000).listen(sock("[::]:8000", nil)).answer("[::1]:8000", ok200).answer("127.0.0.1:8000", ok200)
			f.fwText = "@@uid 1000\n@@nft\n@@failed\n"
			return f
		}(), check: "listen.ipv6", status: StatusOK, summary: "[::]:8000 an unknown process", hint: HintRoot},
		{name: "unknown owner as root: no advice to become root", facts: bareFacts(8000).listen(sock("[::]:8000", nil)).answer("[::1]:8000", ok200).answer("127.0.0.1:8000", ok200),
			check: "listen.ipv6", status: StatusOK, summary: "[::]:8000 an unknown process", notInAny: "root"},
		{name: "a 404 health path", facts: bareFacts(8000).listen(sock("[::]:8000", goAPI)).answer("[::1]:8000", probe.Result{Connected: true, Status: 404}).answer("127.0.0.1:8000", ok200),
			check: "probe.ipv6", status: StatusWarn, summary: "answers /health with 404: wrong health path?", hint: HintHealthURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checks, cause := judge(tt.facts)
			var got *Check
			for i := range checks {
				if checks[i].ID == tt.check {
					got = &checks[i]
				}
			}
			if got == nil {
				t.Fatalf("no check %s", tt.check)
			}
			if got.Status != tt.status || !strings.Contains(got.Summary, tt.summary) || got.Hint != tt.hint {
				t.Errorf("%s: %s %q hint %q; want %s with %q, hint %q", tt.check, got.Status, got.Summary, got.Hint, tt.status, tt.summary, tt.hint)
			}
			if tt.notInAny == "" {
				return
			}
			if cause != nil {
				checks = append(checks, Check{ID: "cause", Summary: cause.Summary, Fix: cause.Fix})
			}
			for _, c := range checks {
				if strings.Contains(c.Summary+" "+c.Fix, tt.notInAny) {
					t.Errorf("%s says %q: %s / %s", c.ID, tt.notInAny, c.Summary, c.Fix)
				}
			}
		})
	}
}
