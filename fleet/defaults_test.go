package fleet

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/agentconfig"
)

const oneHost = "hosts: [{name: a, ipv4: 192.0.2.1}]\n"

func parseOK(t *testing.T, in string, env func(string) (string, bool)) *Fleet {
	t.Helper()
	f, err := Parse("fleet.yaml", []byte(in), env)
	if err != nil {
		t.Fatalf("Parse(%q): %v", in, err)
	}
	return f
}

func TestDefaults(t *testing.T) {
	f := mustLoad(t, "minimal.yaml")
	wantSSH := SSH{User: "root", Port: 22, IdentityFile: "/home/op/.ssh/id_ed25519", KnownHosts: "/home/op/.ssh/known_hosts"}
	if f.SSH != wantSSH {
		t.Errorf("ssh = %+v\nwant %+v", f.SSH, wantSSH)
	}
	wantACME := ACME{Directory: "https://acme-v02.api.letsencrypt.org/directory", Challenge: "http-01", DirectoryDefaulted: true}
	if f.ACME != wantACME {
		t.Errorf("acme = %+v\nwant %+v", f.ACME, wantACME)
	}
	if want := (Rollout{Batch: 1, HealthTimeout: 30 * time.Second, Drain: 10 * time.Second}); f.Rollout != want {
		t.Errorf("rollout = %+v, want %+v", f.Rollout, want)
	}
	wantSweep := Sweep{Scheme: "https", HealthPath: "/health", Timeout: 5 * time.Second, FailAfter: 3, RecoverAfter: 2}
	if f.Sweep != wantSweep {
		t.Errorf("sweep = %+v\nwant %+v", f.Sweep, wantSweep)
	}
	if f.Backend != nil || f.Resolver != "" || len(f.Domains) != 0 {
		t.Errorf("backend, resolver, domains = %+v, %q, %v; want none", f.Backend, f.Resolver, f.Domains)
	}
	// The agent section gets agent.yaml's own defaults.
	want, err := agentconfig.Parse("agent.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Agent, *want) {
		t.Errorf("agent = %+v\nwant agentconfig's defaults %+v", f.Agent, *want)
	}
}

// TestWrittenValuesKept: what the file says wins over every default,
// including zero values where zero means something.
func TestWrittenValuesKept(t *testing.T) {
	f := mustLoad(t, "explicit.yaml")
	wantSSH := SSH{User: "deploy", Port: 2222, IdentityFile: "", KnownHosts: "/etc/edgectl/known_hosts", Jump: "ops@[2001:db8::99]:2200"}
	if f.SSH != wantSSH {
		t.Errorf("ssh = %+v\nwant %+v", f.SSH, wantSSH)
	}
	if f.ACME.CACertificates != "/home/op/pebble.minica.pem" || f.ACME.Challenge != "dns-01" {
		t.Errorf("acme = %+v, want ~ expanded in ca_certificates and dns-01 kept", f.ACME)
	}
	if want := (Rollout{Batch: 2, HealthTimeout: time.Minute, Drain: 0}); f.Rollout != want {
		t.Errorf("rollout = %+v, want %+v (drain: 0s kept)", f.Rollout, want)
	}
	want := Sweep{Scheme: "http", Port: 8080, HealthPath: "/healthz", Timeout: 1500 * time.Millisecond,
		FailAfter: 1, RecoverAfter: 5, AlertWebhook: "https://hooks.example.com/${literal}"}
	if f.Sweep != want {
		t.Errorf("sweep = %+v\nwant %+v", f.Sweep, want)
	}
}

