// Command testbedctl boots and removes the systemd VPS testbed of package
// testbed from scripts (make demo):
//
//	testbedctl up --default3 --dir /tmp/demo [--bind-ro /path/app:/opt/app]
//	testbedctl up --hosts 20 --dir /tmp/scale
//	testbedctl down --dir /tmp/demo
//	testbedctl cleanup
//
// up writes DIR/fleet.yaml and DIR/state.json, prints a summary and exits,
// leaving the hosts running. The run belongs to the calling process (the
// shell or script; --owner PID to choose): once that is gone, the run is a
// leftover that testbedctl cleanup (and any later testbed) removes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/edgectl/edgectl/internal/testbed"
)

const usage = `usage:
  testbedctl up [--default3 | --hosts N] --dir DIR [--bind-ro SRC:DST]... [--owner PID]
  testbedctl down --dir DIR
  testbedctl cleanup
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "testbedctl:", err)
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ error }

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New("missing command")}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "up":
		return up(ctx, args[1:], stdout, stderr)
	case "down":
		fs := flag.NewFlagSet("down", flag.ContinueOnError)
		dir := fs.String("dir", "", "run directory given to up")
		if err := parse(fs, args[1:], stderr); err != nil {
			return err
		}
		b, err := testbed.Open(*dir)
		if err != nil {
			return err
		}
		return b.Close()
	case "cleanup":
		return testbed.Cleanup()
	default:
		return usageError{fmt.Errorf("unknown command %q", args[0])}
	}
}

func parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if f := fs.Lookup("dir"); f != nil && f.Value.String() == "" {
		return usageError{errors.New("--dir is required")}
	}
	return nil
}

type binds map[string]string

func (b binds) String() string { return fmt.Sprint(map[string]string(b)) }
func (b binds) Set(v string) error {
	src, dst, ok := strings.Cut(v, ":")
	if !ok || !filepath.IsAbs(src) || !filepath.IsAbs(dst) {
		return fmt.Errorf("--bind-ro %q: want SRC:DST, both absolute", v)
	}
	b[src] = dst
	return nil
}

func up(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	dir := fs.String("dir", "", "run directory (must not exist or be empty)")
	n := fs.Int("hosts", 0, "boot N dual-stack hosts vps1..vpsN")
	default3 := fs.Bool("default3", false, "boot vps1 dual-stack, vps2 IPv6-only, vps3 IPv4-only with bindv6only=1 (the default)")
	owner := fs.Int("owner", defaultOwner(), "pid whose exit makes the run a leftover for cleanup")
	bind := binds{}
	fs.Var(bind, "bind-ro", "SRC:DST bind-mounted read-only into every host (repeatable)")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *default3 && *n != 0 {
		return usageError{errors.New("give --default3 or --hosts N, not both")}
	}
	hosts := testbed.Default3()
	if *n != 0 {
		hosts = testbed.DualStack(*n)
	}
	fmt.Fprintf(stderr, "testbedctl: booting %d hosts in %s (the first run builds the base tree, about a minute)\n", len(hosts), *dir)
	b, err := testbed.Start(ctx, testbed.Options{Hosts: hosts, Dir: *dir, BindRO: bind, Owner: *owner})
	if err != nil {
		return err
	}
	fleetFile := filepath.Join(b.Dir, "fleet.yaml")
	if err := os.WriteFile(fleetFile, b.FleetYAML(""), 0o600); err != nil {
		return errors.Join(err, b.Close())
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tIPV4\tIPV6\tHOST KEY")
	for _, h := range b.Hosts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", h.Name, dash(h.IPv4), dash(h.IPv6), h.HostKeyFingerprint)
	}
	_ = tw.Flush()
	fmt.Fprintf(stdout, "\nfleet:       %s\nidentity:    %s\nknown_hosts: %s\nconsole:     %s\n",
		fleetFile, b.IdentityFile, b.KnownHostsFile, filepath.Join(b.Dir, "hosts", "NAME", "console.log"))
	args0, _ := b.SSHArgs(b.Hosts[0].Name)
	fmt.Fprintf(stdout, "ssh:         %s\nstop:        testbedctl down --dir %s\n", strings.Join(args0, " "), b.Dir)
	fmt.Fprintf(stderr, "testbedctl: ready in %s (base tree built in %s)\n",
		b.BootTime.Round(100*time.Millisecond), b.BaseBuild.Round(time.Second))
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// defaultOwner is the parent process, or its parent when testbedctl runs
// under go run (whose go process exits right after).
func defaultOwner() int {
	ppid := os.Getppid()
	comm, _ := os.ReadFile("/proc/" + strconv.Itoa(ppid) + "/comm")
	if strings.TrimSpace(string(comm)) != "go" {
		return ppid
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(ppid) + "/stat")
	if err != nil {
		return ppid
	}
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 {
		if f := strings.Fields(string(stat[i+1:])); len(f) > 1 {
			if p, err := strconv.Atoi(f[1]); err == nil {
				return p
			}
		}
	}
	return ppid
}
