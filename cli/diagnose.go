package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgectl/edgectl/diagnose"
	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/provision"
	"github.com/edgectl/edgectl/remote"
)

// diagnoseOptions holds the flags, streams and seams of `diagnose 502`.
type diagnoseOptions struct {
	Diag       diagnose.Options
	Host       string // --host NAME (with --fleet)
	FleetFile  string
	SSH        string // --ssh user@host[:port]
	Identity   string
	KnownHosts string
	AcceptNew  bool
	JSON       bool
	Color      bool
	Verbose    bool
	IO         *IOStreams
	// LoadFleet reads -f fleet.yaml (Factory.LoadFleet).
	LoadFleet func(path string) (*fleet.Fleet, error)
	// Dial opens the remote host; nil uses remote.DialSSH.
	Dial func(ctx context.Context, cfg remote.SSHConfig) (remote.Host, error)
	// Local is the host diagnosed without --ssh/--host (remote.Local{}).
	Local remote.Host
}

func newDiagnoseCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "diagnose",
		Short: "Find the root cause of a 502/503/504 on a host",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newDiagnose502Cmd(f, g))
	return cmd
}

func newDiagnose502Cmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := &diagnoseOptions{IO: f.IO, LoadFleet: f.LoadFleet}
	var units []string
	cmd := &cobra.Command{
		Use:     "502",
		Aliases: []string{"503", "504"},
		Short:   "Name the root cause of a 502/503/504 on this host or one over SSH",
		Long: `Diagnose why the proxy in front of an API backend answers 502, 503 or 504.

With no flags it finds the proxy by itself: the agent's configuration at
/etc/edgectl/agent.yaml, else nginx through ` + "`nginx -T`" + `; the report names every
configuration it looked for (check proxy.config). Every upstream server is
checked:

  listen.ipv4/6     sockets on the backend port per family, with the owning
                    process (from /proc; no netstat needed)
  probe.ipv4/6      GET the health path on 127.0.0.1 and [::1] separately
  upstream.N.ADDR   each upstream server of the proxy against what answers
  proxy.health      the proxy's own health (agent) or a request through it (nginx)
  sysctl.*          net.ipv6.bindv6only, disable_ipv6; loopback.ipv6: is ::1 there
  keepalive         the backend's idle timeout against the proxy's
  errorlog          nginx's upstream errors by cause and count
  systemd.UNIT      unit state and restart count (when systemd runs the host)
  firewall.ipv4/6   a rule dropping the backend port on one family
  tls.cert          the certificate the proxy serves

The checks are combined into the most likely cause, printed first with its fix,
then the table. Causes: nothing-listening, ipv4-only-backend, ipv6-only-backend,
bindv6only, v6only-socket, backend-unhealthy, backend-timeout, backend-reset,
not-http, keepalive-race, wrong-port, port-taken, ipv6-disabled,
firewall-ipv4, firewall-ipv6, upstream-refused, no-live-upstreams,
upstream-closed, header-too-big, proxy-down, proxy-error, certificate.

Remote mode (--ssh, or --host with --fleet) runs the same checks over one SSH
connection without installing anything: files are read over SFTP, commands run
with sh, and probes are dialled from the remote host, so [::1] is its loopback.
--probe-timeout bounds the SSH connection too. Run as root (locally or
remotely) to see which process owns a socket and to read the firewall rules.

Exit status: 0 healthy, 1 a problem was found (or the host was unreachable),
2 usage or configuration error.`,
		Example: `  # On the host: find the proxy, check every upstream, name the cause
  edgectl diagnose 502

  # A bare backend port, both loopbacks
  edgectl diagnose 502 --port 8000

  # nginx with a private config, and the backend that should own the port
  edgectl diagnose 502 --nginx --nginx-conf /etc/nginx/nginx.conf --expect uvicorn

  # A fleet host over SSH, JSON for scripts
  edgectl diagnose 502 --host cn2-sh -f fleet.yaml --json | jq .cause

  # Any host over SSH
  edgectl diagnose 502 --ssh root@198.18.0.11:22 --config /etc/edgectl/agent.yaml`,
		Args: noArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			opts.JSON = g.Output == "json"
			opts.Color = g.color(f.IO)
			opts.Verbose = g.Verbose
			opts.Diag.Units = units
			if cmd.Flags().Changed("ssh") && opts.SSH == "" {
				return usageError(errors.New("--ssh needs user@host[:port], e.g. root@198.18.0.11; leave it out to diagnose this machine"))
			}
			if cmd.Flags().Changed("host") && opts.Host == "" {
				return usageError(errors.New("--host needs a host name from the fleet file"))
			}
			return opts.validate()
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return diagnoseRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	d := &opts.Diag
	fl.IntVar(&d.Port, "port", 0, "the backend's port: probe [::1]:N and 127.0.0.1:N")
	fl.StringVar(&d.URL, "url", "", "the backend's health URL, e.g. http://[::1]:8000/health")
	fl.StringVarP(&d.Config, "config", "c", "", "the agent's configuration file on the host")
	fl.BoolVar(&d.Nginx, "nginx", false, "diagnose nginx (configuration from nginx -T)")
	fl.StringVar(&d.NginxBin, "nginx-bin", "nginx", "the nginx binary on the host")
	fl.StringVar(&d.NginxConf, "nginx-conf", "", "nginx configuration file (nginx -c)")
	fl.StringVar(&d.NginxPrefix, "nginx-prefix", "", "nginx prefix (nginx -p)")
	fl.StringVar(&d.ErrorLog, "error-log", "", "the proxy's error log (default: nginx's error_log)")
	fl.StringVar(&d.HealthPath, "health-path", "/health", "the backend's health path with --port")
	fl.StringVar(&d.Expect, "expect", "", "program that should own the backend port (substring of its path or command line)")
	fl.StringSliceVar(&units, "unit", nil, "systemd unit(s) to check, e.g. mop-api.service")
	fl.DurationVar(&d.ProbeTimeout, "probe-timeout", 2*time.Second, "bound on every probe and on the SSH connection, and so on the run")
	fl.DurationVar(&d.KeepaliveWait, "keepalive-wait", 500*time.Millisecond, "how long to watch an idle keepalive connection to the backend (at most --probe-timeout)")
	fl.StringVar(&opts.Host, "host", "", "diagnose this fleet host over SSH (needs -f)")
	fl.StringVarP(&opts.FleetFile, "fleet", "f", "", "fleet.yaml for --host")
	fl.StringVar(&opts.SSH, "ssh", "", "diagnose user@host[:port] over SSH")
	fl.StringVar(&opts.Identity, "identity", "~/.ssh/id_ed25519", "private key for --ssh (ssh-agent keys are offered too)")
	fl.StringVar(&opts.KnownHosts, "known-hosts", "~/.ssh/known_hosts", "known_hosts file for --ssh and --host")
	fl.BoolVar(&opts.AcceptNew, "accept-new", false, "record the host key of a host not yet in known_hosts")
	return cmd
}

