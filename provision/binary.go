package provision

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// Binaries finds the edgectl binary for a host's architecture: the running
// binary when it matches, else edgectl-linux-<arch> from Dir (what `make
// cross` and goreleaser produce). It reads each file once.
type Binaries struct {
	// Self is the running binary (os.Executable) and its GOOS/GOARCH.
	Self       string
	GOOS, Arch string
	// Dir is where cross-built binaries are looked up ("" = next to Self
	// and ./dist).
	Dir string

	mu    sync.Mutex
	cache map[string][]byte
}

// NewBinaries describes the running binary.
func NewBinaries(dir string) (*Binaries, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the running binary: %w", err)
	}
	return &Binaries{Self: self, GOOS: runtime.GOOS, Arch: runtime.GOARCH, Dir: dir}, nil
}

// For returns the binary for arch and says which it is.
func (b *Binaries) For(arch string) (data []byte, note string, err error) {
	var candidates []string
	if b.GOOS == "linux" && arch == b.Arch {
		candidates = []string{b.Self}
	} else {
		name := "edgectl-linux-" + arch
		dirs := []string{b.Dir}
		if b.Dir == "" {
			dirs = []string{filepath.Dir(b.Self), "dist"}
		}
		for _, d := range dirs {
			candidates = append(candidates, filepath.Join(d, name))
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range candidates {
		if data, ok := b.cache[p]; ok {
			return data, note4(p, b.Self), nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if b.cache == nil {
			b.cache = map[string][]byte{}
		}
		b.cache[p] = data
		return data, note4(p, b.Self), nil
	}
	return nil, "", &NoBinaryError{Arch: arch, Looked: candidates}
}

// NoBinaryError is returned by For when no binary for a host's
// architecture can be found.
type NoBinaryError struct {
	Arch   string
	Looked []string
}

func (e *NoBinaryError) Error() string {
	return fmt.Sprintf("no edgectl binary for linux/%s: looked for %s; build one with `make cross` (GOOS=linux GOARCH=%s go build -o dist/edgectl-linux-%s ./cmd/edgectl)",
		e.Arch, strings.Join(e.Looked, ", "), e.Arch, e.Arch)
}

func note4(p, self string) string {
	if p == self {
		return "the running binary"
	}
	return "cross-built " + p
}
