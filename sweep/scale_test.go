package sweep_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgectl/edgectl/sweep"
	"github.com/edgectl/edgectl/sweep/sweeptest"
)

// TestSweepScale sweeps a fleet whose addresses are half dropped (nft
// drop: real timeouts) and checks that the sweep takes about one probe
// timeout per wave of Concurrency probes, not one per address. CI sweeps
// 20 addresses; EDGECTL_SWEEP_SCALE=1 sweeps the 100 of the README's
// measurement (about 10 s) and logs time and memory.
func TestSweepScale(t *testing.T) {
	hosts, timeout := 10, time.Second
	full := os.Getenv("EDGECTL_SWEEP_SCALE") != ""
	if full {
		hosts, timeout = 50, 2*time.Second
	}
	lab := sweeptest.New(t, edgectl(t))
	var yaml strings.Builder
	yaml.WriteString("hosts:\n")
	var nums []int
	for i := range hosts {
		nums = append(nums, 100+i)
	}
	all4, all6 := lab.AddAddrs(t, nums...)
	var dropped []string
	for i, n := range nums {
		fmt.Fprintf(&yaml, "  - name: edge-%d\n    ipv4: %s\n    ipv6: %q\n", n, all4[i], all6[i])
		if i%2 == 1 {
			dropped = append(dropped, all4[i], all6[i])
		}
	}
	lab.SharedAgent(t, all4[0], all6[0])
	var d4, d6 []string
	for _, a := range dropped {
		if strings.Contains(a, ":") {
			d6 = append(d6, a)
		} else {
			d4 = append(d4, a)
		}
	}
	lab.Drop(t, "ip daddr { "+strings.Join(d4, ", ")+" }")
	lab.Drop(t, "ip6 daddr { "+strings.Join(d6, ", ")+" }")
	// The domain's DNS lists the healthy addresses, from a server on loopback.
	var healthy []string
	for i := range hosts {
		if i%2 == 0 {
			healthy = append(healthy, fmt.Sprintf("198.18.0.%d", 100+i), fmt.Sprintf("fd00:e:d9e::%d", 100+i))
		}
	}
	dns := sweeptest.StartDNS(t, map[string][]string{sweeptest.Domain: healthy})
	fmt.Fprintf(&yaml, "domains: [%s]\nresolver: %q\n", sweeptest.Domain, dns.Addr)
	fmt.Fprintf(&yaml, "sweep:\n  port: %d\n  timeout: %s\n", sweeptest.Port, timeout)
	f := parseFleet(t, yaml.String())

	concurrencies := []int{sweep.DefaultConcurrency}
	if full {
		concurrencies = append(concurrencies, 2*hosts)
	}
	for _, c := range concurrencies {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		rep, err := sweep.Run(t.Context(), f, sweep.Options{Dial: lab.Dial, RootCAs: lab.PKI.Pool, Concurrency: c})
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		probed, ok, failed := rep.Counts()
		if probed != 2*hosts || ok != hosts || failed != hosts {
			t.Fatalf("probed %d, ok %d, failed %d: %s\n%+v", probed, ok, failed, rep.Summary(), rep.Problems)
		}
		if rep.DNS.Status != sweep.StatusOK {
			t.Errorf("dns %+v", rep.DNS)
		}
		for _, h := range rep.Hosts {
			for _, tg := range []sweep.Target{h.IPv4, h.IPv6} {
				if tg.Status == sweep.StatusFail && tg.Kind != "timeout" {
					t.Fatalf("%s: %s %s, want a timeout", tg.Address, tg.Kind, tg.Error)
				}
			}
		}
		waves := (len(dropped) + c - 1) / c
		bound := time.Duration(waves)*timeout + 3*time.Second
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		t.Logf("%d addresses (%d dropped), probe timeout %v, concurrency %d: %v (bound %v); allocated %.1f MiB, heap in use %.1f MiB, max RSS of the test process %.1f MiB",
			probed, len(dropped), timeout, c, took.Round(time.Millisecond), bound,
			float64(after.TotalAlloc-before.TotalAlloc)/(1<<20), float64(after.HeapInuse)/(1<<20), float64(ru.Maxrss)/1024)
		if took > bound {
			t.Errorf("sweep took %v; with %d timeouts of %v and concurrency %d it should take about %v", took, len(dropped), timeout, c, time.Duration(waves)*timeout)
		}
	}
}