func (o *diagnoseOptions) validate() error {
	if err := o.validateTarget(); err != nil {
		return err
	}
	switch {
	case o.Diag.ProbeTimeout <= 0:
		return usageError(fmt.Errorf("--probe-timeout must be positive, not %v", o.Diag.ProbeTimeout))
	}
	if err := o.Diag.Validate(); err != nil {
		return diagnoseError(err)
	}
	return nil
}

// diagnoseError words the diagnose package's typed errors with the flags
// that caused them; every one of them is a usage error.
func diagnoseError(err error) error {
	var pe *diagnose.PortError
	var ue *diagnose.URLError
	var nf *diagnose.NotFoundError
	var nu *diagnose.NoUpstreamsError
	switch {
	case errors.Is(err, diagnose.ErrConfigAndNginx):
		err = errors.New("--config and --nginx both name the proxy; pass one")
	case errors.Is(err, diagnose.ErrNegativeTimeout):
		err = errors.New("--probe-timeout and --keepalive-wait must not be negative")
	case errors.As(err, &pe):
		err = fmt.Errorf("--port %d is not a TCP port (1-65535)", pe.Port)
	case errors.As(err, &ue):
		err = fmt.Errorf("--url %q: %s", ue.URL, ue.Reason)
	case errors.As(err, &nf):
		err = fmt.Errorf("%v; pass --port N or --url URL for a bare backend, --config FILE for the agent, or --nginx (with --nginx-conf) for nginx", nf)
	case errors.As(err, &nu):
		err = fmt.Errorf("%v; pass --port N or --url URL", nu)
	case !errors.Is(err, diagnose.ErrUsage):
		return problemError(err)
	}
	return usageError(err)
}

// diagnoseRun connects to the host, runs the diagnosis and prints it.
func diagnoseRun(ctx context.Context, opts *diagnoseOptions) error {
	h, err := diagnoseHost(ctx, opts)
	if err != nil {
		return err
	}
	defer h.Close()
	rep, err := diagnose.Run(ctx, h, opts.Diag)
	if err != nil {
		return diagnoseError(err)
	}
	if opts.JSON {
		err = writeJSON(opts.IO.Out, rep)
	} else {
		err = writeDiagnoseText(opts.IO.Out, opts.Color, opts.Verbose, rep)
	}
	if err != nil {
		return err
	}
	if rep.Cause != nil {
		return silentExit(ExitProblem)
	}
	return nil
}

