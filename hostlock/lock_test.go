package hostlock

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgectl/edgectl/remote"
	"github.com/edgectl/edgectl/remote/remotetest"
)

// TestOneWinner: many runs take the lock at once on a real shell; exactly
// one gets it and the others are told who holds it.
func TestOneWinner(t *testing.T) {
	p := filepath.Join(t.TempDir(), "var/lib/edgectl/lock")
	const n = 12
	var wins int
	var mu sync.Mutex
	var held []*HeldError
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			me := Self(KindDeploy, "deploy fleet.yaml", time.Minute)
			me.Machine = "op" + string(rune('a'+i))
			_, err := Acquire(context.Background(), remote.Local{}, me, Options{Path: p})
			mu.Lock()
			defer mu.Unlock()
			var he *HeldError
			switch {
			case err == nil:
				wins++
			case errors.As(err, &he):
				held = append(held, he)
			default:
				t.Errorf("Acquire: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 || len(held) != n-1 {
		t.Fatalf("%d runs got the lock, %d were refused; want 1 and %d", wins, len(held), n-1)
	}
	msg := held[0].Error()
	if !strings.Contains(msg, "@op") || !strings.Contains(msg, "(deploy fleet.yaml, pid ") || !strings.Contains(msg, "wait for it to finish") {
		t.Errorf("message %q should name the holder, command and pid", msg)
	}
	if tmp, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".lock"+remote.TempInfix+"*")); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

func TestReleaseWaitForce(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "lock")
	a := Self(KindDeploy, "deploy a.yaml", time.Minute)
	la, err := Acquire(ctx, remote.Local{}, a, Options{Path: p})
	if err != nil {
		t.Fatal(err)
	}
	// A second run waits, sees the holder, and gets the lock once it is
	// released.
	b := Self(KindCert, "cert renew fleet.yaml", time.Minute)
	waits := 0
	go func() {
		time.Sleep(300 * time.Millisecond)
		if err := la.Release(ctx); err != nil {
			t.Errorf("release: %v", err)
		}
	}()
	lb, err := Acquire(ctx, remote.Local{}, b, Options{Path: p, Wait: 10 * time.Second, Poll: 50 * time.Millisecond,
		OnWait: func(st Status) {
			if st.Holder.Token == a.Token {
				waits++
			}
		}})
	if err != nil || waits == 0 {
		t.Fatalf("waiting Acquire: %v after %d waits", err, waits)
	}
	// The first run's token no longer releases anything.
	if err := la.Release(ctx); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("second release by the old holder: %v, want ErrNotHeld", err)
	}
	// Force takes it and reports whom it removed.
	c := Self(KindDeploy, "deploy c.yaml", time.Minute)
	lc, err := Acquire(ctx, remote.Local{}, c, Options{Path: p, Force: true})
	if err != nil || lc.TookOver == nil || lc.TookOver.Holder.Token != b.Token {
		t.Fatalf("forced Acquire: %v, took over %+v", err, lc)
	}
	if err := lb.Release(ctx); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("release after a forced unlock: %v", err)
	}
	st, err := Read(ctx, remote.Local{}, p)
	if err != nil || !st.Held || st.Holder.Token != c.Token || st.Stale || st.Gone {
		t.Fatalf("Read: %+v, %v", st, err)
	}
}

// TestStaleAndGone: a lock older than its run's maximum is reported stale
// and never taken; one left by a process of this machine that is gone is
// taken over, and Lock.TookOver says so.
func TestStaleAndGone(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "lock")
	other := Self(KindDeploy, "deploy fleet.yaml", 2*time.Second)
	other.MachineID = "another-machine"
	if _, err := Acquire(ctx, remote.Local{}, other, Options{Path: p}); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("touch", "-d", "-10 seconds", p).CombinedOutput(); err != nil {
		t.Fatalf("touch: %v %s", err, out)
	}
	_, err := Acquire(ctx, remote.Local{}, Self(KindDeploy, "deploy", time.Minute), Options{Path: p})
	var he *HeldError
	if !errors.As(err, &he) || !he.Status.Stale || !strings.Contains(err.Error(), "probably died") {
		t.Fatalf("stale lock: %v, want a HeldError saying it is stale", err)
	}
	if _, err := Remove(ctx, remote.Local{}, p); err != nil {
		t.Fatal(err)
	}
	// A holder on this machine whose process exited.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := Self(KindDeploy, "deploy fleet.yaml", time.Hour)
	dead.PID, dead.PIDStart = cmd.Process.Pid, 1
	if _, err := Acquire(ctx, remote.Local{}, dead, Options{Path: p}); err != nil {
		t.Fatal(err)
	}
	l, err := Acquire(ctx, remote.Local{}, Self(KindDeploy, "deploy", time.Minute), Options{Path: p})
	if err != nil || l.TookOver == nil || !l.TookOver.Gone {
		t.Fatalf("lock of a gone process: %v, took over %+v", err, l)
	}
}

// TestFakeHost: the scripts run on the recording fake as on a shell, so
// provision's tests can take locks there.
func TestFakeHost(t *testing.T) {
	ctx := context.Background()
	h := remotetest.NewFake("vps1")
	me := Self(KindDeploy, "deploy", time.Minute)
	l, err := Acquire(ctx, h, me, Options{})
	if err != nil {
		t.Fatalf("Acquire on the fake: %v\n%s", err, strings.Join(h.Log(), "\n"))
	}
	_, err = Acquire(ctx, h, Self(KindInstall, "install", time.Minute), Options{})
	var he *HeldError
	if !errors.As(err, &he) || he.Status.Holder.Token != me.Token {
		t.Fatalf("second Acquire on the fake: %v", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if h.File(DefaultPath) != nil || len(h.Glob("/var/lib/edgectl/.lock*")) != 0 {
		t.Fatalf("files left: %v", h.Paths())
	}
}
