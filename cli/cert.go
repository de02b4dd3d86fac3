package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgectl/edgectl/certs"
	"github.com/edgectl/edgectl/fleet"
)

const certLong = `One ACME order per domain set for the whole fleet (lego), validated through
every node and pushed to every node.

issue runs a pre-flight first: every A and AAAA record of each name (asked of
fleet.yaml's resolver, --resolver, or the system resolver) must be the address
of a fleet host, and each such address must serve a probe token from the
agent's acme_challenge_dir on port 80, on its own address family. A failure
is reported per host and address and no order is placed (exit 1).

With challenge http-01 the token is written into acme_challenge_dir on every
host over SSH before the CA is asked to validate, and removed afterwards
whatever the outcome. With dns-01 the lego provider named by
acme.dns_provider sets the TXT record (credentials from its environment
variables); built in: ` + "%s" + `.

The certificate and key are then written to tls.certs_dir/<name>/ on every
host (key 0600), where the agent picks them up without a restart, and edgectl
checks with a TLS handshake to every host address (SNI = the name) that the
new serial is served.

The ACME account, certificate and key are kept in the state directory
(--state, default $XDG_DATA_HOME/edgectl/acme or ~/.local/share/edgectl/acme;
0700, files 0600). renew does nothing, quietly, until a third of the
lifetime remains or the CA's renewal window (ARI) opens; a lock keeps two
runs from overlapping, so it is safe to run from cron.`

// certOptions holds the flags and dependencies of the cert commands.
type certOptions struct {
	File     string
	State    string
	Staging  bool
	Resolver string
	Domains  []string
	HTTPPort int
	Force    bool
	JSON     bool
	Color    bool
	Verbose  bool
	IO       *IOStreams
	// LoadFleet reads the fleet file (Factory.LoadFleet).
	LoadFleet func(path string) (*fleet.Fleet, error)
	// Dial reaches the hosts; nil means SSH per fleet.yaml.
	Dial certs.Dialer
}

func newCertOptions(f *Factory) *certOptions {
	return &certOptions{IO: f.IO, LoadFleet: f.LoadFleet}
}

func newCertCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Issue, renew and check the fleet's one TLS certificate (ACME)",
		Long:  fmt.Sprintf(certLong, strings.Join(certs.DNSProviders(), ", ")),
		Example: `  # First certificate for fleet.yaml's domains, against Let's Encrypt staging
  edgectl cert issue fleet.yaml --staging

  # Daily from cron: renews only when due, silent otherwise
  17 3 * * *  edgectl cert renew /etc/edgectl/fleet.yaml

  # Which node serves which certificate (stale nodes stand out)
  edgectl cert status fleet.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newCertIssueCmd(f, g), newCertRenewCmd(f, g), newCertStatusCmd(f, g), newCertImportCmd(f, g))
	return cmd
}

// certFlags binds the flags every cert command has.
func certFlags(cmd *cobra.Command, opts *certOptions, ordering bool) {
	fl := cmd.Flags()
	fl.StringVar(&opts.State, "state", envOr("EDGECTL_CERT_STATE", ""), "state directory: ACME account, certificates (default $XDG_DATA_HOME/edgectl/acme)")
	fl.StringVar(&opts.Resolver, "resolver", "", "DNS server host:port for pre-flight and DNS-01 checks (default: fleet.yaml's resolver, else the system's)")
	if ordering {
		fl.IntVar(&opts.HTTPPort, "http-port", 80, "port the CA validates HTTP-01 on, probed by pre-flight (80 for real CAs)")
	}
}

func newCertIssueCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := newCertOptions(f)
	cmd := &cobra.Command{
		Use:   "issue FLEET.yaml",
		Short: "Place one ACME order for the fleet's domains and install the certificate on every host",
		Example: `  edgectl cert issue fleet.yaml
  edgectl cert issue fleet.yaml --domains api.example.com,www.example.com --staging
  edgectl cert issue fleet.yaml --json > issue.json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			certGlobals(opts, g, args[0])
			return certIssueRun(cmd.Context(), opts)
		},
	}
	certFlags(cmd, opts, true)
	cmd.Flags().StringSliceVar(&opts.Domains, "domains", nil, "names of the certificate, comma-separated (default: fleet.yaml's domains)")
	cmd.Flags().BoolVar(&opts.Staging, "staging", false, "use Let's Encrypt's staging directory instead of acme.directory")
	return cmd
}

func newCertRenewCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := newCertOptions(f)
	cmd := &cobra.Command{
		Use:   "renew FLEET.yaml",
		Short: "Renew and redistribute the certificate when due (quiet and exit 0 otherwise)",
		Example: `  edgectl cert renew fleet.yaml            # from cron
  edgectl cert renew fleet.yaml --force    # now, e.g. after fixing a host`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			certGlobals(opts, g, args[0])
			return certRenewRun(cmd.Context(), opts)
		},
	}
	certFlags(cmd, opts, true)
	cmd.Flags().BoolVar(&opts.Force, "force", false, "renew even when not due")
	return cmd
}

func newCertStatusCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := newCertOptions(f)
	cmd := &cobra.Command{
		Use:   "status FLEET.yaml",
		Short: "Show days left, issuer and the serial every host address serves",
		Long: `status prints, for the fleet's certificate, the days left and the issuer of
the copy in the state directory and, for every host address, the serial served
on the agent's TLS port with SNI = the name. An address serving another serial
is marked stale; exit 1 when any address is stale or unreachable.`,
		Example: `  edgectl cert status fleet.yaml
  edgectl cert status fleet.yaml --json | jq '.addrs[] | select(.ok | not)'`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			certGlobals(opts, g, args[0])
			opts.Color = g.color(f.IO)
			return certStatusRun(cmd.Context(), opts)
		},
	}
	certFlags(cmd, opts, false)
	return cmd
}

func certGlobals(opts *certOptions, g *GlobalOptions, file string) {
	opts.File, opts.JSON, opts.Verbose = file, g.Output == "json", g.Verbose
}

// certConfig loads the fleet and builds the certs.Config for opts; logs
// below quiet go nowhere without -v.
func certConfig(opts *certOptions, quiet slog.Level) (certs.Config, error) {
	var c certs.Config
	fl, err := opts.LoadFleet(opts.File)
	if err != nil {
		return c, err
	}
	if len(opts.Domains) == 0 && len(fl.Domains) == 0 {
		return c, usageError(fmt.Errorf("%s lists no domains: add them under domains:, or give --domains", opts.File))
	}
	if opts.Resolver != "" {
		if _, port, err := net.SplitHostPort(opts.Resolver); err != nil || port == "" {
			return c, usageError(fmt.Errorf("--resolver %q must be host:port, e.g. 198.18.0.53:53 or [fd00::53]:53", opts.Resolver))
		}
	}
	if opts.HTTPPort < 0 || opts.HTTPPort > 65535 {
		return c, usageError(fmt.Errorf("--http-port must be 1-65535, not %d", opts.HTTPPort))
	}
	dir := opts.State
	if dir == "" {
		if dir, err = certs.DefaultStateDir(); err != nil {
			return c, usageError(fmt.Errorf("%v; give --state DIR", err))
		}
	}
	st, err := certs.OpenState(dir)
	if err != nil {
		return c, problemError(err)
	}
	level := quiet
	if opts.Verbose {
		level = slog.LevelDebug
	}
	c = certs.Config{
		Fleet: fl, State: st, Dial: opts.Dial, Domains: opts.Domains, Resolver: opts.Resolver, HTTPPort: opts.HTTPPort,
		Log: slog.New(newTextHandler(opts.IO.ErrOut, level, opts.IO.IsStderrTTY())),
	}
	if opts.Staging {
		c.Directory = certs.Staging
	}
	if c.Dial == nil {
		c.Dial = fleetDialer(fl, false, opts.IO)
	}
	return c, nil
}

// noCertificate is what issue, renew and status all say when the state
// directory holds no certificate for the fleet: issue one.
func noCertificate(opts *certOptions, name, dir string) error {
	return problemError(fmt.Errorf("no certificate %s in %s: run edgectl cert issue %s first (or pass --state with the directory it was issued into)", name, dir, opts.File))
}

// announceCA says which CA an order goes to when the fleet file did not
// choose one: Let's Encrypt production, whose rate limits a first try can
// run into.
func announceCA(opts *certOptions, c certs.Config) {
	if opts.Staging || !c.Fleet.ACME.DirectoryDefaulted {
		return
	}
	fmt.Fprintf(opts.IO.ErrOut, "edgectl: %s names no acme.directory: using Let's Encrypt production (%s); try --staging first, whose rate limits are generous\n", opts.File, c.Fleet.ACME.Directory)
}

