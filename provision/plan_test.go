package provision

import (
	"context"
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

// TestGatherFacts runs the facts script on the model host (the same
// script a real host's shell runs) and reads everything back.
func TestGatherFacts(t *testing.T) {
	m := newModel(t)
	l := m.layout
	m.SetFile(l.Binary, []byte("bin-v7"), 0o755, "root:root")
	m.SetFile(l.AgentConfig, []byte("listen: []\n"), 0o640, "root:root")
	m.SetFile("/etc/edgectl/.agent.yaml"+".edgectl.tmp-1a2b", []byte("half"), 0o600, "root:root")
	m.SetFile(l.Journal(), []byte(`{"version":1,"run":"r1","state":"applying","done":["journal","backup"]}`), 0o644, "root:root")
	m.SetFree("/usr/local", 5<<20)
	m.user = true
	m.units[AgentUnitName] = &UnitState{ActiveState: "active", SubState: "running"}
	m.agentOn, m.agentVer, m.agentSum = true, "v6", "abc"
	m.units["app.service"] = &UnitState{ActiveState: "activating", SubState: "auto-restart", NRestarts: 3, ExecMainStatus: 1}
	f, err := Gather(context.Background(), m, l, []string{l.Binary, l.AgentConfig, l.agentUnit()}, "/run/edgectl/agent.sock", &fleet.Backend{Name: "app", Exec: "/opt/app"})
	if err != nil {
		t.Fatal(err)
	}
	if f.Arch != "amd64" || f.OS != "debian 12" || !f.Systemd || f.BindV6Only != 0 || !f.IPv6 || !f.Loopback6 || !f.User ||
		f.Version != "edgectl v7 (go1.26, linux/amd64)" || f.Active != "active" {
		t.Errorf("facts %+v", f)
	}
	if f.Sums[l.Binary] != sum([]byte("bin-v7")) || len(f.Sums) != 2 {
		t.Errorf("sums %v", f.Sums)
	}
	if ff := f.Files[l.AgentConfig]; ff.Mode != 0o640 || ff.Owner != "root:root" || ff.Size != 11 {
		t.Errorf("agent.yaml facts %+v", ff)
	}
	if f.Agent == nil || f.Agent.Version != "v6" || f.Agent.ConfigSHA256 != "abc" {
		t.Errorf("agent %+v", f.Agent)
	}
	if f.Backend == nil || f.Backend.SubState != "auto-restart" || f.Backend.NRestarts != 3 {
		t.Errorf("backend %+v", f.Backend)
	}
	if got := f.FreeFor("/usr/local/bin"); got != 5<<20 {
		t.Errorf("free space for /usr/local/bin: %d", got)
	}
	if len(f.StaleTemps) != 1 || !strings.HasSuffix(f.StaleTemps[0], ".edgectl.tmp-1a2b") {
		t.Errorf("stale temporary files %v", f.StaleTemps)
	}
	if f.Journal == nil || f.Journal.Finished() || !f.Journal.done(StepBackup) {
		t.Errorf("journal %+v", f.Journal)
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
		files := map[string]FileFacts{}
		for _, file := range w.Files {
			files[file.Path] = FileFacts{Mode: file.Mode, Owner: file.Owner}
		}
		return Facts{Arch: "amd64", Systemd: true, User: true, Active: "active", BindV6Only: 0, Sums: sums, Files: files,
			Backend: &UnitState{ActiveState: "active"}}
	}
	with := func(f Facts, change func(*Facts)) Facts { change(&f); return f }
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
		{"agent.yaml owned root:root: repaired and reloaded", with(installed(base, nil), func(f *Facts) {
			f.Files = map[string]FileFacts{l.AgentConfig: {Mode: 0o640, Owner: "root:root"}}
		}), "bin-v1", ActionReload, []string{"agent.yaml"}, false, false},
		{"the agent runs another config than the file", with(installed(base, nil), func(f *Facts) {
			f.Agent = &AgentFacts{ConfigSHA256: "stale"}
		}), "bin-v1", ActionReload, nil, false, false},
		{"the agent runs another version than the binary", with(installed(base, nil), func(f *Facts) {
			f.Version, f.Agent = "edgectl v1 (go1.26, linux/amd64)", &AgentFacts{Version: "v0"}
		}), "bin-v1", ActionUpgrade, nil, false, false},
		{"backend down", with(installed(base, nil), func(f *Facts) { f.Backend = &UnitState{ActiveState: "failed"} }), "bin-v1", ActionNone, nil, true, false},
		{"an interrupted deploy is completed", with(installed(base, nil), func(f *Facts) {
			f.Journal = &Journal{State: JournalApplying, Action: ActionUpgrade, Done: []string{StepJournal, StepBackup, StepUpload, StepCheck, StepInstall}}
		}), "bin-v1", ActionUpgrade, nil, false, false},
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
			if (tc.action == ActionNone && !tc.backend && p.Recover == nil) == p.Changed() {
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
