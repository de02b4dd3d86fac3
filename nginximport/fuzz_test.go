package nginximport

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/edgectl/edgectl/nginxconf"
)

// FuzzTranslate: whatever nginx -T printed, Translate does not panic and
// the agent.yaml it writes is one the agent accepts.
func FuzzTranslate(f *testing.F) {
	for _, c := range cases {
		if b, err := os.ReadFile(filepath.Join("testdata", "dumps", c+".dump")); err == nil {
			f.Add(string(b))
		}
	}
	f.Add("# configuration file /a:\nhttp { server { listen [::1]:80 ssl; server_name .x.y *.z ~a; location = / { proxy_pass http://u/; } location / { proxy_pass https://[::1]; } } upstream u { server a:0; server b weight=99999 backup; } }")
	f.Add("# configuration file /a:\nstream { server { listen 80; proxy_pass x:1; } } http { server { listen 80; location / { proxy_pass http://x:1; } } }")
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := nginxconf.ParseDump(s)
		if err != nil {
			return
		}
		res, err := Translate(cfg, Options{Source: "fuzz"})
		if err != nil {
			return
		}
		checkAgentConfig(t, res.YAML)
	})
}
