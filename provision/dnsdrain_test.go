package provision

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgectl/edgectl/dnsrecords"
	"github.com/edgectl/edgectl/dnssync"
	"github.com/edgectl/edgectl/dnssync/dnssynctest"
	"github.com/edgectl/edgectl/fleet"
)

// sequence is the order in which the provider's changes and the deploy's
// steps happened.
type sequence struct {
	mu  sync.Mutex
	log []string
}

func (s *sequence) add(e string) {
	s.mu.Lock()
	s.log = append(s.log, e)
	s.mu.Unlock()
}

func (s *sequence) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.log, ", ")
}

// zone is the in-memory provider with vps1's name, its changes logged
// into seq.
type zone struct {
	*dnssynctest.Zone
	seq *sequence
}

func newZone(seq *sequence, lines ...string) *zone {
	for i, l := range lines {
		lines[i] = "api.example.com " + l
	}
	z := &zone{Zone: dnssynctest.New(lines...), seq: seq}
	z.OnChange = func(c string) { seq.add("dns " + c) }
	return z
}

// fullZone: vps1 (198.18.0.11, fd00:e:d9e::11) and one other address of
// each family, TTL 1 s.
func fullZone() []string {
	return []string{"A 198.18.0.11 1", "A 198.18.0.12 1", "AAAA fd00:e:d9e::11 1", "AAAA fd00:e:d9e::12 1"}
}

const fullRecords = "A 198.18.0.11 1, A 198.18.0.12 1, AAAA fd00:e:d9e::11 1, AAAA fd00:e:d9e::12 1"

// drainFleet is the model's fleet with rollout.dns_drain and a dns:
// section (min_healthy 1).
func drainFleet(t *testing.T, exec string) *fleet.Fleet {
	f := deployFleet(t, "60s", exec)
	f.Rollout.DNSDrain = true
	f.DNS = &fleet.DNS{Provider: "rfc2136", Zone: "example.com", TTL: 60, MinHealthy: 1, MaxRemove: "33%"}
	return f
}

// drainRun deploys f to the model with z behind rollout.dns_drain and
// returns the host's result; the sequence gets the steps too.
func drainRun(t *testing.T, m *model, f *fleet.Fleet, z *zone, bin string, tune func(*Options)) HostResult {
	t.Helper()
	return m.host(t, f, bin, func(o *Options) {
		o.DNSDrain = &DNSDrain{Provider: z, Names: f.DNSNames(), Policy: dnssync.PolicyOf(f.DNS, false), MaxWait: 10 * time.Second}
		o.Step = func(host, step string) { z.seq.add("step " + step) }
		if tune != nil {
			tune(o)
		}
	})
}

func (m *model) hasLedger() bool { return m.File(DNSLedgerPath(m.layout)) != nil }

