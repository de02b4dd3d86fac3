package sweeptest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Build compiles ./cmd/edgectl of this module into dir and returns the
// binary's path. Call it once from TestMain (or lazily).
func Build(dir string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside a module")
	}
	path := filepath.Join(dir, "edgectl")
	build := exec.Command("go", "build", "-o", path, "./cmd/edgectl")
	build.Dir = filepath.Dir(gomod)
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/edgectl: %w\n%s", err, out)
	}
	return path, nil
}
