package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/edgectl/edgectl/dnsrecords"
	"github.com/edgectl/edgectl/dnssync"
	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/provision"
)

// dnsDrainSetup builds rollout.dns_drain's provider and checks that it
// answers (it lists the names' records) before any host is touched:
// missing credentials are a configuration error (exit 2), a provider that
// cannot be used a problem (exit 1). The wait for the records' TTL is
// bounded by their TTL now (or dns.ttl), at most provision.MaxDNSWait.
func dnsDrainSetup(ctx context.Context, fl *fleet.Fleet, newProvider func(*fleet.Fleet) (dnsrecords.Provider, error)) (*provision.DNSDrain, error) {
	if newProvider == nil {
		newProvider = fleetProvider
	}
	p, err := newProvider(fl)
	if err != nil {
		return nil, usageError(fmt.Errorf("rollout.dns_drain: %w; nothing was changed on any host", err))
	}
	names := fl.DNSNames()
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ttl, err := dnssync.RecordTTL(lctx, p, names)
	if err != nil {
		return nil, &ExitError{Code: ExitProblem, Err: fmt.Errorf("rollout.dns_drain: the DNS provider %s cannot be used: %w; nothing was changed on any host (check dns: and the credentials, or set rollout.dns_drain: false)",
			fl.DNS.Provider, err)}
	}
	wait := max(ttl, time.Duration(fl.DNS.TTL)*time.Second)
	return &provision.DNSDrain{Provider: p, Names: names, Policy: dnssync.PolicyOf(fl.DNS, false), MaxWait: min(wait, provision.MaxDNSWait)}, nil
}

// thinCountdowns passes every event to a terminal (it rewrites the host's
// line in place) but only every tenth second of a countdown to a log.
func thinCountdowns(ios *IOStreams, next func(provision.Event)) func(provision.Event) {
	if ios.IsStderrTTY() {
		return next
	}
	return func(e provision.Event) {
		if e.Left > 0 && e.Left%(10*time.Second) != 0 {
			return
		}
		next(e)
	}
}

// printDrainPlan is a planned host's rollout.dns_drain in a dry run.
func printDrainPlan(w io.Writer, d *provision.HostDNS) {
	if d == nil {
		return
	}
	switch {
	case d.Error != "":
	case len(d.Removed) == 0:
		fmt.Fprintf(w, "   dns_drain: none of its records is in DNS, nothing to take out\n")
	default:
		fmt.Fprintf(w, "   dns_drain: takes out %s, waits %s (their TTL), puts them back after the gate\n",
			strings.Join(d.Removed, ", "), time.Duration(d.WaitMS)*time.Millisecond)
	}
	for _, k := range d.Kept {
		fmt.Fprintf(w, "   dns_drain: keeps %s\n", k)
	}
}

// leftOut reports whether a host's records are out of DNS at the end of
// the run.
func leftOut(h provision.HostResult) bool { return h.DNS != nil && len(h.DNS.LeftOut) > 0 }

// dnsSummary is the closing line about records left out of DNS ("" when
// none are).
func (r *rollouter) dnsSummary(res *provision.Result) string {
	var hosts []string
	n := 0
	for _, h := range res.Hosts {
		if leftOut(h) {
			hosts = append(hosts, h.Name)
			n += len(h.DNS.LeftOut)
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("DNS: %d record(s) of %s left out of DNS (see above); the next deploy puts them back once the host passes its gate, or edgectl dns sync %s once it is healthy",
		n, strings.Join(hosts, ", "), r.fleetPathOr("fleet.yaml"))
}

// errNoDNS is returned when rollout.dns_drain is set without dns: (the
// fleet's validation already refuses it).
var errNoDNS = errors.New("rollout.dns_drain needs a dns: section")
