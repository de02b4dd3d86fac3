// Package yamlfiletest checks, for the config packages' tests, the contract
// of yamlfile.Error: every problem names the file and points at the token a
// user should land on, and problems come sorted.
package yamlfiletest

import (
	"os"
	"strings"
	"testing"

	"github.com/edgectl/edgectl/yamlfile"
)

// CheckPositions asserts that every problem of ye names path, has a
// message and points at a character of the file that is neither blank nor
// part of a comment (a tab only when the message is about tabs), and that
// problems are sorted. Syntax errors (syntax true) only have to point
// within the file: an unclosed quote points past its end.
func CheckPositions(t *testing.T, path string, ye *yamlfile.Error, syntax bool) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(src), "\n")
	for _, p := range ye.Problems {
		if p.File != path || p.Msg == "" {
			t.Errorf("%v: want file %q and a message", p, path)
		}
		if p.Line < 1 || p.Col < 1 {
			t.Errorf("%v: no position", p)
			continue
		}
		if syntax {
			if p.Line > len(lines) {
				t.Errorf("%v: line beyond the end of the file", p)
			}
			continue
		}
		rest := TextAt(src, p.Line, p.Col)
		if rest == "" || rest[0] == ' ' || rest[0] == '\t' && !strings.Contains(p.Msg, "tab") || rest[0] == '#' {
			t.Errorf("%v: points at %q, not at a token", p, rest)
		}
	}
	for i := 1; i < len(ye.Problems); i++ {
		a, b := ye.Problems[i-1], ye.Problems[i]
		if a.Line > b.Line || a.Line == b.Line && a.Col > b.Col {
			t.Errorf("problems not sorted: %v before %v", a, b)
		}
	}
}

// TextAt returns the rest of line (1-based) of src from column col
// (1-based, in characters): the token a position points at.
func TextAt(src []byte, line, col int) string {
	lines := strings.Split(string(src), "\n")
	if line < 1 || line > len(lines) {
		return ""
	}
	l := []rune(lines[line-1])
	if col < 1 || col > len(l) {
		return ""
	}
	return string(l[col-1:])
}
