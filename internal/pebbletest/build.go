package pebbletest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Version is the pebble module version used.
const Version = "v2.10.1"

const module = "github.com/letsencrypt/pebble/v2"

var (
	buildOnce sync.Once
	built     binaries
	buildErr  error
)

type binaries struct {
	pebble, challtestsrv string
	moduleDir            string // test/certs and test/config live here
}

// build returns the pebble binaries, building them on first use.
func build(t testing.TB) binaries {
	t.Helper()
	buildOnce.Do(func() { built, buildErr = buildBinaries() })
	if buildErr != nil {
		t.Fatalf("pebbletest: %v", buildErr)
	}
	return built
}

func buildBinaries() (binaries, error) {
	var b binaries
	out, err := exec.Command("go", "mod", "download", "-json", module+"@"+Version).Output()
	if err != nil {
		return b, fmt.Errorf("go mod download %s@%s: %w (the module proxy or the module cache must have it)", module, Version, err)
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		return b, fmt.Errorf("go mod download %s@%s: no directory (%s)", module, Version, info.Error)
	}
	b.moduleDir = info.Dir
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "edgectl-pebbletest", Version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return b, err
	}
	b.pebble = filepath.Join(dir, "pebble")
	b.challtestsrv = filepath.Join(dir, "pebble-challtestsrv")
	for _, x := range []struct{ bin, pkg string }{{b.pebble, "./cmd/pebble"}, {b.challtestsrv, "./cmd/pebble-challtestsrv"}} {
		if fi, err := os.Stat(x.bin); err == nil && fi.Mode().IsRegular() {
			continue
		}
		tmp := x.bin + fmt.Sprintf(".tmp-%d", os.Getpid())
		cmd := exec.Command("go", "build", "-o", tmp, x.pkg)
		cmd.Dir = info.Dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			os.Remove(tmp)
			return b, fmt.Errorf("build %s: %w\n%s", x.pkg, err, out)
		}
		if err := os.Rename(tmp, x.bin); err != nil {
			return b, err
		}
	}
	if _, err := os.Stat(filepath.Join(info.Dir, "test", "certs", "pebble.minica.pem")); err != nil {
		return b, errors.New("pebble module has no test/certs/pebble.minica.pem")
	}
	return b, nil
}
