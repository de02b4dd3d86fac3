package diagnose

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/edgectl/edgectl/probe"
)

// judgement turns facts into checks and a cause.
type judgement struct {
	f      *facts
	checks []Check
	uid    int // the user the commands ran as on the host, -1 unknown
}

func (j *judgement) add(c Check) { j.checks = append(j.checks, c) }

// judge builds the checks in a stable order and picks the cause.
func judge(f *facts) ([]Check, *Cause) {
	j := &judgement{f: f, uid: parseFirewall(f.fwText, 0).UID}
	j.configCheck()
	ports := f.proxy.ports()
	for _, port := range ports {
		j.portChecks(port, len(ports) > 1)
	}
	j.upstreamChecks()
	j.proxyCheck()
	j.ipv6Checks()
	j.keepaliveChecks()
	j.errorLogCheck()
	j.systemdChecks()
	for _, port := range ports {
		j.firewallChecks(port, len(ports) > 1)
	}
	j.tlsChecks()
	return j.checks, j.cause()
}

// id appends the port to a per-port check id when there are several ports.
func id(base string, port uint16, multi bool) string {
	if multi {
		return base + "." + portString(port)
	}
	return base
}

// needed returns the families the upstreams use on port (both in bare mode).
func (j *judgement) needed(port uint16) map[string]bool {
	need := map[string]bool{}
	for _, u := range j.f.proxy.Upstreams {
		for _, s := range u.Servers {
			if s.Addr.Port() == port {
				need[family(s.Addr.Addr())] = true
			}
		}
	}
	if j.f.proxy.Kind == "" && j.f.o.URL == "" {
		need["ipv4"], need["ipv6"] = true, true
	}
	return need
}

// describeSocks lists sockets with their owners.
func describeSocks(socks []Socket) string {
	var parts []string
	for _, s := range socks {
		parts = append(parts, s.Addr.String()+" "+s.Owner.String())
	}
	return strings.Join(parts, "; ")
}

func detailSocks(socks []Socket) string {
	var parts []string
	for _, s := range socks {
		parts = append(parts, s.Addr.String()+" "+s.Owner.Detail())
	}
	return strings.Join(parts, "; ")
}

