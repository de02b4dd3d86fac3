package diagnose

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/edgectl/edgectl/probe"
	"github.com/edgectl/edgectl/remote"
)

// Run diagnoses host: it finds the proxy and its upstreams (see Options),
// gathers every fact concurrently and judges them into checks and a cause.
// Probes are dialled from the host itself. The run takes about one probe
// timeout at worst, however many checks there are.
//
// An error is returned only when nothing could be diagnosed; errors
// matching ErrUsage come from the options or an invalid configuration.
func Run(ctx context.Context, host remote.Host, opts Options) (*Report, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	o := &opts
	o.defaults()
	p, err := discover(ctx, host, o)
	if err != nil {
		return nil, err
	}
	f := gather(ctx, host, o, p)
	checks, cause := judge(f)
	rep := &Report{Host: host.Name(), Status: "ok", Cause: cause, Checks: checks}
	if cause != nil {
		rep.Status = "problem"
	}
	return rep, nil
}

// outcome is one probe and its result.
type outcome struct {
	Spec probeSpec
	Res  probe.Result
}

// facts is everything gathered from the host.
type facts struct {
	host  string
	o     *Options
	proxy *Proxy
	now   time.Time

	socks    []Socket
	socksErr error
	v6       ipv6State

	probes      map[netip.AddrPort]outcome // backend health, by address
	proxyProbes []outcome
	tlsProbes   []outcome
	idle        map[string]idleResult // by upstream name

	log *logSummary // nginx only

	units     []unitState
	unitsSkip string

	fwText string
	fwErr  error

	candidates map[uint16][]candidate // backend port → other listeners that answer
}

// candidate is another listener that answered the health path.
type candidate struct {
	Sock Socket
	Out  outcome
}

// gather collects the facts. Independent parts run concurrently; each is
// bounded by the probe timeout.
func gather(ctx context.Context, h remote.Host, o *Options, p *Proxy) *facts {
	f := &facts{host: h.Name(), o: o, proxy: p, now: o.Now(), probes: map[netip.AddrPort]outcome{}, idle: map[string]idleResult{}, candidates: map[uint16][]candidate{}}
	// A generous bound for commands; probes have their own.
	ctx, cancel := context.WithTimeout(ctx, 2*o.ProbeTimeout+2*time.Second)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	goDo := func(fn func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn()
		}()
	}

	goDo(func() {
		socks, err := listeners(ctx, h)
		mu.Lock()
		f.socks, f.socksErr = socks, err
		mu.Unlock()
		var inner sync.WaitGroup
		inner.Add(2)
		go func() {
			defer inner.Done()
			c := findCandidates(ctx, h, o, p, socks)
			mu.Lock()
			f.candidates = c
			mu.Unlock()
		}()
		go func() {
			defer inner.Done()
			units, skip := readUnits(ctx, h, unitNames(o, p, socks))
			for i := range units {
				units[i].Explicit = slices.Contains(o.Units, units[i].ID)
			}
			mu.Lock()
			f.units, f.unitsSkip = units, skip
			mu.Unlock()
		}()
		inner.Wait()
	})
	goDo(func() {
		st := readIPv6State(ctx, h)
		mu.Lock()
		f.v6 = st
		mu.Unlock()
	})
	goDo(func() {
		text, err := readFirewall(ctx, h)
		mu.Lock()
		f.fwText, f.fwErr = text, err
		mu.Unlock()
	})
	if p.Kind == "nginx" && len(p.ErrorLogs) > 0 {
		goDo(func() {
			s := readErrorLogs(ctx, h, p.ErrorLogs, o.LogLines, o.LogWindow)
			mu.Lock()
			f.log = s
			mu.Unlock()
		})
	}
	for _, s := range backendProbes(p) {
		goDo(func() {
			r := doProbe(ctx, h, s, o.ProbeTimeout)
			mu.Lock()
			f.probes[s.Addr] = outcome{s, r}
			mu.Unlock()
		})
	}
	proxySpecs := proxyProbes(p)
	f.proxyProbes = make([]outcome, len(proxySpecs))
	for i, s := range proxySpecs {
		goDo(func() {
			f.proxyProbes[i] = outcome{s, doProbe(ctx, h, s, o.ProbeTimeout)}
		})
	}
	tlsSpecs := tlsProbes(p)
	f.tlsProbes = make([]outcome, len(tlsSpecs))
	for i, s := range tlsSpecs {
		goDo(func() {
			f.tlsProbes[i] = outcome{s, doProbe(ctx, h, s, o.ProbeTimeout)}
		})
	}
	for _, u := range p.Upstreams {
		if p.Kind != "" && !u.Keepalive {
			continue
		}
		goDo(func() {
			r := measureUpstreamIdle(ctx, h, o, u)
			mu.Lock()
			f.idle[u.Name] = r
			mu.Unlock()
		})
	}
	wg.Wait()
	return f
}