// TestDNSDrainOrder: the ledger is written before the records leave, the
// host waits their TTL before its first step, the records come back only
// after the gate, and the ledger goes; the countdown is shown live.
func TestDNSDrainOrder(t *testing.T) {
	m := newModel(t)
	seq := &sequence{}
	z := newZone(seq, fullZone()...)
	ledgerAtRemoval := true
	z.Fail = func(op string, r dnsrecords.Record) error {
		if op == "delete" && !m.hasLedger() {
			ledgerAtRemoval = false
		}
		return nil
	}
	var mu sync.Mutex
	var ticks []time.Duration
	var removedAt, firstStepAt time.Time
	f := drainFleet(t, appExec)
	h := drainRun(t, m, f, z, "bin-v1", func(o *Options) {
		step := o.Step
		o.Step = func(host, s string) {
			if s == StepPrepare && firstStepAt.IsZero() {
				firstStepAt = time.Now()
			}
			step(host, s)
		}
		o.Event = func(e Event) {
			mu.Lock()
			defer mu.Unlock()
			if e.Left > 0 {
				ticks = append(ticks, e.Left)
			}
			if strings.HasPrefix(e.Msg, "out of DNS") && removedAt.IsZero() {
				removedAt = time.Now()
			}
		}
	})
	if h.Status != StatusDeployed || h.DNS == nil || !h.DNS.Restored {
		t.Fatalf("result %+v dns %+v", h, h.DNS)
	}
	want := "step lock, step dns-drain, dns remove A 198.18.0.11, dns remove AAAA fd00:e:d9e::11, step prepare"
	if got := seq.String(); !strings.HasPrefix(got, want) {
		t.Fatalf("sequence %s", got)
	}
	got := seq.String()
	gate, add := strings.Index(got, "step gate"), strings.Index(got, "dns add")
	if gate < 0 || add < gate || strings.Index(got, "step prepare") > strings.Index(got, "dns add A") {
		t.Fatalf("the records came back before the gate: %s", got)
	}
	if !strings.HasSuffix(got, "dns add A 198.18.0.11, dns add AAAA fd00:e:d9e::11") {
		t.Fatalf("sequence %s", got)
	}
	if !ledgerAtRemoval {
		t.Error("a record left DNS before the ledger listed it")
	}
	if m.hasLedger() {
		t.Error("the ledger is still on the host after the records came back")
	}
	if z.String() != "A 198.18.0.11 1, A 198.18.0.12 1, AAAA fd00:e:d9e::11 1, AAAA fd00:e:d9e::12 1" {
		t.Errorf("records after the deploy: %s", z)
	}
	if h.DNS.WaitMS < 900 || len(ticks) == 0 || firstStepAt.Sub(removedAt) < 900*time.Millisecond {
		t.Errorf("waited %d ms, ticks %v, first step %s after the removal: want the 1 s TTL waited, shown live", h.DNS.WaitMS, ticks, firstStepAt.Sub(removedAt))
	}
	if strings.Join(h.DNS.Removed, ", ") != "api.example.com A 198.18.0.11, api.example.com AAAA fd00:e:d9e::11" || h.DNS.TTLMS != 1000 {
		t.Errorf("dns %+v", h.DNS)
	}
	m.state(t, m.want(t, f, "bin-v1"))
}

// TestDNSDrainFailedGate: a host whose gate fails is rolled back and its
// records stay out, said in the result and kept in the ledger; the next
// deploy that passes its gate puts them back.
func TestDNSDrainFailedGate(t *testing.T) {
	m := newModel(t)
	z := newZone(&sequence{}, fullZone()...)
	good := drainFleet(t, appExec)
	if h := drainRun(t, m, good, z, "bin-v1", nil); h.Status != StatusDeployed {
		t.Fatalf("first deploy %+v", h)
	}
	bad := drainFleet(t, "/opt/app --exit 1")
	h := drainRun(t, m, bad, z, "bin-v1", nil)
	if h.Status != StatusRolledBack || h.Step != StepGate || h.DNS == nil || h.DNS.Restored || len(h.DNS.LeftOut) != 2 {
		t.Fatalf("failed gate: %+v dns %+v", h, h.DNS)
	}
	if !slices.ContainsFunc(h.Notes, func(n string) bool {
		return strings.Contains(n, "left out of DNS because the host failed and was rolled back: api.example.com A 198.18.0.11, api.example.com AAAA fd00:e:d9e::11")
	}) {
		t.Errorf("notes %q", h.Notes)
	}
	if z.String() != "A 198.18.0.12 1, AAAA fd00:e:d9e::12 1" || !m.hasLedger() {
		t.Fatalf("after a failed gate: records %s, ledger %v", z, m.hasLedger())
	}
	m.state(t, m.want(t, good, "bin-v1"))
	// The fix: the same fleet with a working backend again changes
	// nothing on the host, which passes the gate and gets its records back.
	h = drainRun(t, m, good, z, "bin-v1", nil)
	if h.Status != StatusUnchanged || h.DNS == nil || !h.DNS.Restored || h.DNS.Interrupted == "" {
		t.Fatalf("next deploy: %+v dns %+v", h, h.DNS)
	}
	if z.String() != fullRecords || m.hasLedger() {
		t.Fatalf("after the next deploy: records %s, ledger %v", z, m.hasLedger())
	}
}

