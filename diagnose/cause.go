package diagnose

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/edgectl/edgectl/probe"
)

// cause combines the facts into the most likely root cause, nil when the
// host looks healthy. Order matters: a failing primary server explains a
// 502 best; then a wrong program on the port, the keepalive race, the
// proxy itself, the error log's history, a failing backup and the
// certificate.
func (j *judgement) cause() *Cause {
	f := j.f
	var backup *Cause
	for _, u := range f.proxy.Upstreams {
		for _, s := range orderedServers(u) {
			out := f.probes[s.Addr]
			if c := j.expectCause(s.Addr.Port()); c != nil {
				return c
			}
			if answers(out.Res) {
				continue
			}
			c := j.serverCause(u, s, out)
			if !s.Backup {
				return c
			}
			if backup == nil {
				backup = c
				backup.Summary = "backup " + backup.Summary + " (failover will not work)"
			}
		}
	}
	if c := j.keepaliveCause(); c != nil {
		return c
	}
	if c := j.proxyCause(); c != nil {
		return c
	}
	if c := j.logCause(); c != nil {
		return c
	}
	if backup != nil {
		return backup
	}
	for _, c := range j.checks {
		if c.ID == "tls.cert" && c.Status == StatusFail {
			return &Cause{ID: CauseCertificate, Summary: c.Summary, Fix: c.Fix}
		}
	}
	return nil
}

// answers reports whether a health probe got an HTTP answer below 500.
func answers(r probe.Result) bool {
	return r.Err == nil && r.Status > 0 && r.Status < 500
}

// ownerOf returns the process whose socket accepts connections to a.
func (j *judgement) ownerOf(a netip.AddrPort) *Process {
	for _, s := range j.f.socks {
		if s.Addr.Addr() == a.Addr() && s.Addr.Port() == a.Port() && s.Owner != nil {
			return s.Owner
		}
	}
	for _, s := range j.f.socks {
		if covers(s, a) && s.Owner != nil {
			return s.Owner
		}
	}
	return nil
}

// upstreamWhere names an upstream for fixes; "" when no proxy was named
// (a bare port or URL), where there is no upstream to point at.
func (j *judgement) upstreamWhere(u *Upstream) string {
	switch j.f.proxy.Kind {
	case "agent":
		return fmt.Sprintf("upstream %s of %s", u.Name, j.f.proxy.Source)
	case "nginx":
		if u.Where != "" {
			return fmt.Sprintf("upstream %s (%s)", u.Name, u.Where)
		}
		return "upstream " + u.Name
	}
	return ""
}

// bare reports whether only a port or URL was named: no proxy
// configuration was read, so nothing may be said about one.
func (j *judgement) bare() bool { return j.f.proxy.Kind == "" }

