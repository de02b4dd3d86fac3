// Package buildtest compiles this module's commands for tests that run them
// as real processes (the agent, the sample backend, the load generator):
// each package and version once per test process, static, into one
// temporary directory that Cleanup removes.
package buildtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

type result struct {
	once sync.Once
	path string
	err  error
}

var (
	mu    sync.Mutex
	dir   string
	built = map[string]*result{}
)

// Build compiles pkg (a path inside this module such as "./cmd/edgectl")
// with -X main.version=version and returns the binary's path.
func Build(pkg, version string) (string, error) {
	key := pkg + "@" + version
	mu.Lock()
	r := built[key]
	if r == nil {
		r = &result{}
		built[key] = r
	}
	mu.Unlock()
	r.once.Do(func() { r.path, r.err = build(pkg, version) })
	return r.path, r.err
}

func build(pkg, version string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside the edgectl module")
	}
	mu.Lock()
	if dir == "" {
		dir, err = os.MkdirTemp("", "edgectl-buildtest-")
	}
	d := dir
	mu.Unlock()
	if err != nil {
		return "", err
	}
	// Each version in its own directory, so the binary keeps its name
	// (a process shows up as "sampleapp", not "sampleapp-test").
	vdir := filepath.Join(d, strings.NewReplacer("/", "_", ".", "_").Replace(version))
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(vdir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version="+version, "-o", path, pkg)
	cmd.Dir = filepath.Dir(gomod)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	return path, nil
}

// Binary is Build for a test: a build failure fails the test.
func Binary(t testing.TB, pkg, version string) string {
	t.Helper()
	p, err := Build(pkg, version)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Edgectl is the edgectl binary of this tree, version "test".
func Edgectl(t testing.TB) string { return Binary(t, "./cmd/edgectl", "test") }

// Cleanup removes every binary built; call it from TestMain after m.Run.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
		dir = ""
		built = map[string]*result{}
	}
}
