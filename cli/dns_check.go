// dns check: every resolver's view of the records, side by side.

package cli

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/edgectl/edgectl/dnsquery"
	"github.com/edgectl/edgectl/dnsrecords"
	"github.com/edgectl/edgectl/fleet"
)

// dnsCheckOutput is `dns check --json`.
type dnsCheckOutput struct {
	Names    []dnsCheckName `json:"names"`
	Warnings []string       `json:"warnings"`
	// Status is ok when every resolver serves exactly the records.
	Status string    `json:"status"`
	Error  *dnsError `json:"error,omitempty"`
}

type dnsCheckName struct {
	Name string `json:"name"`
	// Records are the provider's A and AAAA records: the truth.
	Records   []dnsrecords.Record `json:"records"`
	Resolvers []dnsResolverView   `json:"resolvers"`
}

// dnsResolverView is one resolver's answer for one name.
type dnsResolverView struct {
	Resolver string   `json:"resolver"`
	A        []string `json:"a"`
	AAAA     []string `json:"aaaa"`
	TTL      uint32   `json:"ttl"`
	// Status: ok (the same set), stale (serves an address that is no
	// longer a record), behind (lacks a record), fail (no answer).
	Status string `json:"status"`
	// Stale are addresses it serves that are no record any more.
	Stale []string `json:"stale"`
	// Missing are records it does not serve yet.
	Missing []string `json:"missing"`
	Error   string   `json:"error,omitempty"`
}

// dnsCheck compares each resolver's answers with the provider's records.
func dnsCheck(ctx context.Context, opts *dnsOptions, f *fleet.Fleet, prov dnsrecords.Provider) error {
	resolvers := opts.Resolvers
	if len(resolvers) == 0 {
		var err error
		if resolvers, err = dnsquery.Nameservers(ctx, f.Resolver, f.DNS.Zone, opts.Timeout); err != nil {
			return dnsFail(ExitProblem, err)
		}
	}
	out := dnsCheckOutput{Names: []dnsCheckName{}, Warnings: []string{}, Status: "ok"}
	for _, name := range f.DNSNames() {
		recs, err := prov.List(ctx, name)
		if err != nil {
			return dnsFail(ExitProblem, fmt.Errorf("read the records: %w", err))
		}
		n := dnsCheckName{Name: name, Records: nonNilRecords(recs), Resolvers: []dnsResolverView{}}
		truth := map[netip.Addr]bool{}
		ttl := map[string]int{}
		for _, r := range recs {
			truth[r.Addr] = true
			ttl[r.Type] = max(ttl[r.Type], r.TTL)
		}
		for _, typ := range []string{dnsrecords.TypeA, dnsrecords.TypeAAAA} {
			if ttl[typ] > fleet.DNSTTLWarn {
				out.Warnings = append(out.Warnings, fmt.Sprintf("%s %s records have TTL %d s: resolvers keep a removed address that long; lower it to %d s or less",
					name, typ, ttl[typ], fleet.DNSTTLWarn))
			}
		}
		for _, res := range resolvers {
			v := dnsResolverView{Resolver: res, A: []string{}, AAAA: []string{}, Stale: []string{}, Missing: []string{}, Status: "ok"}
			served := map[netip.Addr]bool{}
			for _, fam := range []string{"ip4", "ip6"} {
				ans, err := dnsquery.Ask(ctx, res, name, fam, opts.Timeout)
				if err != nil {
					v.Status, v.Error = "fail", err.Error()
					continue
				}
				v.TTL = max(v.TTL, ans.TTL)
				for _, a := range ans.Addrs {
					served[a] = true
					if fam == "ip4" {
						v.A = append(v.A, a.String())
					} else {
						v.AAAA = append(v.AAAA, a.String())
					}
					if !truth[a] {
						v.Stale = append(v.Stale, a.String())
					}
				}
			}
			if v.Status != "fail" {
				for _, r := range recs {
					if !served[r.Addr] {
						v.Missing = append(v.Missing, r.Addr.String())
					}
				}
				switch {
				case len(v.Stale) > 0:
					v.Status = "stale"
				case len(v.Missing) > 0:
					v.Status = "behind"
				}
			}
			if v.Status != "ok" {
				out.Status = "problem"
			}
			n.Resolvers = append(n.Resolvers, v)
		}
		out.Names = append(out.Names, n)
	}
	if err := printDNSCheck(opts, out); err != nil {
		return err
	}
	if out.Status != "ok" {
		return &ExitError{Code: ExitProblem, Err: fmt.Errorf("")}
	}
	return nil
}

func printDNSCheck(opts *dnsOptions, out dnsCheckOutput) error {
	if opts.JSON {
		return writeJSON(opts.IO.Out, out)
	}
	var b strings.Builder
	for _, n := range out.Names {
		var a, aaaa []string
		for _, r := range n.Records {
			if r.Type == dnsrecords.TypeA {
				a = append(a, r.Addr.String())
			} else {
				aaaa = append(aaaa, r.Addr.String())
			}
		}
		fmt.Fprintf(&b, "%s\n", n.Name)
		rows := [][]string{{"records (provider)", list(a), list(aaaa), "", ""}}
		for _, v := range n.Resolvers {
			status := v.Status
			switch v.Status {
			case "stale":
				status = "stale: still serves " + strings.Join(v.Stale, ", ")
			case "behind":
				status = "behind: lacks " + strings.Join(v.Missing, ", ")
			case "fail":
				status = "fail: " + v.Error
			}
			rows = append(rows, []string{v.Resolver, list(v.A), list(v.AAAA), fmt.Sprint(v.TTL), status})
		}
		var tb strings.Builder
		if err := writeTable(&tb, false, []string{"resolver", "a", "aaaa", "ttl", "status"}, rows); err != nil {
			return err
		}
		for _, line := range strings.Split(strings.TrimSuffix(tb.String(), "\n"), "\n") {
			b.WriteString("  " + line + "\n")
		}
	}
	for _, w := range out.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	if out.Status == "ok" {
		b.WriteString("check: every resolver serves the records\n")
	} else {
		b.WriteString("check: some resolvers disagree with the records (propagation pending, or a cache)\n")
	}
	_, err := io.WriteString(opts.IO.Out, b.String())
	return err
}

func list(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, " ")
}

func nonNilRecords(r []dnsrecords.Record) []dnsrecords.Record {
	if r == nil {
		return []dnsrecords.Record{}
	}
	return r
}
