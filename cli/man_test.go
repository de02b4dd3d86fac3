package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenManPages(t *testing.T) {
	dir := t.TempDir()
	if err := GenManPages(dir, "v9.9.9"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "edgectl-deploy.1"))
	if err != nil {
		t.Fatal(err)
	}
	// Every page is titled for its command, not all "EDGECTL".
	if st, err := os.ReadFile(filepath.Join(dir, "edgectl-agent-status.1")); err != nil || !strings.Contains(string(st), ".TH \"EDGECTL-AGENT-STATUS\" \"1\"") {
		t.Errorf("edgectl-agent-status.1 is not titled for its command: %v\n%.200s", err, st)
	}
	for _, want := range []string{".TH \"EDGECTL-DEPLOY\" \"1\"", "edgectl v9.9.9", `\fB--accept-new\fP`, "rollout.health_timeout"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("edgectl-deploy.1 lacks %q", want)
		}
	}
}
