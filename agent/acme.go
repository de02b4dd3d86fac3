package agent

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/edgectl/edgectl/proxy"
)

// acmeChallengePrefix is where HTTP-01 validation requests arrive (RFC 8555
// section 8.3).
const acmeChallengePrefix = "/.well-known/acme-challenge/"

// maxACMETokenFile bounds what is read from a token file. A key
// authorization is about 90 bytes (token "." thumbprint); anything much
// larger is not one.
const maxACMETokenFile = 4 << 10

// acmeResponder answers HTTP-01 challenges from the token files that
// `edgectl cert` uploads into a directory. Each request reads its file
// afresh, so tokens written at any time are served at once and removed ones
// stop being served. It holds no mutable state and is safe for concurrent
// use.
type acmeResponder struct {
	dir string
}

// newACMEResponder serves the tokens in dir. An empty dir disables the
// responder: it then handles nothing.
func newACMEResponder(dir string) *acmeResponder {
	return &acmeResponder{dir: dir}
}

// isChallenge reports whether path is under /.well-known/acme-challenge/,
// whether or not the token in it is valid: such requests belong to the
// responder and must not be routed or redirected to HTTPS.
func (a *acmeResponder) isChallenge(path []byte) bool {
	return a.dir != "" && bytes.HasPrefix(path, []byte(acmeChallengePrefix))
}

// serve answers GET and HEAD under the challenge prefix: 200 text/plain
// with the token file's content, or 404 when the token is malformed (any
// character outside the base64url alphabet, including "/", "." and "%")
// or has no regular file in the directory. It returns nil for every other
// request, which is then routed as usual. For HEAD the body is still set so
// the proxy writes the right Content-Length; the proxy drops it.
func (a *acmeResponder) serve(r *proxy.LocalRequest) *proxy.LocalResponse {
	if !a.isChallenge(r.Path) {
		return nil
	}
	if m := string(r.Method); m != "GET" && m != "HEAD" {
		return nil
	}
	token := r.Path[len(acmeChallengePrefix):]
	if !validACMEToken(token) {
		return acmeNotFound()
	}
	body, err := a.read(string(token))
	if err != nil {
		return acmeNotFound()
	}
	return &proxy.LocalResponse{
		Status: 200,
		Header: []string{"Content-Type", "text/plain", "Cache-Control", "no-store"},
		Body:   body,
	}
}

// read returns the content of the token file dir/token. It refuses
// anything but a regular file: a symlink (even one pointing inside dir), a
// directory, a FIFO or a device. O_NONBLOCK keeps opening a FIFO from
// hanging the connection.
func (a *acmeResponder) read(token string) ([]byte, error) {
	name := filepath.Join(a.dir, token)
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("acme token %s: not a regular file", name)
	}
	body, err := io.ReadAll(io.LimitReader(f, maxACMETokenFile+1))
	if err != nil {
		return nil, fmt.Errorf("read acme token %s: %w", name, err)
	}
	if len(body) > maxACMETokenFile {
		return nil, fmt.Errorf("acme token %s: larger than %d bytes", name, maxACMETokenFile)
	}
	return body, nil
}

// validACMEToken reports whether t is a non-empty string over the base64url
// alphabet [A-Za-z0-9_-], the only characters an ACME token may contain
// (RFC 8555 section 8.1). This alone rules out path traversal.
func validACMEToken(t []byte) bool {
	if len(t) == 0 {
		return false
	}
	for _, c := range t {
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

func acmeNotFound() *proxy.LocalResponse {
	return &proxy.LocalResponse{
		Status: 404,
		Header: []string{"Content-Type", "text/plain", "Cache-Control", "no-store"},
		Body:   []byte("no such ACME challenge token\n"),
	}
}
