package sweep

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/edgectl/edgectl/dnsrecords"
	"github.com/edgectl/edgectl/dnssync"
	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/notify"
)

// ProbeAddrs is every fleet address with this sweep's verdict: wanted in
// DNS when its own family's probe passed. It is what `edgectl dns
// plan|sync` follows. The addresses of a host whose deploy is under way
// are held (left as they are in DNS: the deploy takes them out and puts
// them back itself); hold (may be nil) names more hosts to leave alone and
// why.
func ProbeAddrs(f *fleet.Fleet, r *Report, hold func(host string) string) []dnssync.Addr {
	return fleetAddrs(f, r, hold, func(h HostReport, family string, t Target) (bool, string, string) {
		return t.Status == StatusOK, t.Error, ""
	})
}

// StateAddrs is every fleet address with the verdict of the state: wanted
// in DNS unless it is down (fail_after consecutive failures, until
// recover_after passes). An address that failed this sweep but is not down
// yet is left as it is: kept if it is in DNS, not added if it is not (a
// host a deploy took out and left out after its gate failed stays out).
// Hosts being deployed are held, as in ProbeAddrs, including those an
// earlier sweep --dns saw deploying whose records are still out of DNS
// (State.Deploys; Update marks them). It is what `sweep --dns` follows;
// call it after Update.
func (s *State) StateAddrs(f *fleet.Fleet, r *Report, hold func(host string) string) []dnssync.Addr {
	return fleetAddrs(f, r, hold, func(h HostReport, family string, t Target) (bool, string, string) {
		ts := s.Targets[h.Name+"/"+family]
		switch {
		case ts != nil && ts.Down:
			return false, fmt.Sprintf("down for %s: %s", plural(ts.Failures, "sweep", "sweeps"), ts.LastError), ""
		case t.Status == StatusFail:
			return true, "", "failed this sweep, not down yet (sweep.fail_after)"
		}
		return true, "", ""
	})
}

// DeployHold is why a host's addresses are held while a deploy (within its
// maximum time) changes it, "" when none does: "deploying (ops@laptop,
// 42s of at most 17m0s)". A deploy past its maximum holds nothing: its
// host counts as down again.
func DeployHold(h HostReport) string {
	d := h.Deploy
	if d == nil || d.Overdue {
		return ""
	}
	who := ""
	switch {
	case d.Source == sourceState:
		who = "seen by an earlier sweep, its records still out of DNS, "
	case d.Holder != "":
		who = d.Holder + ", "
	}
	return fmt.Sprintf("deploying (%s%s of at most %s)", who, time.Duration(d.AgeMS)*time.Millisecond/time.Second*time.Second,
		time.Duration(d.MaxMS)*time.Millisecond/time.Second*time.Second)
}

// fleetAddrs pairs every fleet address with verdict's (want, why, hold);
// a host being deployed, or one hold names, holds all its addresses.
func fleetAddrs(f *fleet.Fleet, r *Report, hold func(string) string, verdict func(HostReport, string, Target) (bool, string, string)) []dnssync.Addr {
	var out []dnssync.Addr
	for i, h := range f.Hosts {
		if i >= len(r.Hosts) {
			break
		}
		hr := r.Hosts[i]
		held := DeployHold(hr)
		if held == "" && hold != nil {
			held = hold(h.Name)
		}
		for _, fa := range []struct {
			family, ip string
			t          Target
		}{{"ipv4", h.IPv4, hr.IPv4}, {"ipv6", h.IPv6, hr.IPv6}} {
			a, err := netip.ParseAddr(fa.ip)
			if err != nil {
				continue
			}
			want, why, own := verdict(hr, fa.family, fa.t)
			if held != "" {
				own = held
			}
			out = append(out, dnssync.Addr{Host: h.Name, Family: fa.family, Addr: a.Unmap(), Want: want, Why: why, Hold: own})
		}
	}
	return out
}

// DNSAction is what sweep --dns did to the records.
type DNSAction struct {
	Plan   *dnssync.Plan   `json:"plan"`
	Result *dnssync.Result `json:"result"`
	// Error is set when listing or changing the records failed (the
	// records are then as they were, unless it says otherwise).
	Error string `json:"error,omitempty"`
}

