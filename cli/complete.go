package cli

import (
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v4"

	"github.com/edgectl/edgectl/fleet"
)

// fleetFlags are the flags whose values come from the fleet file, and
// whether each takes a comma-separated list.
var fleetFlags = []struct {
	name   string
	labels bool
	list   bool
}{
	{"hosts", false, true},
	{"host", false, false},
	{"label", true, false},
}

// registerFleetCompletions makes shell completion (edgectl completion
// bash|zsh|fish) offer the fleet's host names for --hosts and --host and
// its labels for --label, on every command that has those flags, reading
// the fleet file named on the command line: -f/--fleet, else the first
// argument.
func registerFleetCompletions(c *cobra.Command, f *Factory) {
	for _, ff := range fleetFlags {
		if c.Flags().Lookup(ff.name) != nil {
			_ = c.RegisterFlagCompletionFunc(ff.name, completeFromFleet(f, ff.labels, ff.list))
		}
	}
	for _, sub := range c.Commands() {
		registerFleetCompletions(sub, f)
	}
}

func completeFromFleet(f *Factory, labels, list bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		path := ""
		if fl := cmd.Flags().Lookup("fleet"); fl != nil {
			path = fl.Value.String()
		}
		if path == "" && len(args) > 0 {
			path = args[0]
		}
		if path == "" {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		hosts, labelNames := fleetNames(f, path)
		names := hosts
		if labels {
			names = labelNames
		}
		prefix, have := "", []string(nil)
		if list {
			if i := strings.LastIndexByte(toComplete, ','); i >= 0 {
				prefix = toComplete[:i+1]
				have = strings.Split(toComplete[:i], ",")
			}
		}
		var out []cobra.Completion
		for _, n := range names {
			if !slices.Contains(have, n) && strings.HasPrefix(prefix+n, toComplete) {
				out = append(out, prefix+n)
			}
		}
		dir := cobra.ShellCompDirectiveNoFileComp
		if list {
			dir |= cobra.ShellCompDirectiveNoSpace
		}
		return out, dir
	}
}

// fleetNames lists the host names and labels of the fleet file at path, in
// file order. A file that does not validate (say, a ${VAR} not exported in
// this shell) is still read for its names.
func fleetNames(f *Factory, path string) (hosts, labels []string) {
	var raw struct {
		Hosts []fleet.Host `yaml:"hosts"`
	}
	if fl, err := f.LoadFleet(path); err == nil {
		raw.Hosts = fl.Hosts
	} else if data, err := os.ReadFile(path); err != nil || yaml.Unmarshal(data, &raw) != nil {
		return nil, nil
	}
	for _, h := range raw.Hosts {
		if h.Name != "" {
			hosts = append(hosts, h.Name)
		}
		for _, l := range h.Labels {
			if !slices.Contains(labels, l) {
				labels = append(labels, l)
			}
		}
	}
	return hosts, labels
}