// portChecks: listening sockets per family and the loopback probes.
func (j *judgement) portChecks(port uint16, multi bool) {
	f := j.f
	need := j.needed(port)
	v4, v6 := onPort(f.socks, port)
	p := portString(port)
	if f.socksErr != nil {
		j.add(Check{ID: id("listen.ipv4", port, multi), Status: StatusSkip, Summary: "cannot read listening sockets", Evidence: f.socksErr.Error()})
		j.add(Check{ID: id("listen.ipv6", port, multi), Status: StatusSkip, Summary: "cannot read listening sockets", Evidence: f.socksErr.Error()})
	} else {
		for _, fam := range []string{"ipv6", "ipv4"} {
			mine, other := v6, v4
			if fam == "ipv4" {
				mine, other = v4, v6
			}
			c := Check{ID: id("listen."+fam, port, multi)}
			switch {
			case len(mine) > 0:
				c.Status, c.Summary, c.Evidence = StatusOK, describeSocks(mine), detailSocks(mine)
				if j.uid != 0 && slices.ContainsFunc(mine, func(s Socket) bool { return s.Owner == nil }) {
					c.Hint = HintRoot // other users' processes are hidden from us
				}
			case len(other) == 0:
				c.Status, c.Summary = StatusFail, "nothing listens on port "+p
				c.Evidence = "no socket on port " + p + " in /proc/net/tcp or /proc/net/tcp6"
				c.Fix = "start the backend, or point the upstream at the port it listens on"
				if j.bare() {
					c.Fix = "start the backend on port " + p + ", or diagnose the port it listens on"
				}
			case fam == "ipv4" && hasWildcard6(other):
				r := f.probes[netip.AddrPortFrom(loop4, port)].Res
				c.Evidence = detailSocks(other)
				if r.Connected {
					c.Status, c.Summary = StatusOK, "no IPv4 socket; the dual-stack "+describeSocks(other)+" accepts IPv4"
				} else {
					c.Status, c.Summary = StatusFail, "no IPv4 socket, and "+describeSocks(other)+" refuses IPv4 (IPv6-only socket)"
					c.Fix = "bind 0.0.0.0:" + p + " as well, or list [::1]:" + p + " first in the upstream"
					if j.bare() {
						c.Fix = "bind 0.0.0.0:" + p + " as well, or address the backend as [::1]:" + p
					}
					if !need["ipv4"] {
						c.Status, c.Summary, c.Fix = StatusOK, c.Summary+"; not used by the proxy", ""
					}
				}
			default:
				c.Evidence = "only " + detailSocks(other)
				c.Status, c.Summary = StatusFail, fmt.Sprintf("no %s socket on port %s: only %s", famName(fam), p, describeSocks(other))
				c.Fix = "make the backend listen on both families, or use only " + famName(otherFam(fam)) + " upstream addresses"
				if j.bare() {
					c.Fix = "make the backend listen on both families, or address it over " + famName(otherFam(fam)) + " only"
				}
				if !need[fam] {
					c.Status, c.Summary, c.Fix = StatusOK, fmt.Sprintf("no %s socket on port %s; not used by the proxy", famName(fam), p), ""
				}
			}
			j.add(c)
		}
	}
	for _, a := range []netip.Addr{loop6, loop4} {
		ap := netip.AddrPortFrom(a, port)
		out, ok := f.probes[ap]
		if !ok {
			continue
		}
		fam := family(a)
		c := Check{ID: id("probe."+fam, port, multi), Evidence: describeProbe(out.Spec, out.Res, f.o.ProbeTimeout)}
		c.Status, c.Summary = probeVerdict(out, f.o.ProbeTimeout)
		if c.Status == StatusWarn {
			c.Hint = HintHealthURL
		}
		if c.Status == StatusFail {
			c.Fix = "see the cause above"
			if !need[fam] {
				c.Status, c.Summary = StatusOK, c.Summary+" (not used by the proxy)"
				c.Fix = ""
			}
		}
		j.add(c)
	}
}

// probeVerdict judges a backend health probe.
func probeVerdict(out outcome, timeout time.Duration) (Status, string) {
	r := out.Res
	a := out.Spec.Addr.String()
	switch {
	case r.Err == nil && r.Status >= 500:
		return StatusFail, fmt.Sprintf("%s answers %s with %d", a, out.Spec.Path, r.Status)
	case r.Err == nil && r.Status >= 400:
		return StatusWarn, fmt.Sprintf("%s answers %s with %d: wrong health path?", a, out.Spec.Path, r.Status)
	case r.Err == nil:
		return StatusOK, fmt.Sprintf("%s answers %s with %d in %s", a, out.Spec.Path, r.Status, roundDur(r.Latency))
	case r.Kind == probe.KindRefused:
		return StatusFail, a + " refuses connections"
	case r.Kind == probe.KindTimeout && r.Connected:
		return StatusFail, fmt.Sprintf("%s accepted but did not answer within %s", a, timeout)
	case r.Kind == probe.KindTimeout:
		return StatusFail, fmt.Sprintf("%s: connection attempt unanswered within %s", a, timeout)
	}
	return StatusFail, fmt.Sprintf("%s: %s", a, describeKind(r))
}

func describeKind(r probe.Result) string {
	switch r.Kind {
	case probe.KindReset:
		return "closed the connection without a response"
	case probe.KindProtocol:
		return "answered something that is not HTTP"
	case probe.KindUnreachable:
		return "unreachable (" + shortErr(r.Err) + ")"
	}
	return string(r.Kind) + ": " + shortErr(r.Err)
}

func hasWildcard6(socks []Socket) bool {
	return slices.ContainsFunc(socks, func(s Socket) bool { return s.Addr.Addr() == netip.IPv6Unspecified() })
}

func famName(f string) string {
	if f == "ipv4" {
		return "IPv4"
	}
	return "IPv6"
}

