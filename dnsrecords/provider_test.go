package dnsrecords

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// envOf is an environment holding exactly m.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func rec(name, addr string, ttl int) Record {
	a := netip.MustParseAddr(addr)
	return Record{Name: name, Type: TypeOf(a), Addr: a, TTL: ttl}
}

// show lists records as "name type address ttl", one a line, IDs left out.
func show(recs []Record) string {
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&b, "%s %d\n", r, r.TTL)
	}
	return b.String()
}

// exercise runs the same story against any provider whose zone
// example.test starts with api.example.test A 192.0.2.1 (TTL 300), a TXT
// record on the same name and www.example.test A 192.0.2.9: list, add an A
// and an AAAA, delete one record found by value and one by ID, delete one
// that is not there, list again. (An added record takes its RRset's TTL:
// in DNS all records of a name and type share one.)
func exercise(t *testing.T, p Provider) {
	t.Helper()
	ctx := context.Background()
	const name = "api.example.test"
	got, err := p.List(ctx, name)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if want := "api.example.test A 192.0.2.1 300\n"; show(got) != want {
		t.Fatalf("first list:\n%swant\n%s", show(got), want)
	}
	if _, err := p.Add(ctx, rec(name, "192.0.2.2", 300)); err != nil {
		t.Fatalf("add A: %v", err)
	}
	v6, err := p.Add(ctx, rec(name, "2001:db8::2", 60))
	if err != nil {
		t.Fatalf("add AAAA: %v", err)
	}
	got, err = p.List(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if want := "api.example.test A 192.0.2.1 300\napi.example.test A 192.0.2.2 300\napi.example.test AAAA 2001:db8::2 60\n"; show(got) != want {
		t.Fatalf("after adding:\n%swant\n%s", show(got), want)
	}
	if err := p.Delete(ctx, rec(name, "192.0.2.1", 300)); err != nil {
		t.Fatalf("delete by value: %v", err)
	}
	if err := p.Delete(ctx, v6); err != nil {
		t.Fatalf("delete by ID: %v", err)
	}
	if err := p.Delete(ctx, rec(name, "192.0.2.77", 60)); err != nil {
		t.Fatalf("deleting a record that is not there: %v", err)
	}
	got, err = p.List(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if want := "api.example.test A 192.0.2.2 300\n"; show(got) != want {
		t.Fatalf("after deleting:\n%swant\n%s", show(got), want)
	}
	other, err := p.List(ctx, "www.example.test")
	if err != nil || show(other) != "www.example.test A 192.0.2.9 300\n" {
		t.Fatalf("another name was touched: %v\n%s", err, show(other))
	}
}

func TestNewNeedsCredentials(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Provider: "route53"}, `DNS provider "route53" is not one of alidns, cloudflare, rfc2136, tencentcloud`},
		{Config{Provider: "cloudflare", Zone: "example.test"}, "DNS provider cloudflare: DNS provider credentials: CLOUDFLARE_DNS_API_TOKEN (or CF_DNS_API_TOKEN) is not set; export it"},
		{Config{Provider: "alidns", Zone: "example.test", Env: envOf(map[string]string{"ALICLOUD_ACCESS_KEY": "AKID"})},
			"DNS provider alidns: DNS provider credentials: ALICLOUD_SECRET_KEY is not set; export it"},
		{Config{Provider: "tencentcloud", Zone: "example.test", Required: []string{"TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"}},
			"DNS provider credentials: TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY not set in the environment (dns.credentials_env); export them"},
		{Config{Provider: "rfc2136", Zone: "example.test"}, "DNS provider rfc2136: rfc2136 needs dns.nameserver (the primary's host:port)"},
		{Config{Provider: "rfc2136", Zone: "example.test", Nameserver: "127.0.0.1:53", Env: envOf(map[string]string{
			"RFC2136_TSIG_KEY": "k.", "RFC2136_TSIG_SECRET": "c2VjcmV0LXZhbHVl", "RFC2136_TSIG_ALGORITHM": "md5"})},
			`DNS provider rfc2136: DNS provider credentials: RFC2136_TSIG_ALGORITHM "md5" is not one of hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512`},
		{Config{Provider: "cloudflare", Zone: "example.test", Env: envOf(map[string]string{"CLOUDFLARE_API_KEY": "global-key-SECRET", "CLOUDFLARE_EMAIL": "a@b.c"})},
			"DNS provider cloudflare: DNS provider credentials: CLOUDFLARE_API_KEY (a global API key) is not supported for records: create an API token with Zone.DNS:Edit on example.test and export CLOUDFLARE_DNS_API_TOKEN"},
	} {
		if tc.c.Env == nil {
			tc.c.Env = envOf(nil)
		}
		_, err := New(tc.c)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: err\n%v\nwant\n%s", tc.c.Provider, err, tc.want)
		}
		if err != nil && tc.c.Provider != "route53" && tc.c.Provider != "rfc2136" && !errors.Is(err, ErrCredentials) {
			t.Errorf("%s: %v is not ErrCredentials", tc.c.Provider, err)
		}
	}
}
