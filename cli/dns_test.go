package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/edgectl/edgectl/internal/bindtest"
	"github.com/edgectl/edgectl/sweep/sweeptest"
)

// The dns command end to end: the real binary in the sweep lab (real
// agents per host), a real BIND primary in the same namespace updated with
// TSIG; exit codes and output as a user sees them.
func TestDNSCommand(t *testing.T) {
	l := newSweepLab(t)
	h1 := l.AddHost(t, 41, sweeptest.HostOptions{})
	h2 := l.AddHost(t, 42, sweeptest.HostOptions{})
	h3 := l.AddHost(t, 43, sweeptest.HostOptions{Stopped: true})
	h1.WaitUpstreams(t, false)
	h2.WaitUpstreams(t, false)
	v4, _ := l.AddAddrs(t, 53)
	srv := bindtest.Start(t, bindtest.Options{Zone: "example.com", Listen: []string{v4[0]}, Netns: l.NS.Name(), Dial: l.Dial,
		Records: []string{"api 60 IN A " + h1.IPv4, "api 60 IN AAAA " + h1.IPv6, "api 60 IN A " + h3.IPv4, "api 60 IN A 203.0.113.9"}})
	hosts := []*sweeptest.Host{h1, h2, h3}
	fleetYAML := l.FleetYAML(srv.Addr, hosts, "") + "dns:\n  provider: rfc2136\n  zone: example.com\n  nameserver: \"" + srv.Addr + "\"\n  max_remove: 100%\n"
	fleet := l.writeFleet(t, fleetYAML)
	env := []string{}
	for k, v := range srv.Env() {
		env = append(env, k+"="+v)
	}
	run := func(t *testing.T, env []string, args ...string) (int, string, string) {
		t.Helper()
		cmd := l.NS.Command(l.bin, append([]string{"dns", "--no-color"}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		cmd.Env = append(os.Environ(), env...)
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String()+errb.String(), srv.Secret) {
			t.Fatalf("the TSIG secret was printed:\n%s%s", out.String(), errb.String())
		}
		return code, out.String(), errb.String()
	}
	records := func() string {
		return strings.Join(append(srv.Lookup(t, "api.example.com", dns.TypeA), srv.Lookup(t, "api.example.com", dns.TypeAAAA)...), " ")
	}

	t.Run("plan shows the difference and changes nothing", func(t *testing.T) {
		code, out, errs := run(t, env, "plan", fleet, "--ca-file", l.PKI.CAFile)
		want := []string{
			"api.example.com\n",
			"  + A 198.18.0.42        edge-42: healthy\n",
			"  - A 198.18.0.43        edge-43: connection refused",
			"  + AAAA fd00:e:d9e::42  edge-42: healthy\n",
			"  ~ A 203.0.113.9        not a fleet address: kept (--prune removes it)\n",
			"plan: 2 to add, 1 to remove, 1 record not in the fleet\n",
		}
		if code != 0 || !contains(out, want...) {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
		if got := records(); got != "198.18.0.41 198.18.0.43 203.0.113.9 fd00:e:d9e::41" {
			t.Fatalf("plan changed the records: %s", got)
		}
	})
	t.Run("sync applies it, a second sync finds nothing", func(t *testing.T) {
		code, out, errs := run(t, env, "sync", fleet, "--ca-file", l.PKI.CAFile)
		if code != 0 || !strings.HasSuffix(out, "synced: 2 to add, 1 to remove, 1 record not in the fleet\n") {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
		if got := records(); got != "198.18.0.41 198.18.0.42 203.0.113.9 fd00:e:d9e::41 fd00:e:d9e::42" {
			t.Fatalf("after sync BIND serves %s", got)
		}
		code, out, errs = run(t, env, "sync", fleet, "--ca-file", l.PKI.CAFile, "--json")
		var doc struct {
			Summary string
			Applied struct{ Done []any }
		}
		if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Applied.Done) != 0 || doc.Summary != "no change, 1 record not in the fleet" {
			t.Fatalf("second sync: exit %d\n%s%s", code, out, errs)
		}
	})
	t.Run("prune removes what is no fleet address", func(t *testing.T) {
		code, out, errs := run(t, env, "sync", fleet, "--ca-file", l.PKI.CAFile, "--prune")
		if code != 0 || !strings.Contains(out, "  - A 203.0.113.9") {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
		if got := records(); got != "198.18.0.41 198.18.0.42 fd00:e:d9e::41 fd00:e:d9e::42" {
			t.Fatalf("after prune %s", got)
		}
	})
	t.Run("check: the primary serves the records", func(t *testing.T) {
		code, out, errs := run(t, env, "check", fleet, "--resolver", srv.Addr)
		if code != 0 || !contains(out, srv.Addr, "198.18.0.41 198.18.0.42", "ok", "check: every resolver serves the records") {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
	})
	t.Run("a wrong key: exit 1, records untouched, no secret shown", func(t *testing.T) {
		bad := append(append([]string{}, env...), "RFC2136_TSIG_SECRET=d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZw==")
		code, out, errs := run(t, bad, "sync", fleet, "--ca-file", l.PKI.CAFile, "--json")
		var doc struct {
			Error struct {
				Message  string
				ExitCode int `json:"exit_code"`
			}
		}
		if code != 1 || json.Unmarshal([]byte(out), &doc) != nil || doc.Error.ExitCode != 1 || !strings.Contains(doc.Error.Message, "read the records") ||
			strings.Contains(out+errs, "d3Jvbmctc2VjcmV0") {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
	})
	t.Run("missing credentials and no dns: section are config errors", func(t *testing.T) {
		code, _, errs := run(t, []string{"RFC2136_TSIG_KEY=", "RFC2136_TSIG_SECRET="}, "plan", fleet)
		if code != 2 || !strings.Contains(errs, "RFC2136_TSIG_KEY, RFC2136_TSIG_SECRET not set in the environment") {
			t.Fatalf("exit %d\n%s", code, errs)
		}
		plain := l.writeFleet(t, l.FleetYAML(srv.Addr, hosts, ""))
		code, out, _ := run(t, env, "plan", plain, "--json")
		if code != 2 || !strings.Contains(out, `"exit_code": 2`) || !strings.Contains(out, "has no dns: section") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
}

// contains reports whether s holds every one of subs.
func contains(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
