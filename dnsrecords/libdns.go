package dnsrecords

import (
	"context"
	"fmt"
	"time"

	"github.com/libdns/libdns"
)

// libdnsProvider is what a libdns provider package offers.
type libdnsProvider interface {
	libdns.RecordGetter
	libdns.RecordAppender
	libdns.RecordDeleter
}

// viaLibdns adapts a libdns provider to Provider. libdns names records
// relative to the zone; Record names are absolute. The zone is passed
// without the final dot, as Cloudflare names zones.
type viaLibdns struct {
	p       libdnsProvider
	zone    string
	timeout time.Duration
	// full, when > 0, is the number of records a listing can hold at most
	// (one page): a listing that size may be cut short and is refused.
	full int
}

func (v *viaLibdns) List(ctx context.Context, name string) ([]Record, error) {
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	all, err := v.p.GetRecords(ctx, v.zone)
	if err != nil {
		return nil, err
	}
	if v.full > 0 && len(all) >= v.full {
		return nil, fmt.Errorf("the zone has %d or more records and the provider library reads one page of %d; "+
			"records follow health only in zones with fewer records (or use a zone of its own for the names)", v.full, v.full)
	}
	var out []Record
	for _, r := range all {
		a, ok := r.(libdns.Address)
		if !ok {
			if rr := r.RR(); rr.Type == TypeA || rr.Type == TypeAAAA {
				parsed, err := rr.Parse()
				if a, ok = parsed.(libdns.Address); err != nil || !ok {
					continue
				}
			} else {
				continue
			}
		}
		ip := a.IP.Unmap()
		out = append(out, Record{Name: absolute(a.Name, v.zone), Type: TypeOf(ip), Addr: ip, TTL: int(a.TTL / time.Second)})
	}
	return keep(out, name), nil
}

func (v *viaLibdns) Add(ctx context.Context, r Record) (Record, error) {
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	_, err := v.p.AppendRecords(ctx, v.zone, []libdns.Record{v.address(r)})
	return r, err
}

func (v *viaLibdns) Delete(ctx context.Context, r Record) error {
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	_, err := v.p.DeleteRecords(ctx, v.zone, []libdns.Record{v.address(r)})
	return err
}

func (v *viaLibdns) address(r Record) libdns.Address {
	return libdns.Address{Name: relative(r.Name, v.zone), TTL: time.Duration(r.TTL) * time.Second, IP: r.Addr}
}