// serverCause explains why server s of u does not answer.
func (j *judgement) serverCause(u *Upstream, s Server, out outcome) *Cause {
	f := j.f
	r := out.Res
	port := s.Addr.Port()
	p := portString(port)
	fam := family(s.Addr.Addr())
	v4, v6 := onPort(f.socks, port)
	where := j.upstreamWhere(u)

	if fam == "ipv6" && s.Addr.Addr().IsLoopback() && f.v6.disabled() {
		why := "IPv6 is disabled (net.ipv6.conf.all.disable_ipv6 = 1)"
		switch {
		case f.v6.NoIPv6:
			why = "the kernel has no IPv6 (ipv6.disable=1)"
		case f.v6.DisableAll != 1 && f.v6.DisableLo == 1:
			why = "IPv6 is disabled on lo (net.ipv6.conf.lo.disable_ipv6 = 1)"
		case f.v6.DisableAll != 1 && f.v6.DisableLo != 1:
			why = "::1 is not configured on lo"
		}
		reenable := "re-enable IPv6: net.ipv6.conf.all.disable_ipv6 = 0 and net.ipv6.conf.lo.disable_ipv6 = 0 in /etc/sysctl.d/, then sysctl --system"
		if j.bare() {
			return &Cause{ID: CauseIPv6Disabled,
				Summary: fmt.Sprintf("%s, so [::1]:%s cannot be reached: %s", why, p, describeKind(r)),
				Fix:     fmt.Sprintf("address the backend as 127.0.0.1:%s, not [::1]:%s, or %s", p, p, reenable)}
		}
		return &Cause{ID: CauseIPv6Disabled,
			Summary: fmt.Sprintf("%s but %s uses [::1]:%s: %s", why, where, p, describeKind(r)),
			Fix:     fmt.Sprintf("use 127.0.0.1:%s in %s (drop [::1]:%s), or %s", p, where, p, reenable)}
	}
	if rules := parseFirewall(f.fwText, port).drops(fam); len(rules) > 0 {
		other := "ipv4"
		if fam == "ipv4" {
			other = "ipv6"
		}
		only := ""
		if len(parseFirewall(f.fwText, port).drops(other)) == 0 {
			only = " only"
		}
		return &Cause{ID: "firewall-" + fam,
			Summary: fmt.Sprintf("a firewall rule drops TCP port %s on %s%s, so %s times out: %s %s", p, famName(fam), only, s.Addr, rules[0].Source, rules[0].Text),
			Fix:     fmt.Sprintf("delete that %s rule or accept port %s on lo before it (the backend itself is fine on %s)", rules[0].Source, p, famName(otherFam(fam)))}
	}
	if f.socksErr == nil && len(v4)+len(v6) == 0 {
		if cs := f.candidates[port]; len(cs) > 0 {
			c := cs[0]
			if j.bare() {
				return &Cause{ID: CauseWrongPort,
					Summary: fmt.Sprintf("nothing listens on port %s, but %s listens on port %d and answers %s with %d", p, c.Sock.Owner.String(), c.Sock.Addr.Port(), c.Out.Spec.Path, c.Out.Res.Status),
					Fix:     fmt.Sprintf("the backend seems to run on port %d: address it there, or start it on port %s", c.Sock.Addr.Port(), p)}
			}
			return &Cause{ID: CauseWrongPort,
				Summary: fmt.Sprintf("%s points at port %s where nothing listens, but %s listens on port %d and answers %s with %d", where, p, c.Sock.Owner.String(), c.Sock.Addr.Port(), c.Out.Spec.Path, c.Out.Res.Status),
				Fix:     fmt.Sprintf("change the port in %s from %s to %d (or start the backend on %s)", where, p, c.Sock.Addr.Port(), p)}
		}
		fix := "start the backend so it listens on port " + p
		for _, un := range f.units {
			if un.Explicit || un.ActiveState != "active" {
				fix = fmt.Sprintf("%s is %s: journalctl -u %s -n 50, then systemctl restart %s", un.ID, un.ActiveState, un.ID, un.ID)
				break
			}
		}
		summary := fmt.Sprintf("nothing listens on port %s: %s refuses connections (%s)", p, s.Addr, where)
		if j.bare() {
			summary = fmt.Sprintf("nothing listens on port %s: %s refuses connections", p, s.Addr)
		}
		return &Cause{ID: CauseNothingListening, Summary: summary, Fix: fix + "; then check listen.* again"}
	}
	if r.Kind == probe.KindRefused && f.socksErr == nil {
		coveredBy := slices.ContainsFunc(append(slices.Clone(v4), v6...), func(x Socket) bool { return covers(x, s.Addr) })
		switch {
		case fam == "ipv6" && len(v6) == 0 && len(v4) > 0:
			return j.ipv4OnlyCause(u, s, v4)
		case fam == "ipv4" && len(v4) == 0 && hasWildcard6(v6):
			return j.v6onlyCause(u, s, v6)
		case fam == "ipv4" && len(v4) == 0 && len(v6) > 0 && j.bare():
			return &Cause{ID: CauseIPv6OnlyBackend,
				Summary: fmt.Sprintf("the backend listens on IPv6 only (%s): %s is refused", describeSocks(v6), s.Addr),
				Fix:     fmt.Sprintf("make the backend listen on 0.0.0.0:%s as well, or address it as [::1]:%s only", p, p)}
		case fam == "ipv4" && len(v4) == 0 && len(v6) > 0:
			return &Cause{ID: CauseIPv6OnlyBackend,
				Summary: fmt.Sprintf("the backend listens on IPv6 only (%s) but %s uses %s, which is refused", describeSocks(v6), where, s.Addr),
				Fix:     fmt.Sprintf("put [::1]:%s first in %s, or make the backend listen on 0.0.0.0:%s as well", p, where, p)}
		case !coveredBy:
			fix := fmt.Sprintf("point %s at an address the backend listens on, or bind it to %s too", where, s.Addr.Addr())
			if j.bare() {
				fix = fmt.Sprintf("bind the backend to %s too, or address it where it listens", s.Addr.Addr())
			}
			return &Cause{ID: CauseNothingListening,
				Summary: fmt.Sprintf("nothing listens on %s: port %s is bound only to %s", s.Addr, p, describeSocks(append(v4, v6...))),
				Fix:     fix}
		}
	}
	switch {
	case r.Kind == probe.KindTimeout && !r.Connected:
		return &Cause{ID: "firewall-" + fam,
			Summary: fmt.Sprintf("connections to %s time out (packets dropped, typical of a firewall rule) although something listens on port %s", s.Addr, p),
			Fix:     "look for a DROP rule for port " + p + " (nft list ruleset; " + map[string]string{"ipv4": "iptables-save", "ipv6": "ip6tables-save"}[fam] + ") and delete it"}
	case r.Kind == probe.KindTimeout:
		return &Cause{ID: CauseBackendTimeout,
			Summary: fmt.Sprintf("the backend accepts connections on %s but does not answer %s within %s (the proxy returns 504)", s.Addr, out.Spec.Path, f.o.ProbeTimeout),
			Fix:     fmt.Sprintf("the backend %s is stuck or overloaded: check its logs and worker count, restart it", j.ownerOf(s.Addr).String())}
	case r.Err == nil && r.Status >= 500:
		return &Cause{ID: CauseBackendUnhealthy,
			Summary: fmt.Sprintf("the backend answers %s on %s with %d", out.Spec.Path, s.Addr, r.Status),
			Fix:     fmt.Sprintf("the backend %s reports itself unhealthy: check its logs and its dependencies (database, disk)", j.ownerOf(s.Addr).String())}
	case r.Kind == probe.KindReset:
		return &Cause{ID: CauseBackendReset,
			Summary: fmt.Sprintf("the backend on %s closes connections without answering %s", s.Addr, out.Spec.Path),
			Fix:     fmt.Sprintf("check %s: it crashes or rejects requests (its logs, ulimit -n, worker count)", j.ownerOf(s.Addr).String())}
	case r.Kind == probe.KindProtocol:
		return &Cause{ID: CauseNotHTTP,
			Summary: fmt.Sprintf("%s holds %s but does not answer HTTP", j.ownerOf(s.Addr).String(), s.Addr),
			Fix:     j.notHTTPFix(where)}
	}
	return &Cause{ID: CauseUpstreamRefused,
		Summary: fmt.Sprintf("%s: %s", s.Addr, describeKind(r)),
		Fix:     "see the checks below"}
}

