package sweep

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/edgectl/edgectl/dnsquery"
	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/probe"
	"github.com/edgectl/edgectl/remote"
)

// Defaults for Options.
const (
	// DefaultConcurrency covers 128 dual-stack hosts in one round, so a sweep
	// where many addresses time out takes one probe timeout, not several.
	DefaultConcurrency = 256
	DefaultRunTimeout  = 2 * time.Minute
)

// Options tune a sweep. The zero value sweeps from this machine with the
// fleet's settings.
type Options struct {
	// Resolver is the DNS server (host:port) asked for A and AAAA records;
	// it overrides fleet.yaml's resolver. Both empty: the system resolver.
	Resolver string
	// Deep also reads, on every host through Dialer, the agent's /status
	// (upstream states), net.ipv6.bindv6only and the service state.
	Deep bool
	// Dialer opens a session on a host for Deep (SSH in production; the
	// shape of provision.Dialer).
	Dialer func(ctx context.Context, h fleet.Host) (remote.Host, error)
	// Dial opens the probes' connections; nil dials from this machine.
	// Probes may be run from another vantage point this way.
	Dial probe.DialFunc
	// Concurrency bounds the probes in flight (default 256).
	Concurrency int
	// ProbeTimeout bounds one probe (default: fleet sweep.timeout).
	ProbeTimeout time.Duration
	// RunTimeout bounds the whole sweep (default 2m); probes still
	// waiting when it runs out fail with a message saying so.
	RunTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// RootCAs verifies certificates (nil: the system pool).
	RootCAs *x509.CertPool
}