// progressLevel is how much of issue's progress is shown without -v: its
// steps on a terminal, only warnings elsewhere (cron, CI logs).
func progressLevel(opts *certOptions) slog.Level {
	if opts.IO.IsStderrTTY() && !opts.JSON {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}

func certIssueRun(ctx context.Context, opts *certOptions) error {
	c, err := certConfig(opts, progressLevel(opts))
	if err != nil {
		return err
	}
	announceCA(opts, c)
	res, err := certs.Issue(ctx, c)
	return certReport(opts, res, err)
}

func certRenewRun(ctx context.Context, opts *certOptions) error {
	// Quiet for cron: only warnings and errors unless -v.
	c, err := certConfig(opts, slog.LevelWarn)
	if err != nil {
		return err
	}
	res, err := certs.Renew(ctx, c, opts.Force)
	var nc *certs.NoCertificateError
	if errors.As(err, &nc) {
		return noCertificate(opts, nc.Name, nc.Dir)
	}
	if err == nil && res != nil && !res.Renewed {
		if opts.JSON {
			return writeJSON(opts.IO.Out, res)
		}
		if opts.Verbose {
			fmt.Fprintf(opts.IO.ErrOut, "%s: %s\n", res.Name, res.Reason)
		}
		return nil
	}
	return certReport(opts, res, err)
}

// certReport prints an issue or renew result and maps its error to an
// exit code: 1 for pre-flight, ordering and lock failures, 3 when the
// certificate reached some hosts but not all.
func certReport(opts *certOptions, res *certs.Result, err error) error {
	if opts.JSON && res != nil {
		if jerr := writeJSON(opts.IO.Out, res); jerr != nil {
			return jerr
		}
	} else if res != nil {
		printCertResult(opts.IO.Out, res)
	}
	if err == nil {
		return nil
	}
	var pe *certs.PreflightError
	switch {
	case errors.As(err, &pe) && (opts.JSON || res != nil):
		return problemError(errors.New("pre-flight failed, no order placed; fix the addresses above and run again"))
	case errors.Is(err, certs.ErrDistribution):
		err = fmt.Errorf("%w; fix the hosts and run edgectl cert renew %s --force, or issue again", err, opts.File)
		if res != nil && res.Distribution != nil && servedSome(res.Distribution) {
			return &ExitError{Code: ExitPartial, Err: err}
		}
	}
	return problemError(err)
}

func servedSome(d *certs.Distribution) bool {
	for _, a := range d.Addrs {
		if a.OK {
			return true
		}
	}
	return false
}

// printCertResult writes the text report of an issue or renew.
func printCertResult(w io.Writer, res *certs.Result) {
	if p := res.Preflight; p != nil {
		resolver := "the system resolver"
		if p.Resolver != "" && p.Resolver != "system" {
			resolver = "resolver " + p.Resolver
		}
		fmt.Fprintf(w, "pre-flight (%s):\n", resolver)
		for _, h := range p.Hosts {
			fmt.Fprintf(w, "  fail  host %s: %s\n", h.Host, h.Err)
		}
		for _, n := range p.Names {
			if n.Problem != "" {
				fmt.Fprintf(w, "  fail  %s: %s\n", n.Name, n.Problem)
			}
			for _, a := range n.Addrs {
				status, host := "ok  ", a.Host
				if a.Problem != "" {
					status = "fail"
				}
				if host == "" {
					host = "-"
				}
				fmt.Fprintf(w, "  %s  %s  %s  %s  %s", status, n.Name, host, a.Addr, a.Family)
				if a.Problem != "" {
					fmt.Fprintf(w, "  %s", a.Problem)
				}
				fmt.Fprintln(w)
			}
		}
	}
	if res.Serial == "" {
		return
	}
	verb := "issued"
	if res.Renewed {
		verb = "renewed (" + res.Reason + ")"
	}
	fmt.Fprintf(w, "%s %s: serial %s, issuer %s, expires %s, %d ACME order(s)\n",
		res.Name, verb, res.Serial, res.Issuer, res.NotAfter.UTC().Format(time.RFC3339), res.Orders)
	if d := res.Distribution; d != nil {
		for _, h := range d.Hosts {
			fmt.Fprintf(w, "  fail  host %s: %s\n", h.Host, h.Err)
		}
		for _, a := range d.Addrs {
			if a.OK {
				fmt.Fprintf(w, "  ok    %s  %s  %s  serving after %s\n", a.Host, a.Addr, a.Family, a.After.Round(time.Millisecond))
			} else {
				fmt.Fprintf(w, "  fail  %s  %s  %s  %s\n", a.Host, a.Addr, a.Family, a.Problem)
			}
		}
		fmt.Fprintf(w, "every node serving the new certificate %s after the start\n", res.Elapsed.Round(time.Millisecond))
	}
}

func certStatusRun(ctx context.Context, opts *certOptions) error {
	c, err := certConfig(opts, slog.LevelWarn)
	if err != nil {
		return err
	}
	st, err := certs.Status(ctx, c)
	if err != nil {
		return problemError(err)
	}
	if opts.JSON {
		if err := writeJSON(opts.IO.Out, st); err != nil {
			return err
		}
	} else {
		if st.Local {
			fmt.Fprintf(opts.IO.Out, "%s (%s): serial %s, issuer %s, %d days left (expires %s)\n",
				st.Name, strings.Join(st.Domains, ", "), st.Serial, st.Issuer, st.DaysLeft, st.NotAfter.UTC().Format(time.RFC3339))
		} else {
			fmt.Fprintf(opts.IO.Out, "%s: no certificate in %s; what the hosts serve:\n", st.Name, c.State.Dir)
		}
		rows := make([][]string, 0, len(st.Addrs))
		for _, a := range st.Addrs {
			state := "ok"
			switch {
			case a.Stale:
				state = "stale"
			case !a.OK:
				state = "fail"
			}
			serial := a.Serial
			if serial == "" {
				serial = "-"
			}
			rows = append(rows, []string{a.Host, a.Addr, a.Family, serial, state, a.Problem})
		}
		if err := writeTable(opts.IO.Out, opts.Color, []string{"host", "address", "family", "serial", "state", "detail"}, rows); err != nil {
			return err
		}
	}
	if !st.Local {
		return noCertificate(opts, st.Name, c.State.Dir)
	}
	if !st.OK() {
		return problemError(fmt.Errorf("%d of %d addresses do not serve the current certificate; run edgectl cert renew %s --force to push it again", len(st.Stale()), len(st.Addrs), opts.File))
	}
	return nil
}
