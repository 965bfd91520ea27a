package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Notifications is the metrics of webhook deliveries (SPEC §9), labelled
// by webhook name. It implements notify.Observer (without importing it:
// adapters do not depend on each other).
type Notifications struct {
	sent, failed, retried, givenUp *prometheus.CounterVec
	pending                        *prometheus.GaugeVec
	latency                        *prometheus.HistogramVec

	mu    sync.Mutex
	known map[string]bool // webhooks with a pending series
}

// Buckets of the delivery latency, in seconds: from a receiver on the
// same network (well under a second, plus the poll) to a day of retries.
var deliveryBuckets = []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600}

// Notifications registers the delivery metrics and returns them.
func (m *Metrics) Notifications() *Notifications {
	n := &Notifications{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gitops_notify_deliveries_sent_total",
			Help: "Notifications a webhook's receiver accepted (2xx), by webhook.",
		}, []string{"webhook"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gitops_notify_deliveries_failed_total",
			Help: "Delivery attempts that failed (error, timeout or non-2xx answer), by webhook.",
		}, []string{"webhook"}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gitops_notify_deliveries_retried_total",
			Help: "Failed delivery attempts scheduled for another attempt, by webhook.",
		}, []string{"webhook"}),
		givenUp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gitops_notify_deliveries_given_up_total",
			Help: "Deliveries given up after failing for 24 hours, by webhook.",
		}, []string{"webhook"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gitops_notify_deliveries_pending",
			Help: "Deliveries waiting to be sent or retried, by webhook (shared by all replicas).",
		}, []string{"webhook"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gitops_notify_delivery_latency_seconds",
			Help:    "Time from an event to its delivery being accepted, retries included, by webhook.",
			Buckets: deliveryBuckets,
		}, []string{"webhook"}),
		known: map[string]bool{},
	}
	m.reg.MustRegister(n.sent, n.failed, n.retried, n.givenUp, n.pending, n.latency)
	return n
}

// Sent counts a delivery accepted latency after its event.
func (n *Notifications) Sent(webhook string, latency time.Duration) {
	n.sent.WithLabelValues(webhook).Inc()
	n.latency.WithLabelValues(webhook).Observe(latency.Seconds())
}

// Failed counts a failed attempt.
func (n *Notifications) Failed(webhook string) { n.failed.WithLabelValues(webhook).Inc() }

// Retried counts a failed attempt that will be retried.
func (n *Notifications) Retried(webhook string) { n.retried.WithLabelValues(webhook).Inc() }

// GaveUp counts a delivery given up.
func (n *Notifications) GaveUp(webhook string) { n.givenUp.WithLabelValues(webhook).Inc() }

// Pending sets the pending deliveries of each webhook; a webhook no longer
// listed loses its series.
func (n *Notifications) Pending(byWebhook map[string]int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for h := range n.known {
		if _, ok := byWebhook[h]; !ok {
			n.pending.DeleteLabelValues(h)
			delete(n.known, h)
		}
	}
	for h, c := range byWebhook {
		n.pending.WithLabelValues(h).Set(float64(c))
		n.known[h] = true
		// The counters exist from the first report, so rate() sees the
		// first failure.
		n.sent.WithLabelValues(h)
		n.failed.WithLabelValues(h)
		n.retried.WithLabelValues(h)
		n.givenUp.WithLabelValues(h)
	}
}
