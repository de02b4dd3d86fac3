package fleet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgectl/edgectl/yamlfile/yamlfiletest"
)

// TestProblemPositions spells out, for one problem of each kind, the token
// a user should land on, so the goldens are checked by a readable
// expectation too.
func TestProblemPositions(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		line, col int
		token     string // the source text starting at line:col
		msg       string // a part of the message
	}{
		{"unknown top-level key", "unknown_key_top", 1, 1, "hostz:", `unknown key "hostz"`},
		{"unknown ssh key", "unknown_key_nested", 2, 3, "usr:", `unknown key "usr"`},
		{"unknown host key", "unknown_key_nested", 5, 5, "ip:", `unknown key "ip"`},
		{"unknown agent key", "unknown_key_nested", 9, 3, "listn:", `unknown key "listn"`},
		{"unknown key deep in agent", "unknown_key_nested", 15, 11, "wieght:", `unknown key "wieght"`},
		{"string for int", "wrong_type", 2, 9, "twenty-two", "is not a whole number"},
		{"string for list", "wrong_type", 6, 13, "cn2", "expected a list"},
		{"number for duration", "wrong_type", 9, 10, "10", `"10" is not a duration`},
		{"agent bool", "wrong_type", 15, 20, "maybe", "is not true or false"},
		{"${VAR} in a number", "wrong_type_env", 3, 9, "${SSH_PORT}", "expanded only in string values"},
		{"duplicate host name", "duplicate_names", 6, 11, "edge-1", `host name "edge-1" is already used by hosts[0]`},
		{"duplicate ipv4", "duplicate_addresses", 6, 11, "192.0.2.1", "already the address of hosts[0] (a)"},
		{"duplicate ipv6, other spelling", "duplicate_addresses", 8, 11, `"2001:DB8:0::1"`, "already the address of hosts[0] (a)"},
		{"ssh_address onto another host", "duplicate_addresses", 16, 18, "192.0.2.5:22", "SSH would connect to 192.0.2.5:22 for both hosts[3]"},
		{"IPv6 under ipv4", "bad_ips", 3, 11, `"2001:db8::1"`, "move it to ipv6"},
		{"IPv4 under ipv6", "bad_ips", 5, 11, "192.0.2.1", "move it to ipv4"},
		{"IPv4-mapped", "bad_ips", 7, 11, `"::ffff:192.0.2.2"`, "write 192.0.2.2 under ipv4"},
		{"zone", "bad_ips", 9, 11, `"fe80::1%eth0"`, "zones (%eth0) are not allowed"},
		{"unspecified", "bad_ips", 12, 11, `"::"`, "unspecified address"},
		{"multicast", "bad_ips", 14, 11, "224.0.0.1", "multicast"},
		{"no address", "no_address", 2, 5, "name: edge-1", "host has no address; set ipv4, ipv6 or ssh_address"},
		{"no hosts", "no_hosts", 1, 8, "[]", "the fleet has no hosts"},
		{"unbracketed IPv6 with port", "bad_ssh_address", 3, 18, `"2001:db8:1:2:3:4:5:6:22"`, "goes in brackets"},
		{"ssh_address port", "bad_ssh_address", 5, 18, `"192.0.2.1:99999"`, `port "99999" must be a number 1-65535`},
		{"bad host name", "bad_host_names", 2, 11, "edge_1", `name "edge_1" must be letters, digits and hyphens`},
		{"host without name", "bad_host_names", 12, 5, "ipv4:", "host needs a name"},
		{"bad label", "bad_labels", 4, 18, `"has space"`, `label "has space"`},
		{"wildcard in the middle", "bad_domains", 5, 5, `"api.*.example.com"`, "a wildcard is allowed only as *.example.com"},
		{"wildcard over http-01", "bad_domains", 4, 5, `"*.example.com"`, "need acme.challenge: dns-01"},
		{"resolver without port", "resolver", 2, 11, "1.1.1.1", `"1.1.1.1" has no port`},
		{"bad challenge", "acme", 5, 14, "tls-alpn-01", `challenge must be http-01 or dns-01, not "tls-alpn-01"`},
		{"dns-01 without provider", "acme_dns01", 3, 3, "challenge:", "challenge dns-01 needs dns_provider"},
		{"email without @", "acme", 3, 10, "ops.example.com", "is not an address like ops@example.com"},
		{"batch 0", "rollout", 3, 10, "0", "batch must be at least 1"},
		{"negative drain", "rollout", 5, 10, "-5s", "drain must not be negative"},
		{"sweep scheme", "sweep", 3, 11, "ftp", `scheme must be http or https, not "ftp"`},
		{"sweep port", "sweep", 4, 9, "70000", "port must be 1-65535, or 0"},
		{"webhook not a URL, not repeated", "sweep", 9, 18, "hooks.example.com/secret-token", "alert_webhook is not an http(s) URL"},
		{"ssh port", "ssh", 3, 9, "70000", "port must be 1-65535, not 70000"},
		{"jump port", "ssh", 4, 9, `"ops@bastion.example.com:0"`, `port "0" must be a number 1-65535`},
		{"missing variable", "env_missing", 6, 18, "${MISSING_WEBHOOK}", "environment variable MISSING_WEBHOOK is not set"},
		{"unclosed ${", "env_missing", 10, 9, `"/bin/app --token ${TOKEN"`, "${ without a closing }"},
		{"~user", "home", 2, 18, "~deploy/.ssh/id_ed25519", "only ~/ is expanded"},
		{"agent listen", "agent", 6, 13, `"[::]"`, "missing port in address"},
		{"agent duration in a flow mapping", "agent", 8, 31, "-1s", "drain timeout must not be negative"},
		{"agent server in a flow list", "agent", 11, 46, `"::1:8001"`, "too many colons"},
		{"agent upstream key", "agent", 15, 9, "- addr:", "every server is a backup"},
		{"agent alias to an anchor outside agent", "agent", 17, 25, "*contact", `endpoints.protocol must be http or https, not "ops@example.com"`},
		{"agent route", "agent", 19, 17, "ap1", `upstream "ap1" is not defined under upstreams: known: api, web`},
		{"backend exec", "backend", 4, 9, "uvicorn", "exec must start with an absolute path"},
		{"empty backend", "backend_empty", 2, 1, "backend:", "backend needs a name"},
		{"backend socket by name", "backend_keys", 5, 11, `"localhost:8000"`, "the host must be an IP address"},
		{"relative working_dir", "backend_keys", 6, 16, "opt/mop", "must be an absolute path"},
		{"environment name", "backend_keys", 11, 5, "1BAD:", `environment name "1BAD"`},
		{"relative env_file", "backend_keys", 12, 13, "./api.env", "must be an absolute path"},
		{"group without user", "backend_socket", 6, 10, "mop", "group needs user"},
		{"endpoints ip", "endpoints", 4, 35, "2001:db8::zz", "is not a unicast IP address"},
		{"tab indentation", "syntax_tab", 3, 1, "\tipv4", "tab"},
		{"duplicate key", "syntax_duplicate_key", 4, 5, "ipv4: 192.0.2.2", `mapping key "ipv4" already defined at line 3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join("testdata", "invalid", tt.file+".yaml")
			ye := loadErr(t, path)
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := yamlfiletest.TextAt(src, tt.line, tt.col); !strings.HasPrefix(got, tt.token) {
				t.Fatalf("test table is wrong: %s:%d:%d is %q, not %q", path, tt.line, tt.col, got, tt.token)
			}
			for _, p := range ye.Problems {
				if p.Line == tt.line && p.Col == tt.col && strings.Contains(p.Msg, tt.msg) {
					if strings.Contains(p.Msg, "secret-token") {
						t.Errorf("%v repeats the webhook URL, which may hold a secret", p)
					}
					return
				}
			}
			t.Errorf("no problem at %d:%d (%q) mentions %q; got:\n%v", tt.line, tt.col, tt.token, tt.msg, ye)
		})
	}
}
