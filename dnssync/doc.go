// Package dnssync makes the round-robin A and AAAA records of a fleet's
// names follow health, safely: [Compute] turns the current records and
// every fleet address's verdict into a [NamePlan] (records to add, records
// to remove, removals a safety rule holds back, records that are no fleet
// address), [Build] does it for every name through a dnsrecords.Provider,
// and [Apply] carries a plan out, undoing what it did when a change fails
// so that a provider error leaves the records as they were.
//
// The safety rules, per name and family (the A set and the AAAA set are
// separate pools for clients):
//
//   - never remove the last min_healthy records;
//   - never remove more than max_remove records in one run;
//   - never touch a record that is no fleet address, unless pruning;
//   - never change an address that is held (a host being deployed).
//
// Within a family, additions come first, so a failed host's replacement is
// in DNS before the failed one leaves. An added record takes the TTL its record set
// already has (all records of a name and type share one TTL), else
// dns.ttl. A plan computed twice from the same facts is the same, and a
// plan applied leaves nothing to do: sync is idempotent.
//
// [Drain] and [Restore] take one host's addresses out of the names and put
// them back under the same rules, [RecordTTL] reads how long resolvers may
// keep a removed address, and [WaitTTL] waits that long, bounded: the
// pieces a DNS-aware rollout is made of.
package dnssync
