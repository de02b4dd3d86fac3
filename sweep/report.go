package sweep

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Statuses of a check, an address, the DNS comparison and the fleet.
const (
	StatusOK   = "ok"
	StatusWarn = "warn"
	StatusFail = "fail"
	StatusSkip = "skip"
	// StatusDeploying is an address that failed while a deploy (within its
	// maximum time) is changing its host: not a failure.
	StatusDeploying = "deploying"
	StatusHealthy   = "healthy"
	StatusDegraded  = "degraded"
	StatusDown      = "down"
)

// Report is the outcome of one sweep; its JSON is `sweep --json`.
type Report struct {
	// Time is when the sweep started.
	Time time.Time `json:"time"`
	// Status is healthy (every check passed), degraded (something failed
	// or warned) or down (every probed address failed).
	Status string `json:"status"`
	// DurationMS is how long the sweep took.
	DurationMS float64 `json:"duration_ms"`
	// Hosts holds one entry per fleet host, in fleet order.
	Hosts []HostReport `json:"hosts"`
	// DNS compares the domains' records with the fleet's addresses.
	DNS DNSReport `json:"dns"`
	// Problems lists everything that is not ok, the most urgent first.
	Problems []Problem `json:"problems"`
	// Alerts are the transitions this sweep caused (filled in by the
	// caller that keeps the State).
	Alerts []Alert `json:"alerts,omitempty"`
	// DNSAction is what --dns did to the records (nil without --dns).
	DNSAction *DNSAction `json:"dns_action,omitempty"`
}

// HostReport is one host's row.
type HostReport struct {
	Name string `json:"name"`
	// IPv4 and IPv6 are probed separately; status skip when the host has
	// no address in that family.
	IPv4 Target `json:"ipv4"`
	IPv6 Target `json:"ipv6"`
	// TLS is the worst certificate among the host's addresses (nil for
	// http or when no handshake completed).
	TLS *TLSReport `json:"tls"`
	// Upstreams is the agent's view of its upstream pools as its health
	// path reported it (or /status, with --deep).
	Upstreams []Upstream `json:"upstreams,omitempty"`
	// Agent is what --deep found on the host (nil without --deep).
	Agent *AgentReport `json:"agent"`
	// Deploy is set while a deploy is changing the host: the agent's
	// health answer says so, or (with --deep) the host's deploy lock.
	Deploy *DeployInfo `json:"deploy,omitempty"`
}

// DeployInfo is a deploy seen on a host.
type DeployInfo struct {
	// Source is "health" (the agent's health answer), "lock" (the
	// host's lock file, --deep) or "state" (seen by an earlier sweep
	// --dns, the host's records still out of DNS: State.Deploys).
	Source string `json:"source"`
	// Holder and Command name the deploy (lock only).
	Holder  string `json:"holder,omitempty"`
	Command string `json:"command,omitempty"`
	// AgeMS is how long it has run; MaxMS its own maximum time.
	AgeMS int64 `json:"age_ms"`
	MaxMS int64 `json:"max_ms"`
	// Overdue is true past MaxMS: the deploy has probably died, and the
	// host's failures count again.
	Overdue bool `json:"overdue"`
}

// Target is the probe of one address.
type Target struct {
	// Status is ok, fail or skip.
	Status string `json:"status"`
	// Address is the IP:port probed.
	Address    string  `json:"address,omitempty"`
	LatencyMS  float64 `json:"latency_ms"`
	HTTPStatus int     `json:"http_status"`
	// Error says what failed ("" when ok); Kind classifies it (refused,
	// timeout, unreachable, reset, tls, protocol, http).
	Error string `json:"error"`
	Kind  string `json:"kind,omitempty"`
	// TLS is the certificate this address served.
	TLS *TLSReport `json:"tls,omitempty"`

	deploy *DeployInfo // the agent's health answer named a deploy
}