func otherFam(f string) string {
	if f == "ipv4" {
		return "ipv6"
	}
	return "ipv4"
}

// upstreamChecks: every upstream server against what answers.
func (j *judgement) upstreamChecks() {
	f := j.f
	if f.proxy.Kind == "" {
		return
	}
	for _, u := range f.proxy.Upstreams {
		for _, s := range u.Servers {
			out := f.probes[s.Addr]
			role := "primary"
			if s.Backup {
				role = "backup"
			}
			c := Check{ID: "upstream." + u.Name + "." + s.Addr.String(), Evidence: describeProbe(out.Spec, out.Res, f.o.ProbeTimeout)}
			st, sum := probeVerdict(out, f.o.ProbeTimeout)
			c.Status, c.Summary = st, role+" "+sum
			if st == StatusWarn {
				c.Hint = HintHealthURL
			}
			if st == StatusFail {
				if v4, v6 := onPort(f.socks, s.Addr.Port()); f.socksErr == nil {
					switch {
					case len(v4)+len(v6) == 0:
						c.Summary += "; nothing listens on port " + portString(s.Addr.Port())
					case !slices.ContainsFunc(append(v4, v6...), func(x Socket) bool { return covers(x, s.Addr) }):
						c.Summary += "; only " + describeSocks(append(v4, v6...)) + " listens"
					}
				}
				c.Fix = "see the cause above"
				if s.Backup {
					c.Status = StatusWarn
				}
			}
			j.add(c)
		}
	}
}

