package cli

import (
	"context"
	"fmt"
	"os"
	"sync"

	"golang.org/x/term"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/provision"
	"github.com/edgectl/edgectl/remote"
)

// fleetDialer opens fleet hosts over SSH (remote.ConfigFor), asking for the
// identity file's passphrase on the terminal when it is encrypted and stdin
// is a terminal; elsewhere an encrypted key is an error that says to use
// ssh-agent.
func fleetDialer(f *fleet.Fleet, acceptNew bool) provision.Dialer {
	pass := passphrasePrompt()
	return provision.SSHDialer(f, func(c *remote.SSHConfig) { c.AcceptNew, c.Passphrase = acceptNew, pass })
}

func dialSSH(ctx context.Context, cfg remote.SSHConfig) (remote.Host, error) {
	s, err := remote.DialSSH(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// passphrasePrompt returns a Passphrase func that asks once per key file on
// the terminal (hosts dial in parallel; one prompt serves them all), or nil
// when stdin is not a terminal.
func passphrasePrompt() func(path string) ([]byte, error) {
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return nil
	}
	var mu sync.Mutex
	known := map[string][]byte{}
	return func(path string) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		if p, ok := known[path]; ok {
			return p, nil
		}
		fmt.Fprintf(os.Stderr, "Passphrase for %s: ", path)
		p, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return nil, fmt.Errorf("read passphrase: %w", err)
		}
		known[path] = p
		return p, nil
	}
}
