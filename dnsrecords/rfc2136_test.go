package dnsrecords

import (
	"context"
	"strings"
	"testing"

	"github.com/edgectl/edgectl/internal/bindtest"
)

// TestRFC2136AgainstBIND runs the provider against a real BIND primary on
// loopback: signed updates and a signed zone transfer.
func TestRFC2136AgainstBIND(t *testing.T) {
	srv := bindtest.Start(t, bindtest.Options{Records: []string{
		"api 300 IN A 192.0.2.1", `api 300 IN TXT "v=spf1 -all"`, "www 300 IN A 192.0.2.9",
	}})
	p, err := New(Config{Provider: "rfc2136", Zone: "example.test", Nameserver: srv.Addr, Env: envOf(srv.Env())})
	if err != nil {
		t.Fatal(err)
	}
	exercise(t, p)
	if got := srv.Lookup(t, "api.example.test", 1); len(got) != 1 || got[0] != "192.0.2.2" {
		t.Fatalf("BIND serves %v", got)
	}
}

// TestRFC2136WrongKey: BIND refuses an update signed with another secret;
// the error says so and shows neither secret.
func TestRFC2136WrongKey(t *testing.T) {
	srv := bindtest.Start(t, bindtest.Options{Records: []string{"api 300 IN A 192.0.2.1"}})
	env := srv.Env()
	env["RFC2136_TSIG_SECRET"] = "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZw=="
	p, err := New(Config{Provider: "rfc2136", Zone: "example.test", Nameserver: srv.Addr, Env: envOf(env)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Add(context.Background(), rec("api.example.test", "192.0.2.5", 60))
	if err == nil {
		t.Fatal("an update with a wrong key was accepted")
	}
	if _, lerr := p.List(context.Background(), "api.example.test"); lerr == nil {
		t.Fatal("a transfer with a wrong key was accepted")
	}
	for _, s := range []string{env["RFC2136_TSIG_SECRET"], srv.Secret} {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error shows a secret: %v", err)
		}
	}
	t.Logf("wrong key: %v", err)
}
