package fleet

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/edgectl/edgectl/yamlfile"
)

func TestExpand(t *testing.T) {
	env := envOf(map[string]string{"HOOK": "https://h.example.com/x", "EMPTY": "", "A": "a", "B_2": "b", "DOLLAR": "$${A}"})
	tests := []struct {
		name, in, want string
		err            string // part of the error, "" for none
	}{
		{"no reference", "plain", "plain", ""},
		{"set", "${HOOK}", "https://h.example.com/x", ""},
		{"inside text", "x-${A}-${B_2}-y", "x-a-b-y", ""},
		{"set but empty", "[${EMPTY}]", "[]", ""},
		{"$$ escapes", "$${A}", "${A}", ""},
		{"$$ alone", "cost: $$5", "cost: $5", ""},
		{"$$$ then reference", "$$${A}", "$a", ""},
		{"lone $ kept", "a$b $ c$", "a$b $ c$", ""},
		{"$HOME-style kept", "$HOME/x", "$HOME/x", ""},
		{"value not expanded again", "${DOLLAR}", "$${A}", ""},
		{"missing", "${NOPE}", "", "environment variable NOPE is not set"},
		{"two missing", "${NOPE}${NADA}", "", "environment variables NOPE, NADA are not set"},
		{"missing next to set", "${A}${NOPE}", "", "environment variable NOPE is not set"},
		{"unclosed", "${A", "", "has ${ without a closing }"},
		{"empty name", "${}", "", "${} is not an environment variable reference"},
		{"default unused", "${A:-x}", "a", ""},
		{"default for unset", "${NOPE:-x}", "x", ""},
		{"default for empty", "${EMPTY:-x}", "x", ""},
		{"default with punctuation", "${NOPE:-https://h.example.com/a?b=c:d}", "https://h.example.com/a?b=c:d", ""},
		{"empty default", "[${NOPE:-}]", "[]", ""},
		{"default next to missing", "${NOPE:-x}${NADA}", "", "environment variable NADA is not set"},
		{"nested default", "${NOPE:-${A}}", "", "a default cannot hold another"},
		{"other operators", "${A-x}", "", "${A-x} is not an environment variable reference"},
		{"leading digit", "${1A}", "", "${1A} is not an environment variable reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := expand(tt.in, env)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("expand(%q) = %q, %v; want an error with %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestParseExpandsEverywhere: ${VAR} works in every string value, in lists,
// inside agent:, through anchors; never in keys or numbers.
func TestParseExpandsEverywhere(t *testing.T) {
	env := envOf(map[string]string{"HOME": "/h", "IP4": "192.0.2.9", "IP6": "2001:db8::9", "ZONE": "example.com",
		"LABEL": "eu", "UP": "[::1]:8000", "HOOK": "https://hooks.example.com/s3cret", "KEY": "/keys/id"})
	in := `ssh: {identity_file: "${KEY}"}
hosts:
  - name: edge-1
    ipv4: ${IP4}
    ipv6: "${IP6}"
    labels: [&l "${LABEL}"]
domains: ["api.${ZONE}"]
agent:
  upstreams:
    api: {servers: [{addr: "${UP}"}]}
  routes: [{host: "api.${ZONE}", upstream: api}]
sweep:
  alert_webhook: >-
    ${HOOK}
`
	f := parseOK(t, in, env)
	h := f.Hosts[0]
	if h.IPv4 != "192.0.2.9" || h.IPv6 != "2001:db8::9" || !reflect.DeepEqual(h.Labels, []string{"eu"}) {
		t.Errorf("host = %+v", h)
	}
	if f.SSH.IdentityFile != "/keys/id" || !reflect.DeepEqual(f.Domains, []string{"api.example.com"}) {
		t.Errorf("identity_file %q, domains %v", f.SSH.IdentityFile, f.Domains)
	}
	if addr := f.Agent.Upstreams["api"].Servers[0].Addr; addr != "[::1]:8000" || f.Agent.Routes[0].Host != "api.example.com" {
		t.Errorf("agent server %q, route host %q: want expanded", addr, f.Agent.Routes[0].Host)
	}
	if f.Sweep.AlertWebhook != "https://hooks.example.com/s3cret" {
		t.Errorf("alert_webhook = %q", f.Sweep.AlertWebhook)
	}

	// A key is never expanded: "${X}" as a key is an unknown key.
	_, err := Parse("fleet.yaml", []byte(oneHost+"sweep: {\"${X}\": 1}\n"), env)
	if err == nil || !strings.Contains(err.Error(), `unknown key "${X}"`) {
		t.Errorf("${X} as a key: %v, want an unknown key", err)
	}
}

// TestMissingVariableReportedOnce: the value of a missing variable is
// reported as missing, not also as an invalid address or path, and every
// missing variable is reported together with the file's other problems.
func TestMissingVariableReportedOnce(t *testing.T) {
	in := "hosts:\n  - name: a\n    ipv4: ${IP}\nagent:\n  health_path: ${HP}\nrollout: {batch: 0}\n"
	_, err := Parse("fleet.yaml", []byte(in), testEnv)
	var ye *yamlfile.Error
	if !errors.As(err, &ye) {
		t.Fatalf("got %v, want a *yamlfile.Error", err)
	}
	want := "fleet.yaml:3:11: environment variable IP is not set; export it, give a default with ${IP:-default}, or edit the value (write $$ for a literal $)\n" +
		"fleet.yaml:5:16: environment variable HP is not set; export it, give a default with ${HP:-default}, or edit the value (write $$ for a literal $)\n" +
		"fleet.yaml:6:18: batch must be at least 1 (hosts upgraded at a time), not 0"
	if ye.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", ye, want)
	}
}

func TestDefaultEnvIsProcessEnv(t *testing.T) {
	t.Setenv("EDGECTL_TEST_HOOK", "https://hooks.example.com/from-env")
	t.Setenv("HOME", "/home/proc")
	f := parseOK(t, oneHost+"sweep: {alert_webhook: \"${EDGECTL_TEST_HOOK}\"}\n", nil)
	if f.Sweep.AlertWebhook != "https://hooks.example.com/from-env" || f.SSH.KnownHosts != "/home/proc/.ssh/known_hosts" {
		t.Errorf("with a nil env: webhook %q, known_hosts %q; want both from the process", f.Sweep.AlertWebhook, f.SSH.KnownHosts)
	}
}

// TestEmptyDefaultUnsetsTheKey: a value that is only ${VAR:-} with VAR
// unset or empty leaves its key out (so the key's default applies), and a
// list item out of its list; with VAR set it is the value.
func TestEmptyDefaultUnsetsTheKey(t *testing.T) {
	in := oneHost + `ssh: {known_hosts: "${KH:-}", user: "${U:-deploy}"}
domains: [api.example.com, "${EXTRA:-}"]
sweep: {alert_webhook: "${HOOK:-}", health_path: "${HP:-}"}
`
	f := parseOK(t, in, envOf(map[string]string{"HOME": "/h", "HP": ""}))
	if f.Sweep.AlertWebhook != "" || f.Sweep.HealthPath != "/health" || f.SSH.KnownHosts != "/h/.ssh/known_hosts" || f.SSH.User != "deploy" {
		t.Errorf("unset: webhook %q, health_path %q, known_hosts %q, user %q; want empty, /health, /h/.ssh/known_hosts, deploy",
			f.Sweep.AlertWebhook, f.Sweep.HealthPath, f.SSH.KnownHosts, f.SSH.User)
	}
	if !reflect.DeepEqual(f.Domains, []string{"api.example.com"}) {
		t.Errorf("domains %q, want the empty item dropped", f.Domains)
	}
	f = parseOK(t, in, envOf(map[string]string{"HOME": "/h", "HOOK": "https://hooks.example.com/x", "EXTRA": "www.example.com", "U": "ops"}))
	if f.Sweep.AlertWebhook != "https://hooks.example.com/x" || !reflect.DeepEqual(f.Domains, []string{"api.example.com", "www.example.com"}) || f.SSH.User != "ops" {
		t.Errorf("set: webhook %q, domains %q, user %q", f.Sweep.AlertWebhook, f.Domains, f.SSH.User)
	}
}
