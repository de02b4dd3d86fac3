package dnsquery

import (
	"context"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/bindtest"
)

func TestAskAndNameserversAgainstBIND(t *testing.T) {
	srv := bindtest.Start(t, bindtest.Options{Records: []string{
		"api 60 IN A 192.0.2.2", "api 60 IN A 192.0.2.1", "api 300 IN AAAA 2001:db8::1",
	}})
	ctx := context.Background()
	a, err := Ask(ctx, srv.Addr, "api.example.test", "ip4", time.Second)
	if err != nil || len(a.Addrs) != 2 || a.Addrs[0].String() != "192.0.2.1" || a.TTL != 60 || !a.Authoritative {
		t.Fatalf("A: %+v %v", a, err)
	}
	a, err = Ask(ctx, srv.Addr, "nothing.example.test", "ip6", time.Second)
	if err != nil || len(a.Addrs) != 0 {
		t.Fatalf("a name without records: %+v %v", a, err)
	}
	// The zone's NS is ns1.example.test at 127.0.0.1 (on port 53, where
	// nothing needs to answer: only the discovery is checked).
	ns, err := Nameservers(ctx, srv.Addr, "example.test", time.Second)
	if err != nil || len(ns) != 1 || ns[0] != "127.0.0.1:53" {
		t.Fatalf("nameservers %v %v", ns, err)
	}
}
