package provision

import (
	"strings"
	"testing"

	"github.com/edgectl/edgectl/fleet"
)

func testFleet(t *testing.T, extra string) *fleet.Fleet {
	t.Helper()
	f, err := fleet.Parse("fleet.yaml", []byte(`ssh: {identity_file: "", known_hosts: /dev/null}
hosts:
  - {name: vps1, ipv4: 198.18.0.11, ipv6: "fd00:e:d9e::11"}
domains: [api.example.com]
`+extra), func(k string) (string, bool) {
		if k == "HOME" {
			return "/root", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestParseFacts(t *testing.T) {
	out := "arch=x86_64\nos=debian 12\npid1=systemd\nbindv6only=1\ndisable_ipv6=0\nlo6=1\nuser=1\nversion=edgectl v1 (go1.26, linux/amd64)\nactive=active\n" +
		"sum " + strings.Repeat("a", 64) + "  /usr/local/bin/edgectl\nsum short  /etc/x\n"
	f, err := parseFacts([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if f.Arch != "amd64" || !f.Systemd || f.BindV6Only != 1 || !f.IPv6 || !f.Loopback6 || !f.User || f.Active != "active" ||
		f.Sums["/usr/local/bin/edgectl"] != strings.Repeat("a", 64) || len(f.Sums) != 1 || f.OS != "debian 12" {
		t.Fatalf("parsed %+v", f)
	}
	if _, err := parseFacts([]byte("garbage")); err == nil {
		t.Fatal("output without uname must be an error")
	}
}

func TestMakePlan(t *testing.T) {
	l := DefaultLayout()
	f := testFleet(t, "backend: {name: app, exec: \"/opt/app -listen [::]:8000\"}\n")
	installed := func(w Want, mutate func(sums map[string]string)) Facts {
		sums := map[string]string{}
		for _, file := range w.Files {
			sums[file.Path] = file.Sum
		}
		if mutate != nil {
			mutate(sums)
		}
		return Facts{Arch: "amd64", Systemd: true, User: true, Active: "active", BindV6Only: 0, Sums: sums}
	}
	base, err := Desired(f, l, []byte("bin-v1"), Facts{BindV6Only: 0, Sums: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		facts   Facts
		binary  string
		action  Action
		changed []string
		backend bool
		sysctl  bool
	}{
		{"fresh host", Facts{Systemd: true, Sums: map[string]string{}}, "bin-v1", ActionInstall,
			[]string{"edgectl", "agent.yaml", "endpoints.txt", "app.service", "edgectl-agent.service"}, true, false},
		{"fresh host with bindv6only=1 gets the drop-in", Facts{Systemd: true, BindV6Only: 1, Sums: map[string]string{}}, "bin-v1", ActionInstall,
			[]string{"edgectl", "agent.yaml", "endpoints.txt", "app.service", "60-edgectl.conf", "edgectl-agent.service"}, true, true},
		{"nothing changed", installed(base, nil), "bin-v1", ActionNone, nil, false, false},
		{"new binary", installed(base, nil), "bin-v2", ActionUpgrade, []string{"edgectl"}, false, false},
		{"config changed", installed(base, func(s map[string]string) { s[l.AgentConfig] = "old" }), "bin-v1", ActionReload, []string{"agent.yaml"}, false, false},
		{"unit changed", installed(base, func(s map[string]string) { s[l.agentUnit()] = "old" }), "bin-v1", ActionRestart, []string{"edgectl-agent.service"}, false, false},
		{"backend unit changed", installed(base, func(s map[string]string) { s[l.backendUnit("app")] = "old" }), "bin-v1", ActionReload, []string{"app.service"}, true, false},
		{"agent stopped", func() Facts { x := installed(base, nil); x.Active = "failed"; return x }(), "bin-v1", ActionRestart, nil, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := Desired(f, l, []byte(tc.binary), tc.facts)
			if err != nil {
				t.Fatal(err)
			}
			p := MakePlan("vps1", tc.facts, want, l)
			var changed []string
			for _, c := range p.Files {
				if c.Op != "unchanged" {
					changed = append(changed, baseName(c.Path))
				}
			}
			if p.Action != tc.action || strings.Join(changed, ",") != strings.Join(tc.changed, ",") || p.BackendRestart != tc.backend || p.Sysctl != tc.sysctl {
				t.Fatalf("action %s changed %v backend %v sysctl %v; want %s %v %v %v", p.Action, changed, p.BackendRestart, p.Sysctl, tc.action, tc.changed, tc.backend, tc.sysctl)
			}
			if (tc.action == ActionNone) == p.Changed() {
				t.Fatalf("Changed() = %v for action %s", p.Changed(), p.Action)
			}
		})
	}
}

// Once written, the drop-in stays even though bindv6only now reads 0.
func TestSysctlDropInIsKept(t *testing.T) {
	l := DefaultLayout()
	f := testFleet(t, "backend: {name: app, exec: /opt/app}\n")
	w, _ := Desired(f, l, nil, Facts{BindV6Only: 0, Sums: map[string]string{l.sysctl(): "x"}})
	found := false
	for _, file := range w.Files {
		found = found || file.Path == l.sysctl()
	}
	if !found {
		t.Fatal("a managed drop-in must stay in the plan")
	}
}

func TestDiff(t *testing.T) {
	old := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n"
	new := "a\nb\nc\nD\ne\nf\ng\nh\ni\nj\nk\n"
	got := Diff("agent.yaml", []byte(old), []byte(new))
	want := `--- agent.yaml (on host)
+++ agent.yaml (new)
@@ -1,10 +1,11 @@
 a
 b
 c
-d
+D
 e
 f
 g
 h
 i
 j
+k
`
	if got != want {
		t.Fatalf("diff:\n%s\nwant:\n%s", got, want)
	}
	if Diff("x", []byte("same"), []byte("same")) != "" {
		t.Fatal("equal files must give no diff")
	}
	if d := Diff("x", nil, []byte("new\n")); !strings.Contains(d, "+new") {
		t.Fatalf("create diff: %s", d)
	}
}
