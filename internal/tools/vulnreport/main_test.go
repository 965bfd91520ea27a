package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	tests := []struct {
		name     string
		accepted string
		pass     bool
		want     []string
	}{
		{"nothing accepted", "", false, []string{
			"VULNERABLE: GO-2026-0001 Crash in net/http (stdlib@v1.26.8, fixed in v1.26.9; called from example.com/app/api.serve (api/api.go:42))",
			"VULNERABLE: GO-2026-0002 Injection in example.com/lib (example.com/lib@v1.2.3, fixed in v1.2.4; called from example.com/app.main)",
			"imported, not called: GO-2026-0003 Leak in example.com/other",
		}},
		{"the standard library's accepted", "# why\nGO-2026-0001 stdlib needs Go 1.26.9\n", false, []string{
			"ACCEPTED: GO-2026-0001", ": needs Go 1.26.9", "VULNERABLE: GO-2026-0002",
		}},
		{"all called accepted", "GO-2026-0001 stdlib needs Go 1.26.9\nGO-2026-0002 example.com/lib no fix we can take\nGO-2026-9999 stdlib fixed long ago\n", true, []string{
			"ACCEPTED: GO-2026-0002", "note: accepted GO-2026-9999 is no longer found", "no vulnerability called that is not accepted",
		}},
		{"accepted for another module does not count", "GO-2026-0002 stdlib wrong module\n", false, []string{"VULNERABLE: GO-2026-0002"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := os.Open("testdata/stream.json")
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			acc, err := parseAccepted(strings.NewReader(tt.accepted))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			pass, err := report(in, &out, acc)
			if err != nil {
				t.Fatal(err)
			}
			if pass != tt.pass {
				t.Fatalf("pass = %v, want %v:\n%s", pass, tt.pass, &out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Fatalf("output does not say %q:\n%s", w, &out)
				}
			}
		})
	}
}

func TestReportRefusesNoScan(t *testing.T) {
	if _, err := report(strings.NewReader(""), &bytes.Buffer{}, nil); err == nil {
		t.Fatal("an empty stream passed")
	}
	if _, err := report(strings.NewReader("{not json"), &bytes.Buffer{}, nil); err == nil {
		t.Fatal("a broken stream passed")
	}
	if _, err := parseAccepted(strings.NewReader("GO-1 stdlib\n")); err == nil {
		t.Fatal("an entry without a reason was accepted")
	}
}
