// Command vulnreport reads govulncheck's JSON output (govulncheck -format
// json) and decides whether the scan passes: it fails when the code calls
// a vulnerable function, unless that vulnerability is listed, with the
// reason, in the accepted file. It prints one line per vulnerability.
//
//	govulncheck -db file://$DB -format json ./... | go run ./internal/tools/vulnreport -accept .ci/vulncheck-accepted.txt
//
// The accepted file has one vulnerability a line: its id, the module it is
// found in (stdlib for the Go standard library) and why it is accepted;
// '#' starts a comment. An accepted entry that the scan no longer finds is
// reported, so the list is pruned once the fix lands. Vulnerabilities in
// packages or modules the code imports but never calls into are listed
// and never fail the scan, as govulncheck's own text output does.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

func main() {
	accept := flag.String("accept", "", "file of accepted vulnerabilities: ID MODULE REASON per line")
	flag.Parse()
	var accepted map[string]acceptance
	if *accept != "" {
		f, err := os.Open(*accept)
		if err != nil {
			fmt.Fprintln(os.Stderr, "vulnreport:", err)
			os.Exit(2)
		}
		accepted, err = parseAccepted(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "vulnreport: %s: %v\n", *accept, err)
			os.Exit(2)
		}
	}
	ok, err := report(os.Stdin, os.Stdout, accepted)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulnreport:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// acceptance is one line of the accepted file.
type acceptance struct{ module, reason string }

func parseAccepted(r io.Reader) (map[string]acceptance, error) {
	out := map[string]acceptance{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) < 3 {
			return nil, fmt.Errorf("line %d: want ID MODULE REASON", n)
		}
		out[fields[0]] = acceptance{module: fields[1], reason: strings.Join(fields[2:], " ")}
	}
	return out, sc.Err()
}

// message is one object of govulncheck's JSON stream; only the parts used
// here are decoded.
type message struct {
	Config *struct {
		ScannerVersion string `json:"scanner_version"`
		DB             string `json:"db"`
		GoVersion      string `json:"go_version"`
	} `json:"config"`
	OSV *struct {
		ID      string `json:"id"`
		Summary string `json:"summary"`
	} `json:"osv"`
	Finding *struct {
		OSV          string  `json:"osv"`
		FixedVersion string  `json:"fixed_version"`
		Trace        []frame `json:"trace"`
	} `json:"finding"`
}

type frame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
	Receiver string `json:"receiver"`
	Position *struct {
		Filename string `json:"filename"`
		Line     int    `json:"line"`
	} `json:"position"`
}

// vuln is what the stream says about one vulnerability.
type vuln struct {
	id, summary, module, version, fixed string
	called                              bool
	example                             string // the caller in our code, for a called one
}

// report prints the verdict on every vulnerability found and returns
// whether the scan passes.
func report(r io.Reader, w io.Writer, accepted map[string]acceptance) (bool, error) {
	dec := json.NewDecoder(r)
	vulns := map[string]*vuln{}
	summaries := map[string]string{}
	configSeen := false
	for {
		var m message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return false, fmt.Errorf("reading govulncheck's JSON: %v", err)
		}
		switch {
		case m.Config != nil:
			configSeen = true
			fmt.Fprintf(w, "govulncheck %s, %s, database %s\n", m.Config.ScannerVersion, m.Config.GoVersion, m.Config.DB)
		case m.OSV != nil:
			summaries[m.OSV.ID] = m.OSV.Summary
		case m.Finding != nil && len(m.Finding.Trace) > 0:
			f := m.Finding
			v := vulns[f.OSV]
			if v == nil {
				top := f.Trace[0]
				v = &vuln{id: f.OSV, module: top.Module, version: top.Version, fixed: f.FixedVersion}
				vulns[f.OSV] = v
			}
			if f.Trace[0].Function != "" {
				v.called = true
				if v.example == "" {
					v.example = caller(f.Trace)
				}
			}
		}
	}
	if !configSeen {
		return false, errors.New("no govulncheck output: did the scan run?")
	}
	ids := make([]string, 0, len(vulns))
	for id := range vulns {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	pass := true
	for _, id := range ids {
		v := vulns[id]
		v.summary = summaries[id]
		where := fmt.Sprintf("%s@%s, fixed in %s", v.module, v.version, v.fixed)
		if v.fixed == "" {
			where = fmt.Sprintf("%s@%s, no fix yet", v.module, v.version)
		}
		a, isAccepted := accepted[id]
		switch {
		case !v.called:
			fmt.Fprintf(w, "imported, not called: %s %s (%s)\n", id, v.summary, where)
		case isAccepted && a.module == v.module:
			fmt.Fprintf(w, "ACCEPTED: %s %s (%s; called from %s): %s\n", id, v.summary, where, v.example, a.reason)
		default:
			pass = false
			fmt.Fprintf(w, "VULNERABLE: %s %s (%s; called from %s)\n", id, v.summary, where, v.example)
		}
	}
	for id := range accepted {
		if v := vulns[id]; v == nil || !v.called {
			fmt.Fprintf(w, "note: accepted %s is no longer found; remove it from the accepted list\n", id)
		}
	}
	if pass {
		fmt.Fprintln(w, "govulncheck: no vulnerability called that is not accepted")
	}
	return pass, nil
}

// caller names the first frame of the trace in code outside the
// vulnerable module: where our code reaches the vulnerable function.
func caller(trace []frame) string {
	for _, fr := range trace[1:] {
		if fr.Module == trace[0].Module {
			continue
		}
		s := fr.Package + "." + fr.Function
		if fr.Receiver != "" {
			s = fr.Package + "." + strings.TrimPrefix(fr.Receiver, "*") + "." + fr.Function
		}
		if fr.Position != nil {
			s += fmt.Sprintf(" (%s:%d)", fr.Position.Filename, fr.Position.Line)
		}
		return s
	}
	return trace[len(trace)-1].Package
}
