package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/edgectl/edgectl/nginximport"
	"github.com/edgectl/edgectl/remote"
)

// outputFileAnnotation marks a command whose -o/--output names the file it
// writes; text and json still select the format there.
const outputFileAnnotation = "edgectl/output-file"

const importNginxLong = `Translate a running nginx into the agent's configuration.

nginx -T is run on the host (this one, or one over SSH with --host or --ssh:
nothing is installed there) and what it prints, every file nginx loaded, is
translated into agent.yaml:

  listen 80 / listen [::]:80   one dual-stack listener "[::]:80" (tls: true with ssl)
  server_name                  route hosts ("_" and each port's default server:
                               any host, as nginx gave them unknown names)
  location /prefix             a route (exact "=" and regex locations are listed
                               as not translated)
  upstream { server … }        an upstream: backup, weight, max_fails,
                               fail_timeout, keepalive, least_conn
  proxy_pass http://ADDR       an upstream of one server
  return 301 https://$host…    tls.redirect_http
  proxy_*_timeout              connect_timeout, response_timeout, read_timeout
  client_max_body_size         limits.max_body (and the client timeouts: limits)
  stream { server … }          streams

Certificates (ssl_certificate) are listed: the agent serves certificates
from tls.certs_dir, and edgectl cert import copies them there. The WebSocket
map needs nothing: the agent passes upgrades by itself.

Everything else (rewrite, if, return, static files, caches, auth, allow/deny,
limit_req, custom headers, sub_filter, …) is listed with its file:line as
important (requests would be answered differently or less safely) or
cosmetic (logs, compression, error pages). The list is also the header of
agent.yaml.

With -o FILE agent.yaml is written to FILE and the report printed; without
it agent.yaml goes to stdout and the summary to stderr. --json prints the
report as JSON (with agent_yaml when there is no -o).

Exit status: 0 when nothing important was dropped, 1 when something was (or
nginx could not be read), 2 usage error.`

// importOptions holds the flags, streams and seams of import nginx.
type importOptions struct {
	Target diagnoseOptions // --host/-f/--ssh and their SSH flags, dialled as diagnose does
	Dump   nginximport.DumpOptions
	Out    string
	JSON   bool
	IO     *IOStreams
	// WriteFile writes -o's file (nil: an atomic local write).
	WriteFile func(path string, data []byte) error
}

func newImportCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Translate another proxy's configuration into agent.yaml",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newImportNginxCmd(f, g))
	return cmd
}

func newImportNginxCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := &importOptions{IO: f.IO}
	opts.Target.IO, opts.Target.LoadFleet = f.IO, f.LoadFleet
	cmd := &cobra.Command{
		Use:         "nginx",
		Short:       "Translate nginx -T (here or over SSH) into agent.yaml, listing what it cannot translate",
		Long:        importNginxLong,
		Annotations: map[string]string{outputFileAnnotation: "true"},
		Example: `  # On the node: write agent.yaml, see what was left out
  edgectl import nginx -o agent.yaml

  # A fleet host over SSH; exit 1 means something important was left out
  edgectl import nginx --host cn2-sh -f fleet.yaml -o cn2-sh.agent.yaml

  # Any host, the report as JSON for scripts
  edgectl import nginx --ssh root@198.18.0.11 --json | jq '.untranslated[] | select(.importance == "important")'`,
		Args: noArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			opts.Out, opts.JSON = g.OutputFile, g.Output == "json"
			return opts.Target.validateTarget()
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return importNginxRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	t := &opts.Target
	fl.StringVar(&t.Host, "host", "", "read nginx on this fleet host over SSH (needs -f)")
	fl.StringVarP(&t.FleetFile, "fleet", "f", "", "fleet.yaml for --host")
	fl.StringVar(&t.SSH, "ssh", "", "read nginx on user@host[:port] over SSH")
	fl.StringVar(&t.Identity, "identity", "~/.ssh/id_ed25519", "private key for --ssh (ssh-agent keys are offered too)")
	fl.StringVar(&t.KnownHosts, "known-hosts", "~/.ssh/known_hosts", "known_hosts file for --ssh and --host")
	fl.BoolVar(&t.AcceptNew, "accept-new", false, "record the host key of a host not yet in known_hosts")
	fl.StringVar(&opts.Dump.Bin, "nginx-bin", "nginx", "the nginx binary on the host")
	fl.StringVar(&opts.Dump.Conf, "nginx-conf", "", "nginx configuration file (nginx -c)")
	fl.StringVar(&opts.Dump.Prefix, "nginx-prefix", "", "nginx prefix (nginx -p)")
	return cmd
}

