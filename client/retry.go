package client

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy says how often and how patiently a request is sent again after
// a transient failure: a connection error (refused, reset, DNS, a timed-out
// attempt), a 5xx answer or a 429. Any other 4xx answer is the request's own
// fault and is never retried, and neither is a server certificate that is
// not trusted.
//
// The wait before try n+1 is InitialDelay·2ⁿ⁻¹, at most MaxDelay, of which
// the fraction Jitter is random (so clients that failed together do not
// come back together). A Retry-After header on a 429 or 503 answer replaces
// that wait, uncapped: the server knows best. A wait that would outlast the
// context's deadline is not started; the last failure is returned at once.
//
// Retrying a report is safe: a pipeline report is the whole truth of its
// fields and a cron report the current drift, so one applied twice leaves
// the same record (only its times move).
type RetryPolicy struct {
	// Attempts is the most tries of one request, the first included; 1
	// never retries, and 0 or less retries until the context is done (give
	// it a deadline).
	Attempts int
	// InitialDelay is the wait after the first failure; 0 means 500ms.
	InitialDelay time.Duration
	// MaxDelay caps the exponential wait; 0 means 10s.
	MaxDelay time.Duration
	// Jitter is the fraction of each wait that is random, in [0, 1]: 0.5
	// waits between half and all of it.
	Jitter float64
	// AttemptTimeout bounds each try; 0 means only the context bounds it.
	AttemptTimeout time.Duration
}

// DefaultRetry is the policy of a Client made without WithRetry: four tries
// over about 3.5 seconds, 30 seconds at most each.
var DefaultRetry = RetryPolicy{Attempts: 4, InitialDelay: 500 * time.Millisecond, MaxDelay: 10 * time.Second, Jitter: 0.5, AttemptTimeout: 30 * time.Second}

// NoRetry sends each request once.
var NoRetry = RetryPolicy{Attempts: 1}

// delay returns the wait after the n-th failed try (n ≥ 1), with jitter
// drawn from rnd, a number in [0, 1).
func (p RetryPolicy) delay(n int, rnd float64) time.Duration {
	d, ceiling := p.InitialDelay, p.MaxDelay
	if d <= 0 {
		d = 500 * time.Millisecond
	}
	if ceiling <= 0 {
		ceiling = 10 * time.Second
	}
	for i := 1; i < n && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	j := min(max(p.Jitter, 0), 1)
	return d - time.Duration(float64(d)*j*rnd)
}

// more reports whether a try may follow the n-th.
func (p RetryPolicy) more(n int) bool { return p.Attempts <= 0 || n < p.Attempts }

func jitterSource() float64 { return rand.Float64() }

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date.
// Zero means none (or one already past).
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