// Run sweeps the fleet once. Failures of hosts, certificates and DNS are
// in the Report; the error is only for options that make no sweep.
func Run(ctx context.Context, f *fleet.Fleet, opts Options) (*Report, error) {
	if opts.Deep && opts.Dialer == nil {
		return nil, fmt.Errorf("--deep needs a way to reach the hosts (no dialer)")
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.ProbeTimeout <= 0 {
		opts.ProbeTimeout = f.Sweep.Timeout
	}
	if opts.ProbeTimeout <= 0 {
		opts.ProbeTimeout = fleet.DefaultSweepTimeout
	}
	if opts.RunTimeout <= 0 {
		opts.RunTimeout = DefaultRunTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	resolver := opts.Resolver
	if resolver == "" {
		resolver = f.Resolver
	}
	start := opts.Now()
	mono := time.Now()
	ctx, cancel := context.WithTimeout(ctx, opts.RunTimeout)
	defer cancel()

	sp := probeSpec{
		scheme: f.Sweep.Scheme, port: f.SweepPort(), host: fleetDomain(f), path: f.Sweep.HealthPath,
		timeout: opts.ProbeTimeout, roots: opts.RootCAs, dial: opts.Dial, now: opts.Now,
	}
	rep := &Report{Time: start, Hosts: make([]HostReport, len(f.Hosts))}
	ups := make([][2][]Upstream, len(f.Hosts))
	sem := make(chan struct{}, opts.Concurrency)
	var wg sync.WaitGroup
	// bounded runs fn with a slot, or reports that the run ran out first.
	bounded := func(fn func(), outOfTime func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
				if ctx.Err() == nil {
					fn()
					return
				}
			case <-ctx.Done():
			}
			outOfTime()
		}()
	}
	notProbed := fmt.Sprintf("not probed: the sweep ran out of time (run timeout %v); raise --run-timeout or --concurrency", opts.RunTimeout)
	for i, h := range f.Hosts {
		hr := &rep.Hosts[i]
		hr.Name = h.Name
		probeOne := func(fi int, ip string) {
			t := &hr.IPv4
			if fi == 1 {
				t = &hr.IPv6
			}
			*t, ups[i][fi] = probeAddr(ctx, sp, ip)
		}
		notOne := func(fi int, ip string) {
			t := &hr.IPv4
			if fi == 1 {
				t = &hr.IPv6
			}
			*t = Target{Status: StatusFail, Address: joinPort(ip, sp.port), Kind: "timeout", Error: notProbed}
		}
		addrs := []string{h.IPv4, h.IPv6}
		for fi, ip := range addrs {
			if ip == "" {
				if fi == 0 {
					hr.IPv4 = Target{Status: StatusSkip}
				} else {
					hr.IPv6 = Target{Status: StatusSkip}
				}
			}
		}
		if opts.Deep {
			// The host first, then its addresses: a deploy that restarts
			// the agent while an address is probed already holds the
			// host's lock when it is read, so the failure is seen as the
			// deploy's. (Read after the probes, a deploy that just ended
			// would leave a failure unexplained.)
			ds := deepSpec{admin: f.Agent.Admin, probe: sp, timeout: opts.ProbeTimeout}
			bounded(func() {
				hr.Agent = deepHost(ctx, opts.Dialer, h, ds)
				for fi, ip := range addrs {
					if ip != "" {
						probeOne(fi, ip)
					}
				}
			}, func() {
				hr.Agent = &AgentReport{Status: StatusFail, BindV6Only: -1, Service: "unknown", Upstreams: []Upstream{}, Error: h.Name + ": " + notProbed}
				for fi, ip := range addrs {
					if ip != "" {
						notOne(fi, ip)
					}
				}
			})
			continue
		}
		for fi, ip := range addrs {
			if ip != "" {
				bounded(func() { probeOne(fi, ip) }, func() { notOne(fi, ip) })
			}
		}
	}
	rep.DNS = DNSReport{Resolver: resolver, Domains: []DomainReport{}}
	if resolver == "" {
		rep.DNS.Resolver = "system"
	}
	for _, d := range f.Domains {
		if !strings.HasPrefix(d, "*.") {
			rep.DNS.Domains = append(rep.DNS.Domains, DomainReport{Name: d})
		}
	}
	for i := range rep.DNS.Domains {
		d := &rep.DNS.Domains[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			var errs []string
			for _, fam := range []string{"ip4", "ip6"} {
				addrs, err := dnsquery.Lookup(ctx, resolver, d.Name, fam, opts.ProbeTimeout)
				if err != nil {
					errs = append(errs, err.Error())
				}
				list := addrStrings(addrs)
				if fam == "ip4" {
					d.A = list
				} else {
					d.AAAA = list
				}
			}
			d.Error = strings.Join(errs, "; ")
		}()
	}
	wg.Wait()

	fleetAddrs := map[netip.Addr]fleetAddr{}
	for i, h := range f.Hosts {
		hr := &rep.Hosts[i]
		for _, t := range []*Target{&hr.IPv4, &hr.IPv6} {
			if t.deploy != nil && hr.Deploy == nil {
				hr.Deploy = t.deploy
			}
		}
		if hr.Agent != nil && hr.Agent.deploy != nil {
			hr.Deploy = hr.Agent.deploy // the lock says more than the health answer
		}
		deploying := hr.Deploy != nil && !hr.Deploy.Overdue
		for fi, pair := range []struct {
			ip string
			t  *Target
		}{{h.IPv4, &hr.IPv4}, {h.IPv6, &hr.IPv6}} {
			if pair.ip == "" {
				continue
			}
			if a, err := netip.ParseAddr(pair.ip); err == nil {
				// A host in the middle of a deploy stays where it is in DNS.
				fleetAddrs[a] = fleetAddr{healthy: pair.t.Status == StatusOK || deploying, deploying: deploying}
			}
			hr.TLS = worseTLS(hr.TLS, withAddress(pair.t.TLS, pair.t.Address))
			if hr.Upstreams == nil {
				hr.Upstreams = ups[i][fi]
			}
		}
		if hr.Agent != nil && hr.Agent.Source != "" {
			hr.Upstreams = hr.Agent.Upstreams
		}
	}
	compareDNS(&rep.DNS, fleetAddrs)
	rep.finish()
	rep.DurationMS = millis(time.Since(mono))
	return rep, nil
}

// fleetDomain is the name probes send as SNI and Host: the first domain
// that is not a wildcard ("" when there is none: the address is used).
func fleetDomain(f *fleet.Fleet) string {
	for _, d := range f.Domains {
		if !strings.HasPrefix(d, "*.") {
			return d
		}
	}
	return ""
}

func withAddress(t *TLSReport, addr string) *TLSReport {
	if t == nil {
		return nil
	}
	c := *t
	c.Address = addr
	return &c
}

func addrStrings(addrs []netip.Addr) []string {
	seen := map[netip.Addr]bool{}
	out := []string{}
	for _, a := range addrs {
		if !seen[a] {
			seen[a] = true
			out = append(out, a.String())
		}
	}
	sortAddrs(out)
	return out
}