func TestDefaultsTable(t *testing.T) {
	tests := []struct {
		name string
		in   string
		get  func(*Fleet) any
		want any
	}{
		{"null port is left out", "ssh: {port: ~}\n", func(f *Fleet) any { return f.SSH.Port }, 22},
		{"empty user gets the default", "ssh: {user: ''}\n", func(f *Fleet) any { return f.SSH.User }, "root"},
		{"empty known_hosts gets the default", "ssh: {known_hosts: ''}\n", func(f *Fleet) any { return f.SSH.KnownHosts }, "/home/op/.ssh/known_hosts"},
		{"identity_file '' means agent only", "ssh: {identity_file: ''}\n", func(f *Fleet) any { return f.SSH.IdentityFile }, ""},
		{"identity_file null gets the default", "ssh:\n  identity_file:\n", func(f *Fleet) any { return f.SSH.IdentityFile }, "/home/op/.ssh/id_ed25519"},
		{"absolute paths untouched", "ssh: {identity_file: /keys/~/id}\n", func(f *Fleet) any { return f.SSH.IdentityFile }, "/keys/~/id"},
		{"bare ~", "ssh: {known_hosts: '~'}\n", func(f *Fleet) any { return f.SSH.KnownHosts }, "/home/op"},
		{"drain 0s kept", "rollout: {drain: 0s}\n", func(f *Fleet) any { return f.Rollout.Drain }, time.Duration(0)},
		{"drain via a merge key kept", "rollout:\n  <<: {drain: 0s}\n", func(f *Fleet) any { return f.Rollout.Drain }, time.Duration(0)},
		{"batch via an alias", "sweep: {fail_after: &n 4}\nrollout: {batch: *n}\n", func(f *Fleet) any { return f.Rollout.Batch }, 4},
		{"sweep port 0 means auto", "sweep: {port: 0}\n", func(f *Fleet) any { return f.Sweep.Port }, 0},
		{"empty scheme gets https", "sweep: {scheme: ''}\n", func(f *Fleet) any { return f.Sweep.Scheme }, "https"},
		{"empty challenge gets http-01", "acme: {challenge: ''}\n", func(f *Fleet) any { return f.ACME.Challenge }, "http-01"},
		{"agent defaults under a written agent", "agent: {health_path: /hz}\n", func(f *Fleet) any {
			return []any{f.Agent.HealthPath, f.Agent.Admin, len(f.Agent.Listen)}
		}, []any{"/hz", agentconfig.DefaultAdmin, 1}},
		{"agent admin '' kept", "agent: {admin: ''}\n", func(f *Fleet) any { return f.Agent.Admin }, ""},
		{"null agent is the default agent", "agent:\n", func(f *Fleet) any { return f.Agent.HealthPath }, "/health"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parseOK(t, oneHost+tt.in, testEnv)
			if got := tt.get(f); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestHomeNotSet(t *testing.T) {
	_, err := Parse("fleet.yaml", []byte(oneHost), envOf(nil))
	if err == nil || !strings.Contains(err.Error(), `"~/.ssh/id_ed25519" needs $HOME to expand ~, and HOME is not set`) {
		t.Errorf("defaults without HOME: %v, want a problem naming HOME", err)
	}
	f := parseOK(t, oneHost+"ssh: {identity_file: /k, known_hosts: /kh}\n", envOf(nil))
	if f.SSH.IdentityFile != "/k" || f.SSH.KnownHosts != "/kh" {
		t.Errorf("absolute paths without HOME: %+v", f.SSH)
	}
	f = parseOK(t, oneHost, envOf(map[string]string{"HOME": "/"}))
	if f.SSH.KnownHosts != "/.ssh/known_hosts" {
		t.Errorf("HOME=/: known_hosts = %q, want /.ssh/known_hosts", f.SSH.KnownHosts)
	}
}

func TestAnchors(t *testing.T) {
	f := mustLoad(t, "anchors.yaml")
	if len(f.Hosts) != 2 || f.Hosts[1].Name != "two" || f.Hosts[1].IPv4 != "192.0.2.8" ||
		!reflect.DeepEqual(f.Hosts[1].Labels, []string{"eu", "prod"}) {
		t.Errorf("hosts = %+v, want the second merged from the first", f.Hosts)
	}
	if want := (Rollout{Batch: 1, HealthTimeout: 45 * time.Second, Drain: 0}); f.Rollout != want {
		t.Errorf("rollout = %+v, want %+v", f.Rollout, want)
	}
	if f.Sweep.HealthPath != "/healthz" || f.Agent.HealthPath != "/healthz" {
		t.Errorf("health paths %q, %q, want /healthz through the alias", f.Sweep.HealthPath, f.Agent.HealthPath)
	}
	api2 := f.Agent.Upstreams["api2"]
	if api2 == nil || api2.Tries != 3 || len(api2.Servers) != 1 || api2.Health == nil || api2.Health.Path != "/healthz" {
		t.Errorf("api2 = %+v, want servers and health merged from api, tries 3", api2)
	}
	if len(f.Agent.Routes) != 1 || f.Agent.Routes[0].Host != "api.example.com" {
		t.Errorf("routes = %+v, want the host from the domains anchor", f.Agent.Routes)
	}
}
