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
	for _, want := range []string{".TH \"EDGECTL\" \"1\"", "edgectl v9.9.9", `\fB--accept-new\fP`, "rollout.health_timeout"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("edgectl-deploy.1 lacks %q", want)
		}
	}
}
