package fleet

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgectl/edgectl/internal/golden"
	"github.com/edgectl/edgectl/yamlfile/yamlfiletest"

	"github.com/edgectl/edgectl/yamlfile"
)

// testEnv is the environment every test file is loaded with: HOME and the
// variables the examples use, nothing else.
func testEnv(k string) (string, bool) {
	v, ok := map[string]string{
		"HOME":                  "/home/op",
		"EDGECTL_ALERT_WEBHOOK": "https://hooks.example.com/T000/B000/secret",
	}[k]
	return v, ok
}

// envOf is an environment holding exactly m.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// loadFile parses path with testEnv.
func loadFile(t *testing.T, path string) (*Fleet, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Parse(path, data, testEnv)
}

// loadErr loads path, which must fail with a *yamlfile.Error.
func loadErr(t *testing.T, path string) *yamlfile.Error {
	t.Helper()
	f, err := loadFile(t, path)
	if err == nil {
		t.Fatalf("Parse(%s) = %+v, want an error", path, f)
	}
	var ye *yamlfile.Error
	if !errors.As(err, &ye) {
		t.Fatalf("Parse(%s) error is %T (%v), want *yamlfile.Error", path, err, err)
	}
	if f != nil {
		t.Errorf("Parse(%s) returned a fleet along with its error", path)
	}
	return ye
}

// mustLoad loads testdata/valid/name, which must be valid.
func mustLoad(t *testing.T, name string) *Fleet {
	t.Helper()
	f, err := loadFile(t, filepath.Join("testdata", "valid", name))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestInvalidGolden loads every testdata/invalid/*.yaml and compares the
// complete error text, one problem a line, with NAME.golden.
func TestInvalidGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid fleet files found: %v", err)
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			ye := loadErr(t, path)
			got := ye.Error() + "\n"
			goldenPath := strings.TrimSuffix(path, ".yaml") + ".golden"
			golden.Check(t, "errors for "+path, goldenPath, []byte(got))
			yamlfiletest.CheckPositions(t, path, ye, false)
		})
	}
	// A golden without its file would silently stop being checked.
	goldens, _ := filepath.Glob("testdata/invalid/*.golden")
	for _, g := range goldens {
		if _, err := os.Stat(strings.TrimSuffix(g, ".golden") + ".yaml"); err != nil {
			t.Errorf("%s has no matching .yaml", g)
		}
	}
}

// TestValidFiles loads every testdata/valid/*.yaml and the example at the
// repository root, which must stay valid.
func TestValidFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid fleet files found: %v", err)
	}
	files = append(files, filepath.Join("..", "fleet.yaml.example"))
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := loadFile(t, path)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if is := f.Validate(); len(is) > 0 {
				t.Errorf("Validate after Parse: %+v", is)
			}
		})
	}
}

func TestExampleFile(t *testing.T) {
	f, err := loadFile(t, filepath.Join("..", "fleet.yaml.example"))
	if err != nil {
		t.Fatal(err)
	}
	fams := map[string]string{}
	for _, h := range f.Hosts {
		fams[strings.Join(h.Families(), "+")] = h.Name
	}
	for _, want := range []string{"ipv4+ipv6", "ipv6", "ipv4"} {
		if fams[want] == "" {
			t.Errorf("the example has no host reachable over exactly %s (hosts by family: %v)", want, fams)
		}
	}
	if f.Sweep.AlertWebhook != "https://hooks.example.com/T000/B000/secret" {
		t.Errorf("alert_webhook = %q, want it expanded from EDGECTL_ALERT_WEBHOOK", f.Sweep.AlertWebhook)
	}
	if f.Backend == nil || f.Backend.Name == "" || len(f.Agent.Upstreams) == 0 {
		t.Errorf("the example should show a backend and an agent upstream: %+v %+v", f.Backend, f.Agent.Upstreams)
	}
	// `cp fleet.yaml.example fleet.yaml` with none of its variables
	// exported is a valid fleet: the optional secrets are ${VAR:-}.
	f, err = Parse("fleet.yaml", mustRead(t, filepath.Join("..", "fleet.yaml.example")), envOf(map[string]string{"HOME": "/root"}))
	if err != nil {
		t.Fatalf("the example as copied does not validate:\n%v", err)
	}
	if f.Sweep.AlertWebhook != "" || f.ACME.Email != "ops@example.com" {
		t.Errorf("as copied: alert_webhook %q, acme.email %q; want empty and the example's", f.Sweep.AlertWebhook, f.ACME.Email)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fleet.yaml")
	if err := os.WriteFile(path, []byte("hosts: [{name: a, ipv4: 192.0.2.1}]\nsweep: {alert_webhook: \"https://hooks.example.com/$${NOT_EXPANDED}\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", "/home/loader")
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.SSH.KnownHosts != "/home/loader/.ssh/known_hosts" {
		t.Errorf("known_hosts = %q, want ~ expanded from $HOME", f.SSH.KnownHosts)
	}
	if f.Sweep.AlertWebhook != "https://hooks.example.com/${NOT_EXPANDED}" {
		t.Errorf("alert_webhook = %q, want $$ to stand for $", f.Sweep.AlertWebhook)
	}
	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "read fleet file: ") {
		t.Errorf("Load of a missing file: %v, want a wrapped fs.ErrNotExist", err)
	}
}

func TestParseEmptyFile(t *testing.T) {
	for _, in := range []string{"", "# nothing yet\n", "---\n", "~\n", "domains: [api.example.com]\n"} {
		_, err := Parse("fleet.yaml", []byte(in), testEnv)
		var ye *yamlfile.Error
		if !errors.As(err, &ye) || len(ye.Problems) != 1 || !strings.HasPrefix(ye.Problems[0].Msg, "the fleet has no hosts; list at least one under hosts:") {
			t.Errorf("Parse(%q) = %v, want only: the fleet has no hosts", in, err)
		}
	}
}
