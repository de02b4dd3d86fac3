package nginxconf

import (
	"strings"
	"testing"
	"time"
)

const dump = `# configuration file /etc/nginx/nginx.conf:
user www-data;
http {
    include mime.types;
    include /etc/nginx/sites-enabled/*;
}

# configuration file /etc/nginx/mime.types:
types { text/html html; }

# configuration file /etc/nginx/sites-enabled/api:
server {
    listen [::]:80;
    location /api/ {
        proxy_pass http://backend/;
        set ${x} 'a;b';
    }
}
`

func TestParseDumpIncludes(t *testing.T) {
	cfg, err := ParseDump(dump)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Files, " "); got != "/etc/nginx/nginx.conf /etc/nginx/mime.types /etc/nginx/sites-enabled/api" {
		t.Errorf("files %s", got)
	}
	http := Find(cfg.Main, "http")
	if len(http) != 1 {
		t.Fatalf("http blocks %d", len(http))
	}
	// Both includes are replaced by the included files' directives, in place.
	var names []string
	for _, d := range http[0].Block {
		names = append(names, d.Name)
	}
	if got := strings.Join(names, " "); got != "types server" {
		t.Fatalf("http block %s, want types server", got)
	}
	srv := Find(http[0].Block, "server")[0]
	if srv.Where() != "/etc/nginx/sites-enabled/api:1" {
		t.Errorf("server at %s", srv.Where())
	}
	loc := Find(srv.Block, "location")[0]
	pp := Find(loc.Block, "proxy_pass")[0]
	if pp.Arg(0) != "http://backend/" || pp.Arg(1) != "" || pp.Where() != "/etc/nginx/sites-enabled/api:4" {
		t.Errorf("proxy_pass %v at %s", pp.Args, pp.Where())
	}
	if set := Find(loc.Block, "set")[0]; set.String() != `set ${x} "a;b"` {
		t.Errorf("set directive prints as %s", set.String())
	}
}

func TestParseDumpNeedsHeader(t *testing.T) {
	if _, err := ParseDump("http { }\n"); err == nil || !strings.Contains(err.Error(), "configuration file") {
		t.Fatalf("a dump without file headers must be refused, got %v", err)
	}
}

func TestTokenize(t *testing.T) {
	got := tokenize("a 'b c' \"d\\\"e\" ${f}g; # comment ;\n{ h } x#y;")
	var texts []string
	for _, tk := range got {
		texts = append(texts, tk.text)
	}
	want := `a|b c|d"e|${f}g|;|{|h|}|x#y|;`
	if s := strings.Join(texts, "|"); s != want {
		t.Errorf("tokens %s, want %s", s, want)
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"60", time.Minute, true},
		{"75s", 75 * time.Second, true},
		{"500ms", 500 * time.Millisecond, true},
		{"1m30s", 90 * time.Second, true},
		{"1h 30m", 90 * time.Minute, true},
		{"2d", 48 * time.Hour, true},
		{"soon", 0, false},
		{"", 0, false},
		{"5x", 0, false},
		{"99999999999s", 0, false},
	} {
		got, ok := ParseDuration(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%q: %v %v, want %v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1024", 1024, true},
		{"8k", 8 << 10, true},
		{"10m", 10 << 20, true},
		{"10M", 10 << 20, true},
		{"1g", 1 << 30, true},
		{"1.5m", 0, false},
		{"-1", 0, false},
		{"m", 0, false},
		{"99999999999999g", 0, false},
	} {
		got, ok := ParseSize(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%q: %v %v, want %v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseDump(f *testing.F) {
	f.Add(dump)
	f.Add("# configuration file /a:\nhttp { upstream u { server [::1]:1; } server { location / { proxy_pass http://u; } } }")
	f.Add("# configuration file /a:\n}}{{ ;; 'unterminated")
	f.Add("# configuration file /a:\ninclude /a;\n")
	f.Add("# configuration file /a:\ninclude *;\n# configuration file /b:\ninclude /a; include /b;\n")
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := ParseDump(s)
		if err != nil {
			return
		}
		var walk func(ds []*Directive, depth int)
		walk = func(ds []*Directive, depth int) {
			if depth > 200 {
				t.Fatal("tree deeper than the parser allows")
			}
			for _, d := range ds {
				if d.Line < 1 || d.File == "" {
					t.Fatalf("directive %q without a position", d.Name)
				}
				_ = d.String()
				walk(d.Block, depth+1)
			}
		}
		walk(cfg.Main, 0)
	})
}
