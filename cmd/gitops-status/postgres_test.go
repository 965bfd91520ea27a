package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gitops-status/gitops-status/postgres/pgtest"
	"github.com/jackc/pgx/v5"
)

// TestTwoReplicasAnswerIdentically runs two serve processes on one database:
// a write acknowledged by one is visible to the very next read on the other,
// and concurrent pipeline and cron writes through both lose no field.
func TestTwoReplicasAnswerIdentically(t *testing.T) {
	url := pgtest.NewDatabase(t)
	env := []string{"GITOPS_STATUS_DATABASE_URL=" + url}
	a := startServe(t, env, "--data-dir", t.TempDir())
	b := startServe(t, env, "--data-dir", t.TempDir())

	for i := 0; i < 50; i++ {
		w, r := a, b
		if i%2 == 1 {
			w, r = b, a
		}
		sha := fmt.Sprintf("sha-%03d", i)
		if code, _ := post(t, w.URL+"/status/pipeline", pipelineBody("grp", "h1", sha)); code != 200 {
			t.Fatalf("write %d: %d", i, code)
		}
		var rec map[string]any
		getJSON(t, r.URL+"/status/grp/h1", &rec)
		if rec["commit_sha"] != sha {
			t.Fatalf("replica read %v right after the other acknowledged %s", rec["commit_sha"], sha)
		}
	}

	// Pipeline writes through one replica, cron writes through the other, on
	// the same servers at once: every pipeline field and every cron field of
	// the last acknowledged writes must be there.
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(2)
		host := fmt.Sprintf("race-%d", w)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				post(t, a.URL+"/status/pipeline", pipelineBody("grp", host, fmt.Sprintf("p%03d", i)))
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				post(t, b.URL+"/status/cron", fmt.Sprintf(`{"server_group":"grp","host":%q,"status":"out_of_sync","changed_files":["/etc/x"]}`, host))
			}
		}()
	}
	wg.Wait()
	for w := 0; w < 8; w++ {
		var ra, rb map[string]any
		getJSON(t, a.URL+fmt.Sprintf("/status/grp/race-%d", w), &ra)
		getJSON(t, b.URL+fmt.Sprintf("/status/grp/race-%d", w), &rb)
		if ra["commit_sha"] != "p024" || ra["branch"] != "master" || ra["validation_status"] != "passed" || ra["last_cron_check"] == nil || ra["drift_status"] != "out_of_sync" {
			t.Errorf("race-%d lost a field: %v", w, ra)
		}
		delete(ra, "stale")
		delete(rb, "stale")
		if !jsonEqual(ra, rb) {
			t.Errorf("replicas disagree on race-%d:\n%v\n%v", w, ra, rb)
		}
	}
}

// TestFirstStartImportOnceWithReplicas starts three replicas at once on a
// new database, each with the same status.json: the servers are imported
// exactly once.
func TestFirstStartImportOnceWithReplicas(t *testing.T) {
	url := pgtest.NewDatabase(t)
	env := []string{"GITOPS_STATUS_DATABASE_URL=" + url, "GITOPS_STATUS_IMPORT_FILE=../../testdata/v2-status.json"}
	var procs []*proc
	for i := 0; i < 3; i++ {
		procs = append(procs, launch(t, env, "--data-dir", t.TempDir()))
	}
	for _, p := range procs {
		p.waitListening()
	}
	var servers []map[string]any
	getJSON(t, procs[0].URL+"/status", &servers)
	if len(servers) == 0 {
		t.Fatal("nothing imported")
	}
	imports := 0
	for _, p := range procs {
		if strings.Contains(p.stderr.String(), "imported status.json on first start") {
			imports++
		}
	}
	if imports != 1 {
		t.Fatalf("%d replicas imported, want exactly 1", imports)
	}
}

func TestImportExportRoundTripPostgres(t *testing.T) {
	testImportExport(t, func() []string { return []string{"--database-url", pgtest.NewDatabase(t)} })
}

// TestExportIsTheSameOnBothBackends imports one file into SQLite and into
// PostgreSQL: both export the same document.
func TestExportIsTheSameOnBothBackends(t *testing.T) {
	lite := []string{"--data-dir", t.TempDir()}
	pg := []string{"--database-url", pgtest.NewDatabase(t)}
	var docs []string
	for _, store := range [][]string{lite, pg} {
		if _, errOut, code := runCLI(append(append([]string{"import"}, store...), "../../testdata/v2-status-isoformat.json")...); code != 0 {
			t.Fatalf("import %v: %s", store, errOut)
		}
		out, errOut, code := runCLI(append([]string{"export"}, store...)...)
		if code != 0 {
			t.Fatalf("export %v: %s", store, errOut)
		}
		docs = append(docs, out)
	}
	if docs[0] != docs[1] {
		t.Fatalf("SQLite and PostgreSQL export differ:\n%s\n%s", docs[0], docs[1])
	}
}

// privateCluster is a PostgreSQL cluster of this test's own, so that
// stopping it disturbs no other test.
type privateCluster struct {
	t    *testing.T
	dir  string
	port int
	bin  string
}

