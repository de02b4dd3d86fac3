package sweep

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/notify"
)

// hostReport is one dual-stack host whose probes pass, with upstreams and
// a certificate as given.
func hostReport(name string, live int, tls *TLSReport) HostReport {
	ok := Target{Status: StatusOK, Address: "198.18.0.11:443"}
	return HostReport{Name: name, IPv4: ok, IPv6: Target{Status: StatusSkip}, TLS: tls,
		Upstreams: []Upstream{{Name: "app", Live: live, Total: 2}}}
}

func tlsOf(status string, days int) *TLSReport {
	return &TLSReport{Status: status, DaysLeft: days, Error: "certificate expires in some days", Address: "198.18.0.11:443"}
}

// TestConditionsAlertOncePerTransition: the origin down behind a live
// agent, a certificate crossing thresholds, and DNS drift each alert when
// they change, not on every sweep.
func TestConditionsAlertOncePerTransition(t *testing.T) {
	s := NewState()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	drift := func(addrs ...string) DNSReport {
		return DNSReport{Status: StatusFail, Domains: []DomainReport{{Name: "api.example.test", Unexpected: addrs}}}
	}
	steps := []struct {
		live int
		tls  *TLSReport
		dns  DNSReport
		want string
	}{
		{2, tlsOf(StatusOK, 60), DNSReport{Status: StatusOK}, ""},
		{0, tlsOf(StatusOK, 60), DNSReport{Status: StatusOK}, "origin degraded"},
		{0, tlsOf(StatusOK, 60), DNSReport{Status: StatusOK}, ""},
		{2, tlsOf(StatusWarn, 13), drift("203.0.113.9"), "origin recovered; cert warn; dns_drift drift"},
		{2, tlsOf(StatusWarn, 12), drift("203.0.113.9"), ""},
		{2, tlsOf(StatusFail, 2), drift("203.0.113.9"), "cert fail"},
		{2, nil, drift("203.0.113.9"), ""},
		{2, tlsOf(StatusOK, 89), drift(), "cert ok; dns_drift cleared"},
	}
	var texts []string
	for i, st := range steps {
		now = now.Add(time.Minute)
		r := &Report{Hosts: []HostReport{hostReport("edge-1", st.live, st.tls)}, DNS: st.dns}
		var got []string
		for _, a := range s.Update(r, 3, 2, now) {
			got = append(got, a.Kind+" "+a.Status)
			texts = append(texts, a.Text)
		}
		s.Deliver(t.Context(), nil)
		if strings.Join(got, "; ") != st.want {
			t.Fatalf("sweep %d: alerts %q, want %q", i+1, strings.Join(got, "; "), st.want)
		}
	}
	if !strings.HasPrefix(texts[0], "edgectl sweep: edge-1 answers but its origin is down: upstream app has no live server (0/2)") {
		t.Fatalf("texts %q", texts)
	}
}

// TestDeliverRetriesOnlyWhereItFailed: one notifier takes the alert, the
// other refuses; the next delivery offers it only to the one that refused.
func TestDeliverRetriesOnlyWhereItFailed(t *testing.T) {
	var good, bad atomic.Int32
	var badUp atomic.Bool
	okSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { good.Add(1) }))
	defer okSrv.Close()
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bad.Add(1)
		if !badUp.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	defer flaky.Close()
	f := &fleet.Fleet{Alerts: []fleet.Alert{{Type: "webhook", Name: "good", URL: okSrv.URL}, {Type: "slack", Name: "flaky", URL: flaky.URL}}}
	ns, err := notify.New(f, notify.Options{Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := NewState()
	s.Update(report(false), 1, 1, time.Now())
	ds := s.Deliver(context.Background(), ns)
	if len(ds) != 2 || ds[0].Err != nil || ds[1].Err == nil || len(s.Outbox) != 1 {
		t.Fatalf("first delivery %v, outbox %+v", ds, s.Outbox)
	}
	badUp.Store(true)
	ds = s.Deliver(context.Background(), ns)
	if len(ds) != 1 || ds[0].Notifier != "flaky" || ds[0].Err != nil || len(s.Outbox) != 0 || good.Load() != 1 || bad.Load() != 2 {
		t.Fatalf("second delivery %v (good %d, flaky %d), outbox %+v", ds, good.Load(), bad.Load(), s.Outbox)
	}
}