// configCheck says which proxy configuration was read, and every one
// looked for before it.
func (j *judgement) configCheck() {
	p := j.f.proxy
	if p.Kind == "" {
		what := "port " + portString(p.ports()[0])
		if j.f.o.URL != "" {
			what = j.f.o.URL
		}
		j.add(Check{ID: "proxy.config", Status: StatusSkip, Summary: "no proxy named: only the backend at " + what + " was checked", Hint: HintProxy})
		return
	}
	n := 0
	for _, u := range p.Upstreams {
		n += len(u.Servers)
	}
	found := p.Looked[len(p.Looked)-1]
	sum := fmt.Sprintf("%s (%s, %s)", found, plural(len(p.Upstreams), "upstream", "upstreams"), plural(n, "server", "servers"))
	if len(p.Looked) > 1 {
		sum += "; " + strings.Join(p.Looked[:len(p.Looked)-1], "; ")
	}
	j.add(Check{ID: "proxy.config", Status: StatusOK, Summary: sum, Evidence: strings.Join(p.Looked, "; ")})
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// proxyCheck: the proxy's own health.
func (j *judgement) proxyCheck() {
	f := j.f
	if f.proxy.Kind == "" {
		j.add(Check{ID: "proxy.health", Status: StatusSkip, Summary: "not checked: no proxy named, only the backend", Hint: HintProxy})
		return
	}
	if len(f.proxyProbes) == 0 {
		j.add(Check{ID: "proxy.health", Status: StatusSkip, Summary: "the " + f.proxy.Kind + " has no plain-HTTP listener to probe"})
		return
	}
	c := Check{ID: "proxy.health"}
	var ev []string
	var good, bad []outcome
	for _, o := range f.proxyProbes {
		ev = append(ev, describeProbe(o.Spec, o.Res, f.o.ProbeTimeout))
		if o.Res.Err == nil && o.Res.Status < 500 {
			good = append(good, o)
		} else {
			bad = append(bad, o)
		}
	}
	c.Evidence = strings.Join(ev, "; ")
	switch {
	case len(bad) == 0:
		c.Status, c.Summary = StatusOK, fmt.Sprintf("%s answers %s with %d", f.proxy.Kind, good[0].Spec.url(), good[0].Res.Status)
		if f.proxy.Kind == "agent" && strings.Contains(string(good[0].Res.Body), `"degraded"`) {
			c.Status, c.Summary = StatusWarn, "agent is degraded: an upstream has no live server"
		}
	case len(good) > 0 && bad[0].Res.Err != nil && bad[0].Res.Kind == probe.KindRefused:
		// [::] fell back to IPv4, or nginx listens on one family: fine.
		c.Status, c.Summary = StatusOK, fmt.Sprintf("%s answers %s with %d (%s refused)", f.proxy.Kind, good[0].Spec.url(), good[0].Res.Status, bad[0].Spec.Addr)
	case bad[0].Res.Err == nil:
		c.Status, c.Summary = StatusFail, fmt.Sprintf("%s answers %s with %d", f.proxy.Kind, bad[0].Spec.url(), bad[0].Res.Status)
		c.Fix = "see the cause above; the proxy cannot reach its upstream"
	default:
		c.Status, c.Summary = StatusFail, fmt.Sprintf("%s is not answering on %s: %s", f.proxy.Kind, bad[0].Spec.Addr, describeKind(bad[0].Res))
		c.Fix = "start the proxy: systemctl start " + proxyUnit(f.proxy.Kind)
	}
	j.add(c)
}

func proxyUnit(kind string) string {
	if kind == "agent" {
		return "edgectl-agent"
	}
	return kind
}

// ipv6Checks: the sysctls and ::1.
func (j *judgement) ipv6Checks() {
	st := j.f.v6
	c := Check{ID: "sysctl.bindv6only", Evidence: fmt.Sprintf("net.ipv6.bindv6only = %d", st.BindV6Only)}
	switch st.BindV6Only {
	case -1:
		c.Status, c.Summary, c.Evidence = StatusSkip, "no IPv6 in this kernel", "/proc/sys/net/ipv6 missing"
	case 0:
		c.Status, c.Summary = StatusOK, "0: sockets on [::] accept IPv4 unless the program sets IPV6_V6ONLY"
	default:
		c.Status, c.Summary = StatusWarn, "1: sockets on [::] refuse IPv4 unless the program clears IPV6_V6ONLY"
		c.Fix = "set net.ipv6.bindv6only = 0 in /etc/sysctl.d/ (then sysctl --system), or bind 0.0.0.0 as well"
	}
	j.add(c)
	c = Check{ID: "sysctl.disable_ipv6", Evidence: fmt.Sprintf("net.ipv6.conf.all.disable_ipv6 = %d, net.ipv6.conf.lo.disable_ipv6 = %d", st.DisableAll, st.DisableLo)}
	switch {
	case st.NoIPv6:
		c.Status, c.Summary = StatusWarn, "IPv6 is not available in this kernel (ipv6.disable=1?)"
	case st.DisableAll == 1 || st.DisableLo == 1:
		c.Status, c.Summary = StatusWarn, "IPv6 is disabled"
		c.Fix = j.only4() + ", or set net.ipv6.conf.all.disable_ipv6 = 0 and net.ipv6.conf.lo.disable_ipv6 = 0"
	default:
		c.Status, c.Summary = StatusOK, "IPv6 is enabled"
	}
	j.add(c)
	c = Check{ID: "loopback.ipv6", Evidence: "/proc/net/if_inet6"}
	if st.Loopback {
		c.Status, c.Summary = StatusOK, "::1 is configured on lo"
	} else {
		c.Status, c.Summary = StatusWarn, "::1 is not configured: [::1] upstreams cannot work"
		c.Fix = j.only4() + ", or enable IPv6 on lo"
	}
	if j.uses6Loopback() && c.Status == StatusWarn {
		c.Status = StatusFail
	}
	j.add(c)
}

// only4 is the advice to keep to IPv4 loopback, worded for the mode.
func (j *judgement) only4() string {
	if j.bare() {
		return "address the backend as 127.0.0.1 only"
	}
	return "use only 127.0.0.1 upstreams"
}

// uses6Loopback reports whether an upstream server is [::1].
func (j *judgement) uses6Loopback() bool {
	for _, u := range j.f.proxy.Upstreams {
		for _, s := range u.Servers {
			if s.Addr.Addr() == loop6 {
				return true
			}
		}
	}
	return false
}
