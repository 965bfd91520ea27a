package ui

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// BenchmarkFleetPage is the fleet view's work at 10,000 servers, without
// the store: filtering, counting, sorting and paging (build), and that
// plus rendering the HTML of a page (render).
func BenchmarkFleetPage(b *testing.B) {
	servers := syntheticFleet(10000)
	u := New(Config{Store: noStore{}})
	for _, c := range []struct{ name, query string }{
		{"build", ""},
		{"build-sorted", "sort=-for"},
	} {
		b.Run(c.name, func(b *testing.B) {
			q, _ := parseFleetQuery(mustQuery(c.query), 15)
			v := gitops.SamplesOf(servers)
			get := recordOf(v)
			for b.Loop() {
				if _, err := buildFleet(v, get, q, t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, c := range []struct{ name, query string }{
		{"render-500", ""},
		{"render-10000", "per_page=10000"},
	} {
		b.Run(c.name, func(b *testing.B) {
			q, _ := parseFleetQuery(mustQuery(c.query), 15)
			f := buildOf(b, servers, q, t0)
			p := u.newPage("Servers", t0, 15, f)
			for b.Loop() {
				if err := u.pages["fleet"].ExecuteTemplate(io.Discard, "layout", p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFleetRequest is GET /ui against a SQLite store of 10,000
// servers, as a browser asks for it (gzip), and GET /status's cost in the
// same run for comparison is in httpapi's benchmarks.
func BenchmarkFleetRequest(b *testing.B) {
	st := mustOpenStore(b)
	if _, err := st.Import(context.Background(), syntheticFleet(10000), gitops.ImportReplace); err != nil {
		b.Fatal(err)
	}
	u := New(Config{Store: st, Now: func() time.Time { return t0 }})
	mux := http.NewServeMux()
	for _, rt := range u.Routes() {
		mux.Handle(rt.Method+" "+rt.Path, rt.Handler)
	}
	b.Run("list", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := st.List(context.Background(), gitops.Filter{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("samples", func(b *testing.B) {
		var s gitops.ServerSample
		for b.Loop() {
			if err := gitops.ReadSamples(context.Background(), st, func(v gitops.Samples) error {
				for i := range v.Len() {
					v.At(i, &s)
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("page", func(b *testing.B) {
		for b.Loop() {
			r := httptest.NewRequest("GET", "/ui", nil)
			r.Header.Set("Accept-Encoding", "gzip")
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatal(w.Code)
			}
		}
	})
}
