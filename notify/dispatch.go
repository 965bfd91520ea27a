package notify

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// Observer receives what the dispatcher does, for metrics. Its methods
// must return at once.
type Observer interface {
	// Sent counts a delivery a receiver took, latency after its event.
	Sent(webhook string, latency time.Duration)
	// Failed counts a failed attempt (retried or given up).
	Failed(webhook string)
	// Retried counts a failed attempt that will be retried.
	Retried(webhook string)
	// GaveUp counts a delivery given up.
	GaveUp(webhook string)
	// Pending sets the pending deliveries of each configured webhook.
	Pending(byWebhook map[string]int)
}

type nopObserver struct{}

func (nopObserver) Sent(string, time.Duration) {}
func (nopObserver) Failed(string)              {}
func (nopObserver) Retried(string)             {}
func (nopObserver) GaveUp(string)              {}
func (nopObserver) Pending(map[string]int)     {}

// Timing is how often and how long the dispatcher does things. Tests
// shorten it; zero fields take the defaults (DefaultTiming).
type Timing struct {
	// Poll is how often the outbox and due deliveries are looked at when
	// nothing wakes the dispatcher.
	Poll time.Duration
	// Sweep is how often the stale sweep and the reminders run.
	Sweep time.Duration
	// FirstRetry is the delay after the first failed attempt; each next
	// one doubles, up to MaxRetry, with jitter.
	FirstRetry, MaxRetry time.Duration
	// GiveUp is how long after its event a delivery is retried.
	GiveUp time.Duration
	// Request bounds one attempt.
	Request time.Duration
	// Lease is how long a claimed delivery is the claimer's: past it, a
	// replica takes it over (its claimer died).
	Lease time.Duration
}

// DefaultTiming is the production timing.
var DefaultTiming = Timing{
	Poll: 2 * time.Second, Sweep: 30 * time.Second,
	FirstRetry: 10 * time.Second, MaxRetry: time.Hour, GiveUp: 24 * time.Hour,
	Request: 10 * time.Second, Lease: time.Minute,
}

func (t Timing) withDefaults() Timing {
	d := DefaultTiming
	for _, p := range []struct{ dst, def *time.Duration }{
		{&t.Poll, &d.Poll}, {&t.Sweep, &d.Sweep}, {&t.FirstRetry, &d.FirstRetry}, {&t.MaxRetry, &d.MaxRetry},
		{&t.GiveUp, &d.GiveUp}, {&t.Request, &d.Request}, {&t.Lease, &d.Lease},
	} {
		if *p.dst <= 0 {
			*p.dst = *p.def
		}
	}
	return t
}

// perWebhook bounds the deliveries of one webhook in flight at once (each
// to a different server, so that a server's order holds); claimBatch is
// how many one claim takes, so that a backlog costs fewer claims. The
// lease must outlast sending a claimed batch: claimBatch/perWebhook
// request timeouts (40 s by default, under the minute's lease).
const (
	perWebhook = 4
	claimBatch = 16
)

// Options configure New.
type Options struct {
	// Outbox is the store's outbox; Store lists servers for reminders.
	Outbox gitops.Outbox
	Store  gitops.Store
	// PublicURL, when set, makes messages link to the server's page.
	PublicURL string
	Logger    *slog.Logger
	Observer  Observer
	Timing    Timing
	// Client sends the requests; nil means a client of its own. Each
	// attempt is bounded by Timing.Request whatever the client's timeout.
	Client *http.Client
}

// Dispatcher delivers the outbox to the configured webhooks. One worker
// per webhook claims due deliveries and sends them, so a slow receiver
// delays only its own webhook.
type Dispatcher struct {
	o      Options
	t      Timing
	client *http.Client
	log    *slog.Logger

	mu      sync.Mutex
	hooks   []Webhook
	workers map[string]*worker
	runCtx  context.Context
	wake    chan struct{}
}

type worker struct {
	hook   Webhook
	cancel context.CancelFunc
	wake   chan struct{}
	done   chan struct{}
}

