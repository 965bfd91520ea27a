package metrics

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/prometheus/common/expfmt"
)

// acceptedFormats are the exposition formats a scrape may negotiate, in
// order of preference, as promhttp offers them with OpenMetrics enabled,
// less the protobuf ones: the per-server families are written as text.
// A scraper that accepts none of them gets the text format.
var acceptedFormats = []expfmt.Format{expfmt.FmtOpenMetrics_1_0_0, expfmt.FmtOpenMetrics_0_0_1, expfmt.FmtText}

// handler serves GET /metrics.
type handler struct {
	m     *Metrics
	store gitops.Store
	// slots bounds the scrapes that run at once: each holds a copy of what
	// the families need of every server (~130 bytes a server), and more
	// scrapes than cores only share the same CPU. Others wait their turn.
	slots chan struct{}
	// writeTimeout, when positive, is how far each write moves the
	// connection's write deadline ahead.
	writeTimeout time.Duration
}

// deadlineWriter moves the connection's write deadline ahead before each
// write, as the API does for its long lists.
type deadlineWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (dw deadlineWriter) Write(p []byte) (int, error) {
	_ = dw.rc.SetWriteDeadline(time.Now().Add(dw.d))
	return dw.w.Write(p)
}

var bufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, chunkSize+4<<10)
	return &b
}}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	case <-r.Context().Done():
		return
	}
	mfs, err := h.m.reg.Gather()
	if err != nil {
		// Collectors failing is no reason to hide what was gathered.
		h.m.log.LogAttrs(r.Context(), slog.LevelWarn, "gathering metrics", slog.String("err", err.Error()))
	}
	format := expfmt.NegotiateAccept(r.Header, acceptedFormats...)
	hdr := w.Header()
	hdr.Add("Vary", "Accept")
	hdr.Set("Content-Type", string(format))
	// The answer is never compressed, although Prometheus asks for gzip:
	// at 100,000 servers gzip (even at its fastest) costs seven times the
	// CPU of the uncompressed scrape, about fifteen GET /status, for 165
	// MiB that a scraper on the same network reads in well under a second
	// (docs/performance.md). A reverse proxy can compress where the
	// network matters more than the CPU.
	var out io.Writer = w
	if h.writeTimeout > 0 {
		out = deadlineWriter{w: w, rc: http.NewResponseController(w), d: h.writeTimeout}
	}

	enc := expfmt.NewEncoder(out, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return // the client went away; nothing more to say
		}
	}
	bufp := bufPool.Get().(*[]byte)
	x := &expo{w: out, buf: (*bufp)[:0], om: format.FormatType() == expfmt.TypeOpenMetrics}
	defer func() {
		*bufp = x.buf[:0]
		bufPool.Put(bufp)
	}()
	err = gitops.ReadSamples(r.Context(), h.store, func(v gitops.Samples) error { return writeFleet(x, v) })
	if errors.Is(err, errWrite) {
		return
	}
	if err != nil {
		h.m.log.LogAttrs(r.Context(), slog.LevelError, "metrics scrape could not read the servers; per-server series left out",
			slog.String("err", err.Error()))
	}
	if writeStoreUp(x, err == nil) != nil {
		return
	}
	if c, ok := enc.(expfmt.Closer); ok {
		_ = c.Close() // the OpenMetrics "# EOF" line
	}
}
