package remotetest

import (
	"context"
	"io/fs"
	"net"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/edgectl/edgectl/remote"
)

// Rooted returns h with every absolute path moved under root, like a
// chroot made of a path prefix: Rooted(Local{}, "/tmp/h1") writes
// "/etc/edgectl/certs/x/privkey.pem" to "/tmp/h1/etc/edgectl/certs/x/privkey.pem".
// It lets tests run several "hosts" on one machine, each with its own
// /etc/edgectl and /var/lib/edgectl, where a real host cannot be had.
//
// ReadFile, WriteFile and Remove map their path. Run rewrites every word
// of the command that is an absolute path, bare, single-quoted (as
// ShellQuote writes it) or after "=" (as in --reference=/x), so it suits
// commands that name files (mkdir, mv, chown) and cannot run a program by
// its absolute path. DialContext is not changed. name, when not "", is
// what Name returns.
func Rooted(h remote.Host, root, name string) remote.Host {
	return &rooted{Host: h, root: filepath.Clean(root), name: name}
}

type rooted struct {
	remote.Host
	root string
	name string
}

// absWord matches an absolute path starting a shell word or following "=",
// optionally opened by a single quote.
var absWord = regexp.MustCompile(`(^|[\s=])('?)/`)

func (r *rooted) Name() string {
	if r.name != "" {
		return r.name
	}
	return r.Host.Name()
}

// Path maps an absolute path under the root; a relative one is left alone.
func (r *rooted) Path(p string) string {
	if !strings.HasPrefix(p, "/") {
		return p
	}
	return r.root + path.Clean(p)
}

func (r *rooted) Run(ctx context.Context, cmd string, stdin []byte) (remote.Result, error) {
	return r.Host.Run(ctx, rootCommand(cmd, r.root), stdin)
}

// rootCommand rewrites the absolute paths of cmd to lie under root.
func rootCommand(cmd, root string) string {
	return absWord.ReplaceAllStringFunc(cmd, func(m string) string {
		return m[:len(m)-1] + root + "/"
	})
}

func (r *rooted) ReadFile(ctx context.Context, p string) ([]byte, error) {
	return r.Host.ReadFile(ctx, r.Path(p))
}

func (r *rooted) WriteFile(ctx context.Context, p string, data []byte, perm fs.FileMode) error {
	return r.Host.WriteFile(ctx, r.Path(p), data, perm)
}

func (r *rooted) Remove(ctx context.Context, p string) error {
	return r.Host.Remove(ctx, r.Path(p))
}

func (r *rooted) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return r.Host.DialContext(ctx, network, addr)
}