// New returns a dispatcher for hooks; Run starts it.
func New(o Options, hooks []Webhook) *Dispatcher {
	d := &Dispatcher{o: o, t: o.Timing.withDefaults(), client: o.Client, log: o.Logger,
		hooks: hooks, workers: map[string]*worker{}, wake: make(chan struct{}, 1)}
	if d.client == nil {
		d.client = &http.Client{}
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.o.Observer == nil {
		d.o.Observer = nopObserver{}
	}
	d.keepOutbox()
	return d
}

// keepOutbox turns the outbox of a store that only this process delivers
// from (gitops.OutboxSwitch) off while there is no webhook: its entries
// would only be drained unsent. An event written meanwhile is never
// notified, also to a webhook configured later, which hears of the
// transitions after it was added. d.mu is held, or d is not shared yet.
func (d *Dispatcher) keepOutbox() {
	if sw, ok := d.o.Outbox.(gitops.OutboxSwitch); ok {
		sw.KeepOutbox(len(d.hooks) > 0)
	}
}

// SetWebhooks replaces the webhooks (a reload): deliveries already made
// for a webhook keep its name, so a webhook kept under its name keeps
// them, and one removed keeps them pending until it comes back.
func (d *Dispatcher) SetWebhooks(hooks []Webhook) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.hooks = hooks
	d.keepOutbox()
	if d.runCtx != nil {
		d.syncWorkers()
	}
}

// Wake makes the dispatcher look at the outbox now rather than at the
// next poll.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends, then waits for attempts in flight.
func (d *Dispatcher) Run(ctx context.Context) {
	d.mu.Lock()
	d.runCtx = ctx
	d.syncWorkers()
	d.mu.Unlock()
	poll := time.NewTicker(d.t.Poll)
	defer poll.Stop()
	var lastSweep, lastPrune time.Time
	for {
		if time.Since(lastSweep) >= d.t.Sweep {
			lastSweep = time.Now()
			d.sweep(ctx)
		}
		if time.Since(lastPrune) >= time.Hour {
			lastPrune = time.Now()
			d.prune(ctx)
		}
		d.expand(ctx)
		d.pending(ctx)
		select {
		case <-ctx.Done():
			d.mu.Lock()
			ws := d.workers
			d.workers = map[string]*worker{}
			d.mu.Unlock()
			for _, w := range ws {
				w.cancel()
				<-w.done
			}
			return
		case <-poll.C:
		case <-d.wake:
		}
	}
}

// syncWorkers starts a worker for each webhook and stops those of
// webhooks gone or changed. d.mu is held.
func (d *Dispatcher) syncWorkers() {
	keep := map[string]bool{}
	for _, h := range d.hooks {
		if w, ok := d.workers[h.Name]; ok && sameHook(w.hook, h) {
			keep[h.Name] = true
		}
	}
	for name, w := range d.workers {
		if !keep[name] {
			w.cancel()
			<-w.done
			delete(d.workers, name)
		}
	}
	for _, h := range d.hooks {
		if keep[h.Name] {
			continue
		}
		ctx, cancel := context.WithCancel(d.runCtx)
		w := &worker{hook: h, cancel: cancel, wake: make(chan struct{}, 1), done: make(chan struct{})}
		d.workers[h.Name] = w
		go d.work(ctx, w)
	}
}

func sameHook(a, b Webhook) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// expand turns outbox entries into deliveries for the webhooks now
// configured, and wakes the workers when it made any.
func (d *Dispatcher) expand(ctx context.Context) {
	d.mu.Lock()
	hooks := d.hooks
	d.mu.Unlock()
	route := func(n gitops.Notice) []string {
		var out []string
		for i := range hooks {
			if hooks[i].Wants(&n) {
				out = append(out, hooks[i].Name)
			}
		}
		return out
	}
	for ctx.Err() == nil {
		n, err := d.o.Outbox.ExpandOutbox(ctx, 200, route)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("notifications: reading the outbox failed; will retry", "err", err)
			}
			return
		}
		if n == 0 {
			break
		}
		d.wakeWorkers()
		if n < 200 {
			break
		}
	}
}

