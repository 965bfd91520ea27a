package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// The ceiling is the fastest the service could be on this machine right
// now: a bare net/http server doing the same request work as the service
// (read the body, decode it into a record) and answering the service's own
// answers, captured after seeding, so the bytes on the wire are the same —
// only storage and business logic are missing. It runs as a subprocess of
// this program (`load ceiling-serve ADDR DIR`), not in the load generator,
// so that like the service it has its own heap, GC and scheduler, and
// competes with the load generator for the two cores the same way.

// ceilingArg is the hidden first argument that turns this program into the
// ceiling server.
const ceilingArg = "ceiling-serve"

// Files in the ceiling's directory, captured from the service.
const (
	writeFile = "write.json" // a POST /status/pipeline answer
	oneFile   = "one.json"   // a GET /status/{g}/{h} answer
	allFile   = "all.json"   // the GET /status answer with all N servers
	// metricsFile is a GET /metrics answer, with its Content-Type on the
	// first line.
	metricsFile = "metrics.txt"
)

// record has the fields of a server record, so the ceiling decodes a
// request body into the same shape of value the service does.
type record struct {
	ServerGroup        string            `json:"server_group"`
	Host               string            `json:"host"`
	ProjectName        string            `json:"project_name"`
	RepoName           string            `json:"repo_name"`
	ServerType         string            `json:"server_type"`
	Environment        string            `json:"environment"`
	Status             string            `json:"status"`
	ChangedFiles       []string          `json:"changed_files"`
	ValidationStatus   string            `json:"validation_status"`
	ValidationMessage  string            `json:"validation_message"`
	CommitSHA          string            `json:"commit_sha"`
	Branch             string            `json:"branch"`
	UpdatedBy          string            `json:"updated_by"`
	LastPipelineRun    *string           `json:"last_pipeline_run"`
	LastCronCheck      *string           `json:"last_cron_check"`
	Timestamp          *string           `json:"timestamp"`
	StatusSince        *string           `json:"status_since"`
	LastSource         string            `json:"last_source"`
	Labels             map[string]string `json:"labels"`
	PipelineStatus     string            `json:"pipeline_status"`
	DriftStatus        string            `json:"drift_status"`
	StaleAfter         string            `json:"stale_after"`
	ReportedAt         *string           `json:"reported_at"`
	PipelineReportedAt *string           `json:"pipeline_reported_at"`
	CronReportedAt     *string           `json:"cron_reported_at"`
}

// serveCeiling is the ceiling process's main: it serves until SIGTERM or
// SIGINT (or, through childAttrs, until the benchmark dies).
func serveCeiling(addr, dir string) error {
	answers := map[string][]byte{}
	for _, f := range []string{writeFile, oneFile, allFile, metricsFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if f == metricsFile && errors.Is(err, os.ErrNotExist) {
			continue // a build without /metrics (-bin of an older one)
		}
		if err != nil {
			return err
		}
		answers[f] = b
	}
	srv := &http.Server{
		Addr:              addr,
		Handler:           ceilingRoutes(answers),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      120 * time.Second, // an all-servers answer can be large
		IdleTimeout:       120 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}

func ceilingRoutes(answers map[string][]byte) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		send(w, []byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("POST /status/pipeline", decodeThenSend(answers[writeFile]))
	mux.HandleFunc("POST /status/cron", decodeThenSend(answers[writeFile]))
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		send(w, answers[allFile])
	})
	mux.HandleFunc("GET /status/{server_group}/{host}", func(w http.ResponseWriter, _ *http.Request) {
		send(w, answers[oneFile])
	})
	ct, scrape, _ := bytes.Cut(answers[metricsFile], []byte("\n"))
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", string(ct))
		_, _ = w.Write(scrape)
	})
	return mux
}

func decodeThenSend(answer []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, `{"error":"body too large"}`, http.StatusRequestEntityTooLarge)
			return
		}
		var rec record
		if err := json.Unmarshal(body, &rec); err != nil {
			http.Error(w, fmt.Sprintf(`{"error":%q}`, err.Error()), http.StatusBadRequest)
			return
		}
		send(w, answer)
	}
}

func send(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// captureAnswers stores in dir the service's answers the ceiling will send
// and returns the servers the service lists, to check the seeding.
func captureAnswers(ctx context.Context, t *target, dir string) ([]serverKey, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	write, err := json.Marshal(newPipelineBody(0, shaFor(0, 0, 0)))
	if err != nil {
		return nil, err
	}
	captures := []struct {
		file, method, path string
		body               []byte
	}{
		{writeFile, http.MethodPost, "/status/pipeline", write},
		{oneFile, http.MethodGet, t.paths[0], nil},
		{allFile, http.MethodGet, "/status", nil},
	}
	for _, c := range captures {
		if err := captureOne(ctx, t, c.method, c.path, c.body, filepath.Join(dir, c.file)); err != nil {
			return nil, err
		}
	}
	if err := captureMetrics(ctx, t, filepath.Join(dir, metricsFile)); err != nil {
		return nil, err
	}
	return readKeys(filepath.Join(dir, allFile))
}

func captureOne(ctx context.Context, t *target, method, path string, body []byte, file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	_, err = t.do(ctx, method, path, body, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("capture %s %s: %w", method, path, err)
	}
	return nil
}

// captureMetrics stores a scrape of the service, its Content-Type first.
func captureMetrics(ctx context.Context, t *target, file string) error {
	var body bytes.Buffer
	resp, err := t.do(ctx, http.MethodGet, "/metrics", nil, &body)
	if se := (*statusError)(nil); errors.As(err, &se) && se.code == http.StatusNotFound {
		return nil // a build without /metrics (-bin of an older one)
	}
	if err != nil {
		return fmt.Errorf("capture GET /metrics: %w", err)
	}
	if resp.Header.Get("Content-Encoding") != "" {
		return fmt.Errorf("capture GET /metrics: Content-Encoding %q; the ceiling serves it plain", resp.Header.Get("Content-Encoding"))
	}
	return os.WriteFile(file, append([]byte(resp.Header.Get("Content-Type")+"\n"), body.Bytes()...), 0o644)
}

// serverKey is the identity of a listed server.
type serverKey struct {
	ServerGroup string `json:"server_group"`
	Host        string `json:"host"`
}

func readKeys(file string) ([]serverKey, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return parseKeys(b)
}

func parseKeys(b []byte) ([]serverKey, error) {
	var keys []serverKey
	if err := json.Unmarshal(b, &keys); err != nil {
		return nil, fmt.Errorf("GET /status answer: %w", err)
	}
	return keys, nil
}
