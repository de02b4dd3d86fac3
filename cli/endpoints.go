package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/edgectl/edgectl/endpoints"
)

const endpointsLong = `An endpoints file lists the hosts clients may use, in order of preference:

  # comments start with #
  DomainList:
  api.example.com
  api2.example.com, api3.example.net
  IPList:
  192.0.2.10
  2001:db8::7

Section markers are case-insensitive; a line holds one or more comma-separated
values. Hostnames must be plain RFC 1123 names (no scheme, port or trailing
dot), IPs plain IPv4 or IPv6 literals (no brackets, port or zone). Invalid
values, an unknown section ("Servers:") and a file listing nothing at all
(clients would get an empty list) are errors reported as FILE:LINE:COL
(exit 2); duplicates are dropped with a warning on stderr.`

// endpointsRenderOptions holds the flags and streams of `endpoints render`.
type endpointsRenderOptions struct {
	File   string
	Render endpoints.Options
	JSON   bool // --json: problems go into the JSON error, not to stderr
	IO     *IOStreams
}

// endpointsCheckOptions holds the flags and streams of `endpoints check`.
type endpointsCheckOptions struct {
	File string
	JSON bool
	IO   *IOStreams
}

func newEndpointsCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "endpoints",
		Short: "Validate endpoints.txt and render the client failover JSON",
		Long:  endpointsLong,
		Example: `  # Check the file, then render what clients will fetch
  edgectl endpoints check /etc/edgectl/endpoints.txt
  edgectl endpoints render /etc/edgectl/endpoints.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newEndpointsRenderCmd(f, g), newEndpointsCheckCmd(f, g))
	return cmd
}

// endpointsEnv maps render flags to the environment variables used when the
// flag is not given.
var endpointsEnv = []struct{ flag, env string }{
	{"protocol", "EDGECTL_ENDPOINTS_PROTOCOL"},
	{"api-path", "EDGECTL_ENDPOINTS_API_PATH"},
	{"socket-path", "EDGECTL_ENDPOINTS_SOCKET_PATH"},
	{"default-port", "EDGECTL_ENDPOINTS_DEFAULT_PORT"},
}

func newEndpointsRenderCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := &endpointsRenderOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "render FILE",
		Short: "Print the failover JSON for an endpoints file",
		Long: endpointsLong + `

render prints {"api_endpoints":[{"url","priority"}],"socketio_endpoints":[...]}
to stdout: one entry per host, domains first, priorities 0, 1, 2... in file
order. API URLs are PROTOCOL://HOST[:PORT]API_PATH; Socket.IO URLs are
PROTOCOL://HOST[:PORT]SOCKET_PATH. The port appears only with --default-port,
in both lists. IPv6 hosts are bracketed.

Each flag falls back to an environment variable when not given:
EDGECTL_ENDPOINTS_PROTOCOL, EDGECTL_ENDPOINTS_API_PATH,
EDGECTL_ENDPOINTS_SOCKET_PATH and EDGECTL_ENDPOINTS_DEFAULT_PORT.`,
		Example: `  # Render with the defaults: https://HOST/api/v1 and https://HOST
  edgectl endpoints render /etc/edgectl/endpoints.txt

  # The API listens on 8443 and Socket.IO is served under /socket.io
  edgectl endpoints render endpoints.txt --default-port 8443 --socket-path /socket.io
  #   "url": "https://[2001:db8::7]:8443/api/v1"
  #   "url": "https://[2001:db8::7]:8443/socket.io"

  # Plain HTTP and another API prefix, saved for a static web server
  edgectl endpoints render endpoints.txt --protocol http --api-path /api/v2 > endpoints.json`,
		Args: exactArgs(1),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			for _, e := range endpointsEnv {
				v, ok := os.LookupEnv(e.env)
				if !ok || cmd.Flags().Changed(e.flag) {
					continue
				}
				if err := cmd.Flags().Set(e.flag, v); err != nil {
					return usageError(fmt.Errorf("%s: %w", e.env, err))
				}
			}
			if err := opts.Render.Validate(); err != nil {
				return usageError(err)
			}
			opts.File, opts.JSON = args[0], g.Output == "json"
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return endpointsRenderRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Render.Protocol, "protocol", endpoints.DefaultProtocol, "URL scheme: http or https")
	fl.StringVar(&opts.Render.APIPath, "api-path", endpoints.DefaultAPIPath, "path appended to every API URL")
	fl.StringVar(&opts.Render.SocketPath, "socket-path", "", "path appended to every Socket.IO URL (default none)")
	fl.IntVar(&opts.Render.DefaultPort, "default-port", 0, "port written into every URL (0 = the scheme's default, left out)")
	return cmd
}

// endpointsRenderRun parses opts.File and prints its failover JSON; warnings
// go to stderr.
func endpointsRenderRun(_ context.Context, opts *endpointsRenderOptions) error {
	l, err := loadEndpoints(opts.File, opts.IO.ErrOut, opts.JSON)
	if err != nil {
		return err
	}
	printEndpointsWarnings(opts.IO.ErrOut, opts.File, l.Warnings)
	b, err := endpoints.Render(l, opts.Render).JSON()
	if err != nil {
		return err
	}
	_, err = opts.IO.Out.Write(b)
	return err
}

func newEndpointsCheckCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := &endpointsCheckOptions{IO: f.IO}
	return &cobra.Command{
		Use:   "check FILE",
		Short: "Validate an endpoints file without rendering it",
		Long: endpointsLong + `

