package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"
)

// fleetKind is one kind of managed server in the generated fleets: what
// its pipelines deploy.
type fleetKind struct {
	typ, repo string
	files     []string
}

var fleetKinds = []fleetKind{
	{"rsyslog", "rsyslog", []string{"/etc/rsyslog.conf", "/etc/rsyslog.d/50-default.conf", "/etc/rsyslog.d/60-remote.conf", "/etc/logrotate.d/rsyslog"}},
	{"splunk", "splunk-forwarders", []string{"/opt/splunkforwarder/etc/system/local/inputs.conf", "/opt/splunkforwarder/etc/system/local/outputs.conf", "/opt/splunkforwarder/etc/apps/base/local/props.conf"}},
	{"nginx", "nginx-edge", []string{"/etc/nginx/nginx.conf", "/etc/nginx/conf.d/upstreams.conf", "/etc/nginx/sites-enabled/default"}},
	{"itnm", "ibm-itnm", []string{"/opt/IBM/tivoli/netcool/etc/precision/DiscoConfig.cfg", "/opt/IBM/tivoli/netcool/etc/precision/CtrlServices.cfg"}},
	{"haproxy", "haproxy", []string{"/etc/haproxy/haproxy.cfg", "/etc/haproxy/certs.list"}},
	{"postfix", "mail-relays", []string{"/etc/postfix/main.cf", "/etc/postfix/master.cf", "/etc/postfix/transport"}},
	{"bind", "dns", []string{"/etc/bind/named.conf.options", "/etc/bind/zones/db.example.com"}},
	{"chrony", "time", []string{"/etc/chrony/chrony.conf"}},
}

var (
	fleetEnvs    = []string{"prod", "staging", "dev"}
	fleetRegions = []string{"fra1", "ams3", "lon1"}
	fleetCI      = []string{"woodpecker", "gitlab-ci", "jenkins", "github-actions"}
)

// fleetDocument returns a v2 status.json of n servers that looks like a
// real fleet at now: groups of one kind, environment and region; mostly
// synced, some drifted or failed, a few never checked by cron or silent for
// days (stale with --stale-after 24h). The same n gives the same fleet.
func fleetDocument(n int, now time.Time) []byte {
	rng := rand.New(rand.NewPCG(uint64(n), 13))
	perGroup := 140
	if n < 200 {
		perGroup = 4
	}
	servers := map[string]map[string]any{}
	ago := func(min, max time.Duration) time.Time {
		return now.Add(-(min + time.Duration(rng.Int64N(int64(max-min)))))
	}
	for i := range n {
		g := i / perGroup
		k := fleetKinds[g%len(fleetKinds)]
		env := fleetEnvs[g%len(fleetEnvs)]
		region := fleetRegions[(g/24)%len(fleetRegions)]
		group := fmt.Sprintf("%s-%s-%s", k.typ, env, region)
		host := fmt.Sprintf("%s-%s-%03d", k.typ, region, i%perGroup+1)

		var sha [20]byte
		for j := range sha {
			sha[j] = byte(rng.IntN(256))
		}
		pipeline := ago(10*time.Minute, 20*24*time.Hour)
		cron := ago(time.Minute, 60*time.Minute)
		status, validation, message := "synced", "passed", k.typ+" syntax check passed"
		p := rng.IntN(100)
		if n < 200 { // a small fleet shows every status, more often
			p = rng.IntN(40)
			if i < 4 {
				p = []int{0, 5, 10, 15}[i]
			}
		}
		switch {
		case p < 3:
			status, validation, message = "failed", "failed", k.typ+" syntax check failed: unexpected token at line 42"
		case p < 10:
			status = "out_of_sync"
		case p < 12:
			status, validation, message = "unknown", "unknown", ""
		case p < 20:
			validation, message = "skipped", "validation skipped on this branch"
		}
		since := pipeline
		if status == "out_of_sync" {
			since = cron.Add(-time.Duration(rng.Int64N(int64(72 * time.Hour))))
		}
		var lastCron any = cron
		last := "cron"
		if rng.IntN(50) == 0 || i == 6 { // never checked by cron
			lastCron, last = nil, "pipeline"
		}
		if rng.IntN(50) == 0 || i == 5 { // silent for days: stale
			pipeline = ago(3*24*time.Hour, 10*24*time.Hour)
			lastCron = pipeline.Add(time.Hour)
			since = pipeline
		}
		if since.After(now) {
			since = now
		}
		files := k.files[:1+rng.IntN(len(k.files))]
		branch := "master"
		if rng.IntN(10) == 0 {
			branch = "release/2026.12"
		}
		drift := ""
		if last == "cron" {
			drift = status
			if status == "failed" || status == "unknown" {
				drift = "synced"
			}
		}
		servers[group+"/"+host] = map[string]any{
			"project_name": "gitops-for-servers", "repo_name": k.repo,
			"server_group": group, "server_type": k.typ, "environment": env, "host": host,
			"status": status, "changed_files": files,
			"validation_status": validation, "validation_message": message,
			"commit_sha": hex.EncodeToString(sha[:]), "branch": branch,
			"updated_by":        fleetCI[g%len(fleetCI)],
			"last_pipeline_run": pipeline, "last_cron_check": lastCron,
			"timestamp": latest(pipeline, lastCron), "status_since": since,
			"last_source": last, "pipeline_status": status, "drift_status": drift,
			"labels": map[string]string{"datacenter": region, "owner": "team-" + k.typ},
		}
	}
	b, err := json.Marshal(map[string]any{"version": "2.0", "servers": servers})
	if err != nil {
		panic(err)
	}
	return b
}

func latest(pipeline time.Time, cron any) time.Time {
	if c, ok := cron.(time.Time); ok && c.After(pipeline) {
		return c
	}
	return pipeline
}