// validateTarget checks --host/-f/--ssh (diagnose 502, import nginx).
func (o *diagnoseOptions) validateTarget() error {
	switch {
	case o.Host != "" && o.SSH != "":
		return usageError(errors.New("--host and --ssh both name the remote host; pass one"))
	case o.Host != "" && o.FleetFile == "":
		return usageError(errors.New("--host needs the fleet file: --host NAME -f fleet.yaml"))
	case o.FleetFile != "" && o.Host == "":
		return usageError(errors.New("-f fleet.yaml needs --host NAME"))
	}
	return nil
}

// importReport is import nginx's --json output.
type importReport struct {
	Source    string `json:"source"`
	Output    string `json:"output,omitempty"`
	Important int    `json:"important"`
	Cosmetic  int    `json:"cosmetic"`
	*nginximport.Result
	AgentYAML string `json:"agent_yaml,omitempty"`
}

// importNginxRun reads nginx on the host, translates it and writes the
// result.
func importNginxRun(ctx context.Context, opts *importOptions) error {
	h, err := diagnoseHost(ctx, &opts.Target)
	if err != nil {
		return err
	}
	defer h.Close()
	cfg, err := nginximport.Dump(ctx, h, opts.Dump)
	if err != nil {
		return &ExitError{Code: ExitProblem, Err: err}
	}
	source := "nginx -T on " + h.Name()
	res, err := nginximport.Translate(cfg, nginximport.Options{Source: source})
	if err != nil {
		return &ExitError{Code: ExitProblem, Err: fmt.Errorf("%s: %w", h.Name(), err)}
	}
	if opts.Out != "" {
		write := opts.WriteFile
		if write == nil {
			write = func(p string, data []byte) error { return remote.WriteFileAtomic(p, data, 0o644) }
		}
		if err := write(opts.Out, res.YAML); err != nil {
			return &ExitError{Code: ExitProblem, Err: fmt.Errorf("write %s: %w", opts.Out, err)}
		}
	}
	imp, cos := res.Count(nginximport.Important), res.Count(nginximport.Cosmetic)
	switch {
	case opts.JSON:
		rep := importReport{Source: source, Output: opts.Out, Important: imp, Cosmetic: cos, Result: res}
		if opts.Out == "" {
			rep.AgentYAML = string(res.YAML)
		}
		if err := writeJSON(opts.IO.Out, rep); err != nil {
			return err
		}
	case opts.Out == "":
		if _, err := opts.IO.Out.Write(res.YAML); err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.ErrOut, "%s: %d important, %d cosmetic not translated (listed at the top of agent.yaml)\n", source, imp, cos)
	default:
		if err := writeImportText(opts.IO.Out, opts.Out, source, res); err != nil {
			return err
		}
	}
	if imp > 0 {
		return &ExitError{Code: ExitProblem, Err: fmt.Errorf("%d important nginx directive(s) were not translated; handle each (see the list) before the agent replaces nginx", imp)}
	}
	return nil
}

// writeImportText prints what was written and what was left out.
func writeImportText(w io.Writer, out, source string, res *nginximport.Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "wrote %s from %s\n", out, source)
	imp, cos := res.Count(nginximport.Important), res.Count(nginximport.Cosmetic)
	if imp+cos == 0 {
		b.WriteString("everything was translated\n")
	} else {
		fmt.Fprintf(&b, "not translated: %d important, %d cosmetic\n", imp, cos)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if imp+cos > 0 {
		rows := make([][]string, 0, len(res.Untranslated))
		for _, it := range res.Untranslated {
			rows = append(rows, []string{string(it.Importance), it.Where(), it.Directive, it.Reason})
		}
		if err := writeTable(w, false, []string{"importance", "where", "directive", "what the agent does"}, rows); err != nil {
			return err
		}
	}
	b.Reset()
	if len(res.Certificates) > 0 {
		b.WriteString("certificates (copy them into tls.certs_dir with edgectl cert import):\n")
		for _, c := range res.Certificates {
			fmt.Fprintf(&b, "  %s  %s  key %s  (%s:%s)\n", strings.Join(c.Names, ","), c.Cert, c.Key, c.File, strconv.Itoa(c.Line))
		}
	}
	if len(res.Notes) > 0 {
		b.WriteString("notes:\n")
		for _, n := range res.Notes {
			fmt.Fprintf(&b, "  %s: %s\n", n.Where(), n.Text)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
