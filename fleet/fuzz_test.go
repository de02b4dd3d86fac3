package fleet

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgectl/edgectl/yamlfile"
)

// FuzzParse feeds arbitrary bytes to Parse. It must never panic; a fleet it
// accepts must be valid and usable by the commands (every host reachable
// over SSH, addresses of the right family, unique names), and a fleet it
// rejects must be rejected with positioned problems naming the file.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/valid/*.yaml", "testdata/invalid/*.yaml", "../fleet.yaml.example"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, path := range files {
			data, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	for _, s := range []string{
		"hosts: [{name: a, ipv4: '${A}'}]\n",
		"hosts: [{name: a, ssh_address: '[::1]:22'}, {name: b, ssh_address: '::1'}]\n",
		"hosts: [{name: a, ipv6: '::ffff:1.2.3.4'}]\nagent: {upstreams: {a: ~}}\n",
		"a: &a [*a]\n",
		"hosts: [&h {name: a, ipv4: 192.0.2.1}]\nagent: {routes: [*h]}\n",
		"agent: &x {admin: ''}\nhosts: [{name: a, ipv4: 192.0.2.1}]\n",
		"hosts: [{name: a, ipv4: 192.0.2.1}]\nsweep: {alert_webhook: \"$${$$}${\"}\n",
		"hosts: [{name: a, ipv4: 192.0.2.1}]\nssh: {jump: 'u@[::1]:'}\n",
	} {
		f.Add([]byte(s))
	}
	const name = "fuzz/fleet.yaml"
	env := envOf(map[string]string{"HOME": "/home/fuzz", "A": "192.0.2.1", "EDGECTL_ALERT_WEBHOOK": "https://hooks.example.com/x"})
	f.Fuzz(func(t *testing.T, data []byte) {
		fl, err := Parse(name, data, env)
		if err != nil {
			checkRejected(t, name, data, fl, err)
			return
		}
		if fl == nil {
			t.Fatal("Parse returned neither a fleet nor an error")
		}
		if is := fl.Validate(); len(is) > 0 {
			t.Errorf("Parse accepted a fleet that Validate rejects: %+v", is)
		}
		checkUsable(t, fl)
	})
}

func checkRejected(t *testing.T, name string, data []byte, fl *Fleet, err error) {
	t.Helper()
	if fl != nil {
		t.Errorf("Parse returned a fleet along with %v", err)
	}
	var ye *yamlfile.Error
	if !errors.As(err, &ye) {
		t.Fatalf("error is %T, want *yamlfile.Error: %v", err, err)
	}
	if len(ye.Problems) == 0 {
		t.Fatal("*yamlfile.Error without problems")
	}
	lines := strings.Count(string(data), "\n") + 1
	for _, p := range ye.Problems {
		if p.Msg == "" || p.File != name {
			t.Errorf("problem without a message or with file %q: %+v", p.File, p)
		}
		// Only a file with no document at all has nowhere to point.
		if (p.Line < 1 || p.Col < 1) && !strings.HasPrefix(p.Msg, "the fleet has no hosts") {
			t.Errorf("problem without a position: %+v", p)
		}
		if p.Line > lines+1 {
			t.Errorf("problem beyond the end of the file (%d lines): %+v", lines, p)
		}
	}
}

func checkUsable(t *testing.T, fl *Fleet) {
	t.Helper()
	if len(fl.Hosts) == 0 {
		t.Fatal("accepted a fleet without hosts")
	}
	names := map[string]bool{}
	for _, h := range fl.Hosts {
		if h.Name == "" || names[h.Name] {
			t.Errorf("host name %q empty or repeated", h.Name)
		}
		names[h.Name] = true
		if h.SSHAddr(fl.SSH.Port) == "" {
			t.Errorf("host %q accepted without an SSH address", h.Name)
		}
		if a, err := netip.ParseAddr(h.IPv4); h.IPv4 != "" && (err != nil || !a.Is4()) {
			t.Errorf("host %q: ipv4 %q accepted", h.Name, h.IPv4)
		}
		if a, err := netip.ParseAddr(h.IPv6); h.IPv6 != "" && (err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "") {
			t.Errorf("host %q: ipv6 %q accepted", h.Name, h.IPv6)
		}
	}
	if all, err := fl.Select(nil, ""); err != nil || len(all) != len(fl.Hosts) {
		t.Errorf("Select(all) = %d hosts, %v; want %d", len(all), err, len(fl.Hosts))
	}
	if strings.HasPrefix(fl.SSH.KnownHosts, "~") || fl.SSH.KnownHosts == "" {
		t.Errorf("known_hosts %q not expanded", fl.SSH.KnownHosts)
	}
	if fl.SSH.Jump != "" {
		if _, _, ok := fl.SSH.JumpHost(); !ok {
			t.Errorf("jump %q accepted but not usable", fl.SSH.Jump)
		}
	}
	if p := fl.SweepPort(); p < 1 || p > 65535 {
		t.Errorf("SweepPort() = %d", p)
	}
}
