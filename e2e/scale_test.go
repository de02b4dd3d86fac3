package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/buildtest"
	"github.com/edgectl/edgectl/internal/testbed"
)

// TestDeployScale measures a first deploy and a no-change redeploy on 10
// and then 20 VPS with --parallel 10 and rollout.batch 10: the per-host
// cost, and whether the total grows with hosts/parallel. It boots 30 hosts
// in all, so it runs only under `make bench` (EDGECTL_DEPLOY_SCALE=1).
func TestDeployScale(t *testing.T) {
	if os.Getenv("EDGECTL_DEPLOY_SCALE") == "" {
		t.Skip("scale measurement: set EDGECTL_DEPLOY_SCALE=1 (make bench)")
	}
	bin := buildtest.Binary(t, "./cmd/edgectl", "e2e-v1")
	app := buildtest.Binary(t, "./internal/sampleapp", "e2e")
	extra := strings.Replace(fleetExtra("60s", "[::1]:8000"), "batch: 1", "batch: 10", 1)
	for _, n := range []int{10, 20} {
		b := testbed.StartT(t, testbed.Options{Hosts: testbed.DualStack(n), BindRO: map[string]string{app: "/opt/sample/sampleapp"}})
		p := filepath.Join(t.TempDir(), "fleet.yaml")
		writeFile(t, p, b.FleetYAML(extra))
		first := edgectl(t, bin, "deploy", p, "--yes", "--parallel", "10")
		if first.code != 0 {
			t.Fatalf("first deploy to %d hosts:\n%s", n, first)
		}
		again := edgectl(t, bin, "deploy", p, "--yes", "--parallel", "10")
		if again.code != 0 || !strings.Contains(again.stdout, " unchanged") {
			t.Fatalf("redeploy of %d hosts:\n%s", n, again)
		}
		t.Logf("MEASURED %d hosts, --parallel 10: boot %s; first deploy %s (%s/host); no-change redeploy %s (%s/host)",
			n, b.BootTime.Round(100*time.Millisecond), first.took.Round(10*time.Millisecond), (first.took / time.Duration(n)).Round(time.Millisecond),
			again.took.Round(10*time.Millisecond), (again.took / time.Duration(n)).Round(time.Millisecond))
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
