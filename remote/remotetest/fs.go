package remotetest

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// Inode is a file's content and metadata; paths that are hard links to
// each other share one Inode.
type Inode struct {
	Data  []byte
	Mode  fs.FileMode
	Owner string // "user:group"
	MTime time.Time
}

// Sum is the SHA-256 of the content, in hex.
func (n *Inode) Sum() string {
	s := sha256.Sum256(n.Data)
	return hex.EncodeToString(s[:])
}

// SetFile creates or replaces path with a new inode (and its directory).
func (h *Fake) SetFile(p string, data []byte, mode fs.FileMode, owner string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mkdirAll(path.Dir(p))
	h.files[path.Clean(p)] = &Inode{Data: append([]byte(nil), data...), Mode: mode, Owner: owner, MTime: h.now()}
}

// File returns the inode at path, or nil.
func (h *Fake) File(p string) *Inode {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.files[path.Clean(p)]
}

// Content returns the content at path ("" and false when missing).
func (h *Fake) Content(p string) (string, bool) {
	n := h.File(p)
	if n == nil {
		return "", false
	}
	return string(n.Data), true
}

// Paths lists every file, sorted.
func (h *Fake) Paths() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.files))
	for p := range h.files {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Glob lists the files whose path matches pattern (path.Match).
func (h *Fake) Glob(pattern string) []string {
	var out []string
	for _, p := range h.Paths() {
		if ok, _ := path.Match(pattern, p); ok {
			out = append(out, p)
		}
	}
	return out
}

// SetFree sets the free bytes of the file system holding dir (and every
// directory below it that has no figure of its own).
func (h *Fake) SetFree(dir string, bytes int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.free[path.Clean(dir)] = bytes
}

// freeFor finds the free-space entry for dir: its own or its nearest
// parent's; "" when none is set (unlimited).
func (h *Fake) freeFor(dir string) string {
	for d := path.Clean(dir); ; d = path.Dir(d) {
		if _, ok := h.free[d]; ok {
			return d
		}
		if d == "/" || d == "." {
			return ""
		}
	}
}

// take uses n bytes in dir; false (ENOSPC) when they are not free.
func (h *Fake) take(dir string, n int64) bool {
	k := h.freeFor(dir)
	if k == "" {
		return true
	}
	if h.free[k] < n {
		return false
	}
	h.free[k] -= n
	return true
}

// give frees the bytes of an inode that lost its last link.
func (h *Fake) release(p string, n *Inode) {
	for _, other := range h.files {
		if other == n {
			return
		}
	}
	if k := h.freeFor(path.Dir(p)); k != "" {
		h.free[k] += int64(len(n.Data))
	}
}

func (h *Fake) mkdirAll(d string) {
	for d = path.Clean(d); d != "/" && d != "."; d = path.Dir(d) {
		h.dirs[d] = true
	}
}

func (h *Fake) isDir(p string) bool {
	p = path.Clean(p)
	if p == "/" || h.dirs[p] {
		return true
	}
	prefix := p + "/"
	for f := range h.files {
		if strings.HasPrefix(f, prefix) {
			return true
		}
	}
	return false
}