// TestDNSDrainSafety: a host that is the last A record stays in DNS for
// that family (min_healthy), is deployed with it, and says so; its AAAA
// leaves and comes back.
func TestDNSDrainSafety(t *testing.T) {
	m := newModel(t)
	z := newZone(&sequence{}, "A 198.18.0.11 1", "AAAA fd00:e:d9e::11 1", "AAAA fd00:e:d9e::12 1")
	h := drainRun(t, m, drainFleet(t, appExec), z, "bin-v1", nil)
	if h.Status != StatusDeployed || len(h.DNS.Removed) != 1 || len(h.DNS.Kept) != 1 || !strings.Contains(h.DNS.Kept[0], "api.example.com A 198.18.0.11 (min_healthy 1") {
		t.Fatalf("%+v dns %+v", h, h.DNS)
	}
	if !slices.ContainsFunc(h.Notes, func(n string) bool {
		return strings.HasPrefix(n, "deployed with these records still in DNS, a safety rule keeps them")
	}) {
		t.Errorf("notes %q", h.Notes)
	}
	if z.String() != "A 198.18.0.11 1, AAAA fd00:e:d9e::11 1, AAAA fd00:e:d9e::12 1" {
		t.Fatalf("records %s", z)
	}
}

// TestDNSDrainProviderError: a provider that refuses the removal stops
// the host before anything is written to it, with the records as they
// were, and the rollout stops.
func TestDNSDrainProviderError(t *testing.T) {
	m := newModel(t)
	z := newZone(&sequence{}, fullZone()...)
	z.Fail = func(op string, r dnsrecords.Record) error {
		if op == "delete" && r.Type == dnsrecords.TypeAAAA {
			return errors.New("HTTP 403: token lacks Zone.DNS edit")
		}
		return nil
	}
	h := drainRun(t, m, drainFleet(t, appExec), z, "bin-v1", nil)
	if h.Status != StatusAborted || h.Step != StepDNSDrain || !strings.Contains(h.Error, "token lacks Zone.DNS edit") || !strings.Contains(h.Error, "the records are as they were") {
		t.Fatalf("%+v", h)
	}
	if z.String() != fullRecords || m.hasLedger() || m.File(m.layout.Journal()) != nil || m.File(m.layout.Binary) != nil {
		t.Fatalf("records %s, ledger %v, journal or binary written", z, m.hasLedger())
	}
}

// TestDNSDrainInterrupted: a run killed while the host's records are out
// (nothing reaches the host or the provider any more) leaves the ledger;
// the next run reports it and puts the records back after the gate.
func TestDNSDrainInterrupted(t *testing.T) {
	m := newModel(t)
	z := newZone(&sequence{}, fullZone()...)
	f := drainFleet(t, appExec)
	dead := false
	z.Fail = func(string, dnsrecords.Record) error {
		if dead {
			return errors.New("the deploy process was killed")
		}
		return nil
	}
	h := drainRun(t, m, f, z, "bin-v1", func(o *Options) {
		o.Holder = deadHolder(t) // its lock stays, as a killed run's does
		o.Step = func(_, step string) {
			if step == StepJournal {
				dead = true
				m.kill(true)
			}
		}
	})
	if h.Status == StatusDeployed || z.String() != "A 198.18.0.12 1, AAAA fd00:e:d9e::12 1" || !m.hasLedger() {
		t.Fatalf("killed run: %+v; records %s, ledger %v", h, z, m.hasLedger())
	}
	dead = false
	m.kill(false)
	m.ResetLog()
	// A dry run only reports it.
	res, err := m.deploy(t, f, "bin-v1", func(o *Options) {
		o.DryRun = true
		o.DNSDrain = &DNSDrain{Provider: z, Names: f.DNSNames(), Policy: dnssync.PolicyOf(f.DNS, false)}
	})
	h = status(t, res, err)
	if h.Status != StatusPlanned || h.DNS == nil || !strings.Contains(h.DNS.Interrupted, "took out api.example.com A 198.18.0.11, api.example.com AAAA fd00:e:d9e::11") {
		t.Fatalf("dry run: %+v dns %+v", h, h.DNS)
	}
	if z.String() != "A 198.18.0.12 1, AAAA fd00:e:d9e::12 1" {
		t.Fatalf("a dry run changed the records: %s", z)
	}
	// Meanwhile one of them came back (sweep --dns, by hand): it leaves
	// again with this run's and comes back once.
	if _, err := z.Add(context.Background(), dnsrecords.Record{Name: "api.example.com", Type: "A", Addr: netip.MustParseAddr("198.18.0.11"), TTL: 1}); err != nil {
		t.Fatal(err)
	}
	h = drainRun(t, m, f, z, "bin-v1", nil)
	if h.Status != StatusDeployed || !h.DNS.Restored || h.DNS.Interrupted == "" {
		t.Fatalf("next run: %+v dns %+v", h, h.DNS)
	}
	if z.String() != fullRecords || m.hasLedger() {
		t.Fatalf("after the next run: records %s, ledger %v", z, m.hasLedger())
	}
	if !slices.ContainsFunc(h.Notes, func(n string) bool {
		return strings.HasPrefix(n, "an interrupted deploy took records out of DNS (deploy fleet.yaml by ")
	}) {
		t.Errorf("the next run does not say what the interrupted one left out: %q", h.Notes)
	}
	m.state(t, m.want(t, f, "bin-v1"))
}

