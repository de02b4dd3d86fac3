package endpoints

import (
	"path/filepath"
	"testing"

	"github.com/edgectl/edgectl/internal/golden"
)

// TestGolden parses each input under testdata/ and compares the rendered JSON,
// or for an invalid input the error text, with its golden file. Run
// `go test ./endpoints -update` to rewrite them after an intended change.
func TestGolden(t *testing.T) {
	tests := []struct {
		name   string
		input  string
		opts   Options
		golden string
	}{
		{"spec example, defaults", "spec.txt", Options{}, "spec.json"},
		{"spec example, port and socket path", "spec.txt", Options{SocketPath: "/socket.io", DefaultPort: 8443}, "spec_port_socket.json"},
		{"messy formatting and duplicates", "messy.txt", Options{}, "messy.json"},
		{"empty sections: clients would get nothing", "empty.txt", Options{Protocol: "http"}, "empty.err"},
		{"every kind of mistake", "invalid.txt", Options{}, "invalid.err"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []byte
			l, err := ParseFile(filepath.Join("testdata", tt.input))
			if err != nil {
				got = []byte(err.Error() + "\n")
			} else if got, err = Render(l, tt.opts).JSON(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tt.golden)
			golden.Check(t, tt.input, path, got)
		})
	}
}
