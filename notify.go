package gitops

import (
	"context"
	"slices"
	"time"
)

// Trigger is a transition a webhook may be told about (SPEC §9, `on`).
type Trigger string

// The triggers of SPEC §9.
const (
	TriggerOutOfSync        Trigger = "out_of_sync"
	TriggerFailed           Trigger = "failed"
	TriggerValidationFailed Trigger = "validation_failed"
	// TriggerSynced is a recovery from out_of_sync or failed, never a new
	// server.
	TriggerSynced Trigger = "synced"
	// TriggerStale is a server becoming stale, and fresh again, as the
	// sweep found it.
	TriggerStale Trigger = "stale"
)

// Triggers lists every Trigger.
var Triggers = []Trigger{TriggerOutOfSync, TriggerFailed, TriggerValidationFailed, TriggerSynced, TriggerStale}

// The changes only sweep events list: the server became stale, or fresh
// again, by time alone (or by a report that changed nothing else).
const (
	ChangeStale Change = "stale"
	ChangeFresh Change = "fresh"
)

// TriggersOf returns the transitions ev is, none when it is not a
// server's transition (an event without a server, such as a head moving,
// or one that only changed the commit or the files).
func TriggersOf(ev *Event) []Trigger {
	if ev.ServerGroup == "" || ev.Host == "" {
		return nil
	}
	if ev.Source == SourceSweep {
		if slices.Contains(ev.Changes, ChangeStale) || slices.Contains(ev.Changes, ChangeFresh) {
			return []Trigger{TriggerStale}
		}
		return nil
	}
	created := slices.Contains(ev.Changes, ChangeCreated)
	var out []Trigger
	if created || ev.PreviousStatus != ev.Status {
		switch ev.Status {
		case StatusOutOfSync:
			out = append(out, TriggerOutOfSync)
		case StatusFailed:
			out = append(out, TriggerFailed)
		case StatusSynced:
			if !created && (ev.PreviousStatus == StatusOutOfSync || ev.PreviousStatus == StatusFailed) {
				out = append(out, TriggerSynced)
			}
		}
	}
	if ev.ValidationStatus == ValidationFailed && (created || slices.Contains(ev.Changes, ChangeValidationStatus)) {
		out = append(out, TriggerValidationFailed)
	}
	return out
}

// Notifiable reports whether ev is a transition some webhook may want:
// stores write an outbox entry with such events, and only with them.
func Notifiable(ev *Event) bool { return len(TriggersOf(ev)) > 0 }

// Notice is what a notification tells about one event: the event and what
// the server's record said when it was written.
type Notice struct {
	Event       Event  `json:"event"`
	Environment string `json:"environment"`
	ServerType  string `json:"server_type"`
	StatusSince Time   `json:"status_since"`
	// Reminder is set on the repeats of remind_every: the server is still
	// in Event's status.
	Reminder bool `json:"reminder,omitempty"`
}

// NoticeOf is the notice of ev, written with the record s.
func NoticeOf(ev *Event, s *Server) Notice {
	return Notice{Event: *ev, Environment: s.Environment, ServerType: s.ServerType, StatusSince: Time{s.StatusSince}}
}

// StaleEvent is the event the sweep writes when s became stale (or fresh
// again, when stale is false) at now: the record's state, unchanged.
func StaleEvent(s *Server, stale bool, now time.Time) *Event {
	c := ChangeFresh
	if stale {
		c = ChangeStale
	}
	return &Event{
		Time: Time{now}, ServerGroup: s.ServerGroup, Host: s.Host, Source: SourceSweep,
		Status: s.Status, PreviousStatus: s.Status, CommitSHA: s.CommitSHA,
		ValidationStatus: s.ValidationStatus, ChangedFiles: append([]string{}, s.ChangedFiles...),
		Changes: []Change{c},
	}
}

// Delivery is one notice to send to one webhook.
type Delivery struct {
	ID      int64
	Webhook string
	// Key is the idempotency key receivers see: the event id, or for a
	// reminder "reminder-<event id>-<n>".
	Key       string
	Notice    Notice
	Attempts  int
	CreatedAt time.Time
}

// DeliveryState is what became of a delivery attempt.
type DeliveryState int

const (
	// DeliveryRetry leaves the delivery pending until its next attempt.
	DeliveryRetry DeliveryState = iota
	// DeliveryDone records that the receiver took it.
	DeliveryDone
	// DeliveryGivenUp records that it will never be sent.
	DeliveryGivenUp
)

