package testbed

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/edgectl/edgectl/fleet"
)

// TestFleetYAMLLoads checks that FleetYAML, with extra keys appended, is a
// fleet.yaml that fleet.Load accepts and reads back as the run's fleet.
func TestFleetYAMLLoads(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run $HOME") // a space and a $ must survive
	b := &Bed{Dir: dir, IdentityFile: filepath.Join(dir, "id_ed25519"), KnownHostsFile: filepath.Join(dir, "known_hosts"),
		st: state{Prefix: "etbtest00"}}
	for i, spec := range Default3() {
		hs := &hostState{Spec: spec}
		if spec.IPv4 {
			hs.Net.IPv4 = v4(7, 11+i)
		}
		if spec.IPv6 {
			hs.Net.IPv6 = v6(7, 11+i)
		}
		b.Hosts = append(b.Hosts, b.newHost(hs))
	}
	extra := "rollout:\n  batch: 2\n"
	path := filepath.Join(t.TempDir(), "fleet.yaml")
	if err := os.WriteFile(path, b.FleetYAML(extra), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := fleet.Load(path)
	if err != nil {
		t.Fatalf("fleet.Load: %v\n%s", err, b.FleetYAML(extra))
	}
	if f.SSH.User != "root" || f.SSH.IdentityFile != b.IdentityFile || f.SSH.KnownHosts != b.KnownHostsFile {
		t.Errorf("ssh = %+v, want root, %s, %s", f.SSH, b.IdentityFile, b.KnownHostsFile)
	}
	if f.Rollout.Batch != 2 {
		t.Errorf("rollout.batch = %d, want 2 from extra", f.Rollout.Batch)
	}
	want := []struct{ name, v4, v6 string }{
		{"vps1", "198.19.7.11", "fd00:e:d9e:7::11"},
		{"vps2", "", "fd00:e:d9e:7::12"},
		{"vps3", "198.19.7.13", ""},
	}
	if len(f.Hosts) != len(want) {
		t.Fatalf("%d hosts, want %d", len(f.Hosts), len(want))
	}
	for i, w := range want {
		h := f.Hosts[i]
		if h.Name != w.name || h.IPv4 != w.v4 || h.IPv6 != w.v6 {
			t.Errorf("hosts[%d] = %s %q %q, want %s %q %q", i, h.Name, h.IPv4, h.IPv6, w.name, w.v4, w.v6)
		}
	}
	if got := b.Host("vps2").SSHAddr; got != "[fd00:e:d9e:7::12]:22" {
		t.Errorf("vps2 SSHAddr = %s", got)
	}
}

func TestOwnerOf(t *testing.T) {
	tests := []struct {
		name string
		pid  int
		ok   bool
	}{
		{"etb2s-br", 0, false},     // no tag
		{"etb2sab-br", 100, true},  // pid "2s" = 100, tag "ab"
		{"etb2sab-v1", 100, true},  // veth
		{"etb2sab-n1k", 100, true}, // namespace 1k
		{"etb2sab-x1", 0, false},   // unknown kind
		{"ect2sab-br", 0, false},   // netnstest's prefix
		{"etb2sab-br-x", 0, false}, // trailing junk
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pid, ok := ownerOf(tt.name)
			if pid != tt.pid || ok != tt.ok {
				t.Errorf("ownerOf(%q) = %d, %v; want %d, %v", tt.name, pid, ok, tt.pid, tt.ok)
			}
		})
	}
	for _, n := range []string{bridgeName(runPrefix(4194303)), vethName(runPrefix(1), 199), netnsName(runPrefix(1), 199)} {
		if len(n) > 15 {
			t.Errorf("%s is longer than an interface name may be", n)
		}
		if pid, ok := ownerOf(n); !ok || !slices.Contains([]int{1, 4194303}, pid) {
			t.Errorf("ownerOf(%s) = %d, %v", n, pid, ok)
		}
	}
}
