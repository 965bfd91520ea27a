// Package ansiblejson reads what `ansible-playbook --check --diff` prints
// with the JSON stdout callback (ANSIBLE_STDOUT_CALLBACK=ansible.posix.json,
// or its short name json) and says, for each host, whether it drifted from
// the playbook and in which files. `gitops-status report cron
// --from-ansible` turns that into one drift report per host.
//
// The callback's document is {"plays": [{"play": {"duration": {"start"}},
// "tasks": [{"task": {"name"}, "hosts": {HOST: RESULT}}]}], "stats": {HOST:
// {"failures", "unreachable", …}}}; a RESULT of a loop holds one result per
// item in "results".
package ansiblejson

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Host is what one host's run said.
type Host struct {
	Name string
	// Failed is true when a task failed on the host (and was neither
	// ignored nor rescued) or the host was unreachable.
	Failed      bool
	Unreachable bool
	// Failure is the first failed task and its message, when Failed.
	Failure string
	// Changed lists what the run found different from the playbook, in
	// task order without repeats: the file each changed task writes, or
	// "task: <name>" for a changed task that names no file.
	Changed []string
}

// Run is one playbook run.
type Run struct {
	// Started is when the first play started; zero when the output does
	// not say.
	Started time.Time
	// Hosts are sorted by name.
	Hosts []Host
}

type document struct {
	Plays []struct {
		Play struct {
			Duration struct {
				Start string `json:"start"`
			} `json:"duration"`
		} `json:"play"`
		Tasks []struct {
			Task struct {
				Name string `json:"name"`
			} `json:"task"`
			Hosts map[string]result `json:"hosts"`
		} `json:"tasks"`
	} `json:"plays"`
	Stats map[string]struct {
		Failures    int `json:"failures"`
		Unreachable int `json:"unreachable"`
	} `json:"stats"`
}

type result struct {
	Changed     bool            `json:"changed"`
	Failed      bool            `json:"failed"`
	Unreachable bool            `json:"unreachable"`
	Skipped     bool            `json:"skipped"`
	Msg         json.RawMessage `json:"msg"`
	Dest        json.RawMessage `json:"dest"`
	Path        json.RawMessage `json:"path"`
	Invocation  struct {
		ModuleArgs map[string]json.RawMessage `json:"module_args"`
	} `json:"invocation"`
	Diff    json.RawMessage `json:"diff"`
	Results []result        `json:"results"`
}

// errNotJSON explains the usual mistake: the default callback's text.
var errNotJSON = errors.New("this is not the output of ansible-playbook's JSON callback: run it with ANSIBLE_STDOUT_CALLBACK=ansible.posix.json (or json) and give its standard output")

// Parse reads a run. Lines before the document (a warning a plugin printed
// to standard output) are skipped.
func Parse(r io.Reader) (*Run, error) {
	br := bufio.NewReader(r)
	for {
		b, err := br.Peek(1)
		if err != nil {
			if err == io.EOF {
				return nil, errNotJSON
			}
			return nil, err
		}
		if b[0] == '{' {
			break
		}
		if _, err := br.ReadString('\n'); err != nil {
			return nil, errNotJSON
		}
	}
	var doc document
	if err := json.NewDecoder(br).Decode(&doc); err != nil {
		return nil, fmt.Errorf("reading ansible-playbook's JSON output: %v", err)
	}
	if doc.Plays == nil && doc.Stats == nil {
		return nil, errNotJSON
	}
	return doc.run(), nil
}

func (doc *document) run() *Run {
	run := &Run{}
	hosts := map[string]*Host{}
	host := func(name string) *Host {
		h := hosts[name]
		if h == nil {
			h = &Host{Name: name}
			hosts[name] = h
		}
		return h
	}
	seen := map[string]map[string]bool{}
	for _, p := range doc.Plays {
		if t, err := time.Parse(time.RFC3339Nano, p.Play.Duration.Start); err == nil && (run.Started.IsZero() || t.Before(run.Started)) {
			run.Started = t.UTC()
		}
		for _, task := range p.Tasks {
			for name, res := range task.Hosts {
				h := host(name)
				if seen[name] == nil {
					seen[name] = map[string]bool{}
				}
				items := res.Results
				if len(items) == 0 {
					items = []result{res}
				}
				for _, it := range items {
					h.add(task.Task.Name, it, seen[name])
				}
			}
		}
	}
	for name, st := range doc.Stats {
		h := host(name)
		h.Unreachable = h.Unreachable || st.Unreachable > 0
		// The stats count only failures that were neither ignored nor
		// rescued, which the task results cannot tell.
		h.Failed = st.Failures > 0 || h.Unreachable
		if !h.Failed {
			h.Failure = ""
		}
	}
	for _, h := range hosts {
		run.Hosts = append(run.Hosts, *h)
	}
	sort.Slice(run.Hosts, func(i, j int) bool { return run.Hosts[i].Name < run.Hosts[j].Name })
	return run
}

// add takes one task result (or loop item) into h.
func (h *Host) add(task string, r result, seen map[string]bool) {
	switch {
	case r.Skipped:
	case r.Unreachable:
		h.Unreachable, h.Failed = true, true
		h.fail(task, r)
	case r.Failed:
		h.Failed = true
		h.fail(task, r)
	case r.Changed:
		what := r.file()
		if what == "" {
			what = "task: " + task
		}
		if !seen[what] {
			seen[what] = true
			h.Changed = append(h.Changed, what)
		}
	}
}

func (h *Host) fail(task string, r result) {
	if h.Failure != "" {
		return
	}
	h.Failure = task
	if msg := str(r.Msg); msg != "" {
		h.Failure += ": " + msg
	}
}

// file is the file a changed result writes: the module's dest or path as
// it reported or was given it, else the header of its diff (copy and
// template in check mode report neither).
func (r result) file() string {
	for _, raw := range []json.RawMessage{r.Dest, r.Path, r.Invocation.ModuleArgs["dest"], r.Invocation.ModuleArgs["path"]} {
		if s := str(raw); s != "" {
			return s
		}
	}
	var diffs []struct {
		BeforeHeader string `json:"before_header"`
	}
	d := bytes.TrimSpace(r.Diff)
	if len(d) > 0 && d[0] == '{' {
		d = append(append([]byte{'['}, d...), ']')
	}
	if json.Unmarshal(d, &diffs) == nil {
		for _, df := range diffs {
			// lineinfile and blockinfile describe what they compared.
			hd := strings.TrimSuffix(strings.TrimSuffix(df.BeforeHeader, " (content)"), " (file attributes)")
			if hd != "" {
				return hd
			}
		}
	}
	return ""
}

// str returns raw as a string when it is a JSON string, else "".
func str(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}
