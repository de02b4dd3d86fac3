package remote

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
)

// Host is a machine edgectl acts on.
type Host interface {
	// Name is how the host is named in messages: the fleet name, or
	// "localhost".
	Name() string
	// Run runs cmd through /bin/sh -c on the host with stdin (may be nil)
	// and returns what it printed. A command that ran and exited non-zero
	// returns a *ExitError carrying the result; err is nil only for exit 0.
	Run(ctx context.Context, cmd string, stdin []byte) (Result, error)
	// ReadFile returns the content of path on the host. A missing file
	// gives an error matching fs.ErrNotExist.
	ReadFile(ctx context.Context, path string) ([]byte, error)
	// WriteFile replaces path atomically: the data goes to a temporary
	// name in the same directory, is fsynced, chmodded to perm and renamed
	// over path. A reader never sees a half-written file.
	WriteFile(ctx context.Context, path string, data []byte, perm fs.FileMode) error
	// Remove deletes path; a missing file is not an error.
	Remove(ctx context.Context, path string) error
	// DialContext opens a connection from the host itself, so "[::1]:8000"
	// is the host's own loopback. network is "tcp", "tcp4" or "tcp6" and is
	// honoured: a tcp6 dial never falls back to IPv4; "unix" reaches a unix
	// socket on the host (the agent's admin socket).
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	// Close releases the connection to the host.
	Close() error
}

// TempInfix marks the temporary files WriteFile creates next to their
// target: ".<base>.edgectl.tmp-<random>". One left by a run that was cut
// off can be found (and removed) by this name alone.
const TempInfix = ".edgectl.tmp-"

// Result is what a command printed and how it exited. Each stream keeps at
// most MaxOutput bytes.
type Result struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
}

// ExitError is returned by Run when the command exited non-zero.
type ExitError struct {
	Host   string
	Cmd    string
	Result Result
}

func (e *ExitError) Error() string {
	msg := string(trimSpace(e.Result.Stderr))
	if msg == "" {
		msg = string(trimSpace(e.Result.Stdout))
	}
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	if msg == "" {
		return fmt.Sprintf("%s: %q exited with status %d", e.Host, shortCmd(e.Cmd), e.Result.ExitCode)
	}
	return fmt.Sprintf("%s: %q exited with status %d: %s", e.Host, shortCmd(e.Cmd), e.Result.ExitCode, msg)
}

// ExitCode returns the exit status of a failed Run, or -1 when err did not
// come from a command that ran.
func ExitCode(err error) int {
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Result.ExitCode
	}
	return -1
}

func shortCmd(cmd string) string {
	if len(cmd) > 60 {
		return cmd[:60] + "…"
	}
	return cmd
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\n' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// ShellQuote quotes s for /bin/sh, closing and reopening the quotes around
// a single quote:
//
//	it's  →  'it'\''s'
func ShellQuote(s string) string {
	if s != "" && isSafe(s) {
		return s
	}
	out := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, `'\''`...)
		} else {
			out = append(out, s[i])
		}
	}
	return string(append(out, '\''))
}

func isSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '/' || c == '.' || c == '-' || c == '_' || c == ':' || c == '=' || c == ',' || c == '@' || c == '+':
		default:
			return false
		}
	}
	return true
}