// TestDNSDrainStopDuringWait: a signal while the host waits out the TTL
// puts the records back at once and leaves the host untouched.
func TestDNSDrainStopDuringWait(t *testing.T) {
	m := newModel(t)
	z := newZone(&sequence{}, "A 198.18.0.11 30", "A 198.18.0.12 30")
	stop, cancel := context.WithCancel(context.Background())
	start := time.Now()
	h := drainRun(t, m, drainFleet(t, appExec), z, "bin-v1", func(o *Options) {
		o.Stop = stop
		o.Event = func(e Event) {
			if e.Left > 0 {
				cancel()
			}
		}
	})
	if h.Status != StatusAborted || !errors.Is(h.Err, ErrStopped) || h.DNS == nil || !h.DNS.Restored {
		t.Fatalf("%+v dns %+v", h, h.DNS)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the stop took %s: the 30 s wait was not cut short", took)
	}
	if z.String() != "A 198.18.0.11 30, A 198.18.0.12 30" || m.hasLedger() || m.File(m.layout.Journal()) != nil {
		t.Fatalf("records %s, ledger %v", z, m.hasLedger())
	}
}

// TestDNSDrainDryRun shows what would leave DNS and changes nothing; a
// run's maximum time counts each batch's wait.
func TestDNSDrainDryRun(t *testing.T) {
	m := newModel(t)
	z := newZone(&sequence{}, fullZone()...)
	f := drainFleet(t, appExec)
	d := &DNSDrain{Provider: z, Names: f.DNSNames(), Policy: dnssync.PolicyOf(f.DNS, false), MaxWait: 45 * time.Second}
	res, err := m.deploy(t, f, "bin-v1", func(o *Options) { o.DryRun, o.DNSDrain = true, d })
	h := status(t, res, err)
	if h.Status != StatusPlanned || h.DNS == nil || strings.Join(h.DNS.Removed, ", ") != "api.example.com A 198.18.0.11, api.example.com AAAA fd00:e:d9e::11" || h.DNS.TTLMS != 1000 {
		t.Fatalf("%+v dns %+v", h, h.DNS)
	}
	if z.String() != fullRecords {
		t.Fatalf("a dry run changed the records: %s", z)
	}
	f.Rollout.Batch = 2
	if got := d.budget(f, 5, 10); got != 3*(45*time.Second+dnsOpsBudget) {
		t.Errorf("5 hosts in batches of 2 add %s to the run's maximum, want 3 × (wait + provider time)", got)
	}
}
