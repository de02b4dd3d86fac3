package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/buildtest"
	"github.com/edgectl/edgectl/internal/pebbletest"
	"github.com/edgectl/edgectl/internal/testbed"
)

// TestFleetTools runs cert, sweep and diagnose against the systemd test
// fleet after a deploy: one ACME order (a real Pebble, validating over the
// bridge through the hosts' agents on port 80) for the whole fleet, every
// host serving the certificate, sweep over HTTPS per family, and diagnose
// over SSH naming a stopped backend.
func TestFleetTools(t *testing.T) {
	bin := buildtest.Binary(t, "./cmd/edgectl", "e2e-v1")
	app := buildtest.Binary(t, "./internal/sampleapp", "e2e")
	ca := pebbletest.Start(t, pebbletest.Options{HTTPPort: 80})
	b := testbed.StartT(t, testbed.Options{Hosts: testbed.Default3(), BindRO: map[string]string{app: "/opt/sample/sampleapp"}})
	dir := t.TempDir()
	const name = "www.fleet.test"
	var v4, v6 []string
	for _, h := range b.Hosts {
		if h.IPv4 != "" {
			v4 = append(v4, h.IPv4)
		}
		if h.IPv6 != "" {
			v6 = append(v6, h.IPv6)
		}
	}
	ca.AddA(t, name, v4...)
	ca.AddAAAA(t, name, v6...)
	extra := strings.Replace(fleetExtra("60s", "[::1]:8000"), "domains: [api.example.test]", "domains: ["+name+"]", 1)
	extra = strings.Replace(extra, `  listen:
    - addr: "[::]:80"`, `  listen:
    - addr: "[::]:80"
    - addr: "[::]:443"
      tls: true`, 1)
	extra += fmt.Sprintf("resolver: %q\nacme:\n  email: ops@fleet.test\n  directory: %q\n  ca_certificates: %q\nsweep: {scheme: https, timeout: 2s}\n",
		ca.DNS, ca.Directory, ca.CACertFile)
	fleetPath := filepath.Join(dir, "fleet.yaml")
	writeFile(t, fleetPath, b.FleetYAML(extra))
	if r := edgectl(t, bin, "deploy", fleetPath, "--yes"); r.code != 0 {
		t.Fatalf("deploy:\n%s", r)
	}

	state := filepath.Join(dir, "acme")
	var serial string
	t.Run("one order for the fleet, served by every host", func(t *testing.T) {
		r := edgectl(t, bin, "cert", "issue", fleetPath, "--state", state)
		if r.code != 0 {
			t.Fatalf("cert issue:\n%s\npebble:\n%s", r, ca.Logs())
		}
		if n := ca.Orders(); n != 1 {
			t.Fatalf("%d ACME orders for %d hosts, want 1", n, len(b.Hosts))
		}
		roots := ca.IssuerRoots(t)
		for _, addr := range append(v4, v6...) {
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", net.JoinHostPort(addr, "443"),
				&tls.Config{ServerName: name, RootCAs: roots})
			if err != nil {
				t.Fatalf("TLS to %s with SNI %s: %v", addr, name, err)
			}
			s := conn.ConnectionState().PeerCertificates[0].SerialNumber.Text(16)
			conn.Close()
			if serial == "" {
				serial = s
			} else if s != serial {
				t.Fatalf("%s serves serial %s, another host %s", addr, s, serial)
			}
		}
		t.Logf("MEASURED cert issue to every node serving it (%d hosts, %d addresses): %s, %d order(s)",
			len(b.Hosts), len(v4)+len(v6), r.took.Round(10*time.Millisecond), ca.Orders())
		if r := edgectl(t, bin, "cert", "status", fleetPath, "--state", state); r.code != 0 || !strings.Contains(r.stdout, serial) {
			t.Fatalf("cert status:\n%s", r)
		}
	})

	t.Run("sweep over HTTPS per family", func(t *testing.T) {
		pem := ca.IssuerRootsFile(t)
		r := edgectl(t, bin, "sweep", fleetPath, "--state", filepath.Join(dir, "sweep.json"), "--ca-file", pem)
		if r.code != 0 || !strings.Contains(r.stdout, "healthy") {
			t.Fatalf("sweep of a healthy fleet:\n%s", r)
		}
		if _, err := b.Run(context.Background(), "vps1", "systemctl stop edgectl-agent"); err != nil {
			t.Fatal(err)
		}
		r = edgectl(t, bin, "sweep", fleetPath, "--state", filepath.Join(dir, "sweep.json"), "--ca-file", pem, "--json")
		if r.code != 1 || !contains(r.stdout, `"name": "vps1"`, `"status": "fail"`, `"degraded"`) {
			t.Fatalf("sweep with vps1's agent stopped:\n%s", r)
		}
		if _, err := b.Run(context.Background(), "vps1", "systemctl start edgectl-agent"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("diagnose over SSH names a stopped backend", func(t *testing.T) {
		if r := edgectl(t, bin, "diagnose", "502", "--host", "vps2", "-f", fleetPath); r.code != 0 {
			t.Fatalf("diagnose of a healthy host:\n%s", r)
		} else {
			t.Logf("MEASURED diagnose 502 over SSH, healthy host: %s", r.took.Round(10*time.Millisecond))
		}
		if _, err := b.Run(context.Background(), "vps2", "systemctl stop sample-api"); err != nil {
			t.Fatal(err)
		}
		r := edgectl(t, bin, "diagnose", "502", "--host", "vps2", "-f", fleetPath)
		if r.code != 1 || !strings.HasPrefix(r.stdout, "cause: nothing listens on port 8000") {
			t.Fatalf("diagnose with the backend stopped:\n%s", r)
		}
		// On a real systemd host: the backend's unit (named by fleet.yaml)
		// is reported stopped, the agent's running, and the certificate
		// the agent serves is read.
		for _, want := range []string{"systemd.sample-api.service", "systemd.edgectl-agent.service", "tls.cert"} {
			if !strings.Contains(r.stdout, want) {
				t.Fatalf("diagnose output lacks %s:\n%s", want, r)
			}
		}
		t.Logf("diagnose with the backend stopped:\n%s", r.stdout)
	})
}