// ActDNS makes the records of the fleet's dns: names follow the state's
// verdicts through p, within the safety rules, and records what it did and
// what a rule held back in the state, with an alert for each change made,
// each removal newly held back (once, until it is no longer), and each
// record that is no fleet address (once). Call it after Update; it
// returns the new alerts (also queued).
func (s *State) ActDNS(ctx context.Context, p dnsrecords.Provider, f *fleet.Fleet, r *Report, hold func(string) string, now time.Time) (*DNSAction, []Alert) {
	act := &DNSAction{}
	s.noteDeploys(r, now)
	plan, err := dnssync.Build(ctx, p, f.DNSNames(), s.StateAddrs(f, r, hold), dnssync.PolicyOf(f.DNS, false))
	if err != nil {
		act.Error = err.Error()
		return act, nil
	}
	s.settleDeploys(r, plan)
	act.Plan = plan
	res, err := dnssync.Apply(ctx, p, plan.Changes())
	act.Result = res
	var out []Alert
	if err != nil {
		act.Error = err.Error()
		a := Alert{Kind: notify.KindDNSChange, Severity: notify.SeverityCritical, Status: "failed", Error: err.Error(), Time: now.UTC(),
			Text: "edgectl dns: changing the records failed: " + err.Error()}
		out = append(out, a)
	}
	for _, c := range res.Done {
		s.DNSLog = append(s.DNSLog, DNSLogEntry{Time: now.UTC(), Op: c.Op, Record: c.Record.String(), Host: c.Host, Reason: c.Reason})
		out = append(out, changeEvent(c, now))
	}
	if n := len(s.DNSLog); n > maxDNSLog {
		s.DNSLog = s.DNSLog[n-maxDNSLog:]
	}
	var refused, drift []string
	why := map[string]dnssync.Refusal{}
	for _, np := range plan.Names {
		for _, rf := range np.Refused {
			k := np.Name + "/" + rf.Record.Addr.String()
			refused = append(refused, k)
			why[k] = rf
		}
		for _, d := range np.Drift {
			drift = append(drift, np.Name+"/"+d.Addr.String())
		}
	}
	out = append(out, s.setOf("refused", refused, func(key, status string) Alert {
		return refusedEvent(key, why[key], status, now)
	})...)
	// Drift seen by the provider: the same keys as the resolver's view in
	// Update, so a record found both ways alerts once.
	for _, k := range drift {
		if _, known := s.Conditions["drift/"+k]; !known {
			s.Conditions["drift/"+k] = DNSDrift
			name, addr, _ := cut(k)
			out = append(out, driftEvent(name, addr, DNSDrift, now))
		}
	}
	return act, s.queue(out...)
}

func changeEvent(c dnssync.Change, now time.Time) Alert {
	a := Alert{Kind: notify.KindDNSChange, Host: c.Host, Name: c.Record.Name, Family: c.Record.Type, Address: c.Record.Addr.String(),
		Error: c.Reason, Time: now.UTC()}
	if c.Op == dnssync.OpAdd {
		a.Status, a.Severity = DNSAdded, notify.SeverityInfo
		a.Text = fmt.Sprintf("edgectl dns: added %s back (%s is healthy again)", c.Record, c.Host)
	} else {
		a.Status, a.Severity = DNSRemoved, notify.SeverityWarning
		who := c.Reason
		if c.Host != "" {
			who = c.Host + " " + c.Reason
		}
		a.Text = fmt.Sprintf("edgectl dns: removed %s (%s)", c.Record, who)
	}
	return a
}

func refusedEvent(key string, rf dnssync.Refusal, status string, now time.Time) Alert {
	name, addr, _ := cut(key)
	a := Alert{Kind: notify.KindDNSRefused, Host: rf.Host, Name: name, Family: rrType(addr), Address: addr, Status: status, Time: now.UTC()}
	if status == DNSRefused {
		a.Severity, a.Error = notify.SeverityCritical, rf.Why
		a.Text = fmt.Sprintf("edgectl dns: kept %s %s %s although %s is down: %s", name, a.Family, addr, orRecord(rf.Host), rf.Why)
	} else {
		a.Severity = notify.SeverityInfo
		a.Text = fmt.Sprintf("edgectl dns: %s %s %s is no longer held back by a safety rule", name, a.Family, addr)
	}
	return a
}

func orRecord(host string) string {
	if host == "" {
		return "it"
	}
	return host
}

// cut splits "NAME/ADDR".
func cut(k string) (name, addr string, ok bool) {
	for i := len(k) - 1; i >= 0; i-- {
		if k[i] == '/' {
			return k[:i], k[i+1:], true
		}
	}
	return k, "", false
}
