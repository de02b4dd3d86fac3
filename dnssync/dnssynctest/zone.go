// Package dnssynctest holds an in-memory DNS records provider for tests of
// the code that changes records (dns sync, sweep --dns, rollout.dns_drain):
// the seam a vendor's API sits behind, with failures injected per
// operation and every change reported in order.
package dnssynctest

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/edgectl/edgectl/dnsrecords"
)

// Zone is a dnsrecords.Provider in memory. The zero value is an empty
// zone; New fills one.
type Zone struct {
	// Fail, when set, is asked before every operation ("list", "add",
	// "delete"; r is the record, or only its name for a list): a non-nil
	// error fails it, changing nothing.
	Fail func(op string, r dnsrecords.Record) error
	// OnChange, when set, is told every change made, as "add A
	// 192.0.2.1" or "remove AAAA 2001:db8::1", in order.
	OnChange func(change string)

	mu   sync.Mutex
	recs []dnsrecords.Record
}

var _ dnsrecords.Provider = (*Zone)(nil)

// New returns a zone holding records written "NAME TYPE ADDRESS TTL",
// e.g. "api.example.com A 192.0.2.1 60". It panics on a malformed line.
func New(lines ...string) *Zone {
	z := &Zone{}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 4 {
			panic(fmt.Sprintf("dnssynctest: %q is not NAME TYPE ADDRESS TTL", l))
		}
		ttl, err := strconv.Atoi(f[3])
		if err != nil {
			panic(fmt.Sprintf("dnssynctest: %q: %v", l, err))
		}
		z.recs = append(z.recs, dnsrecords.Record{Name: f[0], Type: f[1], Addr: netip.MustParseAddr(f[2]), TTL: ttl})
	}
	dnsrecords.Sort(z.recs)
	return z
}

func (z *Zone) fail(op string, r dnsrecords.Record) error {
	if z.Fail == nil {
		return nil
	}
	return z.Fail(op, r)
}

// List returns name's records.
func (z *Zone) List(_ context.Context, name string) ([]dnsrecords.Record, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if err := z.fail("list", dnsrecords.Record{Name: name}); err != nil {
		return nil, err
	}
	var out []dnsrecords.Record
	for _, r := range z.recs {
		if r.Name == name {
			out = append(out, r)
		}
	}
	return out, nil
}

// Add adds r; a record already there is an error, as at Cloudflare
// ("An identical record already exists"), so a caller that adds twice is
// caught.
func (z *Zone) Add(_ context.Context, r dnsrecords.Record) (dnsrecords.Record, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if err := z.fail("add", r); err != nil {
		return r, err
	}
	if slices.ContainsFunc(z.recs, func(x dnsrecords.Record) bool { return same(x, r) }) {
		return r, fmt.Errorf("%s: an identical record already exists", r)
	}
	z.recs = append(z.recs, r)
	dnsrecords.Sort(z.recs)
	z.changed("add " + r.Type + " " + r.Addr.String())
	return r, nil
}

// Delete removes the record of r's name, type and address.
func (z *Zone) Delete(_ context.Context, r dnsrecords.Record) error {
	z.mu.Lock()
	defer z.mu.Unlock()
	if err := z.fail("delete", r); err != nil {
		return err
	}
	z.recs = slices.DeleteFunc(z.recs, func(x dnsrecords.Record) bool { return same(x, r) })
	z.changed("remove " + r.Type + " " + r.Addr.String())
	return nil
}

func (z *Zone) changed(c string) {
	if z.OnChange != nil {
		z.OnChange(c)
	}
}

func same(a, b dnsrecords.Record) bool {
	return a.Name == b.Name && a.Type == b.Type && a.Addr == b.Addr
}

// String lists the records as "TYPE ADDRESS TTL", sorted, comma-separated
// (names left out: tests of one name read it best).
func (z *Zone) String() string {
	z.mu.Lock()
	defer z.mu.Unlock()
	s := make([]string, 0, len(z.recs))
	for _, r := range z.recs {
		s = append(s, fmt.Sprintf("%s %s %d", r.Type, r.Addr, r.TTL))
	}
	return strings.Join(s, ", ")
}