func newPrivateCluster(t *testing.T) *privateCluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		skipOrFail(t, "PostgreSQL server binaries (pg_ctl) are not installed")
	}
	c := &privateCluster{t: t, bin: filepath.Dir(bins[len(bins)-1]), port: freePort(t)}
	c.dir = t.TempDir()
	// PostgreSQL refuses to run as root: run it as the postgres user.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			skipOrFail(t, "running as root and there is no postgres user to run a cluster")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		os.Chmod(filepath.Dir(c.dir), 0o755)
		os.Chown(c.dir, uid, gid)
	}
	c.run("initdb", "-D", c.dir+"/db", "-A", "trust", "-U", "postgres", "--no-sync")
	c.start()
	t.Cleanup(func() { c.pgctl("stop", "-m", "immediate") })
	return c
}

func (c *privateCluster) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

func (c *privateCluster) start() {
	c.pgctl("start", "-w", "-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", c.port, c.dir))
}

func (c *privateCluster) stop() { c.pgctl("stop", "-w", "-m", "fast") }

func (c *privateCluster) pgctl(args ...string) {
	c.run("pg_ctl", append([]string{"-D", c.dir + "/db", "-l", c.dir + "/log"}, args...)...)
}

func (c *privateCluster) run(name string, args ...string) {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	if os.Geteuid() == 0 {
		u, _ := user.Lookup("postgres")
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	cmd.Dir = c.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestDatabaseStopAndStart stops the database under a running server: it
// keeps running, /ready and every data request answer 503 with a clear
// error (never stale data), and it recovers by itself once the database is
// back.
func TestDatabaseStopAndStart(t *testing.T) {
	c := newPrivateCluster(t)
	p := startServe(t, []string{"GITOPS_STATUS_DATABASE_URL=" + c.url()}, "--data-dir", t.TempDir())
	if code, _ := post(t, p.URL+"/status/pipeline", pipelineBody("grp", "h1", "before")); code != 200 {
		t.Fatalf("write before the outage: %d", code)
	}
	c.stop()
	for _, probe := range []struct{ method, path, body string }{
		{"GET", "/ready", ""},
		{"GET", "/status", ""},
		{"GET", "/status/grp/h1", ""},
		{"POST", "/status/pipeline", pipelineBody("grp", "h1", "during")},
		{"POST", "/status/cron", `{"server_group":"grp","host":"h1","status":"synced"}`},
	} {
		var code int
		var body map[string]any
		if probe.method == "GET" {
			code = getJSON(t, p.URL+probe.path, &body)
		} else {
			code, body = post(t, p.URL+probe.path, probe.body)
		}
		if code != 503 {
			t.Errorf("%s %s during the outage = %d, want 503", probe.method, probe.path, code)
		}
		if msg, _ := body["error"].(string); msg == "" {
			t.Errorf("%s %s during the outage: no error sentence in %v", probe.method, probe.path, body)
		}
	}
	select {
	case <-p.done:
		t.Fatalf("the server exited during the outage:\n%s", p.stderr)
	default:
	}
	c.start()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var body map[string]any
		if getJSON(t, p.URL+"/ready", &body) == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready 30s after the database came back\n%s", p.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var rec map[string]any
	if getJSON(t, p.URL+"/status/grp/h1", &rec); rec["commit_sha"] != "before" {
		t.Fatalf("after recovery commit_sha = %v, want the write acknowledged before the outage", rec["commit_sha"])
	}
	if code, _ := post(t, p.URL+"/status/pipeline", pipelineBody("grp", "h1", "after")); code != 200 {
		t.Fatalf("write after recovery: %d", code)
	}
}

// skipOrFail skips a test that needs PostgreSQL, or fails it when CI
// requires PostgreSQL (GITOPS_STATUS_REQUIRE_POSTGRES=1).
func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if pgtest.Required() {
		t.Fatal(why)
	}
	t.Skip(why)
}

// TestServeWarnsWhenAutovacuumIsOff starts serve on a cluster with
// autovacuum on, then off: only the second start logs the warning, with the
// setting to change.
func TestServeWarnsWhenAutovacuumIsOff(t *testing.T) {
	c := newPrivateCluster(t)
	env := []string{"GITOPS_STATUS_DATABASE_URL=" + c.url()}
	const warning = "PostgreSQL has autovacuum = off"

	p := startServe(t, env, "--data-dir", t.TempDir())
	p.kill()
	if strings.Contains(p.stderr.String(), warning) {
		t.Errorf("autovacuum is on, yet serve warned:\n%s", p.stderr)
	}

	conn, err := pgx.Connect(context.Background(), c.url())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, q := range []string{`ALTER SYSTEM SET autovacuum = off`, `SELECT pg_reload_conf()`} {
		if _, err := conn.Exec(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// The reload reaches the server's processes a moment later.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var v string
		if err := conn.QueryRow(context.Background(), `SELECT current_setting('autovacuum')`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v == "off" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("autovacuum still %q 10s after the reload", v)
		}
		time.Sleep(50 * time.Millisecond)
	}

	p = startServe(t, env, "--data-dir", t.TempDir())
	p.kill()
	if !strings.Contains(p.stderr.String(), warning) || !strings.Contains(p.stderr.String(), "ALTER SYSTEM SET autovacuum = on") {
		t.Errorf("autovacuum is off, and serve did not warn with the fix:\n%s", p.stderr)
	}
}
