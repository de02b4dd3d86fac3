package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/certs"
	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/internal/pebbletest"
)

// TestCertCommands drives issue, renew and status against a real Pebble
// and two real agents (see certs/e2e_test.go for the DNS set-up) and
// checks what an operator sees: output and exit codes.
func TestCertCommands(t *testing.T) {
	if !pebbletest.HasIPv6() {
		t.Skip("needs IPv6 on loopback ([::1]) for the second agent")
	}
	defer pebbletest.Cleanup()
	tb := pebbletest.NewTestbed(t, pebbletest.TestbedOptions{
		Agents:  []pebbletest.AgentSpec{{Name: "four", IP: "127.0.0.1"}, {Name: "six", IP: "::1"}},
		Domains: []string{"www.fleet.test"},
	})
	tb.CA.AddA(t, "www.fleet.test", "127.0.0.1")
	tb.CA.AddAAAA(t, "www.fleet.test", "::1")
	state := filepath.Join(t.TempDir(), "state")
	run := func(fn func(context.Context, *certOptions) error, mod func(*certOptions)) (string, string, int) {
		ios, _, out, errb := TestIO()
		f := &Factory{IO: ios}
		opts := &certOptions{File: tb.FleetFile, State: state, HTTPPort: tb.HTTPPort, IO: ios, LoadFleet: f.LoadFleet, Dial: tb.Dial}
		if mod != nil {
			mod(opts)
		}
		err := fn(context.Background(), opts)
		if err != nil {
			errb.WriteString("edgectl: " + err.Error() + "\n")
		}
		return out.String(), errb.String(), exitCode(err)
	}

	out, errOut, code := run(certIssueRun, nil)
	t.Logf("issue output:\n%s", out)
	if code != ExitOK {
		t.Fatalf("issue: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"ok    www.fleet.test  four  127.0.0.1  ipv4", "ok    www.fleet.test  six  ::1  ipv6",
		"www.fleet.test issued: serial ", "1 ACME order(s)", "ok    four  127.0.0.1  ipv4  serving after",
		"ok    six  ::1  ipv6  serving after", "every node serving the new certificate",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("issue output lacks %q:\n%s", want, out)
		}
	}

	// renew: not due, so nothing at all on stdout or stderr, exit 0.
	out, errOut, code = run(certRenewRun, nil)
	if code != ExitOK || out != "" || errOut != "" {
		t.Errorf("renew of a fresh certificate: exit %d, stdout %q, stderr %q; want silence and 0", code, out, errOut)
	}

	// A second run while one holds the lock.
	st, _ := certs.OpenState(state)
	lock, err := st.Lock()
	if err != nil {
		t.Fatal(err)
	}
	_, errOut, code = run(certRenewRun, func(o *certOptions) { o.Force = true })
	lock.Unlock()
	if code != ExitProblem || !strings.Contains(errOut, "another edgectl cert run holds the lock") {
		t.Errorf("renew while locked: exit %d, stderr %q; want 1 and the lock named", code, errOut)
	}

	out, _, code = run(certStatusRun, func(o *certOptions) { o.JSON = true })
	var ns certs.NameStatus
	if err := json.Unmarshal([]byte(out), &ns); err != nil || code != ExitOK || len(ns.Addrs) != 2 || ns.DaysLeft < 88 {
		t.Errorf("status --json: exit %d, %v, %+v\n%s", code, err, ns, out)
	}
	if strings.Contains(out, "PRIVATE KEY") {
		t.Error("status --json prints a private key")
	}

	// Agent six down: pre-flight names it, exit 1, no order.
	tb.Agent("six").Stop()
	orders := tb.CA.Orders()
	out, errOut, code = run(certIssueRun, nil)
	if code != ExitProblem || !strings.Contains(out, "fail  www.fleet.test  six  ::1  ipv6  refused") ||
		!strings.Contains(errOut, "no order placed") || tb.CA.Orders() != orders {
		t.Errorf("issue with six down: exit %d, orders %d→%d\nstdout:\n%s\nstderr:\n%s", code, orders, tb.CA.Orders(), out, errOut)
	}
	out, _, code = run(certStatusRun, nil)
	t.Logf("status output:\n%s", out)
	if code != ExitProblem || !strings.Contains(out, "six   ::1") || !strings.Contains(out, "fail") {
		t.Errorf("status with six down: exit %d\n%s", code, out)
	}
}

func TestCertUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "fleet.yaml")
	certWriteFile(t, bad, "hosts:\n  - name: a\n    ipv4: 198.18.0.11\nacme: {challenge: tls-alpn-01}\n")
	good := filepath.Join(dir, "good.yaml")
	certWriteFile(t, good, "hosts:\n  - name: a\n    ipv4: 198.18.0.11\ndomains: [api.example.com]\n")
	tests := []struct {
		name string
		opts certOptions
		want string
	}{
		{"invalid fleet", certOptions{File: bad}, "fleet.yaml:4:"},
		{"bad resolver", certOptions{File: good, Resolver: "198.18.0.53"}, "--resolver"},
		{"bad port", certOptions{File: good, HTTPPort: 70000}, "--http-port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			o.State = filepath.Join(dir, "state")
			ios, _, _, _ := TestIO()
			o.IO, o.LoadFleet = ios, (&Factory{IO: ios}).LoadFleet
			err := certIssueRun(context.Background(), &o)
			if exitCode(err) != ExitUsage || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v (exit %d), want exit 2 mentioning %q", err, exitCode(err), tt.want)
			}
		})
	}
}

func certWriteFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCertNoCertificate: status and renew say the same thing, and what to
// do, when the state directory holds no certificate for the fleet.
func TestCertNoCertificate(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t) // nothing serves TLS there: the probe is refused at once
	file := filepath.Join(dir, "fleet.yaml")
	certWriteFile(t, file, fmt.Sprintf("hosts:\n  - {name: a, ipv4: 127.0.0.1}\ndomains: [api.example.com]\nagent:\n  listen: [{addr: \"[::]:%d\", tls: true}]\n", port))
	state := filepath.Join(dir, "state")
	want := fmt.Sprintf("edgectl: no certificate api.example.com in %s: run edgectl cert issue %s first", state, file)
	for _, args := range [][]string{{"cert", "status", file, "--state", state}, {"cert", "renew", file, "--state", state}} {
		code, _, errOut := runCLI(t, nil, args...)
		if code != ExitProblem || !strings.HasPrefix(errOut, want) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", args, code, errOut, want)
		}
	}
}

// TestCertWording: the pre-flight names the resolver it asked (never a
// blank "(resolver )"), the JSON has _ms durations and no null lists, and
// a fleet that chose no CA is told before an order goes to Let's Encrypt
// production.
func TestCertWording(t *testing.T) {
	var b strings.Builder
	printCertResult(&b, &certs.Result{Name: "api.example.com", Preflight: &certs.Preflight{Resolver: "system", Names: []certs.PreflightName{}}})
	printCertResult(&b, &certs.Result{Name: "api.example.com", Preflight: &certs.Preflight{Resolver: "198.18.0.53:53"}})
	if got, want := b.String(), "pre-flight (the system resolver):\npre-flight (resolver 198.18.0.53:53):\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}

	js, err := json.Marshal(&certs.Result{Name: "n", Domains: []string{"n"}, Elapsed: 1500 * time.Microsecond,
		Distribution: &certs.Distribution{Addrs: []certs.AddrCheck{{Addr: "127.0.0.1", After: 2 * time.Millisecond}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"elapsed_ms":1.5`, `"after_ms":2`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("JSON lacks %s: %s", want, js)
		}
	}
	js, _ = json.Marshal(&certs.Result{Name: "n", Domains: []string{"n"}, Reason: "not due"})
	for _, bad := range []string{"_ns", "null", "elapsed"} {
		if strings.Contains(string(js), bad) {
			t.Errorf("renew's not-due JSON has %q: %s", bad, js)
		}
	}

	ios, _, _, errOut := TestIO()
	opts := &certOptions{File: "fleet.yaml", IO: ios}
	announceCA(opts, certs.Config{Fleet: &fleet.Fleet{ACME: fleet.ACME{Directory: fleet.DefaultACMEDirectory, DirectoryDefaulted: true}}})
	if want := "edgectl: fleet.yaml names no acme.directory: using Let's Encrypt production (https://acme-v02.api.letsencrypt.org/directory); try --staging first, whose rate limits are generous\n"; errOut.String() != want {
		t.Errorf("CA notice %q, want %q", errOut.String(), want)
	}
	errOut.Reset()
	announceCA(opts, certs.Config{Fleet: &fleet.Fleet{ACME: fleet.ACME{Directory: fleet.DefaultACMEDirectory}}})
	opts.Staging = true
	announceCA(opts, certs.Config{Fleet: &fleet.Fleet{ACME: fleet.ACME{Directory: fleet.DefaultACMEDirectory, DirectoryDefaulted: true}}})
	if errOut.Len() != 0 {
		t.Errorf("a notice although the CA was chosen: %q", errOut.String())
	}
}
