package cli

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/edgectl/edgectl/fleet"
)

// TestCompletionFromFleet: shell completion (cobra's __complete, what the
// bash/zsh/fish scripts call) offers the fleet file's host names and
// labels.
func TestCompletionFromFleet(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "fleet.yaml", `hosts:
  - {name: cn2-sh, ipv4: 198.18.0.11, labels: [cn2, asia]}
  - {name: cn2-gz, ipv6: "fd00::12", labels: [cn2]}
  - {name: v4-nyc, ipv4: 198.18.0.13, labels: [us]}
sweep: {alert_webhook: "${EDGECTL_TEST_UNSET_HOOK}"}
`)
	t.Setenv("EDGECTL_TEST_UNSET_HOOK", "")
	os.Unsetenv("EDGECTL_TEST_UNSET_HOOK") // the file does not validate: names still complete
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"deploy", file, "--hosts", ""}, []string{"cn2-sh", "cn2-gz", "v4-nyc"}},
		{[]string{"deploy", file, "--hosts", "cn2"}, []string{"cn2-sh", "cn2-gz"}},
		{[]string{"deploy", file, "--hosts", "cn2-sh,"}, []string{"cn2-sh,cn2-gz", "cn2-sh,v4-nyc"}},
		{[]string{"deploy", file, "--label", ""}, []string{"cn2", "asia", "us"}},
		{[]string{"diagnose", "502", "-f", file, "--host", "v"}, []string{"v4-nyc"}},
		{[]string{"deploy", "--hosts", ""}, nil},
	} {
		code, out, _ := runCLI(t, nil, append([]string{"__complete"}, tt.args...)...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		got := lines[:len(lines)-1] // the last line is the directive
		if code != 0 || strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("%v: %q (exit %d), want %q", tt.args, got, code, tt.want)
		}
		if !strings.HasPrefix(lines[len(lines)-1], ":") {
			t.Errorf("%v: no directive line in %q", tt.args, out)
		}
	}
}

// TestExampleGetsPastValidation is the first thing a user does:
// cp fleet.yaml.example fleet.yaml && edgectl deploy fleet.yaml --dry-run.
// The file validates with none of its variables exported; the run then
// stops (here: before dialling anything) for reasons that are not the
// file's.
func TestExampleGetsPastValidation(t *testing.T) {
	for _, v := range []string{"EDGECTL_ALERT_WEBHOOK", "EDGECTL_ACME_EMAIL"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	data, err := os.ReadFile("../fleet.yaml.example")
	if err != nil {
		t.Fatal(err)
	}
	file := writeFile(t, t.TempDir(), "fleet.yaml", string(data))
	ctx, cancel := context.WithCancel(context.Background())
	var loadErr error
	loaded := false
	f := &Factory{FleetLoader: func(path string) (*fleet.Fleet, error) {
		fl, err := fleet.Load(path)
		loaded, loadErr = true, err
		cancel() // stop the deploy before it dials the example's hosts
		return fl, err
	}}
	ios, _, out, errOut := TestIO()
	f.IO = ios
	code := Run(ctx, f, []string{"deploy", file, "--dry-run"})
	if !loaded || loadErr != nil {
		t.Fatalf("the example as copied does not validate: %v", loadErr)
	}
	if code == ExitUsage || strings.Contains(errOut.String(), "invalid fleet file") {
		t.Errorf("exit %d:\n%s%s", code, out, errOut)
	}
}