// TLSReport describes a served certificate.
type TLSReport struct {
	// Status is ok, warn (< TLSWarnDays left) or fail (< TLSFailDays
	// left, expired, untrusted or not covering the domain).
	Status     string    `json:"status"`
	DaysLeft   int       `json:"days_left"`
	Issuer     string    `json:"issuer"`
	NotAfter   time.Time `json:"not_after"`
	HostnameOK bool      `json:"hostname_ok"`
	Error      string    `json:"error"`
	// Address is where this certificate was served (host level only).
	Address string `json:"address,omitempty"`

	refused bool // clients refuse it: expired, untrusted or wrong name
}

// Upstream is one upstream pool as the agent sees it.
type Upstream struct {
	Name  string `json:"name"`
	Live  int    `json:"live"`
	Total int    `json:"total"`
	// Down lists the servers the agent considers down (--deep only).
	Down []string `json:"down,omitempty"`
}

// Problem is one line of what is wrong.
type Problem struct {
	// Check is what failed: dns, ipv4, ipv6, tls, upstreams, agent.
	Check   string `json:"check"`
	Host    string `json:"host,omitempty"`
	Address string `json:"address,omitempty"`
	Summary string `json:"summary"`
}

// Counts returns how many addresses were probed, passed and failed.
func (r *Report) Counts() (probed, ok, failed int) {
	for _, h := range r.Hosts {
		for _, t := range []Target{h.IPv4, h.IPv6} {
			switch t.Status {
			case StatusOK:
				probed++
				ok++
			case StatusFail:
				probed++
				failed++
			}
		}
	}
	return probed, ok, failed
}