// notHTTPFix moves the backend (and the upstream pointing at it) away
// from a port another program holds.
func (j *judgement) notHTTPFix(where string) string {
	if j.bare() {
		return "stop that program, or move the backend to a free port"
	}
	return "stop that program or move the backend and " + where + " to a free port"
}

// programNote says how the program on the port treats "[::]".
func programNote(p *Process, port string) string {
	switch p.Kind() {
	case KindGo:
		return "or make it listen on [::]:" + port + ": Go's [::] listener is dual-stack whatever net.ipv6.bindv6only says"
	case KindNode:
		return "or make it listen on '::': Node's '::' is dual-stack"
	case KindAsyncio:
		return "do not switch it to --host ::, where asyncio/uvicorn set IPV6_V6ONLY and would then refuse IPv4"
	case KindNginx:
		return "or add `listen [::]:" + port + ";` next to the IPv4 listen: nginx's [::] is IPv6-only by default"
	case KindPython:
		return "binding :: instead would follow net.ipv6.bindv6only (dual-stack only while it is 0)"
	}
	return "this works whatever the program does with '::'"
}

// ipv4OnlyCause is the seed outage: an IPv4-only backend behind [::1].
func (j *judgement) ipv4OnlyCause(u *Upstream, s Server, v4 []Socket) *Cause {
	p := portString(s.Addr.Port())
	owner := v4[0].Owner
	summary := fmt.Sprintf("the backend listens on IPv4 only (%s) but %s tries %s first, which is refused", describeSocks(v4), j.upstreamWhere(u), s.Addr)
	if s.Backup {
		summary = fmt.Sprintf("the backend listens on IPv4 only (%s) so %s in %s is refused", describeSocks(v4), s.Addr, j.upstreamWhere(u))
	}
	if j.f.proxy.Kind == "" {
		summary = fmt.Sprintf("the backend listens on IPv4 only (%s): [::1]:%s is refused while 127.0.0.1:%s answers", describeSocks(v4), p, p)
	}
	fix := fmt.Sprintf("put 127.0.0.1:%s first in %s and make [::1]:%s a backup or drop it; %s", p, j.upstreamWhere(u), p, programNote(owner, p))
	if j.bare() {
		fix = fmt.Sprintf("address the backend as 127.0.0.1:%s first ([::1]:%s only as a backup, or not at all); %s", p, p, programNote(owner, p))
	}
	return &Cause{ID: CauseIPv4OnlyBackend, Summary: summary, Fix: fix}
}

