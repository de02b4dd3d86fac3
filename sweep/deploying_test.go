package sweep

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDeployingIsNoOutage: an agent draining for a deploy answers 503 with
// the deploy's age and maximum; the address is "deploying", the sweep is
// healthy, and no alert counter moves. Past the deploy's maximum the same
// answer is a failure with a problem saying the deploy probably died.
func TestDeployingIsNoOutage(t *testing.T) {
	for _, tc := range []struct {
		name       string
		age, max   int64
		wantTarget string
		wantStatus string
	}{
		{"within its time", 4000, 60000, StatusDeploying, StatusHealthy},
		{"overdue", 70000, 60000, StatusFail, StatusDown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(503)
				w.Write([]byte(`{"status":"draining","upstreams":{"app":{"live":0,"total":2}},"deploy":{"age_ms":` +
					strconv.FormatInt(tc.age, 10) + `,"max_ms":` + strconv.FormatInt(tc.max, 10) + `}}`))
			}))
			defer srv.Close()
			_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
			p, _ := strconv.Atoi(port)
			sp := probeSpec{scheme: "http", port: p, path: "/health", timeout: 2 * time.Second, now: time.Now}
			tgt, ups := probeAddr(context.Background(), sp, "127.0.0.1")
			r := &Report{Hosts: []HostReport{{Name: "vps1", IPv4: tgt, IPv6: Target{Status: StatusSkip}, Upstreams: ups, Deploy: tgt.deploy}}}
			r.finish()
			h := r.Hosts[0]
			if h.IPv4.Status != tc.wantTarget || r.Status != tc.wantStatus {
				t.Fatalf("target %s, sweep %s; want %s, %s (problems %+v)", h.IPv4.Status, r.Status, tc.wantTarget, tc.wantStatus, r.Problems)
			}
			st := NewState()
			alerts := st.Update(r, 1, 1, time.Now())
			if tc.wantTarget == StatusDeploying && (len(alerts) != 0 || len(st.Targets) != 0) {
				t.Errorf("a deploy moved the alert state: %+v %+v", alerts, st.Targets)
			}
			if tc.wantTarget == StatusFail && (len(r.Problems) == 0 || !strings.Contains(r.Problems[0].Summary, "probably died")) {
				t.Errorf("overdue deploy: problems %+v", r.Problems)
			}
			if tc.wantTarget == StatusDeploying && !strings.Contains(r.Summary(), "1 host deploying") {
				t.Errorf("summary %q", r.Summary())
			}
		})
	}
}
