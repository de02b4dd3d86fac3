package agentconfig

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgectl/edgectl/yamlfile"
)

// FuzzParse feeds arbitrary bytes to Parse. It must never panic; a config
// it accepts must be valid and self-consistent, and a config it rejects
// must be rejected with positioned problems naming the file.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata/valid", "testdata/invalid"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
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
		"upstreams: {a: ~}\nroutes: [{upstream: a}]\n",
		"upstreams: &u {a: {servers: [{addr: 'h:1'}]}}\nroutes: [{upstream: a}]\n",
		"upstreams:\n  a.b:\n    servers: [{addr: 'x:0'}]\n",
		"listen: [{addr: '[::]:80'}, {addr: '[::]:80'}]\n",
		"streams: [{listen: ':1'}]\n",
		"---\n...\n",
	} {
		f.Add([]byte(s))
	}
	const name = "fuzz/agent.yaml"
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(name, data)
		if err != nil {
			if c != nil {
				t.Errorf("Parse returned a config along with %v", err)
			}
			var ye *yamlfile.Error
			if !errors.As(err, &ye) {
				t.Fatalf("error is %T, want *yamlfile.Error: %v", err, err)
			}
			if len(ye.Problems) == 0 {
				t.Fatalf("*yamlfile.Error without problems")
			}
			for _, p := range ye.Problems {
				if p.Msg == "" {
					t.Errorf("problem without a message: %+v", p)
				}
				if p.File != name {
					t.Errorf("problem names file %q, want %q: %+v", p.File, name, p)
				}
				if p.Line < 0 || p.Col < 0 {
					t.Errorf("negative position: %+v", p)
				}
			}
			return
		}
		if c == nil {
			t.Fatal("Parse returned neither a config nor an error")
		}
		if is := c.Validate(); len(is) > 0 {
			t.Errorf("Parse accepted a config that Validate rejects: %+v", is)
		}
		for i, r := range c.Routes {
			if u, ok := c.Upstreams[r.Upstream]; !ok || u == nil {
				t.Errorf("routes[%d] names upstream %q, which does not exist", i, r.Upstream)
			}
		}
		for i, s := range c.Streams {
			if u, ok := c.Upstreams[s.Upstream]; !ok || u == nil {
				t.Errorf("streams[%d] names upstream %q, which does not exist", i, s.Upstream)
			}
		}
		for name, u := range c.Upstreams {
			if u == nil || len(u.Servers) == 0 || u.Keepalive == nil || u.MaxFails == nil {
				t.Errorf("upstream %q accepted without servers or defaults: %+v", name, u)
			}
		}
		if len(c.Listen) == 0 || c.TLS.RedirectHTTP == nil {
			t.Errorf("defaults missing: listen %v, redirect_http %v", c.Listen, c.TLS.RedirectHTTP)
		}
	})
}