check prints "FILE: N domains, M IPs, ok" and exits 0 when the file is valid,
or prints every problem to stderr and exits 2. With --json it prints
{"file","domains","ips","warnings":[{"line","col","message"}]} instead,
domains and ips being counts, or the error shape with every problem:
{"error":{"message","exit_code":2,"problems":[{"file","line","col","message"}]}}.`,
		Example: `  # Validate before deploying; every bad value is named with its line and column
  edgectl endpoints check endpoints.txt
  #   endpoints.txt: 3 domains, 2 IPs, ok

  # Machine-readable result, duplicates included as warnings
  edgectl endpoints check endpoints.txt --json

  # Gate a CI job on the file
  edgectl endpoints check deploy/endpoints.txt || exit 1`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			opts.JSON = g.Output == "json"
			return endpointsCheckRun(cmd.Context(), opts)
		},
	}
}

// endpointsCheckResult is the JSON shape of `endpoints check --json`.
type endpointsCheckResult struct {
	File     string              `json:"file"`
	Domains  int                 `json:"domains"`
	IPs      int                 `json:"ips"`
	Warnings []endpoints.Problem `json:"warnings"`
}

// endpointsCheckRun parses opts.File and reports what it holds.
func endpointsCheckRun(_ context.Context, opts *endpointsCheckOptions) error {
	l, err := loadEndpoints(opts.File, opts.IO.ErrOut, opts.JSON)
	if err != nil {
		return err
	}
	if opts.JSON {
		res := endpointsCheckResult{File: opts.File, Domains: len(l.Domains), IPs: len(l.IPs), Warnings: l.Warnings}
		if res.Warnings == nil {
			res.Warnings = []endpoints.Problem{}
		}
		return writeJSON(opts.IO.Out, res)
	}
	printEndpointsWarnings(opts.IO.ErrOut, opts.File, l.Warnings)
	_, err = fmt.Fprintf(opts.IO.Out, "%s: %s, %s, ok\n", opts.File,
		plural(len(l.Domains), "domain", "domains"), plural(len(l.IPs), "IP", "IPs"))
	return err
}

// loadEndpoints parses file. On invalid content it prints every problem to
// stderr (unless they go into the --json error) and returns a usage error
// that says how many, with the problems inside for --json.
func loadEndpoints(file string, stderr io.Writer, asJSON bool) (*endpoints.List, error) {
	l, err := endpoints.ParseFile(file)
	var pe *endpoints.ParseError
	switch {
	case errors.As(err, &pe):
		if !asJSON {
			fmt.Fprintln(stderr, pe.Error())
		}
		return nil, usageError(&invalidFile{what: "endpoints file", err: pe, summaryOnly: true, file: file})
	case err != nil:
		return nil, usageError(fmt.Errorf("read endpoints file: %w", err))
	}
	return l, nil
}

func printEndpointsWarnings(w io.Writer, file string, warnings []endpoints.Problem) {
	for _, p := range warnings {
		fmt.Fprintf(w, "%s:%d: %s\n", file, p.Line, p.Msg)
	}
}
