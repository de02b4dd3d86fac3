package cli

import (
	"bytes"
	"testing"

	"github.com/edgectl/edgectl/provision"
)

// Off a terminal (logs, CI, cron) progress is one stable line per event.
func TestProgressPlainLines(t *testing.T) {
	var b bytes.Buffer
	p := progress(&b, &GlobalOptions{}, []string{"vps1", "vps2"})
	p(provision.Event{Host: "vps2", Msg: "writing 1 file(s)"})
	p(provision.Event{Host: "vps1", Msg: "deployed: reload"})
	if got, want := b.String(), "vps2: writing 1 file(s)\nvps1: deployed: reload\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