// diagnoseHost returns the host to diagnose: local, --ssh or a fleet host.
func diagnoseHost(ctx context.Context, opts *diagnoseOptions) (remote.Host, error) {
	var cfg remote.SSHConfig
	switch {
	case opts.SSH != "":
		c, err := sshTarget(opts.SSH)
		if err != nil {
			return nil, usageError(err)
		}
		c.IdentityFile, c.KnownHosts = expandHome(opts.Identity), expandHome(opts.KnownHosts)
		c.Agent = os.Getenv("SSH_AUTH_SOCK")
		if _, err := os.Stat(c.IdentityFile); err != nil && c.Agent != "" && opts.Identity == "~/.ssh/id_ed25519" {
			c.IdentityFile = "" // the default key is absent: the agent's keys only
		}
		cfg = c
	case opts.Host != "":
		fl, err := opts.LoadFleet(opts.FleetFile)
		if err != nil {
			return nil, err
		}
		hosts, err := fl.Select([]string{opts.Host}, "")
		if err != nil {
			return nil, usageError(err)
		}
		cfg = provision.SSHConfigFor(fl, hosts[0])
		// The fleet names the backend deploy installed: check its unit.
		if fl.Backend != nil && len(opts.Diag.Units) == 0 {
			opts.Diag.Units = []string{fl.Backend.Name + ".service"}
		}
	default:
		if opts.Local != nil {
			return opts.Local, nil
		}
		return remote.Local{}, nil
	}
	cfg.AcceptNew = opts.AcceptNew
	cfg.Passphrase = passphrasePrompt(opts.IO)
	cfg.ConnectTimeout = opts.Diag.ProbeTimeout
	dial := opts.Dial
	if dial == nil {
		dial = dialSSH
	}
	h, err := dial(ctx, cfg)
	if err != nil {
		return nil, problemError(err)
	}
	return h, nil
}

// sshTarget parses --ssh user@host[:port] ("root@[2001:db8::5]:2222").
func sshTarget(s string) (remote.SSHConfig, error) {
	if !strings.Contains(s, "@") {
		return remote.SSHConfig{}, fmt.Errorf("--ssh %q: want user@host[:port], e.g. root@198.18.0.11 or root@[2001:db8::5]:2222", s)
	}
	user, addr, err := remote.ParseTarget(s, "")
	if err != nil {
		return remote.SSHConfig{}, fmt.Errorf("--ssh: %w", err)
	}
	host, _, _ := net.SplitHostPort(addr)
	return remote.SSHConfig{Name: host, Addr: addr, User: user}, nil
}

// expandHome replaces a leading ~/ with the home directory.
func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}

// diagnoseHints words each diagnose.Hint as the flag that gives the check
// more to see.
var diagnoseHints = []struct {
	hint diagnose.Hint
	text string
}{
	{diagnose.HintProxy, "pass --config FILE (the agent) or --nginx to check the proxy too"},
	{diagnose.HintHealthURL, "pass --url http://ADDR:PORT/PATH to probe the backend's real health path"},
	{diagnose.HintErrorLog, "pass --error-log FILE (with --nginx) to read the proxy's error log"},
	{diagnose.HintUnit, "pass --unit NAME.service to check the backend's systemd unit"},
	{diagnose.HintKeepaliveWait, "raise --keepalive-wait (up to --probe-timeout) to watch idle connections longer"},
	{diagnose.HintRoot, "run as root to see which process owns each socket and to read the firewall rules"},
}

// writeDiagnoseText prints the cause and its fix first, then the checks,
// then what would let the skipped checks see more.
func writeDiagnoseText(w io.Writer, color, verbose bool, rep *diagnose.Report) error {
	var b strings.Builder
	if rep.Cause != nil {
		fmt.Fprintf(&b, "cause: %s\nfix: %s\n", rep.Cause.Summary, rep.Cause.Fix)
	} else {
		n := 0
		for _, c := range rep.Checks {
			if c.Status == diagnose.StatusOK {
				n++
			}
		}
		fmt.Fprintf(&b, "ok: no problem found on %s (%d checks passed)\n", rep.Host, n)
	}
	b.WriteByte('\n')
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	headers := []string{"check", "status", "summary"}
	if verbose {
		headers = append(headers, "evidence")
	}
	var rows [][]string
	hints := map[diagnose.Hint]bool{}
	for _, c := range rep.Checks {
		row := []string{c.ID, string(c.Status), c.Summary}
		if verbose {
			row = append(row, c.Evidence)
		}
		rows = append(rows, row)
		hints[c.Hint] = true
	}
	if err := writeTable(w, color, headers, rows); err != nil {
		return err
	}
	b.Reset()
	for _, h := range diagnoseHints {
		if hints[h.hint] {
			fmt.Fprintf(&b, "hint: %s\n", h.text)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
