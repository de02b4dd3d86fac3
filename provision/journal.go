package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"time"
)

// Journal states.
const (
	JournalApplying    = "applying"     // files are being replaced, the agent told
	JournalGating      = "gating"       // in place, waiting for the health gate
	JournalRollingBack = "rolling-back" // restoring the backups
	JournalDeployed    = "deployed"     // passed the gate: finished
	JournalRolledBack  = "rolled-back"  // backups restored: finished
	JournalUnreadable  = "unreadable"   // the file is not a journal (set when reading)
)

// Journal is /var/lib/edgectl/deploy.json: what the last deploy to a host
// planned, which steps it finished and the checksums of the backups it
// made. It is written (atomically) before the first file is replaced and
// after every step, so a deploy that was killed, cut off or interrupted
// leaves a record the next run completes or rolls back from.
type Journal struct {
	// Version of this format (1).
	Version int `json:"version"`
	// Run is the run's token (the same as its lock's).
	Run string `json:"run"`
	// Holder is user@machine and Command the command line of the run.
	Holder  string `json:"holder"`
	Command string `json:"command"`
	// Started and Updated are this machine's clock at the run's start and
	// the last write.
	Started time.Time `json:"started"`
	Updated time.Time `json:"updated"`
	// State is one of the Journal* states.
	State string `json:"state"`
	// Action, Backend, BackendRestart and Sysctl are the plan's.
	Action         Action `json:"action"`
	Backend        string `json:"backend,omitempty"`
	BackendRestart bool   `json:"backend_restart,omitempty"`
	Sysctl         bool   `json:"sysctl,omitempty"`
	// BackendSocket is the plan's backend socket unit ("" = none).
	BackendSocket string `json:"backend_socket,omitempty"`
	// BindV6Only is the host's value before the run (restored by a
	// rollback of the sysctl drop-in).
	BindV6Only int `json:"bindv6only"`
	// Files are the files the run creates, replaces or repairs.
	Files []JournalFile `json:"files"`
	// Done lists the steps finished, in order.
	Done []string `json:"done"`
	// Inherited is the run whose interrupted journal this run took over:
	// its backups are this run's.
	Inherited string `json:"inherited,omitempty"`
	// Error is why the run failed, when it did.
	Error string `json:"error,omitempty"`
	// Takeover is set for a cutover: the old proxy's units to restore on
	// a rollback (cutover.go).
	Takeover *Takeover `json:"takeover,omitempty"`

	baseline int // the backend's NRestarts right after this run restarted it (-1: not restarted)
}

// JournalFile is one file of a journal.
type JournalFile struct {
	Path string `json:"path"`
	// Op is create, update or fix (owner and mode only).
	Op string `json:"op"`
	// SHA256, Mode and Owner are what the file is to be.
	SHA256 string      `json:"sha256"`
	Mode   fs.FileMode `json:"mode"`
	Owner  string      `json:"owner"`
	// Prev is the backup of an updated file and PrevSHA256 its checksum,
	// verified after it was made; "" until then. Only verified backups
	// are ever restored.
	Prev       string `json:"prev,omitempty"`
	PrevSHA256 string `json:"prev_sha256,omitempty"`
	// Inherited marks a backup made by an interrupted earlier run (Journal
	// Inherited): it is kept, never made again over.
	Inherited bool `json:"inherited,omitempty"`
}

// Finished reports whether the run ended (deployed or rolled back): a
// journal that did not is an interrupted deploy.
func (j *Journal) Finished() bool {
	return j == nil || j.State == JournalDeployed || j.State == JournalRolledBack || j.State == JournalUnreadable
}

func (j *Journal) done(step string) bool { return j != nil && slices.Contains(j.Done, step) }

// file returns the journal's entry for path.
func (j *Journal) file(path string) *JournalFile {
	if j == nil {
		return nil
	}
	for i := range j.Files {
		if j.Files[i].Path == path {
			return &j.Files[i]
		}
	}
	return nil
}

// Describe is one line about an interrupted journal: "deploy by
// ops@laptop at 12:03:04 UTC stopped in step install".
func (j *Journal) Describe() string {
	last := "before its first step"
	if n := len(j.Done); n > 0 {
		last = "after step " + j.Done[n-1]
	}
	return fmt.Sprintf("%s by %s at %s stopped %s (%s)", j.Command, j.Holder, j.Started.UTC().Format(time.DateTime+" UTC"), last, j.State)
}

// writeJournal stores j on the host, dialling again while the connection
// is broken.
func writeJournal(ctx context.Context, h Host, j *Journal) error {
	j.Updated = time.Now()
	data, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	return h.retrying(ctx, func() error {
		if err := h.WriteFile(ctx, h.Layout.Journal(), append(data, '\n'), 0o644); err != nil {
			return fmt.Errorf("write the journal %s: %w", h.Layout.Journal(), err)
		}
		return nil
	})
}
