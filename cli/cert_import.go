package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgectl/edgectl/certs"
	"github.com/edgectl/edgectl/fleet"
)

// certImportOptions holds the flags and seams of cert import.
type certImportOptions struct {
	File    string
	Hosts   []string
	Domains []string
	DryRun  bool
	JSON    bool
	Verbose bool
	IO      *IOStreams
	// LoadFleet reads the fleet file (Factory.LoadFleet).
	LoadFleet func(path string) (*fleet.Fleet, error)
	// Dial reaches the hosts; nil means SSH per fleet.yaml.
	Dial certs.Dialer
}

func newCertImportCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := &certImportOptions{IO: f.IO, LoadFleet: f.LoadFleet}
	cmd := &cobra.Command{
		Use:   "import FLEET.yaml",
		Short: "Install the certificates acme.sh or certbot already keep on each host into tls.certs_dir",
		Long: `import looks on every host (over SSH) for the certificates of fleet.yaml's
domains that acme.sh (~/.acme.sh/<domain>/ and <domain>_ecc/, of root and of
the SSH user) and certbot (/etc/letsencrypt/live/<name>/) keep, checks each
(the key matches, it has not expired, its names cover the domain) and
installs the one that expires last into the agent's tls.certs_dir/<name>/
(key 0600, staged and renamed into place), so HTTPS keeps serving the same
certificate when the agent takes over from nginx.

It also lists the cron entries (every crontab, /etc/crontab, /etc/cron.d)
and enabled timers that still renew with acme.sh or certbot: once the agent
serves, their renewals no longer reach it. Remove them and renew the whole
fleet with edgectl cert renew.

Nothing is read into the output but names, serials and dates: keys never
leave the hosts except into certs_dir on the same host.

Exit status: 0 every host got a certificate for every domain, 3 some did,
1 none did, 2 usage error.`,
		Example: `  # See what would be installed, and which renewals remain
  edgectl cert import fleet.yaml --dry-run

  # Install on two hosts only
  edgectl cert import fleet.yaml --hosts cn2-sh,cn2-bj

  edgectl cert import fleet.yaml --json | jq '.hosts[].renewals'`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File, opts.JSON, opts.Verbose = args[0], g.Output == "json", g.Verbose
			return certImportRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&opts.Hosts, "hosts", nil, "only these hosts (comma-separated names)")
	fl.StringSliceVar(&opts.Domains, "domains", nil, "names to look for (default: fleet.yaml's domains)")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "find and check, install nothing")
	return cmd
}

func certImportRun(ctx context.Context, opts *certImportOptions) error {
	load := opts.LoadFleet
	if load == nil {
		load = (&Factory{}).LoadFleet
	}
	fl, err := load(opts.File)
	if err != nil {
		return err
	}
	hosts, err := fl.Select(opts.Hosts, "")
	if err != nil {
		return usageError(err)
	}
	level := slog.LevelWarn
	if opts.Verbose {
		level = slog.LevelInfo
	}
	c := certs.ImportConfig{Fleet: fl, Hosts: hosts, Dial: opts.Dial, Domains: opts.Domains, DryRun: opts.DryRun,
		Log: slog.New(slog.NewTextHandler(opts.IO.ErrOut, &slog.HandlerOptions{Level: level}))}
	if c.Dial == nil {
		c.Dial = fleetDialer(fl, false, opts.IO)
	}
	res, err := certs.ImportExisting(ctx, c)
	if res == nil {
		return usageError(err)
	}
	if opts.JSON {
		if werr := writeJSON(opts.IO.Out, res); werr != nil {
			return werr
		}
	} else if werr := writeCertImport(opts.IO.Out, res, fl.Agent.TLS.CertsDir); werr != nil {
		return werr
	}
	ok := 0
	for _, h := range res.Hosts {
		if h.OK() {
			ok++
		}
	}
	switch {
	case errors.Is(err, certs.ErrNothingImported):
		return &ExitError{Code: ExitProblem, Err: fmt.Errorf("no host has a usable certificate for every domain; issue one with edgectl cert issue")}
	case ok < len(res.Hosts):
		return &ExitError{Code: ExitPartial, Err: fmt.Errorf("%d of %d hosts have a usable certificate for every domain", ok, len(res.Hosts))}
	}
	return nil
}

// writeCertImport prints, per host, the certificate chosen for each
// domain, the others found, and the renewals still set up.
func writeCertImport(w io.Writer, res *certs.ImportResult, certsDir string) error {
	var b strings.Builder
	renewing := false
	for _, h := range res.Hosts {
		fmt.Fprintf(&b, "%s:\n", h.Host)
		if h.Error != "" {
			fmt.Fprintf(&b, "  fail  %s\n", h.Error)
		}
		seen := map[string]bool{}
		for _, f := range h.Found {
			if !f.Chosen {
				continue
			}
			where := "would be installed in " + certsDir
			switch {
			case f.Kept != "":
				where = "not installed: " + certsDir + " has serial " + f.Kept + ", which expires no earlier"
			case f.InstalledTo != "":
				where = "installed in " + f.InstalledTo
			case !res.DryRun:
				where = "not installed"
			}
			if seen[f.Serial] {
				fmt.Fprintf(&b, "  ok    %s: the same certificate (serial %s)\n", f.Domain, f.Serial)
				continue
			}
			seen[f.Serial] = true
			fmt.Fprintf(&b, "  ok    %s: %s %s, serial %s, issuer %s, expires %s (%d days); %s\n", f.Domain, f.Source, f.Dir,
				f.Serial, f.Issuer, f.NotAfter.UTC().Format(time.DateOnly), f.DaysLeft, where)
		}
		for _, d := range h.Missing {
			fmt.Fprintf(&b, "  fail  %s: no usable certificate found (acme.sh, certbot)\n", d)
		}
		for _, f := range h.Found {
			if !f.Chosen && f.Problem != "" {
				fmt.Fprintf(&b, "        %s %s for %s: %s\n", f.Source, f.Dir, f.Domain, f.Problem)
			}
		}
		for _, r := range h.Renewals {
			renewing = true
			fmt.Fprintf(&b, "  renew %s still renews from %s: %s", r.Tool, r.Where, r.Line)
			if r.Note != "" {
				fmt.Fprintf(&b, " (%s)", r.Note)
			}
			b.WriteByte('\n')
		}
	}
	if renewing {
		b.WriteString("\nOnce the agent serves, those renewals no longer reach it: remove them and run\nedgectl cert renew from cron for the whole fleet.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
