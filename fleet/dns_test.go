package fleet

import (
	"reflect"
	"testing"
)

func TestDNSAndAlertsDefaults(t *testing.T) {
	f := mustLoad(t, "dns.yaml")
	want := &DNS{
		Provider: "rfc2136", Zone: "example.com", TTL: 60, Nameserver: "[2001:db8::53]:53",
		CredentialsEnv: []string{"RFC2136_TSIG_KEY", "RFC2136_TSIG_SECRET"}, MinHealthy: 1, MaxRemove: "33%",
	}
	if !reflect.DeepEqual(f.DNS, want) {
		t.Errorf("dns = %+v\nwant %+v", f.DNS, want)
	}
	if got := f.DNSNames(); !reflect.DeepEqual(got, []string{"api.example.com"}) {
		t.Errorf("names default to the domains without wildcards: %q", got)
	}
	if !f.Rollout.DNSDrain {
		t.Error("rollout.dns_drain lost")
	}
	if len(f.Alerts) != 4 || f.Alerts[1].Token != "https://hooks.example.com/T000/B000/secret" || f.Alerts[1].ChatID != "-100123" {
		t.Errorf("alerts = %+v", f.Alerts)
	}
	var names []string
	for i := range f.Alerts {
		names = append(names, f.AlertName(i))
	}
	if want := []string{"webhook#1", "telegram", "dingtalk", "ops-bridge"}; !reflect.DeepEqual(names, want) {
		t.Errorf("alert names %q, want %q", names, want)
	}
	if g := parseOK(t, oneHost, testEnv); g.DNS != nil || g.DNSNames() != nil || len(g.Alerts) != 0 {
		t.Errorf("no dns: section: %+v %+v", g.DNS, g.Alerts)
	}
	g := parseOK(t, oneHost+"domains: [a.example.com]\ndns: {provider: cloudflare, zone: example.com, min_healthy: 0, max_remove: 2, ttl: 300}\n", testEnv)
	if g.DNS.MinHealthy != 0 || g.DNS.MaxRemove != "2" || g.DNS.TTL != 300 || !reflect.DeepEqual(g.DNS.CredentialsEnv, []string{"CLOUDFLARE_DNS_API_TOKEN"}) {
		t.Errorf("written values kept: %+v", g.DNS)
	}
}

func TestMaxRemoveOf(t *testing.T) {
	for _, tc := range []struct {
		max     string
		n, want int
	}{
		{"33%", 0, 0}, {"33%", 1, 1}, {"33%", 3, 1}, {"33%", 6, 1}, {"33%", 7, 2}, {"50%", 4, 2},
		{"100%", 5, 5}, {"2", 1, 2}, {"2", 10, 2},
	} {
		d := &DNS{MaxRemove: tc.max}
		if got := d.MaxRemoveOf(tc.n); got != tc.want {
			t.Errorf("max_remove %s of %d records = %d, want %d", tc.max, tc.n, got, tc.want)
		}
	}
}
