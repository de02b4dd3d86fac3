package fleet

import (
	"errors"
	"reflect"
	"testing"

	"github.com/edgectl/edgectl/agentconfig"
)

func selectFleet() *Fleet {
	return &Fleet{Hosts: []Host{
		{Name: "cn2-sh", IPv4: "192.0.2.10", IPv6: "2001:db8:10::1", Labels: []string{"cn2", "asia"}},
		{Name: "v6-fra", IPv6: "2001:db8:20::1", Labels: []string{"eu"}},
		{Name: "v4-nyc", IPv4: "198.51.100.7", Labels: []string{"us"}},
		{Name: "hk", IPv4: "198.51.100.8", Labels: []string{"asia"}},
	}}
}

func TestSelect(t *testing.T) {
	tests := []struct {
		name   string
		names  []string
		label  string
		want   []string
		err    error
		errMsg string
	}{
		{name: "everything", want: []string{"cn2-sh", "v6-fra", "v4-nyc", "hk"}},
		{name: "by name, in fleet order", names: []string{"hk", "cn2-sh"}, want: []string{"cn2-sh", "hk"}},
		{name: "names once, blanks ignored", names: []string{"hk", "", " hk ", "v6-fra"}, want: []string{"v6-fra", "hk"}},
		{name: "only blanks mean all", names: []string{""}, want: []string{"cn2-sh", "v6-fra", "v4-nyc", "hk"}},
		{name: "by label", label: "asia", want: []string{"cn2-sh", "hk"}},
		{name: "names and label", names: []string{"hk", "v4-nyc"}, label: "asia", want: []string{"hk"}},
		{name: "unknown name", names: []string{"cn2-sh", "nope", "nada"}, err: ErrUnknownHost,
			errMsg: `unknown host "nope", "nada"; the fleet has: cn2-sh, v6-fra, v4-nyc, hk`},
		{name: "unknown label", label: "mars", err: ErrNoHosts,
			errMsg: `no hosts selected: no host has label "mars" (labels in use: asia, cn2, eu, us)`},
		{name: "label not on the named hosts", names: []string{"v6-fra"}, label: "asia", err: ErrNoHosts,
			errMsg: `no hosts selected: none of the named hosts has label "asia"`},
	}
	f := selectFleet()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hosts, err := f.Select(tt.names, tt.label)
			if tt.err != nil {
				if !errors.Is(err, tt.err) || err.Error() != tt.errMsg {
					t.Fatalf("Select = %v, %v\nwant error %s", hosts, err, tt.errMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range hosts {
				got = append(got, h.Name)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Select = %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := (&Fleet{}).Select(nil, ""); !errors.Is(err, ErrNoHosts) {
		t.Errorf("Select on an empty fleet: %v, want ErrNoHosts", err)
	}
	if _, err := (&Fleet{Hosts: []Host{{Name: "a"}}}).Select(nil, "x"); err == nil || err.Error() != `no hosts selected: no host has label "x" (no host has a label)` {
		t.Errorf("Select by label on a fleet without labels: %v", err)
	}
}

func TestSSHAddr(t *testing.T) {
	tests := []struct {
		name string
		host Host
		port int
		want string
	}{
		{"ipv4", Host{IPv4: "192.0.2.1"}, 22, "192.0.2.1:22"},
		{"ipv4 before ipv6", Host{IPv4: "192.0.2.1", IPv6: "2001:db8::1"}, 2222, "192.0.2.1:2222"},
		{"ipv6 only, bracketed", Host{IPv6: "2001:db8::1"}, 22, "[2001:db8::1]:22"},
		{"ipv6 in one spelling", Host{IPv6: "2001:DB8:0::1"}, 22, "[2001:db8::1]:22"},
		{"ssh_address first", Host{IPv4: "192.0.2.1", SSHAddress: "198.18.0.5"}, 22, "198.18.0.5:22"},
		{"ssh_address with port", Host{IPv4: "192.0.2.1", SSHAddress: "198.18.0.5:2200"}, 22, "198.18.0.5:2200"},
		{"ssh_address hostname", Host{SSHAddress: "edge-1.internal"}, 2022, "edge-1.internal:2022"},
		{"ssh_address hostname with port", Host{SSHAddress: "edge-1.internal:23"}, 22, "edge-1.internal:23"},
		{"ssh_address bare IPv6", Host{SSHAddress: "2001:db8::5"}, 22, "[2001:db8::5]:22"},
		{"ssh_address bracketed IPv6", Host{SSHAddress: "[2001:db8::5]"}, 22, "[2001:db8::5]:22"},
		{"ssh_address bracketed IPv6 with port", Host{IPv6: "2001:db8::1", SSHAddress: "[2001:db8::5]:2222"}, 22, "[2001:db8::5]:2222"},
		{"invalid ssh_address", Host{IPv4: "192.0.2.1", SSHAddress: "a b"}, 22, ""},
		{"no address", Host{Name: "x"}, 22, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.host.SSHAddr(tt.port); got != tt.want {
				t.Errorf("SSHAddr(%d) = %q, want %q", tt.port, got, tt.want)
			}
		})
	}
}

func TestFamilies(t *testing.T) {
	tests := []struct {
		name string
		host Host
		want []string
	}{
		{"dual-stack", Host{IPv4: "192.0.2.1", IPv6: "2001:db8::1"}, []string{"ipv4", "ipv6"}},
		{"IPv4 only", Host{IPv4: "192.0.2.1"}, []string{"ipv4"}},
		{"IPv6 only", Host{IPv6: "2001:db8::1", SSHAddress: "198.18.0.1"}, []string{"ipv6"}},
		{"ssh_address only", Host{SSHAddress: "198.18.0.1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.host.Families(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Families() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestJumpHost(t *testing.T) {
	tests := []struct {
		jump, user, addr string
		ok               bool
	}{
		{"", "", "", false},
		{"bastion.example.com", "root", "bastion.example.com:22", true},
		{"ops@bastion.example.com:2200", "ops", "bastion.example.com:2200", true},
		{"ops@2001:db8::1", "ops", "[2001:db8::1]:22", true},
		{"[2001:db8::1]:2200", "root", "[2001:db8::1]:2200", true},
		{"ops@", "", "", false},
	}
	for _, tt := range tests {
		user, addr, ok := SSH{User: "root", Jump: tt.jump}.JumpHost()
		if user != tt.user || addr != tt.addr || ok != tt.ok {
			t.Errorf("JumpHost(%q) = %q, %q, %v; want %q, %q, %v", tt.jump, user, addr, ok, tt.user, tt.addr, tt.ok)
		}
	}
}

func TestClientEndpoints(t *testing.T) {
	f := selectFleet()
	f.Domains = []string{"api.example.com", "*.example.com", "www.example.com"}
	f.Hosts = append(f.Hosts, Host{Name: "again", IPv6: "2001:db8:10::1"}) // same address: listed once
	domains, ips := f.ClientEndpoints()
	if want := []string{"api.example.com", "www.example.com"}; !reflect.DeepEqual(domains, want) {
		t.Errorf("domains = %v, want %v", domains, want)
	}
	if want := []string{"192.0.2.10", "2001:db8:10::1", "2001:db8:20::1", "198.51.100.7", "198.51.100.8"}; !reflect.DeepEqual(ips, want) {
		t.Errorf("ips = %v, want %v", ips, want)
	}
	f.Endpoints = Endpoints{Domains: []string{"edge.example.net"}, IPs: []string{"203.0.113.1"}}
	domains, ips = f.ClientEndpoints()
	if !reflect.DeepEqual(domains, f.Endpoints.Domains) || !reflect.DeepEqual(ips, f.Endpoints.IPs) {
		t.Errorf("with endpoints set: %v %v, want them as written", domains, ips)
	}
}

func TestSweepPort(t *testing.T) {
	listen := []agentconfig.Listener{{Addr: "[::]:8080"}, {Addr: "[::]:8443", TLS: true}}
	tests := []struct {
		name   string
		sweep  Sweep
		listen []agentconfig.Listener
		want   int
	}{
		{"written", Sweep{Scheme: "https", Port: 9000}, listen, 9000},
		{"https: the TLS listener", Sweep{Scheme: "https"}, listen, 8443},
		{"http: the plain listener", Sweep{Scheme: "http"}, listen, 8080},
		{"https without a TLS listener", Sweep{Scheme: "https"}, listen[:1], 443},
		{"http without listeners", Sweep{Scheme: "http"}, nil, 80},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &Fleet{Sweep: tt.sweep, Agent: agentconfig.Config{Listen: tt.listen}}
			if got := f.SweepPort(); got != tt.want {
				t.Errorf("SweepPort() = %d, want %d", got, tt.want)
			}
		})
	}
}
