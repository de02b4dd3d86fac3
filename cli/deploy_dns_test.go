package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgectl/edgectl/dnsrecords"
	"github.com/edgectl/edgectl/dnssync"
	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/provision"
	"github.com/edgectl/edgectl/remote"
	"github.com/edgectl/edgectl/sweep"
)

// refusing is a provider whose every call fails, as one with a revoked
// token does.
type refusing struct{}

func (refusing) List(context.Context, string) ([]dnsrecords.Record, error) {
	return nil, errors.New("HTTP 403: invalid token")
}
func (refusing) Add(_ context.Context, r dnsrecords.Record) (dnsrecords.Record, error) {
	return r, errors.New("HTTP 403")
}
func (refusing) Delete(context.Context, dnsrecords.Record) error { return errors.New("HTTP 403") }

// TestDeployDNSDrainNeedsAProvider: with rollout.dns_drain, missing
// credentials (exit 2) or a provider that does not answer (exit 1) stop
// the deploy before any host is dialled, saying why.
func TestDeployDNSDrainNeedsAProvider(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fleet.yaml")
	if err := os.WriteFile(path, []byte(`ssh: {identity_file: "", known_hosts: /dev/null}
hosts: [{name: vps1, ipv4: 198.18.0.11}]
domains: [api.example.com]
rollout: {dns_drain: true}
dns: {provider: rfc2136, zone: example.com, nameserver: "198.18.0.53:53", credentials_env: [EDGECTL_TEST_UNSET_TSIG_KEY]}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		provider func(*fleet.Fleet) (dnsrecords.Provider, error)
		code     int
		want     string
	}{
		{"credentials missing", nil, ExitUsage, "rollout.dns_drain: DNS provider credentials: EDGECTL_TEST_UNSET_TSIG_KEY not set in the environment"},
		{"provider refuses", func(*fleet.Fleet) (dnsrecords.Provider, error) { return refusing{}, nil }, ExitProblem,
			"rollout.dns_drain: the DNS provider rfc2136 cannot be used: HTTP 403: invalid token; nothing was changed on any host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dials atomic.Int32
			ios, _, _, _ := TestIO()
			err := deployRun(context.Background(), &Factory{IO: ios}, &GlobalOptions{Output: "text"}, &deployOptions{
				FleetPath: path, Yes: true, Parallel: 10, NewProvider: tc.provider,
				Dial: func(context.Context, fleet.Host) (remote.Host, error) {
					dials.Add(1)
					return nil, errors.New("dialled")
				}})
			var ee *ExitError
			if !errors.As(err, &ee) || ee.Code != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want exit %d with %q", err, tc.code, tc.want)
			}
			if dials.Load() != 0 {
				t.Fatal("a host was dialled before the DNS provider was known to work")
			}
		})
	}
}

// TestDeployDNSLeftOut: records left out of DNS are in the host's result,
// in the closing summary and in --json, and a host whose records could not
// be put back does not count as converged.
func TestDeployDNSLeftOut(t *testing.T) {
	left := []string{"api.example.com A 198.18.0.11", "api.example.com AAAA fd00:e:d9e::11"}
	for _, tc := range []struct {
		name   string
		status string
		why    string
		code   int
	}{
		{"failed gate", provision.StatusRolledBack, "the host failed and was rolled back", ExitPartial},
		{"restore failed", provision.StatusDeployed, "putting them back failed", ExitPartial},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := &provision.Result{Hosts: []provision.HostResult{
				{Name: "vps1", Status: tc.status, DNS: &provision.HostDNS{Removed: left, LeftOut: left, Why: tc.why}},
				{Name: "vps2", Status: provision.StatusDeployed, DNS: &provision.HostDNS{Removed: []string{"api.example.com A 198.18.0.12"}, Restored: true}},
			}}
			ios, _, out, _ := TestIO()
			r := &rollouter{f: &Factory{IO: ios}, g: &GlobalOptions{Output: "text"}, fleetPath: "fleet.yaml"}
			err := r.print(res, time.Second, nil)
			var ee *ExitError
			want := "DNS: 2 record(s) of vps1 left out of DNS (see above); the next deploy puts them back once the host passes its gate, or edgectl dns sync fleet.yaml once it is healthy"
			if !errors.As(err, &ee) || ee.Code != tc.code || !strings.Contains(err.Error(), want) {
				t.Fatalf("exit %v, want %d with %q", err, tc.code, want)
			}
			out.Reset()
			r.g.Output = "json"
			_ = r.print(res, time.Second, nil)
			var j struct {
				Hosts []struct {
					DNS struct {
						LeftOut []string `json:"left_out"`
						Why     string   `json:"why"`
					} `json:"dns"`
				} `json:"hosts"`
				Error struct {
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(out.Bytes(), &j); err != nil || len(j.Hosts[0].DNS.LeftOut) != 2 || j.Hosts[0].DNS.Why != tc.why || !strings.Contains(j.Error.Message, "left out of DNS") {
				t.Fatalf("json %v:\n%s", err, out.String())
			}
		})
	}
}

// TestDrainPlanAndCountdown: a dry run lists the records a host would
// leave with; a log gets a countdown every ten seconds, a terminal every
// tick.
func TestDrainPlanAndCountdown(t *testing.T) {
	var b bytes.Buffer
	printDrainPlan(&b, &provision.HostDNS{Removed: []string{"api.example.com A 198.18.0.11"}, WaitMS: 60000,
		Kept: []string{"api.example.com AAAA fd00:e:d9e::11 (min_healthy 1: it is among the last 1 AAAA records of api.example.com)"}})
	if want := "   dns_drain: takes out api.example.com A 198.18.0.11, waits 1m0s (their TTL), puts them back after the gate\n" +
		"   dns_drain: keeps api.example.com AAAA fd00:e:d9e::11 (min_healthy 1: it is among the last 1 AAAA records of api.example.com)\n"; b.String() != want {
		t.Fatalf("got\n%s", b.String())
	}
	for _, tty := range []bool{false, true} {
		ios, _, _, _ := TestIO()
		ios.SetStderrTTY(tty)
		var got []time.Duration
		ev := thinCountdowns(ios, func(e provision.Event) { got = append(got, e.Left) })
		for s := 25; s >= 1; s-- {
			ev(provision.Event{Host: "vps1", Msg: "out of DNS", Left: time.Duration(s) * time.Second})
		}
		ev(provision.Event{Host: "vps1", Msg: "deployed"})
		if want := map[bool]int{false: 3, true: 26}[tty]; len(got) != want {
			t.Errorf("terminal %v: %d events passed, want %d: %v", tty, len(got), want, got)
		}
	}
}

// TestSweepShowsDeployHolds: sweep --dns says which hosts it left alone
// because a deploy works on them, once per host.
func TestSweepShowsDeployHolds(t *testing.T) {
	hold := "deploying (ops@laptop, 12s of at most 17m0s)"
	a := &sweep.DNSAction{Plan: &dnssync.Plan{Names: []dnssync.NamePlan{{Name: "api.example.com", Held: []dnssync.Addr{
		{Host: "vps1", Family: "ipv4", Hold: hold}, {Host: "vps1", Family: "ipv6", Hold: hold},
		{Host: "vps2", Family: "ipv4", Hold: "failed this sweep, not down yet (sweep.fail_after)"},
	}}}}}
	var b strings.Builder
	writeDNSAction(&b, a)
	if b.String() != "  dns: left vps1 alone: "+hold+"\n" {
		t.Fatalf("got %q", b.String())
	}
}