func (d *Dispatcher) wakeWorkers() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, w := range d.workers {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

func (d *Dispatcher) pending(ctx context.Context) {
	p, err := d.o.Outbox.PendingDeliveries(ctx)
	if err != nil {
		return
	}
	d.mu.Lock()
	for _, h := range d.hooks {
		if _, ok := p[h.Name]; !ok {
			p[h.Name] = 0
		}
	}
	d.mu.Unlock()
	d.o.Observer.Pending(p)
}

// keepDone is how long sent and given-up deliveries are kept at least:
// for inspection, and so that reminders keep their keys.
const keepDone = 48 * time.Hour

// prune deletes the sent and given-up deliveries older than keepDone and
// than twice the longest remind_every, so that no reminder key is
// forgotten while it can still be due.
func (d *Dispatcher) prune(ctx context.Context) {
	keep := keepDone
	d.mu.Lock()
	for _, h := range d.hooks {
		keep = max(keep, 2*h.RemindEvery)
	}
	d.mu.Unlock()
	if _, err := d.o.Outbox.PruneDeliveries(ctx, time.Now().Add(-keep)); err != nil && ctx.Err() == nil {
		d.log.Warn("notifications: pruning deliveries failed; will retry", "err", err)
	}
}

// sweep runs the stale sweep and creates the reminders due.
func (d *Dispatcher) sweep(ctx context.Context) {
	evs, err := d.o.Outbox.SweepStale(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("stale sweep failed; will retry", "err", err)
		}
	} else if len(evs) > 0 {
		d.log.Info("stale sweep", "events", len(evs))
	}
	d.remind(ctx)
}

// remind creates, for each webhook with remind_every, a reminder of each
// server it wants that stays out_of_sync or failed: the n-th one
// remind_every×n after the server entered that status. Its key names the
// server, the status's start and n, so that replicas and restarts create
// each reminder once.
func (d *Dispatcher) remind(ctx context.Context) {
	d.mu.Lock()
	hooks := d.hooks
	d.mu.Unlock()
	var servers []gitops.Server
	listed := false
	for i := range hooks {
		h := &hooks[i]
		if h.RemindEvery <= 0 {
			continue
		}
		if !listed {
			var err error
			servers, _, err = d.o.Store.List(ctx, gitops.Filter{Status: []gitops.Status{gitops.StatusOutOfSync, gitops.StatusFailed}})
			if err != nil {
				return
			}
			listed = true
		}
		now := time.Now()
		for j := range servers {
			s := &servers[j]
			if !h.remindsOf(s.Status) || !h.groupMatches(s.ServerGroup) || s.StatusSince.IsZero() {
				continue
			}
			n := int64(now.Sub(s.StatusSince) / h.RemindEvery)
			if n < 1 {
				continue
			}
			key := "reminder-" + s.ServerGroup + "/" + s.Host + "-" + strconv.FormatInt(s.StatusSince.UnixMicro(), 10) + "-" + strconv.FormatInt(n, 10)
			ev := gitops.Event{Time: gitops.Time{Time: gitops.Now(now)}, ServerGroup: s.ServerGroup, Host: s.Host,
				Status: s.Status, PreviousStatus: s.Status, CommitSHA: s.CommitSHA, ValidationStatus: s.ValidationStatus,
				ChangedFiles: s.ChangedFiles, UpdatedBy: s.UpdatedBy, Source: s.LastSource, Changes: []gitops.Change{}}
			no := gitops.NoticeOf(&ev, s)
			no.Reminder = true
			added, err := d.o.Outbox.AddReminder(ctx, h.Name, key, no)
			if err != nil {
				return
			}
			if added {
				d.wakeWorkers()
			}
		}
	}
}