// Summary is the one-line verdict printed under the table, e.g.
// "3 hosts, 5 addresses: 4 ok, 1 failed; DNS: 1 unhealthy address still
// in DNS (198.18.0.12)". The DNS part comes first among the problems
// because a dead address in DNS is what users hit.
func (r *Report) Summary() string {
	probed, ok, failed := r.Counts()
	s := fmt.Sprintf("%s, %s: %d ok, %d failed", plural(len(r.Hosts), "host", "hosts"),
		plural(probed, "address", "addresses"), ok, failed)
	var extra []string
	d := r.DNS
	if n := len(d.UnhealthyInDNS); n > 0 {
		extra = append(extra, fmt.Sprintf("%s still in DNS (%s)", plural(n, "unhealthy address", "unhealthy addresses"), strings.Join(d.UnhealthyInDNS, ", ")))
	}
	if n := len(d.Unexpected); n > 0 {
		extra = append(extra, fmt.Sprintf("%s in DNS that %s not in the fleet (%s)", plural(n, "address", "addresses"), isAre(n), strings.Join(d.Unexpected, ", ")))
	}
	if n := len(d.Missing); n > 0 {
		extra = append(extra, fmt.Sprintf("%s missing from DNS (%s)", plural(n, "healthy address", "healthy addresses"), strings.Join(d.Missing, ", ")))
	}
	if d.Error != "" {
		extra = append(extra, "lookup failed")
	}
	switch {
	case len(extra) > 0:
		s += "; DNS: " + strings.Join(extra, "; ")
	case d.Status == StatusOK:
		s += "; DNS: ok"
	}
	certHosts := map[string]bool{}
	agents := 0
	for _, p := range r.Problems {
		switch p.Check {
		case "tls":
			certHosts[p.Host] = true
		case "upstreams", "agent":
			agents++
		}
	}
	if n := len(certHosts); n > 0 {
		s += "; " + plural(n, "host", "hosts") + " with a certificate problem"
	}
	if agents > 0 {
		s += "; " + plural(agents, "agent problem", "agent problems")
	}
	deploying := 0
	for _, h := range r.Hosts {
		if h.Deploy != nil && !h.Deploy.Overdue {
			deploying++
		}
	}
	if deploying > 0 {
		s += "; " + plural(deploying, "host", "hosts") + " deploying"
	}
	return s + "; " + r.Status
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// finish fills Problems and Status from the hosts and DNS.
func (r *Report) finish() {
	owner := map[string]string{} // address without port → host name
	for _, h := range r.Hosts {
		for _, t := range []Target{h.IPv4, h.IPv6} {
			if ap, err := netip.ParseAddrPort(t.Address); err == nil {
				owner[ap.Addr().String()] = h.Name
			}
		}
	}
	var ps []Problem
	for i := range r.Hosts {
		h := &r.Hosts[i]
		if d := h.Deploy; d != nil && d.Overdue {
			who := "a deploy"
			if d.Holder != "" {
				who = "the deploy of " + d.Holder
			}
			ps = append(ps, Problem{Check: "deploy", Host: h.Name, Summary: fmt.Sprintf("%s has been changing %s for %s, past its maximum of %s: its process has probably died (edgectl lock status)",
				who, h.Name, time.Duration(d.AgeMS)*time.Millisecond/time.Second*time.Second, time.Duration(d.MaxMS)*time.Millisecond/time.Second*time.Second)})
		} else if d != nil {
			// Failures while a deploy works on the host are the deploy's.
			for _, t := range []*Target{&h.IPv4, &h.IPv6} {
				if t.Status == StatusFail {
					t.Status = StatusDeploying
				}
			}
		}
	}
	for _, a := range r.DNS.UnhealthyInDNS {
		ps = append(ps, Problem{Check: "dns", Host: owner[a], Address: a, Summary: fmt.Sprintf("%s (%s) is in DNS but failed its probe: users are sent to it; remove the record or fix the host", a, owner[a])})
	}
	for _, a := range r.DNS.Unexpected {
		ps = append(ps, Problem{Check: "dns", Address: a, Summary: fmt.Sprintf("%s is in DNS but is no fleet address (stale record?): remove it, or add the host to the fleet", a)})
	}
	for _, a := range r.DNS.Missing {
		ps = append(ps, Problem{Check: "dns", Host: owner[a], Address: a, Summary: fmt.Sprintf("%s (%s) is healthy but not in DNS: add its record, if it should take traffic", a, owner[a])})
	}
	for _, d := range r.DNS.Domains {
		if d.Error != "" {
			ps = append(ps, Problem{Check: "dns", Summary: d.Error})
		}
	}
	for _, h := range r.Hosts {
		for _, t := range []struct {
			fam string
			t   Target
		}{{"ipv4", h.IPv4}, {"ipv6", h.IPv6}} {
			if t.t.Status == StatusFail {
				ps = append(ps, Problem{Check: t.fam, Host: h.Name, Address: t.t.Address, Summary: t.t.Error})
			}
		}
		for _, t := range []Target{h.IPv4, h.IPv6} {
			if t.TLS != nil && t.TLS.Status != StatusOK && t.Status == StatusOK {
				ps = append(ps, Problem{Check: "tls", Host: h.Name, Address: t.Address, Summary: t.TLS.Error})
			}
		}
		if h.Deploy != nil && !h.Deploy.Overdue {
			continue // upstreams and the agent move while a deploy works
		}
		for _, u := range h.Upstreams {
			if u.Live == 0 && u.Total > 0 {
				ps = append(ps, Problem{Check: "upstreams", Host: h.Name, Summary: fmt.Sprintf("upstream %s has no live server (0/%d): the agent answers 503 for its routes", u.Name, u.Total)})
			}
		}
		if h.Agent != nil && h.Agent.Status == StatusFail && h.Agent.Error != "" {
			ps = append(ps, Problem{Check: "agent", Host: h.Name, Summary: h.Agent.Error})
		}
	}
	if ps == nil {
		ps = []Problem{}
	}
	r.Problems = ps
	probed, _, failed := r.Counts()
	switch {
	case probed > 0 && failed == probed:
		r.Status = StatusDown
	case len(ps) > 0:
		r.Status = StatusDegraded
	default:
		r.Status = StatusHealthy
	}
}
