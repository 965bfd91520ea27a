package notify

// Sending: each webhook's worker claims its due deliveries, sends them and
// records the outcome, retrying with backoff until the give-up time.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// work claims and sends the due deliveries of one webhook until ctx ends.
func (d *Dispatcher) work(ctx context.Context, w *worker) {
	defer close(w.done)
	for ctx.Err() == nil {
		ds, err := d.o.Outbox.ClaimDeliveries(ctx, w.hook.Name, time.Now(), d.t.Lease, claimBatch)
		if err != nil && ctx.Err() == nil {
			d.log.Warn("notifications: claiming deliveries failed; will retry", "webhook", w.hook.Name, "err", err)
		}
		if len(ds) > 0 {
			var wg sync.WaitGroup
			slots := make(chan struct{}, perWebhook)
			for i := range ds {
				slots <- struct{}{}
				wg.Go(func() {
					defer func() { <-slots }()
					d.deliver(ctx, &w.hook, &ds[i])
				})
			}
			wg.Wait()
			continue
		}
		t := time.NewTimer(d.t.Poll)
		select {
		case <-ctx.Done():
		case <-w.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// deliver makes one attempt of dl and records its outcome.
func (d *Dispatcher) deliver(ctx context.Context, h *Webhook, dl *gitops.Delivery) {
	err := d.send(ctx, h, dl)
	// The outcome is recorded also when ctx ended (a stop or a reload),
	// so that the next attempt waits its turn rather than the lease.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	now := time.Now()
	if err == nil {
		if ferr := d.o.Outbox.FinishDelivery(rctx, dl.ID, gitops.DeliveryDone, now, ""); ferr != nil {
			// It stays pending and is sent again after its lease: at
			// least once, as promised.
			d.log.Warn("notifications: recording a delivery failed; it may be sent again", "webhook", h.Name, "key", dl.Key, "err", ferr)
		}
		d.o.Observer.Sent(h.Name, now.Sub(dl.Notice.Event.Time.Time))
		return
	}
	d.o.Observer.Failed(h.Name)
	if ctx.Err() != nil {
		_ = d.o.Outbox.FinishDelivery(rctx, dl.ID, gitops.DeliveryRetry, now, "interrupted")
		return
	}
	deadline := dl.CreatedAt.Add(d.t.GiveUp)
	if !now.Before(deadline) {
		d.log.Error("notifications: giving up a delivery", "webhook", h.Name, "key", dl.Key,
			"server", dl.Notice.Event.ServerGroup+"/"+dl.Notice.Event.Host, "attempts", dl.Attempts+1, "err", err)
		d.o.Observer.GaveUp(h.Name)
		_ = d.o.Outbox.FinishDelivery(rctx, dl.ID, gitops.DeliveryGivenUp, now, err.Error())
		return
	}
	next := now.Add(backoff(d.t, dl.Attempts))
	if next.After(deadline) {
		next = deadline
	}
	d.log.Warn("notifications: delivery failed; will retry", "webhook", h.Name, "key", dl.Key,
		"attempts", dl.Attempts+1, "next", next.UTC().Format(time.RFC3339), "err", err)
	d.o.Observer.Retried(h.Name)
	if ferr := d.o.Outbox.FinishDelivery(rctx, dl.ID, gitops.DeliveryRetry, next, err.Error()); ferr != nil {
		d.log.Warn("notifications: recording a delivery failed", "webhook", h.Name, "key", dl.Key, "err", ferr)
	}
}

// backoff is the wait after the attempts-th failed attempt (0 = first):
// FirstRetry doubled each time up to MaxRetry, less up to half at random,
// so that deliveries failing together do not retry together.
func backoff(t Timing, attempts int) time.Duration {
	b := t.FirstRetry
	for i := 0; i < attempts && b < t.MaxRetry; i++ {
		b *= 2
	}
	b = min(b, t.MaxRetry)
	return b/2 + rand.N(b/2+1)
}

// Headers of every delivery.
const (
	// IdempotencyHeader carries the delivery's key (the event id, or a
	// reminder's key): the same for every attempt of one delivery.
	IdempotencyHeader = "Idempotency-Key"
	DeliveryHeader    = "X-GitOps-Status-Delivery"
	TriggerHeader     = "X-GitOps-Status-Trigger"
)

func (d *Dispatcher) send(ctx context.Context, h *Webhook, dl *gitops.Delivery) error {
	body, err := Render(h, &dl.Notice, d.o.PublicURL)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, d.t.Request)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gitops-status")
	req.Header.Set(IdempotencyHeader, dl.Key)
	req.Header.Set(DeliveryHeader, dl.Key)
	req.Header.Set(TriggerHeader, string(triggerFor(&dl.Notice.Event, h.On)))
	if h.Secret != "" {
		req.Header.Set(SignatureHeader, Sign(h.Secret, body))
	}
	resp, err := d.client.Do(req)
	if err != nil {
		// A webhook URL is often its secret (Slack, Teams): never log it.
		if ue, ok := err.(*url.Error); ok {
			return fmt.Errorf("%s: %w", ue.Op, ue.Err)
		}
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the receiver answered %s", resp.Status)
	}
	return nil
}
