package cli

import (
	"strings"
	"testing"

	"github.com/edgectl/edgectl/provision"
)

// Off a terminal (logs, CI, cron) progress is one stable line per event.
func TestProgressPlainLines(t *testing.T) {
	ios, _, _, errOut := TestIO()
	p := progress(ios, &GlobalOptions{}, []string{"vps1", "vps2"})
	p(provision.Event{Host: "vps2", Msg: "writing 1 file(s)"})
	p(provision.Event{Host: "vps1", Msg: "deployed: reload"})
	if got, want := errOut.String(), "vps2: writing 1 file(s)\nvps1: deployed: reload\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// On a terminal progress is a block with one line per host, redrawn in
// place: the cursor goes back up the block, every line is cleared and
// rewritten, too-long messages are cut to the width, outcomes coloured.
func TestProgressLiveBlock(t *testing.T) {
	ios, _, out, errOut := TestIO()
	ios.SetStderrTTY(true)
	ios.SetWidth(40)
	p := progress(ios, &GlobalOptions{}, []string{"vps1", "edge-22"})
	p(provision.Event{Host: "vps1", Msg: "gathering facts"})
	p(provision.Event{Host: "edge-22", Msg: "writing 3 file(s) and restarting the agent"})
	p(provision.Event{Host: "vps1", Msg: "deployed: reload"})
	p(provision.Event{Host: "edge-22", Msg: "rolled back: gate FAILED"})
	bold, reset, green, red := "\x1b[1m", "\x1b[0m", "\x1b[32m", "\x1b[31m"
	vps1, edge := "\x1b[2K"+bold+"vps1   "+reset+"  ", "\x1b[2K"+bold+"edge-22"+reset+"  "
	up := "\x1b[2A"
	want := vps1 + "gathering facts\n" + edge + "waiting\n" +
		up + vps1 + "gathering facts\n" + edge + "writing 3 file(s) and restart…\n" +
		up + vps1 + green + "deployed: reload" + reset + "\n" + edge + "writing 3 file(s) and restart…\n" +
		up + vps1 + green + "deployed: reload" + reset + "\n" + edge + red + "rolled back: gate FAILED" + reset + "\n"
	if got := errOut.String(); got != want {
		t.Errorf("live block:\n got %q\nwant %q", got, want)
	}
	if out.Len() != 0 {
		t.Errorf("progress wrote to stdout: %q", out.String())
	}

	// --no-color: the same block without colour.
	ios, _, _, errOut = TestIO()
	ios.SetStderrTTY(true)
	p = progress(ios, &GlobalOptions{NoColor: true}, []string{"a"})
	p(provision.Event{Host: "a", Msg: "deployed: install"})
	p(provision.Event{Host: "a", Msg: "unreachable: no route"})
	if got, want := errOut.String(), "\x1b[2Ka  deployed: install\n\x1b[1A\x1b[2Ka  unreachable: no route\n"; got != want {
		t.Errorf("without colour:\n got %q\nwant %q", got, want)
	}
	if strings.Contains(errOut.String(), "\x1b[3") {
		t.Error("colour codes with NoColor")
	}
}