// v6onlyCause: a [::] listener that refuses IPv4, by sysctl or by its own
// socket option.
func (j *judgement) v6onlyCause(u *Upstream, s Server, v6 []Socket) *Cause {
	p := portString(s.Addr.Port())
	owner := v6[0].Owner
	where := j.upstreamWhere(u)
	usedBy, firstIn := " (used by "+where+")", " first in "+where
	if j.bare() {
		usedBy, firstIn = "", " first wherever the backend is addressed"
	}
	if j.f.v6.BindV6Only == 1 && owner.Kind() != KindAsyncio && owner.Kind() != KindNginx {
		return &Cause{ID: CauseBindV6Only,
			Summary: fmt.Sprintf("net.ipv6.bindv6only = 1, so %s on [::]:%s accepts IPv6 only and %s%s is refused", owner.String(), p, s.Addr, usedBy),
			Fix: fmt.Sprintf("set net.ipv6.bindv6only = 0 (echo 'net.ipv6.bindv6only = 0' > /etc/sysctl.d/60-edgectl.conf; sysctl --system) and restart %s, or make it bind 0.0.0.0:%s as well, or put [::1]:%s%s",
				owner.Name(), p, p, firstIn)}
	}
	var how, fix string
	switch owner.Kind() {
	case KindAsyncio:
		how = "asyncio/uvicorn set IPV6_V6ONLY on \"::\""
		keep := " first in " + where
		if j.bare() {
			keep = ""
		}
		fix = fmt.Sprintf("run it with --host 0.0.0.0 and keep 127.0.0.1:%s%s; or bind both (uvicorn --fd/two sockets, hypercorn --bind 0.0.0.0:%s --bind [::]:%s); or put [::1]:%s%s", p, keep, p, p, p, firstIn)
	case KindNginx:
		how = "nginx's listen [::] is ipv6only=on by default"
		fix = fmt.Sprintf("add `listen %s;` (or `listen [::]:%s ipv6only=off;`) to that server, or put [::1]:%s%s", p, p, p, firstIn)
	default:
		how = "the program set IPV6_V6ONLY on its socket itself"
		fix = fmt.Sprintf("make %s bind 0.0.0.0:%s as well (or clear IPV6_V6ONLY), or put [::1]:%s%s", owner.Name(), p, p, firstIn)
	}
	return &Cause{ID: CauseV6OnlySocket,
		Summary: fmt.Sprintf("%s listens on [::]:%s with an IPv6-only socket (%s; net.ipv6.bindv6only is %d), so %s%s is refused", owner.String(), p, how, j.f.v6.BindV6Only, s.Addr, usedBy),
		Fix:     fix}
}

