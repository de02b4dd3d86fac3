package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/buildtest"
	"github.com/edgectl/edgectl/internal/testbed"
)

// applySteps are the steps of a deploy on one host, in order; the fault
// cases stop edgectl at each (EDGECTL_TEST_PAUSE_AT).
var applySteps = []string{"prepare", "journal", "backup", "upload", "check", "install", "daemon-reload", "backend", "agent", "gate"}

// TestDeployFaults is the operator's bad day, on the 3-VPS testbed: kills
// and signals at every step, partitions during upload, install and the
// gate, two deploys at once, full directories and a backend that exits 1.
// Each case logs an OUTCOME line (first run, rerun, end state) and checks
// that every host ends wholly on the old or the new version, running it,
// and that every rerun converges. The 40 s partitions run with
// EDGECTL_E2E_LONG=1 (they add about two minutes).
func TestDeployFaults(t *testing.T) {
	v1bin := buildtest.Binary(t, "./cmd/edgectl", "e2e-v1")
	v2bin := buildtest.Binary(t, "./cmd/edgectl", "e2e-v2")
	app := buildtest.Binary(t, "./internal/sampleapp", "e2e")
	b := testbed.StartT(t, testbed.Options{Hosts: testbed.Default3(), BindRO: map[string]string{app: "/opt/sample/sampleapp"}})
	dir := t.TempDir()
	write := func(name, ka, exec string) string {
		extra := fleetExtra(ka, "[::1]:8000")
		extra = strings.Replace(extra, `"/opt/sample/sampleapp -listen [::]:8000"`, fmt.Sprintf("%q", exec), 1)
		extra += "sweep: {scheme: http, timeout: 2s}\n"
		p := filepath.Join(dir, name)
		writeFile(t, p, b.FleetYAML(extra))
		return p
	}
	// A and B differ in binary, config and backend unit, so a deploy
	// between them runs every step.
	A := &version{name: "A", bin: v1bin, agentVersion: "e2e-v1", fleet: write("a.yaml", "60s", "/opt/sample/sampleapp -listen [::]:8000")}
	B := &version{name: "B", bin: v2bin, agentVersion: "e2e-v2", fleet: write("b.yaml", "61s", "/opt/sample/sampleapp -listen=[::]:8000")}
	deployAll := func(v *version) {
		t.Helper()
		if r := edgectl(t, v.bin, "deploy", v.fleet, "--yes"); r.code != 0 {
			t.Fatalf("deploy %s:\n%s", v.name, r)
		}
	}
	deployAll(B)
	B.snapshot(t, b)
	deployAll(A)
	A.snapshot(t, b)
	cur := A
	other := func() *version {
		if cur == A {
			return B
		}
		return A
	}
	vps1 := []string{"--yes", "--hosts", "vps1"}

	t.Run("killed or signalled at each step", func(t *testing.T) {
		for _, step := range applySteps {
			for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
				name := fmt.Sprintf("%s at %s", sigName(sig), step)
				target, old := other(), cur
				p := start(t, target.bin, []string{"EDGECTL_TEST_PAUSE_AT=vps1:" + step}, append([]string{"deploy", target.fleet}, vps1...)...)
				if !p.paused(t) {
					t.Fatalf("%s: the deploy never reached %s:\n%s", name, step, p.wait(t))
				}
				p.signal(sig)
				p.signal(syscall.SIGCONT)
				first := p.wait(t)
				var firstMsg, end string
				switch sig {
				case syscall.SIGKILL:
					firstMsg = "killed"
				case syscall.SIGTERM:
					firstMsg = lineWith(first.stdout, "vps1: ")
					if first.code != 1 || !strings.Contains(first.stdout, "stopped by SIGTERM before") || !strings.Contains(first.stderr, "SIGTERM: stopping at the next safe point") {
						t.Errorf("%s: want exit 1 saying SIGTERM stopped it:\n%s", name, first)
					}
					// Stopped and rolled back: the host is wholly on the old version.
					end = endState(t, b, "vps1", old) + " after the first run; "
				}
				rerun := run(t, target.bin, nil, append([]string{"deploy", target.fleet}, vps1...)...)
				if rerun.code != 0 || !strings.Contains(rerun.stdout, "vps1  deployed") {
					t.Errorf("%s: the rerun did not converge:\n%s", name, rerun)
				}
				end += endState(t, b, "vps1", target)
				outcome(t, name, first, firstMsg, &rerun, lineWith(rerun.stdout, "vps1  "), end)
				cur = target
			}
		}
		deployAll(cur)
	})

	partition := func(t *testing.T, step string, d time.Duration, wantFirst int) {
		name := fmt.Sprintf("%s partition during %s", d, step)
		target := other()
		p := start(t, target.bin, []string{"EDGECTL_TEST_PAUSE_AT=vps1:" + step}, append([]string{"deploy", target.fleet}, vps1...)...)
		if !p.paused(t) {
			t.Fatalf("%s: never reached %s", name, step)
		}
		if err := b.Partition("vps1"); err != nil {
			t.Fatal(err)
		}
		healed := time.AfterFunc(d, func() { _ = b.Heal("vps1") })
		defer healed.Stop()
		p.signal(syscall.SIGCONT)
		first := p.wait(t)
		_ = b.Heal("vps1")
		if first.code != wantFirst {
			t.Errorf("%s: exit %d, want %d:\n%s", name, first.code, wantFirst, first)
		}
		var rerun *result
		want := target
		if first.code == 0 {
			if !strings.Contains(first.stdout, "dialled again") {
				t.Errorf("%s: the report should say the connection was dialled again:\n%s", name, first)
			}
		} else {
			// Rolled back to the old version in full.
			endState(t, b, "vps1", cur)
			r := run(t, target.bin, nil, append([]string{"deploy", target.fleet}, vps1...)...)
			rerun = &r
			if r.code != 0 {
				t.Errorf("%s: the rerun did not converge:\n%s", name, r)
			}
		}
		end := endState(t, b, "vps1", want)
		msg := lineWith(first.stdout, "vps1: ")
		if msg == "" {
			msg = lineWith(first.stdout, "vps1  ")
		}
		rmsg := ""
		if rerun != nil {
			rmsg = lineWith(rerun.stdout, "vps1  ")
		}
		outcome(t, name, first, msg, rerun, rmsg, end)
		cur = target
	}
	t.Run("partitions", func(t *testing.T) {
		// An upload cut off is tried again once the host answers.
		partition(t, "upload", 10*time.Second, 0)
		// The renames cannot be tried again: the host is rolled back,
		// which waits for the host to answer.
		partition(t, "install", 10*time.Second, 1)
		// The gate does not count the time the host cannot be asked.
		partition(t, "gate", 15*time.Second, 0)
		if os.Getenv("EDGECTL_E2E_LONG") != "" {
			partition(t, "upload", 40*time.Second, 0)
			partition(t, "install", 40*time.Second, 1)
			partition(t, "gate", 40*time.Second, 0)
		} else {
			t.Log("40 s partitions skipped: set EDGECTL_E2E_LONG=1")
		}
		deployAll(cur)
	})

	t.Run("two deploys at once", func(t *testing.T) {
		// From a third config, so that both runs have work on every host.
		C := write("c.yaml", "62s", "/opt/sample/sampleapp -listen [::]:8000")
		if r := edgectl(t, cur.bin, "deploy", C, "--yes"); r.code != 0 {
			t.Fatalf("deploy C:\n%s", r)
		}
		// Without waiting: a run that finds another's lock changes nothing
		// and names the holder; the fleet ends on one version, uniformly.
		pa := start(t, A.bin, nil, "deploy", A.fleet, "--yes")
		pb := start(t, B.bin, nil, "deploy", B.fleet, "--yes")
		ra, rb := pa.wait(t), pb.wait(t)
		aLast := pa.res.took+pa.started.Sub(pb.started) > pb.res.took
		for _, r := range []result{ra, rb} {
			if r.code != 0 && (r.code != 1 || !strings.Contains(r.stdout, "locked by ") || !strings.Contains(r.stderr, "nothing was changed on any host")) {
				t.Errorf("a losing run must change nothing and name the holder:\n%s", r)
			}
		}
		var end *version
		switch {
		case ra.code != 0 && rb.code != 0:
			t.Fatalf("both runs stopped; one should have taken every lock:\n%s\n%s", ra, rb)
		case ra.code == 0 && rb.code == 0:
			// Possible only one after the other (each held every lock for
			// its whole run): the later one's version is what is left.
			end = map[bool]*version{true: A, false: B}[aLast]
		case ra.code == 0:
			end = A
		case rb.code == 0:
			end = B
		}
		var ends []string
		for _, h := range b.Hosts {
			ends = append(ends, endState(t, b, h.Name, end))
		}
		outcome(t, "two deploys at once, no waiting (A)", ra, lineWith(ra.stdout, "host(s)")+lineWith(ra.stderr, "edgectl:"), nil, "", strings.Join(ends, "; "))
		outcome(t, "two deploys at once, no waiting (B)", rb, lineWith(rb.stdout, "host(s)")+lineWith(rb.stderr, "edgectl:"), nil, "", "")
		cur = end
		if r := edgectl(t, cur.bin, "deploy", C, "--yes"); r.code != 0 {
			t.Fatalf("deploy C:\n%s", r)
		}
		// With --lock-wait the second waits for the first: both deploy,
		// one after the other, and the fleet ends on the later one.
		var mu sync.Mutex
		var order []*version
		var wg sync.WaitGroup
		var res [2]result
		for i, v := range []*version{A, B} {
			wg.Go(func() {
				res[i] = run(t, v.bin, nil, "deploy", v.fleet, "--yes", "--lock-wait", "3m")
				mu.Lock()
				order = append(order, v)
				mu.Unlock()
			})
		}
		wg.Wait()
		if res[0].code != 0 || res[1].code != 0 {
			t.Errorf("with --lock-wait both should deploy:\n%s\n%s", res[0], res[1])
		}
		last := order[1]
		ends = nil
		for _, h := range b.Hosts {
			ends = append(ends, endState(t, b, h.Name, last))
		}
		waited := strings.Contains(res[0].stderr+res[1].stderr, "waiting for the lock")
		if !strings.Contains(res[0].stdout, "3 deployed") || !strings.Contains(res[1].stdout, "3 deployed") || !waited {
			t.Errorf("with --lock-wait each run should deploy every host, one after waiting:\n%s\n%s", res[0], res[1])
		}
		outcome(t, "two deploys at once, --lock-wait (A)", res[0], lineWith(res[0].stdout, "host(s)"), nil, "", strings.Join(ends, "; "))
		outcome(t, "two deploys at once, --lock-wait (B)", res[1], lineWith(res[1].stdout, "host(s)")+fmt.Sprintf("; one waited: %v; the later is %s", waited, last.name), nil, "", "")
		cur = last
	})

	t.Run("full directories", func(t *testing.T) {
		ctx := context.Background()
		for _, dir := range []string{"/usr/local/bin", "/etc/edgectl"} {
			target := other()
			if err := b.Fill(ctx, "vps1", dir); err != nil {
				t.Fatal(err)
			}
			first := run(t, target.bin, nil, append([]string{"deploy", target.fleet}, vps1...)...)
			if first.code != 1 || !strings.Contains(first.stdout, "no space on vps1:"+dir+", need ") || !strings.Contains(first.stdout, "vps1  aborted") {
				t.Errorf("%s full: want exit 1, aborted, no space on vps1:%s:\n%s", dir, dir, first)
			}
			endState(t, b, "vps1", cur)
			if err := b.Unfill(ctx, "vps1", dir); err != nil {
				t.Fatal(err)
			}
			rerun := run(t, target.bin, nil, append([]string{"deploy", target.fleet}, vps1...)...)
			if rerun.code != 0 {
				t.Errorf("rerun after %s was freed:\n%s", dir, rerun)
			}
			outcome(t, dir+" full", first, lineWith(first.stdout, "vps1: "), &rerun, lineWith(rerun.stdout, "vps1  "), endState(t, b, "vps1", target))
			cur = target
		}
		deployAll(cur)
	})

	t.Run("a backend that exits 1", func(t *testing.T) {
		bad := write("bad.yaml", "60s", "/bin/false")
		if cur == B {
			bad = write("bad.yaml", "61s", "/bin/false")
		}
		first := run(t, cur.bin, nil, "deploy", bad, "--yes")
		if first.code != 1 || !contains(first.stdout, "vps1  rolled-back", "restart-looping", "last lines of sample-api.service",
			"next: edgectl diagnose 502 --host vps1 -f "+bad) || first.took > 20*time.Second {
			t.Errorf("a backend exiting 1: want a fast rollback naming the restart loop, its journal and what to run next:\n%s", first)
		}
		var ends []string
		for _, h := range b.Hosts {
			ends = append(ends, endState(t, b, h.Name, cur))
		}
		checkServing(t, b)
		rerun := run(t, cur.bin, nil, "deploy", cur.fleet, "--yes")
		if rerun.code != 0 || !strings.Contains(rerun.stdout, "3 unchanged") {
			t.Errorf("the fleet should be unchanged on its previous version:\n%s", rerun)
		}
		outcome(t, "backend exits 1", first, lineWith(first.stdout, "vps1: ")+fmt.Sprintf(" (after %s)", first.took.Round(100*time.Millisecond)),
			&rerun, lineWith(rerun.stdout, "host(s)"), strings.Join(ends, "; "))
	})

	t.Run("sweep during a restart deploy", func(t *testing.T) {
		// A unit change (drain timeout) makes every host drain and restart.
		extra := strings.Replace(fleetExtra(map[*version]string{A: "60s", B: "61s"}[cur], "[::1]:8000"), "timeout: 5s}", "timeout: 6s}", 1)
		// No domains: the testbed has no DNS for them, and sweep would
		// rightly complain about that.
		extra = strings.Replace(extra, "domains: [api.example.test]\n", "", 1)
		if cur == B {
			extra = strings.Replace(extra, `"/opt/sample/sampleapp -listen [::]:8000"`, `"/opt/sample/sampleapp -listen=[::]:8000"`, 1)
		}
		restart := filepath.Join(dir, "restart.yaml")
		writeFile(t, restart, b.FleetYAML(extra+"sweep: {scheme: http, timeout: 2s}\n"))
		p := start(t, cur.bin, nil, "deploy", restart, "--yes")
		var deep, plain, deepBad, plainBad, deploying, plainDeploying int
		for {
			select {
			case <-p.done:
			default:
				r := edgectl(t, cur.bin, "sweep", restart, "--deep", "--json", "--state", filepath.Join(dir, "sweep-deep.json"))
				deep++
				if r.code != 0 {
					deepBad++
					t.Logf("sweep --deep during the deploy: %s", r)
				}
				if strings.Contains(r.stdout, `"deploying"`) {
					deploying++
				}
				r = edgectl(t, cur.bin, "sweep", restart, "--json", "--state", filepath.Join(dir, "sweep.json"))
				if r.code != 0 {
					plainBad++
				}
				if strings.Contains(r.stdout, `"deploying"`) {
					plainDeploying++
				}
				plain++
				continue
			}
			break
		}
		d := p.wait(t)
		if d.code != 0 {
			t.Fatalf("restart deploy:\n%s", d)
		}
		if deepBad != 0 || deploying == 0 {
			t.Errorf("sweep --deep during a restart deploy: %d of %d exited 1, %d saw a host deploying", deepBad, deep, deploying)
		}
		// Without SSH, the agent's health answer is what says "deploying".
		if plainDeploying == 0 {
			t.Errorf("no sweep without --deep saw the deploy mark in a health answer (%d sweeps)", plain)
		}
		t.Logf("MEASURED sweeps during a restart deploy of 3 hosts (%s): --deep %d of %d exit 0 (%d saw a host deploying); without --deep %d of %d exit 0 (%d saw one deploying)",
			d.took.Round(100*time.Millisecond), deep-deepBad, deep, deploying, plain-plainBad, plain, plainDeploying)
		deployAll(cur)
	})
}

func sigName(s syscall.Signal) string {
	if s == syscall.SIGKILL {
		return "SIGKILL"
	}
	return "SIGTERM"
}
