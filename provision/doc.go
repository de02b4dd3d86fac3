// Package provision makes a host look like fleet.yaml says: gather the
// host's facts in one round-trip, compute a plan of file changes and one
// action (start, reload, upgrade or restart), apply it atomically keeping
// the previous version of every file, check the result through the health
// gate, and roll back when the gate fails. Rollout drives that across a
// fleet in batches. Everything goes through remote.Host, so `edgectl
// install` (the local host) and `edgectl deploy` (SSH) share one path.
package provision
