// Package golden compares test output with files under testdata/, and
// rewrites them when tests run with -update.
package golden

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

// update is the -update flag shared by every package that uses golden files.
var update = flag.Bool("update", false, "rewrite golden files in testdata/ from the current output")

// Check compares got with the file at path (writing it first under
// -update) and reports a difference as a test error naming what produced it.
func Check(t testing.TB, what, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s\n--- got\n%s--- want\n%s", what, path, got, want)
	}
}
