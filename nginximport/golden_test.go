package nginximport

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"

	"github.com/edgectl/edgectl/agentconfig"
	"github.com/edgectl/edgectl/internal/golden"
	"github.com/edgectl/edgectl/nginxconf"
	"github.com/edgectl/edgectl/yamlfile"
)

// translateCase translates testdata/dumps/<c>.dump.
func translateCase(t *testing.T, c string) *Result {
	t.Helper()
	dump, err := os.ReadFile(filepath.Join("testdata", "dumps", c+".dump"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := nginxconf.ParseDump(string(dump))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Translate(cfg, Options{Source: "nginx -T on " + c})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestGolden translates every case and compares agent.yaml (with the
// untranslated list in its header) and the JSON report with the goldens
// under testdata/golden/; every agent.yaml must be a valid agent config.
func TestGolden(t *testing.T) {
	for _, c := range cases {
		t.Run(c, func(t *testing.T) {
			res := translateCase(t, c)
			golden.Check(t, c+" agent.yaml", filepath.Join("testdata", "golden", c+".agent.yaml"), res.YAML)
			var js bytes.Buffer
			enc := json.NewEncoder(&js)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(res); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, c+" report", filepath.Join("testdata", "golden", c+".report.json"), js.Bytes())
			checkAgentConfig(t, res.YAML)
		})
	}
}

// pendingKeys are agent.yaml keys of the contract that the importer
// writes and that this build's agentconfig may not know yet (they are
// being added to the agent alongside the importer). While agentconfig
// rejects them as unknown, checkAgentConfig validates the rest of the file
// without them; once it knows them, the whole file is validated.
var pendingKeys = map[string]bool{"limits": true, "read_timeout": true}

// checkAgentConfig fails the test unless agentconfig accepts y.
func checkAgentConfig(t *testing.T, y []byte) {
	t.Helper()
	_, err := agentconfig.Parse("agent.yaml", y)
	if err == nil {
		return
	}
	var ye *yamlfile.Error
	if !errors.As(err, &ye) {
		t.Fatalf("agent.yaml: %v", err)
	}
	for _, p := range ye.Problems {
		key, ok := strings.CutPrefix(p.Msg, "unknown key ")
		if !ok || !pendingKeys[strings.Trim(strings.Fields(key)[0], `"`)] {
			t.Fatalf("agent.yaml does not validate:\n%v\n%s", ye, y)
		}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(y, &doc); err != nil {
		t.Fatal(err)
	}
	stripKeys(&doc)
	stripped, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := agentconfig.Parse("agent.yaml", stripped); err != nil {
		t.Fatalf("agent.yaml without %v does not validate:\n%v\n%s", pendingKeys, err, stripped)
	}
	t.Logf("this build's agentconfig does not know %v yet: validated without them", pendingKeys)
}

func stripKeys(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		var keep []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if !pendingKeys[n.Content[i].Value] {
				keep = append(keep, n.Content[i], n.Content[i+1])
			}
		}
		n.Content = keep
	}
	for _, c := range n.Content {
		stripKeys(c)
	}
}