// Outbox is implemented by stores that keep notifications: every
// notifiable event is written with an outbox entry in the transaction of
// the update (or sweep) that made it (unless an OutboxSwitch is off), and
// the deliveries made from those entries stay in the database until they
// are sent or given up, so that they survive restarts. Errors are as
// Store's.
type Outbox interface {
	// ExpandOutbox takes up to limit outbox entries, oldest first, and in
	// one transaction creates a pending delivery, due now, for each
	// webhook route returns for its notice (a delivery that exists is
	// kept) and removes the entries. It returns how many it took. With
	// several processes, entries are taken in the order their events
	// were written. route must not call the store.
	ExpandOutbox(ctx context.Context, limit int, route func(Notice) []string) (int, error)

	// AddReminder creates a pending delivery of n to webhook under key,
	// due now, unless the webhook already has one with that key; it
	// reports whether it created one.
	AddReminder(ctx context.Context, webhook, key string, n Notice) (bool, error)

	// ClaimDeliveries leases to the caller, until now+lease, up to limit
	// pending deliveries of webhook that are due at now and not leased,
	// each the oldest pending delivery of its server for that webhook,
	// oldest first. A delivery claimed by one caller is not claimed by
	// another until its lease ends.
	ClaimDeliveries(ctx context.Context, webhook string, now time.Time, lease time.Duration, limit int) ([]Delivery, error)

	// FinishDelivery records the outcome of an attempt of a claimed
	// delivery: done, given up, or (DeliveryRetry) pending again at next.
	// It counts the attempt.
	FinishDelivery(ctx context.Context, id int64, state DeliveryState, next time.Time, lastError string) error

	// PruneDeliveries deletes the deliveries sent or given up that were
	// created before before, and returns how many. Until then they keep
	// their keys, so that a reminder is created once.
	PruneDeliveries(ctx context.Context, before time.Time) (int, error)

	// PendingDeliveries counts the pending deliveries of each webhook.
	PendingDeliveries(ctx context.Context) (map[string]int, error)

	// SweepStale writes, for each server whose staleness at the store's
	// clock differs from what the last sweep recorded for it (fresh when
	// none did), a sweep event (StaleEvent) with its outbox entry, and
	// records the new staleness. It never changes a server's record.
	// With several processes one sweeps at a time; a caller that finds
	// another sweeping returns at once with no events. It returns the
	// events it wrote.
	SweepStale(ctx context.Context) ([]Event, error)
}

// OutboxSwitch is implemented by an Outbox that one process alone
// delivers from (SQLite: one process owns the file), so that while that
// process has no webhook it can leave outbox entries unwritten instead of
// writing each with its event and deleting it unsent. Stores shared by
// several processes (PostgreSQL replicas, each with its own webhooks)
// always write them.
type OutboxSwitch interface {
	// KeepOutbox turns writing outbox entries on or off for the updates
	// and sweeps that start after it returns. A store starts with it on.
	KeepOutbox(on bool)
}

// SweepCandidates are the servers whose staleness may have changed since
// a sweep marked them: stale now (read from r's memory, without listing
// and decoding every record each sweep) but not marked, or marked but not
// stale now (fresh again, or gone). Sorted by key, so that events come in
// the order of a list. A store decides each again under its write lock.
func SweepCandidates(ctx context.Context, r SampleReader, marked map[Key]bool) ([]Key, error) {
	stale, err := StaleNow(ctx, r)
	if err != nil {
		return nil, err
	}
	return ChangedMarks(stale, marked), nil
}

// StaleNow is the set of servers r finds stale now. It reads every
// server, so a store with one writer calls it before taking the writer
// (at 400,000 servers the scan held every write up for ~100 ms).
func StaleNow(ctx context.Context, r SampleReader) (map[Key]bool, error) {
	stale := map[Key]bool{}
	err := r.ReadSamples(ctx, func(v Samples) error {
		var s ServerSample
		for i := range v.Len() {
			v.At(i, &s)
			if s.Stale {
				stale[Key{ServerGroup: s.ServerGroup, Host: s.Host}] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return stale, nil
}

// ChangedMarks is SweepCandidates of the servers found stale.
func ChangedMarks(stale, marked map[Key]bool) []Key {
	var out []Key
	for k := range stale {
		if !marked[k] {
			out = append(out, k)
		}
	}
	for k := range marked {
		if !stale[k] {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, CompareKeys)
	return out
}
