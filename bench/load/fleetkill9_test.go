package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestFleetAckMissing(t *testing.T) {
	sent := time.Date(2026, 12, 7, 11, 0, 0, 123_456_789, time.UTC)
	tests := []struct {
		name string
		ack  fleetAck
		rec  storedReport
		lost bool
	}{
		{"deployment stored", fleetAck{sha: "abc"}, storedReport{CommitSHA: "abc"}, false},
		{"deployment lost", fleetAck{sha: "abc"}, storedReport{CommitSHA: "old"}, true},
		{"check stored", fleetAck{status: "synced", sent: sent},
			storedReport{Status: "synced", LastCronCheck: sent.Add(time.Millisecond)}, false},
		// The store keeps whole microseconds: a check stamped in the
		// microsecond it was sent is still this one.
		{"check stamped in its microsecond", fleetAck{status: "synced", sent: sent},
			storedReport{Status: "synced", LastCronCheck: sent.Truncate(time.Microsecond)}, false},
		{"check lost, an older check stored", fleetAck{status: "synced", sent: sent},
			storedReport{Status: "synced", LastCronCheck: sent.Add(-time.Minute)}, true},
		{"check lost, another status stored", fleetAck{status: "out_of_sync", sent: sent},
			storedReport{Status: "synced", LastCronCheck: sent.Add(time.Millisecond)}, true},
	}
	for _, tt := range tests {
		if got := tt.ack.missing(tt.rec); (got != "") != tt.lost {
			t.Errorf("%s: missing = %q, want lost %v", tt.name, got, tt.lost)
		}
	}
}

// The check reads the whole list once and counts every acknowledged report
// it does not show, a server gone from the list included.
func TestVerifyFleetAcksCountsWhatTheListLacks(t *testing.T) {
	sent := time.Now().UTC()
	after := sent.Add(time.Millisecond).Format(time.RFC3339Nano)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/status" {
			http.NotFound(w, r)
			return
		}
		recs := []string{
			fmt.Sprintf(`{"server_group":%q,"host":%q,"commit_sha":"sha-0","status":"synced"}`, groupOf(0), hostOf(0)),
			fmt.Sprintf(`{"server_group":%q,"host":%q,"commit_sha":"old","status":"synced"}`, groupOf(1), hostOf(1)),
			fmt.Sprintf(`{"server_group":%q,"host":%q,"status":"synced","last_cron_check":%q}`, groupOf(2), hostOf(2), after),
			fmt.Sprintf(`{"server_group":%q,"host":%q,"status":"synced"}`, groupOf(9), hostOf(9)), // not acknowledged
		}
		fmt.Fprint(w, "["+strings.Join(recs, ",")+"]")
	}))
	defer srv.Close()
	acks := map[int]fleetAck{
		0: {sha: "sha-0"},
		1: {sha: "sha-1"},                      // lost: an older commit is stored
		2: {status: "synced", sent: sent},      //
		3: {status: "out_of_sync", sent: sent}, // lost: the server is gone
	}
	res := &kill9Result{Acked: 4, Servers: 4}
	if err := verifyFleetAcks(context.Background(), newTarget(srv.URL, srv.Client(), 10), acks, res); err != nil {
		t.Fatal(err)
	}
	if res.Lost != 2 || len(res.Examples) != 2 {
		t.Fatalf("lost %d (%q), want 2", res.Lost, res.Examples)
	}
	if !strings.Contains(res.Examples[0], "sha-1") {
		t.Errorf("first example %q does not name the lost commit", res.Examples[0])
	}
}
