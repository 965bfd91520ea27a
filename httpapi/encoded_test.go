package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/httpapi"
)

// plainStore hides a store's EncodedReader, so the API reads through Get
// and List.
type plainStore struct{ gitops.Store }

// encodingStore is an EncodedReader over any store, built on its Get and
// List, so the API's encoded path is tested whatever the store under it
// implements. The API must not call Get or List on it for record reads.
type encodingStore struct {
	gitops.Store
	tb testing.TB
}

func (s encodingStore) GetEncoded(ctx context.Context, k gitops.Key) (gitops.EncodedServer, error) {
	srv, err := s.Store.Get(ctx, k)
	if err != nil {
		return gitops.EncodedServer{}, err
	}
	return encode(&srv), nil
}

func (s encodingStore) ListEncoded(ctx context.Context, f gitops.Filter) ([]gitops.EncodedServer, int, error) {
	servers, total, err := s.Store.List(ctx, f)
	if err != nil {
		return nil, 0, err
	}
	out := make([]gitops.EncodedServer, len(servers))
	for i := range servers {
		out[i] = encode(&servers[i])
	}
	return out, total, nil
}

func encode(srv *gitops.Server) gitops.EncodedServer {
	return gitops.EncodedServer{Head: srv.AppendJSONHead(nil), Stale: srv.Stale, ChangedFiles: len(srv.ChangedFiles)}
}

func (s encodingStore) Get(ctx context.Context, k gitops.Key) (gitops.Server, error) {
	s.tb.Errorf("Get(%v) called on an EncodedReader", k)
	return s.Store.Get(ctx, k)
}

func (s encodingStore) List(ctx context.Context, f gitops.Filter) ([]gitops.Server, int, error) {
	s.tb.Errorf("List(%+v) called on an EncodedReader", f)
	return s.Store.List(ctx, f)
}

// writeCounter is a ResponseWriter that keeps the answer and counts the
// writes that carry it.
type writeCounter struct {
	*httptest.ResponseRecorder
	writes int
}

func (w *writeCounter) Write(b []byte) (int, error) {
	w.writes++
	return w.ResponseRecorder.Write(b)
}

// TestEncodedAndDecodedReadsAnswerTheSameBytes serves the same store with
// and without EncodedReader: every record read answers the same status,
// headers and bytes.
func TestEncodedAndDecodedReadsAnswerTheSameBytes(t *testing.T) {
	c := &clock{t: t0}
	st := mustOpenStore(t, gitops.StoreOptions{Now: c.Now, StaleAfter: time.Hour})
	seed := httpapi.New(httpapi.Config{Store: st, Now: c.Now}).Handler()
	post := func(path, body string) {
		t.Helper()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		seed.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("POST %s: %d %s", path, rec.Code, rec.Body)
		}
	}
	// Enough servers, with enough files, that GET /status crosses several
	// write chunks; escapes, labels, stale and fresh servers.
	files := make([]string, 20)
	for i := range files {
		files[i] = fmt.Sprintf(`"/etc/app/conf.d/%02d-some-longer-file-name.conf"`, i)
	}
	for i := 0; i < 300; i++ {
		group := fmt.Sprintf("group-%d", i%3)
		host := fmt.Sprintf("host-%03d", i)
		if i%2 == 0 {
			post("/status/pipeline", `{"server_group":"`+group+`","host":"`+host+`","status":"synced","environment":"prod",`+
				`"validation_message":"line\n\"quoted\" <b>&amp; \u2028 é","labels":{"dc":"dc1","owner":"ops"},`+
				`"changed_files":[`+strings.Join(files[:i%20], ",")+`]}`)
		} else {
			post("/status/cron", `{"server_group":"`+group+`","host":"`+host+`","status":"out_of_sync","changed_files":[`+strings.Join(files, ",")+`]}`)
		}
		if i == 150 {
			c.Advance(2 * time.Hour) // the first half is stale from now on
		}
	}

	apis := map[string]http.Handler{}
	for name, store := range map[string]gitops.Store{
		"store":    st,
		"plain":    plainStore{st},
		"encoding": encodingStore{Store: st, tb: t},
	} {
		apis[name] = httpapi.New(httpapi.Config{Store: store, Now: c.Now}).Handler()
	}
	for _, path := range []string{
		"/status", "/status?limit=3&offset=2", "/status?status=out_of_sync&environment=prod", "/status?status=synced",
		"/status?stale=true", "/status?stale=false&limit=40", "/status?offset=1000",
		"/status/group-1", "/status/group-2?limit=5", "/status/group-1?environment=none", "/status/group-1?server_group=group-2",
		"/status/no-such-group", "/status/group-0/host-000", "/status/group-1/host-001", "/status/group-0/host-001",
		"/status/group-0/host-000/history", "/status/group-0/host-001/history",
	} {
		var want *writeCounter
		for _, name := range []string{"plain", "store", "encoding"} {
			rec := &writeCounter{ResponseRecorder: httptest.NewRecorder()}
			apis[name].ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
			if want == nil {
				want = rec
				if rec.Code == http.StatusOK && path == "/status" && (rec.writes < 2 || rec.Header().Get("Content-Length") != "") {
					t.Errorf("GET /status: %d bytes in %d writes, Content-Length %q; want chunks and no Content-Length",
						rec.Body.Len(), rec.writes, rec.Header().Get("Content-Length"))
				}
				continue
			}
			if rec.Code != want.Code || rec.Body.String() != want.Body.String() {
				t.Fatalf("GET %s through %s: %d %d bytes, through plain: %d %d bytes\n%.300s\n%.300s",
					path, name, rec.Code, rec.Body.Len(), want.Code, want.Body.Len(), rec.Body, want.Body)
			}
			for _, h := range []string{"Content-Type", "Content-Length", "X-Total-Count", "X-Content-Type-Options"} {
				if got, w := rec.Header().Get(h), want.Header().Get(h); got != w {
					t.Fatalf("GET %s through %s: %s %q, through plain %q", path, name, h, got, w)
				}
			}
		}
	}
}

// TestWarningsSplicedIntoRecord checks the record answer of an update with
// warnings: the record's fields, then "warnings", as encoding/json writes a
// list of strings.
func TestWarningsSplicedIntoRecord(t *testing.T) {
	e := newEnv(t)
	rec := e.want(http.StatusOK, "POST", "/status/pipeline", `{"server_group":"g","host":"h","status":"synced","x<y":1,"a\"b":2}`)
	body := rec.Body.String()
	want := `,"stale":false,"changed_files_count":0,"desired_commit_sha":"","behind":false,"behind_since":null,"warnings":["unknown field \"a\\\"b\" was ignored","unknown field \"x\u003cy\" was ignored"]}` + "\n"
	if !strings.HasSuffix(body, want) {
		t.Fatalf("answer ends %q, want %q", body[max(0, len(body)-len(want)):], want)
	}
	if got := rec.Header().Get("Content-Length"); got != fmt.Sprint(len(body)) {
		t.Fatalf("Content-Length %q for %d bytes", got, len(body))
	}
}
