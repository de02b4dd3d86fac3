package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/provision"
)

// rollouter runs provision.Deploy for deploy and install and prints the
// result.
type rollouter struct {
	f         *Factory
	g         *GlobalOptions
	fl        *fleet.Fleet
	hosts     []fleet.Host
	fleetPath string // "" for install
	dial      func(dry bool) provision.Dialer
	// takeover is the command line that takes other programs' ports
	// over ("" for install).
	takeover string

	mu  sync.Mutex
	sig os.Signal // the signal that stopped the run
}

func (r *rollouter) signals(sigs chan os.Signal, done chan struct{}, stop context.CancelFunc) {
	n := 0
	for {
		select {
		case <-done:
			return
		case s := <-sigs:
			n++
			name := signalName(s)
			if n == 1 {
				r.mu.Lock()
				r.sig = s
				r.mu.Unlock()
				fmt.Fprintf(r.f.IO.ErrOut, "edgectl: %s: stopping at the next safe point; hosts being changed are rolled back (a second signal exits at once)\n", name)
				stop()
				continue
			}
			fmt.Fprintf(r.f.IO.ErrOut, "edgectl: second %s: exiting now; each host being changed keeps its journal (%s) and lock, and the next deploy from this machine completes or rolls it back\n",
				name, provision.DefaultLayout().Journal())
			os.Exit(ExitProblem)
		}
	}
}

func signalName(s os.Signal) string {
	if s == syscall.SIGTERM {
		return "SIGTERM"
	}
	if s == os.Interrupt {
		return "SIGINT"
	}
	return s.String()
}

// testPause is the hook behind EDGECTL_TEST_PAUSE_AT=[host:]step, for
// tests only: when the run reaches that step (on that host) it prints
// "edgectl: test pause at HOST STEP (pid N)" to stderr and stops itself
// (SIGSTOP), so a test can cut the network, send SIGTERM or SIGKILL at an
// exact step, then SIGCONT it. Unset, it does nothing.
func testPause(w io.Writer) func(host, step string) {
	spec := os.Getenv("EDGECTL_TEST_PAUSE_AT")
	if spec == "" {
		return nil
	}
	wantHost, wantStep, ok := strings.Cut(spec, ":")
	if !ok {
		wantHost, wantStep = "", spec
	}
	var seen sync.Map
	return func(host, step string) {
		if step != wantStep || (wantHost != "" && wantHost != host) {
			return
		}
		if _, again := seen.LoadOrStore(host, true); again {
			return
		}
		fmt.Fprintf(w, "edgectl: test pause at %s %s (pid %d)\n", host, step, os.Getpid())
		_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
		time.Sleep(300 * time.Millisecond) // a signal sent while stopped arrives now
	}
}
