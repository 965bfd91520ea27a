package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestOverTheNetwork runs the API in a real HTTP server, as curl and the
// pipelines reach it.
func TestOverTheNetwork(t *testing.T) {
	e := newEnv(t)
	ts := httptest.NewServer(e.h)
	t.Cleanup(ts.Close)

	post := func(path, ct, body string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest("POST", ts.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	resp, body := post("/status/pipeline", "application/json", seedPipeline)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("pipeline: %d %s", resp.StatusCode, body)
	}
	if resp.ContentLength != int64(len(body)) {
		t.Fatalf("Content-Length %d for a %d-byte body", resp.ContentLength, len(body))
	}
	resp, body = post("/status/cron", "", seedCron) // no Content-Type: read as JSON
	if resp.StatusCode != 200 || !strings.Contains(body, `"out_of_sync"`) {
		t.Fatalf("cron without Content-Type: %d %s", resp.StatusCode, body)
	}
	resp, body = post("/status/pipeline", "application/json", `{"server_group":"g","host":"h","status":"synced","x":"`+strings.Repeat("y", 2<<20)+`"}`)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "larger than 1048576 bytes") {
		t.Fatalf("big body: %d %s", resp.StatusCode, body)
	}
	resp, body = post("/health", "application/json", "{}")
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" || !strings.HasPrefix(body, `{"error":`) {
		t.Fatalf("POST /health: %d Allow %q %s", resp.StatusCode, resp.Header.Get("Allow"), body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("405 Content-Type %q", ct)
	}

	r, err := ts.Client().Get(ts.URL + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var l []map[string]any
	if err := json.NewDecoder(r.Body).Decode(&l); err != nil || len(l) != 1 || r.Header.Get("X-Total-Count") != "1" {
		t.Fatalf("GET /status: %v %v %q", err, l, r.Header.Get("X-Total-Count"))
	}
}

// TestConcurrentPipelineAndCronKeepEveryField sends pipeline and cron
// updates of the same servers at once: no update loses another's fields.
func TestConcurrentPipelineAndCronKeepEveryField(t *testing.T) {
	e := newEnv(t)
	ts := httptest.NewServer(e.h)
	t.Cleanup(ts.Close)
	const servers, rounds = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, 2*servers*rounds)
	send := func(path, body string) {
		defer wg.Done()
		resp, err := ts.Client().Post(ts.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			errs <- err
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			errs <- fmt.Errorf("%s: %d %s", path, resp.StatusCode, b)
		}
	}
	for i := 0; i < servers; i++ {
		for j := 0; j < rounds; j++ {
			wg.Add(2)
			go send("/status/pipeline", fmt.Sprintf(`{"server_group":"g","host":"h%d","status":"synced","commit_sha":"sha-%d","branch":"main","validation_status":"passed"}`, i, i))
			go send("/status/cron", fmt.Sprintf(`{"server_group":"g","host":"h%d","status":"out_of_sync","changed_files":["f%d"]}`, i, j))
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := 0; i < servers; i++ {
		got := object(t, e.want(200, "GET", fmt.Sprintf("/status/g/h%d", i), ""))
		if got["commit_sha"] != fmt.Sprintf("sha-%d", i) || got["branch"] != "main" || got["validation_status"] != "passed" ||
			got["last_cron_check"] == nil || got["drift_status"] != "out_of_sync" {
			t.Errorf("h%d lost a field: %v", i, got)
		}
	}
}
