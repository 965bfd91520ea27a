package gitops_test

import (
	"testing"

	gitops "github.com/gitops-status/gitops-status"
)

// benchPipelineBody is what the load benchmark's pipelines send: 3 changed
// files, a 40-character commit sha.
const benchPipelineBody = `{"project_name":"gitops-for-servers","repo_name":"rsyslog","server_group":"rsyslog-prod",` +
	`"server_type":"rsyslog","environment":"prod","host":"rsyslog-042","status":"synced",` +
	`"changed_files":["/etc/rsyslog.conf","/etc/rsyslog.d/50-default.conf","/etc/rsyslog.d/60-remote.conf"],` +
	`"validation_status":"passed","validation_message":"rsyslog syntax validation passed",` +
	`"commit_sha":"3f786850e387550fdab836ed7e6dc881de23001b","branch":"master","updated_by":"woodpecker"}`

const benchCronBody = `{"server_group":"rsyslog-prod","host":"rsyslog-042","status":"out_of_sync",` +
	`"changed_files":["/etc/rsyslog.conf","/etc/rsyslog.d/50-default.conf","/etc/rsyslog.d/60-remote.conf"]}`

func BenchmarkParsePipelineUpdate(b *testing.B) {
	body := []byte(benchPipelineBody)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := gitops.ParsePipelineUpdate(body, opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseCronUpdate(b *testing.B) {
	body := []byte(benchCronBody)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := gitops.ParseCronUpdate(body, opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	u, _, err := gitops.ParsePipelineUpdate([]byte(benchPipelineBody), opts)
	if err != nil {
		b.Fatal(err)
	}
	s := u.Apply(nil, t0).Server
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		buf = s.AppendJSON(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}
