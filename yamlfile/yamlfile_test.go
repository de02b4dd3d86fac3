package yamlfile

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"
)

type inner struct {
	Path     string        `yaml:"path"`
	Interval time.Duration `yaml:"interval"`
}

type doc struct {
	Name    string            `yaml:"name"`
	Port    int               `yaml:"port"`
	Count   uint              `yaml:"count"`
	On      bool              `yaml:"on"`
	Wait    time.Duration     `yaml:"wait"`
	Tags    []string          `yaml:"tags"`
	Weights map[string]int    `yaml:"weights"`
	Inner   inner             `yaml:"inner"`
	Ptr     *inner            `yaml:"ptr"`
	Pools   map[string]*inner `yaml:"pools"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Problem // File is filled in as "f.yaml"
	}{
		{"unknown top-level key", "nmae: x\n",
			[]Problem{{Line: 1, Col: 1, Msg: `unknown key "nmae"`}}},
		{"unknown nested key", "inner:\n  path: /x\n  intervall: 2s\n",
			[]Problem{{Line: 3, Col: 3, Msg: `unknown key "intervall"`}}},
		{"unknown key under a map of structs", "pools:\n  a:\n    pth: /\n",
			[]Problem{{Line: 3, Col: 5, Msg: `unknown key "pth"`}}},
		{"string for int", "port: http\n",
			[]Problem{{Line: 1, Col: 7, Msg: `"http" is not a whole number`}}},
		{"negative for uint", "count: -1\n",
			[]Problem{{Line: 1, Col: 8, Msg: `"-1" is not a whole number`}}},
		{"float for int", "port: 1.5\n",
			[]Problem{{Line: 1, Col: 7, Msg: `"1.5" is not a whole number`}}},
		{"list for int", "port: [80]\n",
			[]Problem{{Line: 1, Col: 7, Msg: "expected a whole number, got a list"}}},
		{"string for bool", "on: maybe\n",
			[]Problem{{Line: 1, Col: 5, Msg: `"maybe" is not true or false`}}},
		{"map for bool", "on: {x: 1}\n",
			[]Problem{{Line: 1, Col: 5, Msg: "expected true or false, got a mapping"}}},
		{"bad duration", "wait: 5q\n",
			[]Problem{{Line: 1, Col: 7, Msg: `"5q" is not a duration (use e.g. 500ms, 5s, 2m)`}}},
		{"duration without unit", "wait: 5\n",
			[]Problem{{Line: 1, Col: 7, Msg: `"5" is not a duration (use e.g. 500ms, 5s, 2m)`}}},
		{"list for duration", "wait: [5s]\n",
			[]Problem{{Line: 1, Col: 7, Msg: "expected a duration (e.g. 500ms, 5s, 2m), got a list"}}},
		{"string for list", "tags: a\n",
			[]Problem{{Line: 1, Col: 7, Msg: `expected a list, got str "a"`}}},
		{"map for list", "tags: {a: 1}\n",
			[]Problem{{Line: 1, Col: 7, Msg: "expected a list, got a mapping"}}},
		{"list for map", "weights: [a, b]\n",
			[]Problem{{Line: 1, Col: 10, Msg: "expected a mapping (key: value), got a list"}}},
		{"list for struct", "inner: [/x]\n",
			[]Problem{{Line: 1, Col: 8, Msg: "expected a mapping (key: value), got a list"}}},
		{"scalar for pointer to struct", "ptr: 3\n",
			[]Problem{{Line: 1, Col: 6, Msg: `expected a mapping (key: value), got int "3"`}}},
		{"list for map of pointers", "pools: [a]\n",
			[]Problem{{Line: 1, Col: 8, Msg: "expected a mapping (key: value), got a list"}}},
		{"map for string", "name: {first: a}\n",
			[]Problem{{Line: 1, Col: 7, Msg: "expected a string, got a mapping"}}},
		{"list for string", "name: [a]\n",
			[]Problem{{Line: 1, Col: 7, Msg: "expected a string, got a list"}}},
		{"list for the whole document", "- a\n- b\n",
			[]Problem{{Line: 1, Col: 1, Msg: "expected a mapping (key: value), got a list"}}},
		{"every problem, sorted", "wait: 5q\nport: x\nzzz: 1\ninner:\n  path: [x]\n",
			[]Problem{
				{Line: 1, Col: 7, Msg: `"5q" is not a duration (use e.g. 500ms, 5s, 2m)`},
				{Line: 2, Col: 7, Msg: `"x" is not a whole number`},
				{Line: 3, Col: 1, Msg: `unknown key "zzz"`},
				{Line: 5, Col: 9, Msg: "expected a string, got a list"},
			}},
		{"tab indentation", "name: a\n\tport: 1\n",
			[]Problem{{Line: 2, Col: 1, Msg: "found a tab character that violates indentation (while scanning a plain scalar that starts at line 1, column 7)"}}},
		{"tab before a key", "inner:\n\tpath: /x\n",
			[]Problem{{Line: 2, Col: 1, Msg: "found character that cannot start any token: a tab; indent with spaces"}}},
		{"unclosed double quote", "name: \"abc\nport: 1\n",
			[]Problem{{Line: 3, Col: 1, Msg: "found unexpected end of stream (while scanning a quoted scalar that starts at line 1, column 7)"}}},
		{"unclosed flow list", "tags: [a, b\nport: 1\n",
			[]Problem{{Line: 2, Col: 5, Msg: "did not find expected ',' or ']' (while parsing a flow sequence that starts at line 1, column 7)"}}},
		{"duplicate key", "port: 1\nport: 2\n",
			[]Problem{{Line: 2, Col: 1, Msg: `mapping key "port" already defined at line 1`}}},
		{"bad indentation", "inner:\n  path: /x\n interval: 2s\n",
			[]Problem{{Line: 3, Col: 2, Msg: "did not find expected key (while parsing a block mapping that starts at line 1, column 1)"}}},
		{"mapping in a plain value", "name: a: b\n",
			[]Problem{{Line: 1, Col: 8, Msg: "mapping values are not allowed in this context"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d doc
			_, err := Decode("f.yaml", []byte(tt.in), &d)
			var ye *Error
			if !errors.As(err, &ye) {
				t.Fatalf("Decode error = %T %v, want *Error", err, err)
			}
			for i := range tt.want {
				tt.want[i].File = "f.yaml"
			}
			if !reflect.DeepEqual(ye.Problems, tt.want) {
				t.Errorf("problems:\n%v\nwant:\n%v", ye, &Error{Problems: tt.want})
			}
		})
	}
}

func TestDecodeValid(t *testing.T) {
	in := "name: edge\nport: 8080\ncount: 3\non: true\nwait: 1m30s\ntags: [a, b]\n" +
		"weights: {x: 2}\ninner: {path: /h, interval: 2s}\nptr: {path: /p}\npools:\n  a:\n  b: {path: /b}\n"
	var d doc
	root, err := Decode("f.yaml", []byte(in), &d)
	if err != nil {
		t.Fatal(err)
	}
	if root == nil {
		t.Fatal("no root node")
	}
	want := doc{
		Name: "edge", Port: 8080, Count: 3, On: true, Wait: 90 * time.Second,
		Tags: []string{"a", "b"}, Weights: map[string]int{"x": 2},
		Inner: inner{Path: "/h", Interval: 2 * time.Second}, Ptr: &inner{Path: "/p"},
		Pools: map[string]*inner{"a": nil, "b": {Path: "/b"}},
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("decoded %+v\nwant %+v", d, want)
	}
}

// TestDecodeEmpty: a file with no document decodes to the zero value, so
// that defaults apply, and still yields a root that At accepts.
func TestDecodeEmpty(t *testing.T) {
	for _, in := range []string{"", "\n", "   \n\n", "# nothing here yet\n", "---\n", "---\n...\n", "~\n"} {
		d := doc{Name: "untouched"}
		root, err := Decode("f.yaml", []byte(in), &d)
		if err != nil {
			t.Errorf("Decode(%q): %v", in, err)
			continue
		}
		if root == nil {
			t.Errorf("Decode(%q): nil root", in)
			continue
		}
		if d.Name != "untouched" {
			t.Errorf("Decode(%q) changed the output to %+v", in, d)
		}
		if l, c := At(root, "inner.path"); l < 0 || c < 0 {
			t.Errorf("At on the empty root = %d:%d", l, c)
		}
		if l, c := KeyAt(root, "inner.path"); l < 0 || c < 0 {
			t.Errorf("KeyAt on the empty root = %d:%d", l, c)
		}
	}
}

func TestDecodeRootOnTypeError(t *testing.T) {
	// Type errors still return the parsed tree, so a caller can point at
	// more problems; syntax errors have no tree.
	var d doc
	root, err := Decode("f.yaml", []byte("port: x\n"), &d)
	if err == nil || root == nil {
		t.Errorf("type error: root %v, err %v; want both", root, err)
	}
	root, err = Decode("f.yaml", []byte("port: \"x\n"), &d)
	if err == nil || root != nil {
		t.Errorf("syntax error: root %v, err %v; want only an error", root, err)
	}
}

func TestDecodeMultipleDocuments(t *testing.T) {
	var d doc
	_, err := Decode("f.yaml", []byte("port: 1\n---\nport: 2\n"), &d)
	var ye *Error
	if !errors.As(err, &ye) || len(ye.Problems) != 1 {
		t.Fatalf("got %v, want one problem", err)
	}
	if p := ye.Problems[0]; p.File != "f.yaml" || !strings.Contains(p.Msg, "found multiple") {
		t.Errorf("problem %+v does not say the file has several documents", p)
	}
}

const tree = `upstreams:
  api:
    servers:
      - addr: "[::1]:8000"
      - addr: 127.0.0.1:8000
        backup: true
    health: {path: /h, rise: 2}
  web: &web
    servers: []
routes:
  - upstream: api
    path: /api/
  - upstream: web
alias: *web
`

func TestAtAndKeyAt(t *testing.T) {
	var root yaml.Node
	if err := yaml.Load([]byte(tree), &root); err != nil {
		t.Fatal(err)
	}
	type pos struct{ line, col int }
	tests := []struct {
		name   string
		path   string
		at     pos // the value
		keyAt  pos // the key, where there is one
		atText string
	}{
		{"top-level map", "upstreams", pos{2, 3}, pos{1, 1}, "api:"},
		{"nested map", "upstreams.api", pos{3, 5}, pos{2, 3}, "servers:"},
		{"sequence", "upstreams.api.servers", pos{4, 7}, pos{3, 5}, "- addr"},
		{"sequence item", "upstreams.api.servers[1]", pos{5, 9}, pos{5, 9}, "addr: 127"},
		{"scalar in an item", "upstreams.api.servers[0].addr", pos{4, 15}, pos{4, 9}, `"[::1]:8000"`},
		{"second key of an item", "upstreams.api.servers[1].backup", pos{6, 17}, pos{6, 9}, "true"},
		{"flow mapping", "upstreams.api.health.rise", pos{7, 30}, pos{7, 24}, "2}"},
		{"empty flow sequence", "upstreams.web.servers", pos{9, 14}, pos{9, 5}, "[]"},
		{"index in a top-level list", "routes[1].upstream", pos{13, 15}, pos{13, 5}, "web"},
		{"through an alias", "alias.servers", pos{9, 14}, pos{9, 5}, "[]"},
		{"missing key: nearest parent", "upstreams.api.servers[0].weight", pos{4, 9}, pos{4, 9}, "addr:"},
		{"missing map entry", "upstreams.nope.servers", pos{2, 3}, pos{2, 3}, "api:"},
		{"index out of range", "upstreams.api.servers[7].addr", pos{4, 7}, pos{4, 7}, "- addr"},
		{"negative index", "routes[-1]", pos{11, 3}, pos{11, 3}, "- upstream"},
		{"index into a map", "upstreams[0]", pos{2, 3}, pos{2, 3}, "api:"},
		{"key below a scalar", "routes[0].path.x", pos{12, 11}, pos{12, 11}, "/api/"},
		{"missing top-level key", "listen[0].addr", pos{1, 1}, pos{1, 1}, "upstreams:"},
		{"empty path", "", pos{1, 1}, pos{1, 1}, "upstreams:"},
		{"unclosed bracket", "routes[1", pos{11, 3}, pos{11, 3}, "- upstream"},
	}
	lines := strings.Split(tree, "\n")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lines[tt.at.line-1][tt.at.col-1:]; !strings.HasPrefix(got, tt.atText) {
				t.Fatalf("test table is wrong: %d:%d is %q, not %q", tt.at.line, tt.at.col, got, tt.atText)
			}
			if l, c := At(&root, tt.path); (pos{l, c}) != tt.at {
				t.Errorf("At(%q) = %d:%d, want %d:%d", tt.path, l, c, tt.at.line, tt.at.col)
			}
			if l, c := KeyAt(&root, tt.path); (pos{l, c}) != tt.keyAt {
				t.Errorf("KeyAt(%q) = %d:%d, want %d:%d", tt.path, l, c, tt.keyAt.line, tt.keyAt.col)
			}
		})
	}
}

func TestAtNilRoot(t *testing.T) {
	if l, c := At(nil, "a.b"); l != 0 || c != 0 {
		t.Errorf("At(nil) = %d:%d, want 0:0", l, c)
	}
	if l, c := KeyAt(nil, "a.b"); l != 0 || c != 0 {
		t.Errorf("KeyAt(nil) = %d:%d, want 0:0", l, c)
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		name string
		p    Problem
		want string
	}{
		{"line and column", Problem{File: "agent.yaml", Line: 3, Col: 7, Msg: "bad"}, "agent.yaml:3:7: bad"},
		{"line only", Problem{File: "agent.yaml", Line: 3, Msg: "bad"}, "agent.yaml:3: bad"},
		{"no position", Problem{File: "agent.yaml", Msg: "bad"}, "agent.yaml: bad"},
		{"column without line", Problem{File: "agent.yaml", Col: 4, Msg: "bad"}, "agent.yaml: bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestErrorFormatAndSort(t *testing.T) {
	e := &Error{Problems: []Problem{
		{File: "a.yaml", Line: 10, Col: 3, Msg: "third"},
		{File: "a.yaml", Line: 2, Col: 9, Msg: "second"},
		{File: "a.yaml", Line: 10, Col: 3, Msg: "third, same place, kept after"},
		{File: "a.yaml", Line: 2, Col: 1, Msg: "first"},
		{File: "a.yaml", Msg: "no position: sorts first"},
		{File: "a.yaml", Line: 10, Col: 1, Msg: "before third"},
	}}
	e.Sort()
	want := "a.yaml: no position: sorts first\n" +
		"a.yaml:2:1: first\n" +
		"a.yaml:2:9: second\n" +
		"a.yaml:10:1: before third\n" +
		"a.yaml:10:3: third\n" +
		"a.yaml:10:3: third, same place, kept after"
	if got := e.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
	if got := (&Error{}).Error(); got != "" {
		t.Errorf("empty Error() = %q", got)
	}
	var err error = e
	var ye *Error
	if !errors.As(err, &ye) || len(ye.Problems) != 6 {
		t.Error("*Error does not survive errors.As")
	}
}
