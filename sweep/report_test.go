package sweep

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/golden"
	"github.com/edgectl/edgectl/probe"
)

type tlsInfo = probe.TLSInfo

// fixedReport is a degraded fleet as Run would assemble it: one healthy
// host, one whose IPv6 path times out (still in DNS), one near expiry,
// and a stale A record.
func fixedReport() *Report {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tlsOK := &TLSReport{Status: StatusOK, DaysLeft: 80, Issuer: "R11", NotAfter: now.Add(80*24*time.Hour + time.Hour), HostnameOK: true}
	tlsWarn := judgeTLSAt(now, now.Add(5*24*time.Hour+time.Hour))
	r := &Report{
		Time: now, DurationMS: 1012.5,
		Hosts: []HostReport{
			{Name: "edge-1",
				IPv4:      Target{Status: StatusOK, Address: "198.18.0.11:443", LatencyMS: 3.2, HTTPStatus: 200, TLS: tlsOK},
				IPv6:      Target{Status: StatusOK, Address: "[fd00:e:d9e::11]:443", LatencyMS: 2.9, HTTPStatus: 200, TLS: tlsOK},
				TLS:       withAddress(tlsOK, "198.18.0.11:443"),
				Upstreams: []Upstream{{Name: "api", Live: 2, Total: 2}}},
			{Name: "edge-2",
				IPv4: Target{Status: StatusOK, Address: "198.18.0.12:443", LatencyMS: 4, HTTPStatus: 200, TLS: tlsOK},
				IPv6: Target{Status: StatusFail, Address: "[fd00:e:d9e::12]:443", LatencyMS: 1000, Kind: "timeout",
					Error: "no answer within 1s (dropped by a firewall, or no route on this family?): dial tcp6: i/o timeout"},
				TLS: withAddress(tlsOK, "198.18.0.12:443")},
			{Name: "edge-3",
				IPv4: Target{Status: StatusOK, Address: "198.18.0.13:443", LatencyMS: 3, HTTPStatus: 200, TLS: tlsWarn},
				IPv6: Target{Status: StatusSkip},
				TLS:  withAddress(tlsWarn, "198.18.0.13:443")},
		},
		DNS: DNSReport{Resolver: "198.18.0.53:53", Domains: []DomainReport{{Name: "api.example.com",
			A:    []string{"198.18.0.11", "198.18.0.12", "198.18.0.99"},
			AAAA: []string{"fd00:e:d9e::11", "fd00:e:d9e::12"}}}},
	}
	fa := map[netip.Addr]fleetAddr{}
	for _, s := range []string{"198.18.0.11", "198.18.0.12", "198.18.0.13", "fd00:e:d9e::11"} {
		fa[netip.MustParseAddr(s)] = fleetAddr{healthy: true}
	}
	fa[netip.MustParseAddr("fd00:e:d9e::12")] = fleetAddr{healthy: false}
	compareDNS(&r.DNS, fa)
	r.finish()
	return r
}

func judgeTLSAt(now, notAfter time.Time) *TLSReport {
	return judgeTLS(&tlsInfo{Issuer: "R11", NotAfter: notAfter, HostnameOK: true}, now, "api.example.com")
}

func TestReportJSONAndSummary(t *testing.T) {
	r := fixedReport()
	if r.Status != StatusDegraded {
		t.Fatalf("status %s", r.Status)
	}
	want := "3 hosts, 5 addresses: 4 ok, 1 failed; DNS: 1 unhealthy address still in DNS (fd00:e:d9e::12); " +
		"1 address in DNS that is not in the fleet (198.18.0.99); 1 healthy address missing from DNS (198.18.0.13); " +
		"1 host with a certificate problem; degraded"
	if got := r.Summary(); got != want {
		t.Errorf("summary\n got %s\nwant %s", got, want)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "sweep --json", "testdata/report.json", b.Bytes())
}

func TestMetrics(t *testing.T) {
	var b bytes.Buffer
	if err := WriteMetrics(&b, fixedReport()); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "metrics", "testdata/metrics.prom", b.Bytes())
}

func TestJudgeTLS(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	for _, tc := range []struct {
		name     string
		left     time.Duration
		hostOK   bool
		verify   string
		status   string
		refused  bool
		daysLeft int
	}{
		{"fine", 60 * day, true, "", StatusOK, false, 60},
		{"warn below 14 days", 13*day + time.Hour, true, "", StatusWarn, false, 13},
		{"14 days is fine", 14*day + time.Hour, true, "", StatusOK, false, 14},
		{"fail below 3 days", 2*day + time.Hour, true, "", StatusFail, false, 2},
		{"expired", -time.Hour, true, "x509: certificate has expired", StatusFail, true, -1},
		{"wrong name", 60 * day, false, "x509: certificate is valid for other.test", StatusFail, true, 60},
		{"untrusted", 60 * day, true, "x509: certificate signed by unknown authority", StatusFail, true, 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := judgeTLS(&tlsInfo{Issuer: "R11", NotAfter: now.Add(tc.left), HostnameOK: tc.hostOK, VerifyError: tc.verify}, now, "api.example.com")
			if r.Status != tc.status || r.refused != tc.refused || r.DaysLeft != tc.daysLeft || (r.Status != StatusOK) != (r.Error != "") {
				t.Fatalf("got %+v", r)
			}
		})
	}
}
