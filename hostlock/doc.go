// Package hostlock is the per-host lock that keeps two edgectl runs from
// changing one host at the same time: a deploy, an install, a certificate
// distribution (and a takeover) each hold it while they write.
//
// The lock is a file, /var/lib/edgectl/lock by default, holding one JSON
// line (the kind of run, user@machine, the machine's id, pid, command, a
// random token and the run's maximum time) and one "origin" line (the
// address the host saw the connection come from). It is taken atomically
// over any remote.Host: the content goes to a temporary file which is then
// hard-linked to the lock's name; link(2) fails when the name exists, so
// of two runs exactly one wins, and a reader never sees a half-written
// lock. The file's modification time, on the host's clock, is when it was
// taken.
//
// A lock older than its holder's own maximum time is stale: its process
// has probably died. Stale locks are reported, never taken over silently.
// The one exception is a lock whose holder ran on this very machine (same
// machine id) and whose process is gone (its pid no longer runs, or runs a
// later process): Acquire takes it over and says so in Lock.TookOver.
package hostlock