// measureUpstreamIdle measures the idle timeout on every server of u at
// once and keeps the first server's (in preference order) usable result.
func measureUpstreamIdle(ctx context.Context, h remote.Host, o *Options, u *Upstream) idleResult {
	servers := orderedServers(u)
	res := make([]idleResult, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = measureIdle(ctx, h, probeSpec{Addr: s.Addr, Scheme: u.Scheme, Path: u.HealthPath}, o.KeepaliveWait, o.ProbeTimeout)
		}()
	}
	wg.Wait()
	for _, r := range res {
		if r.Err == nil {
			return r
		}
	}
	if len(res) > 0 {
		return res[0]
	}
	return idleResult{}
}

// orderedServers lists primaries first, then backups.
func orderedServers(u *Upstream) []Server {
	var out []Server
	for _, backup := range []bool{false, true} {
		for _, s := range u.Servers {
			if s.Backup == backup {
				out = append(out, s)
			}
		}
	}
	return out
}

// backendProbes are the health probes of every upstream server plus both
// loopbacks of every backend port, once per address.
func backendProbes(p *Proxy) []probeSpec {
	var out []probeSpec
	seen := map[netip.AddrPort]bool{}
	add := func(s probeSpec) {
		if !seen[s.Addr] {
			seen[s.Addr] = true
			out = append(out, s)
		}
	}
	for _, u := range p.Upstreams {
		for _, s := range u.Servers {
			add(probeSpec{Addr: s.Addr, Scheme: u.Scheme, Path: u.HealthPath})
		}
	}
	for _, port := range p.ports() {
		u := p.upstreamFor(port)
		for _, a := range []netip.Addr{loop6, loop4} {
			add(probeSpec{Addr: netip.AddrPortFrom(a, port), Scheme: u.Scheme, Path: u.HealthPath})
		}
	}
	return out
}

// proxyProbes check the proxy itself: the agent's health path, or for
// nginx a request through the first location that proxies to an upstream.
func proxyProbes(p *Proxy) []probeSpec {
	var out []probeSpec
	switch p.Kind {
	case "agent":
		for _, l := range p.Listeners {
			if l.TLS {
				continue
			}
			for _, a := range l.loopbacks() {
				out = append(out, probeSpec{Addr: a, Scheme: "http", Path: p.HealthPath})
			}
			return out
		}
	case "nginx":
		path, host := "/", ""
		for _, u := range p.Upstreams {
			if u.Path != "" {
				path, host = u.Path, u.Host
				break
			}
		}
		for _, l := range p.Listeners {
			if l.TLS {
				continue
			}
			for _, a := range l.loopbacks() {
				out = append(out, probeSpec{Addr: a, Scheme: "http", Path: path, Host: host})
			}
			return out
		}
	}
	return out
}

// tlsProbes fetch the certificate of the proxy's first TLS listener.
func tlsProbes(p *Proxy) []probeSpec {
	host := ""
	if len(p.ServerNames) > 0 {
		host = p.ServerNames[0]
	}
	path := p.HealthPath
	if path == "" {
		path = "/"
	}
	for _, l := range p.Listeners {
		if l.TLS {
			return []probeSpec{{Addr: l.loopbacks()[0], Scheme: "https", Path: path, Host: host}}
		}
	}
	return nil
}

// unitNames are the systemd units to look at: --unit, then the units of
// the processes on the backend ports and the proxy's listeners.
func unitNames(o *Options, p *Proxy, socks []Socket) []string {
	names := slices.Clone(o.Units)
	ports := p.ports()
	for _, l := range p.Listeners {
		ports = append(ports, l.Addr.Port())
	}
	for _, s := range socks {
		if s.Owner != nil && s.Owner.Unit != "" && slices.Contains(ports, s.Addr.Port()) && !slices.Contains(names, s.Owner.Unit) {
			names = append(names, s.Owner.Unit)
		}
	}
	return names
}
