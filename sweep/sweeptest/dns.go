package sweeptest

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/edgectl/edgectl/internal/udptcp"
	"github.com/miekg/dns"
)

// DNS is a real DNS server on 127.0.0.1 answering A and AAAA from a table.
type DNS struct {
	// Addr is the server's host:port, for fleet.yaml's resolver.
	Addr string
	mu   sync.Mutex
	zone map[string][]string
}

// StartDNS serves zone (name → addresses, both families mixed) over UDP
// and TCP on 127.0.0.1 until the test ends. Unknown names get NXDOMAIN.
func StartDNS(t testing.TB, zone map[string][]string) *DNS {
	t.Helper()
	return startDNS(t, zone, func(f func() error) error { return f() })
}

// StartDNS is StartDNS on the lab's 127.0.0.1, for edgectl processes
// running inside the lab.
func (l *Lab) StartDNS(t testing.TB, zone map[string][]string) *DNS {
	t.Helper()
	return startDNS(t, zone, l.NS.Do)
}

func startDNS(t testing.TB, zone map[string][]string, in func(func() error) error) *DNS {
	t.Helper()
	d := &DNS{}
	d.Set(zone)
	var pc net.PacketConn
	var ln net.Listener
	err := in(func() (err error) {
		pc, ln, err = udptcp.Listen("127.0.0.1", "4")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	d.Addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(d.serve)
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: ln, Handler: h}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() { udp.Shutdown(); tcp.Shutdown() })
	return d
}

// Set replaces the table.
func (d *DNS) Set(zone map[string][]string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.zone = map[string][]string{}
	for k, v := range zone {
		d.zone[dns.Fqdn(strings.ToLower(k))] = v
	}
}

func (d *DNS) serve(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	d.mu.Lock()
	addrs, ok := d.zone[strings.ToLower(r.Question[0].Name)]
	d.mu.Unlock()
	if !ok {
		m.Rcode = dns.RcodeNameError
	}
	q := r.Question[0]
	for _, s := range addrs {
		a := netip.MustParseAddr(s)
		hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: 60}
		switch {
		case a.Is4() && q.Qtype == dns.TypeA:
			hdr.Rrtype = dns.TypeA
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: a.AsSlice()})
		case a.Is6() && q.Qtype == dns.TypeAAAA:
			hdr.Rrtype = dns.TypeAAAA
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
		}
	}
	if w.LocalAddr().Network() == "udp" {
		size := dns.MinMsgSize
		if opt := r.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
		m.Truncate(size) // sets TC when the answer does not fit, as real servers do
	}
	_ = w.WriteMsg(m)
}
