package provision

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBinariesFor(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "edgectl")
	os.WriteFile(self, []byte("self"), 0o755)
	os.WriteFile(filepath.Join(dir, "edgectl-linux-arm64"), []byte("arm"), 0o755)
	b := &Binaries{Self: self, GOOS: "linux", Arch: "amd64"}
	for _, tc := range []struct{ arch, data, note, err string }{
		{"amd64", "self", "the running binary", ""},
		{"arm64", "arm", "cross-built " + filepath.Join(dir, "edgectl-linux-arm64"), ""},
		{"riscv64", "", "", "make cross"},
	} {
		data, note, err := b.For(tc.arch)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one mentioning %q", tc.arch, err, tc.err)
			}
			continue
		}
		if err != nil || string(data) != tc.data || note != tc.note {
			t.Errorf("%s: %q %q %v; want %q %q", tc.arch, data, note, err, tc.data, tc.note)
		}
	}
}
