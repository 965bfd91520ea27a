package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/metrics"
	"github.com/gitops-status/gitops-status/notify"
)

// loadWebhooks reads --webhooks-file; none when it is not set. The error
// is the one line naming the file and the entry at fault.
func loadWebhooks(cfg serveConfig) ([]notify.Webhook, error) {
	if cfg.WebhooksFile == "" {
		return nil, nil
	}
	return notify.Load(cfg.WebhooksFile)
}

// notifier is the running dispatcher and where its webhooks come from.
type notifier struct {
	file string
	d    *notify.Dispatcher
	done chan struct{} // closed when the dispatcher stopped
}

// wait returns when the dispatcher stopped (after ctx ended), so that the
// store closes after its last write.
func (n *notifier) wait() {
	if n.done != nil {
		<-n.done
	}
}

// timingEnv shortens the dispatcher's timing for tests (see
// notify.Timing): "poll=50ms,sweep=100ms,first-retry=50ms,…". It is not
// a supported setting.
const timingEnv = "GITOPS_STATUS_TEST_NOTIFY_TIMING"

func testTiming(logger *slog.Logger) notify.Timing {
	var t notify.Timing
	v := os.Getenv(timingEnv)
	if v == "" {
		return t
	}
	fields := map[string]*time.Duration{"poll": &t.Poll, "sweep": &t.Sweep, "first-retry": &t.FirstRetry,
		"max-retry": &t.MaxRetry, "give-up": &t.GiveUp, "request": &t.Request, "lease": &t.Lease}
	for _, kv := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(kv, "=")
		d, err := time.ParseDuration(val)
		if dst, ok := fields[k]; ok && err == nil {
			*dst = d
		}
	}
	logger.Warn("notification timing changed for tests", "env", timingEnv, "value", v)
	return t
}

// startNotify runs the dispatcher until ctx ends. It always runs: it also
// drains the outbox when no webhook is configured, and runs the stale
// sweep, whose events /events and the UI show.
func startNotify(ctx context.Context, cfg serveConfig, raw, store gitops.Store, m *metrics.Metrics, logger *slog.Logger, hooks []notify.Webhook) *notifier {
	ob, ok := raw.(gitops.Outbox)
	if !ok {
		logger.Warn("this store keeps no outbox: notifications are off")
		return &notifier{}
	}
	d := notify.New(notify.Options{
		Outbox: ob, Store: store, PublicURL: cfg.PublicURL, Logger: logger,
		Observer: m.Notifications(), Timing: testTiming(logger),
	}, hooks)
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	if cfg.WebhooksFile != "" {
		logger.Info("notifications on", "webhooks_file", cfg.WebhooksFile, "webhooks", hookNames(hooks), "public_url", cfg.PublicURL)
	}
	return &notifier{file: cfg.WebhooksFile, d: d, done: done}
}

func hookNames(hooks []notify.Webhook) []string {
	out := make([]string, len(hooks))
	for i, h := range hooks {
		out[i] = fmt.Sprintf("%s[%s]", h.Name, h.Format)
	}
	return out
}

func (n *notifier) fromFile() bool { return n != nil && n.file != "" && n.d != nil }

// reload reads the webhooks file again; a bad file keeps the webhooks in
// force, and the log says why.
func (n *notifier) reload(logger *slog.Logger) {
	if !n.fromFile() {
		return
	}
	hooks, err := notify.Load(n.file)
	if err != nil {
		logger.Error("SIGHUP: webhooks not reloaded; the previous webhooks stay in force", "err", err.Error())
		return
	}
	n.d.SetWebhooks(hooks)
	logger.Info("SIGHUP: webhooks reloaded", "webhooks", hookNames(hooks))
}
