package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/remote"
	"github.com/edgectl/edgectl/remote/remotetest"
)

func TestAskYes(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"y\n", true}, {"YES\n", true}, {" yes \r\n", true}, {"n\n", false}, {"\n", false}, {"", false}, {"yep\n", false},
	} {
		ios, in, out, _ := TestIO()
		in.WriteString(tt.in)
		if got := askYes(ios, "Apply to 2 host(s)?"); got != tt.want {
			t.Errorf("answer %q: %v, want %v", tt.in, got, tt.want)
		}
		want := "Apply to 2 host(s)? [y/N] "
		if tt.in == "" {
			want += "\n" // no answer at all (EOF): end the prompt's line
		}
		if out.String() != want {
			t.Errorf("answer %q: prompt %q, want %q", tt.in, out.String(), want)
		}
	}
}

// The passphrase of an encrypted key is asked once per file on the
// terminal, on stderr, however many hosts dial in parallel; without a
// terminal there is no prompt at all (an encrypted key then fails with
// advice to use ssh-agent).
func TestPassphrasePrompt(t *testing.T) {
	ios, in, out, errOut := TestIO()
	if passphrasePrompt(ios) != nil {
		t.Fatal("a prompt without a terminal on stdin")
	}
	ios.SetStdinTTY(true)
	in.WriteString("s3cret\nother\n")
	ask := passphrasePrompt(ios)
	for range 3 {
		p, err := ask("/home/op/.ssh/id_ed25519")
		if err != nil || string(p) != "s3cret" {
			t.Fatalf("passphrase %q, %v", p, err)
		}
	}
	p, err := ask("/home/op/.ssh/deploy_key")
	if err != nil || string(p) != "other" {
		t.Fatalf("second key: %q, %v", p, err)
	}
	want := "Passphrase for /home/op/.ssh/id_ed25519: \nPassphrase for /home/op/.ssh/deploy_key: \n"
	if errOut.String() != want || out.Len() != 0 {
		t.Errorf("stderr %q, stdout %q; want stderr %q", errOut.String(), out.String(), want)
	}
	if _, err := ask("/home/op/.ssh/third"); err == nil {
		t.Error("no error when stdin ends")
	}
}

// TestDeployAsksBeforeChanging drives deploy on a "terminal": it plans
// against a host (this machine, with every path under a temporary
// directory), shows the plan, asks, and on "no" changes nothing.
func TestDeployAsksBeforeChanging(t *testing.T) {
	root := t.TempDir()
	fleetFile := filepath.Join(t.TempDir(), "fleet.yaml")
	if err := os.WriteFile(fleetFile, []byte("hosts:\n  - {name: h1, ipv4: 198.18.0.11}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ios, in, out, errOut := TestIO()
	ios.SetStdinTTY(true)
	ios.SetStdoutTTY(true)
	in.WriteString("n\n")
	f := &Factory{IO: ios}
	g := &GlobalOptions{Output: "text", NoColor: true}
	opts := &deployOptions{FleetPath: fleetFile, Parallel: 1,
		Dial: func(context.Context, fleet.Host) (remote.Host, error) {
			return remotetest.Rooted(remote.Local{}, root, "h1"), nil
		}}
	err := deployRun(context.Background(), f, g, opts)
	if exitCode(err) != ExitProblem || !strings.Contains(err.Error(), "deploy cancelled; nothing was changed") {
		t.Fatalf("err %v (exit %d), want exit 1 and a cancelled deploy\nstdout:\n%s\nstderr:\n%s", err, exitCode(err), out, errOut)
	}
	text := out.String()
	if !strings.HasPrefix(text, "== h1: ") || !strings.HasSuffix(text, "\nApply to 1 host(s)? [y/N] ") {
		t.Errorf("stdout does not show the plan and then ask:\n%s", text)
	}
	entries, _ := os.ReadDir(root)
	var written []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, _ error) error {
		if d != nil && !d.IsDir() {
			written = append(written, p)
		}
		return nil
	})
	if len(written) > 0 {
		t.Errorf("answering no wrote %v (%d entries at the root)", written, len(entries))
	}
}

// Every duration in JSON is a number of milliseconds named *_ms: deploy's
// too (a dry run against this machine, paths under a temporary directory).
func TestDeployJSONDurations(t *testing.T) {
	root := t.TempDir()
	fleetFile := filepath.Join(t.TempDir(), "fleet.yaml")
	if err := os.WriteFile(fleetFile, []byte("hosts:\n  - {name: h1, ipv4: 198.18.0.11}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ios, _, out, _ := TestIO()
	opts := &deployOptions{FleetPath: fleetFile, Parallel: 1, DryRun: true,
		Dial: func(context.Context, fleet.Host) (remote.Host, error) {
			return remotetest.Rooted(remote.Local{}, root, "h1"), nil
		}}
	if err := deployRun(context.Background(), &Factory{IO: ios}, &GlobalOptions{Output: "json"}, opts); err != nil {
		t.Fatal(err)
	}
	var v struct {
		DurationMS *float64 `json:"duration_ms"`
		Hosts      []struct {
			DurationMS *float64 `json:"duration_ms"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal(out.Bytes(), &v); err != nil || v.DurationMS == nil || len(v.Hosts) != 1 || v.Hosts[0].DurationMS == nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if s := out.String(); strings.Contains(s, "_ns\"") || strings.Contains(s, "_seconds\"") {
		t.Errorf("a duration not in _ms:\n%s", s)
	}
}