// expectCause: the port is held by another program than expected, or by
// the proxy itself.
func (j *judgement) expectCause(port uint16) *Cause {
	f := j.f
	v4, v6 := onPort(f.socks, port)
	socks := append(v4, v6...)
	if len(socks) == 0 || socks[0].Owner == nil {
		return nil
	}
	owner := socks[0].Owner
	want := f.o.Expect
	if want == "" {
		for _, u := range f.units {
			if u.Explicit && u.ExecStart != "" {
				want = u.ExecStart
			}
		}
	}
	p := portString(port)
	if want != "" && !strings.Contains(owner.Exe, want) && !strings.Contains(owner.Cmdline, want) {
		return &Cause{ID: CausePortTaken,
			Summary: fmt.Sprintf("port %s is held by %s, not by %s: exe %s, command line %q", p, owner.String(), want, owner.Exe, owner.Cmdline),
			Fix:     fmt.Sprintf("stop pid %d (or move it to another port), then start %s on port %s", owner.PID, want, p)}
	}
	if kind := owner.Kind(); f.proxy.Kind == "nginx" && kind == KindNginx || f.proxy.Kind == "agent" && owner.Name() == "edgectl" {
		return &Cause{ID: CausePortTaken,
			Summary: fmt.Sprintf("port %s, the backend's, is held by the proxy itself (%s): requests loop", p, owner.String()),
			Fix:     fmt.Sprintf("remove the proxy's listener on port %s, or move the backend and its upstream to another port", p)}
	}
	return nil
}

// keepaliveCause: the backend closes idle connections before the proxy.
func (j *judgement) keepaliveCause() *Cause {
	for _, c := range j.checks {
		if strings.HasPrefix(c.ID, "keepalive") && (c.Status == StatusFail || c.Status == StatusWarn && j.f.proxy.Kind == "nginx") {
			note := ""
			if j.f.proxy.Kind == "agent" {
				note = " (the agent replays such requests once, so only some fail)"
			}
			return &Cause{ID: CauseKeepaliveRace,
				Summary: c.Summary + ": the proxy reuses connections the backend is closing, sporadic 502s" + note,
				Fix:     c.Fix}
		}
	}
	return nil
}

// proxyCause: the backend answers, the proxy does not.
func (j *judgement) proxyCause() *Cause {
	for _, c := range j.checks {
		if c.ID == "proxy.health" && c.Status == StatusFail {
			id := CauseProxyDown
			if strings.Contains(c.Summary, " answers ") {
				id = CauseProxyError
			}
			return &Cause{ID: id, Summary: c.Summary + " while the backend answers", Fix: c.Fix}
		}
	}
	return nil
}

// logCause: nothing is wrong now, but the error log says what was.
func (j *judgement) logCause() *Cause {
	s := j.f.log
	if s == nil || len(s.Counts) == 0 {
		return nil
	}
	top := s.Counts[0]
	summary := fmt.Sprintf("the error log has %d× %q within %s", top.Count, top.Pattern.Match, j.f.o.LogWindow)
	if top.Upstream != "" {
		summary += " (last " + top.Last + ", upstream " + top.Upstream + ")"
	}
	summary += ": " + top.Pattern.What + "; the backend answers its health path now"
	return &Cause{ID: top.Pattern.Cause, Summary: summary, Fix: logFix(top.Pattern.Key)}
}
