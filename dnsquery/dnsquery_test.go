package dnsquery

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/udptcp"
	"github.com/miekg/dns"
)

// serve answers name with the given A and AAAA records on 127.0.0.1 (UDP,
// with 40 AAAA records so the answer needs EDNS0 or TCP) and NXDOMAIN for
// anything else.
func serve(t *testing.T, name string, a []string, aaaa []string) string {
	t.Helper()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		if q.Name != dns.Fqdn(name) {
			m.Rcode = dns.RcodeNameError
			w.WriteMsg(m)
			return
		}
		switch q.Qtype {
		case dns.TypeA:
			for _, s := range a {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(s)})
			}
		case dns.TypeAAAA:
			for _, s := range aaaa {
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 60}, AAAA: net.ParseIP(s)})
			}
		}
		w.WriteMsg(m)
	})
	pc, ln, err := udptcp.Listen("127.0.0.1", "")
	if err != nil {
		t.Fatal(err)
	}
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: ln, Handler: h}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() { udp.Shutdown(); tcp.Shutdown() })
	return pc.LocalAddr().String()
}

func TestLookupPerFamily(t *testing.T) {
	var many []string
	for i := 1; i <= 40; i++ {
		many = append(many, netip.AddrFrom16([16]byte{0xfd, 0, 0, 0x0e, 0x0d, 0x9e, 15: byte(i)}).String())
	}
	server := serve(t, "api.fleet.test", []string{"198.18.0.11", "198.18.0.12"}, many)
	ctx := context.Background()
	v4, err := Lookup(ctx, server, "api.fleet.test", "ip4", 2*time.Second)
	if err != nil || !slices.Equal(v4, []netip.Addr{netip.MustParseAddr("198.18.0.11"), netip.MustParseAddr("198.18.0.12")}) {
		t.Fatalf("ip4: %v %v", v4, err)
	}
	v6, err := Lookup(ctx, server, "api.fleet.test", "ip6", 2*time.Second)
	if err != nil || len(v6) != 40 || !v6[0].Is6() {
		t.Fatalf("ip6: %d records %v", len(v6), err)
	}
	none, err := Lookup(ctx, server, "missing.fleet.test", "ip4", 2*time.Second)
	if err != nil || len(none) != 0 {
		t.Fatalf("NXDOMAIN must be an empty answer: %v %v", none, err)
	}
	// A server that does not answer is an error naming it, bounded by the timeout.
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	defer pc.Close()
	start := time.Now()
	if _, err := Lookup(ctx, pc.LocalAddr().String(), "api.fleet.test", "ip4", 300*time.Millisecond); err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("silent server: %v after %v", err, time.Since(start))
	}
}
