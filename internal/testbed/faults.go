package testbed

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/edgectl/edgectl/remote"
)

// faultTable is the nftables table Partition adds to a host's namespace.
const faultTable = "edgectl_testbed_fault"

// Partition cuts host name off the network: every packet in or out of its
// namespace except on lo is dropped (nft in the host's network namespace),
// so connections to it stall as across a real partition, while the
// processes inside keep running and serving their own loopback. Heal
// undoes it.
func (b *Bed) Partition(name string) error {
	h, err := b.host(name)
	if err != nil {
		return err
	}
	rules := fmt.Sprintf(`table inet %[1]s {
	chain in { type filter hook input priority -300; policy accept; iifname "lo" accept; drop; }
	chain out { type filter hook output priority -300; policy accept; oifname "lo" accept; drop; }
}
`, faultTable)
	if _, err := runIn([]byte(rules), "ip", "netns", "exec", h.st.Net.NS, "nft", "-f", "-"); err != nil {
		return fmt.Errorf("testbed: partition %s: %w", name, err)
	}
	return nil
}

// Heal ends a Partition of host name (a host that is not cut off is fine).
func (b *Bed) Heal(name string) error {
	h, err := b.host(name)
	if err != nil {
		return err
	}
	out, _ := run("ip", "netns", "exec", h.st.Net.NS, "nft", "list", "tables")
	if !slices.Contains(strings.Fields(out), faultTable) {
		return nil
	}
	if _, err := run("ip", "netns", "exec", h.st.Net.NS, "nft", "delete", "table", "inet", faultTable); err != nil {
		return fmt.Errorf("testbed: heal %s: %w", name, err)
	}
	return nil
}

// Fill mounts a tmpfs over dir inside host name holding a copy of dir's
// files, then fills what is left of it, so the directory looks the same
// but has (almost) no free space. Unfill removes it; the files under it
// are as before Fill.
func (b *Bed) Fill(ctx context.Context, name, dir string) error {
	q := remote.ShellQuote(dir)
	cmd := "set -e; t=$(mktemp -d); cp -a " + q + "/. \"$t\"/; kb=$(du -sk \"$t\" | cut -f1); " +
		"mount -t tmpfs -o size=$((kb + 1024))k edgectl-fill " + q + "; " +
		"if ! cp -a \"$t\"/. " + q + "/; then umount -l " + q + "; rm -rf \"$t\"; exit 1; fi; rm -rf \"$t\"; " +
		"dd if=/dev/zero of=" + q + "/.fill bs=4k 2>/dev/null || true"
	if _, err := b.Run(ctx, name, cmd); err != nil {
		return fmt.Errorf("testbed: fill %s:%s: %w", name, dir, err)
	}
	return nil
}

// Unfill removes the tmpfs Fill mounted over dir.
func (b *Bed) Unfill(ctx context.Context, name, dir string) error {
	if _, err := b.Run(ctx, name, "umount -l -- "+remote.ShellQuote(dir)); err != nil {
		return fmt.Errorf("testbed: unfill %s:%s: %w", name, dir, err)
	}
	return nil
}
