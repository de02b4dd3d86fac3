package nginximport

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/edgectl/edgectl/nginxconf"
	"github.com/edgectl/edgectl/remote"
)

// DumpOptions say how nginx is run on the host.
type DumpOptions struct {
	// Bin is the nginx binary (default "nginx", looked up in PATH with
	// the sbin directories added).
	Bin string
	// Conf is passed as -c when set.
	Conf string
	// Prefix is passed as -p when set.
	Prefix string
}

// Command is the shell command that prints the configuration.
func (o DumpOptions) Command() string {
	bin := o.Bin
	if bin == "" {
		bin = "nginx"
	}
	cmd := `PATH="$PATH:/usr/sbin:/sbin:/usr/local/sbin:/usr/local/nginx/sbin" ` + remote.ShellQuote(bin) + " -T"
	if o.Prefix != "" {
		cmd += " -p " + remote.ShellQuote(o.Prefix)
	}
	if o.Conf != "" {
		cmd += " -c " + remote.ShellQuote(o.Conf)
	}
	return cmd
}

// ErrNoNginx is returned by Dump when the host has no nginx to run.
var ErrNoNginx = errors.New("nginx not found")

// Dump runs nginx -T on h (it tests the configuration and prints every
// file it loaded) and parses the output.
func Dump(ctx context.Context, h remote.Host, o DumpOptions) (*nginxconf.Config, error) {
	cmd := o.Command()
	res, err := h.Run(ctx, cmd, nil)
	if err != nil {
		msg := strings.TrimSpace(string(res.Stderr))
		switch {
		case remote.ExitCode(err) == 127:
			return nil, fmt.Errorf("%s: %w (give the binary with --nginx-bin)", h.Name(), ErrNoNginx)
		case strings.Contains(msg, "Permission denied"):
			return nil, fmt.Errorf("%s: nginx -T must read every file nginx loads, certificate keys included; run it as root (ssh.user root): %s", h.Name(), lastLine(msg))
		case remote.ExitCode(err) > 0:
			return nil, fmt.Errorf("%s: nginx -T failed, so its configuration does not load as it is; fix what it says, then import: %s", h.Name(), lastLine(msg))
		}
		return nil, fmt.Errorf("%s: %s: %w", h.Name(), cmd, err)
	}
	cfg, err := nginxconf.ParseDump(string(res.Stdout))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.Name(), err)
	}
	return cfg, nil
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
