package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// backendResult is one backend's runs, one table in the report.
type backendResult struct {
	Backend string       `json:"backend"`
	Sizes   []sizeResult `json:"sizes"`
	Skipped string       `json:"skipped,omitempty"`
}

// report is what -json writes.
type report struct {
	DurationSeconds float64         `json:"duration_seconds"`
	Tokens          bool            `json:"tokens"` // run with -tokens
	Backends        []backendResult `json:"backends"`
	Failures        []string        `json:"failures"`
}

var tableHeader = []string{"backend", "N", "workload", "c", "rps", "p50 ms", "p99 ms", "errors", "ceiling rps", "ratio", "CPU µs/req", "ceiling CPU µs/req", "RSS MiB", "disk MiB", "start→ready ms"}

// printTable writes one backend's results as an aligned Markdown table:
// a row per workload, plus rows for the start on an empty store and the
// restarts with N servers stored.
func printTable(w io.Writer, br backendResult) {
	var rows [][]string
	for _, s := range br.Sizes {
		if s.StartEmptyMS > 0 {
			rows = append(rows, startRow(br.Backend, s.N, "start (empty store)", s.StartEmptyMS))
		}
		for _, wl := range s.Workloads {
			rows = append(rows, workloadRow(br.Backend, s.N, wl))
		}
		if s.RestartMS > 0 {
			rows = append(rows, startRow(br.Backend, s.N, fmt.Sprintf("restart (%d stored)", s.N), s.RestartMS))
		}
		if s.Kill9 != nil && s.Kill9.RestartMS > 0 {
			rows = append(rows, startRow(br.Backend, s.N, "restart after kill -9", s.Kill9.RestartMS))
		}
	}
	writeMarkdown(w, tableHeader, rows)
	for _, s := range br.Sizes {
		if s.Kill9 != nil {
			fmt.Fprintf(w, "\n%s N=%d %s\n", br.Backend, s.N, s.Kill9)
		}
		if line := scrapeCost(s); line != "" {
			fmt.Fprintf(w, "\n%s N=%d %s\n", br.Backend, s.N, line)
		}
	}
}

// scrapeCost compares a Prometheus scrape (metrics) with a GET /status of
// the same fleet (read_all) in the same run: the service's CPU per answer
// and its answers per second; "" when either was not run.
func scrapeCost(s sizeResult) string {
	var all, scrape *workloadResult
	for i := range s.Workloads {
		switch s.Workloads[i].Name {
		case "read_all":
			all = &s.Workloads[i]
		case "metrics":
			scrape = &s.Workloads[i]
		}
	}
	if all == nil || scrape == nil || scrape.Service.RPS == 0 {
		return ""
	}
	line := fmt.Sprintf("a scrape costs %.2f× a GET /status in answers per second", all.Service.RPS/scrape.Service.RPS)
	if all.ServiceCPUus != nil && scrape.ServiceCPUus != nil && *all.ServiceCPUus > 0 {
		line += fmt.Sprintf(", %.2f× in CPU per answer", *scrape.ServiceCPUus / *all.ServiceCPUus)
	}
	return line
}

func startRow(backend string, n int, what string, readyMS float64) []string {
	row := []string{backend, fmt.Sprint(n), what}
	for len(row) < len(tableHeader)-1 {
		row = append(row, "")
	}
	return append(row, fmt.Sprintf("%.0f", readyMS))
}

func workloadRow(backend string, n int, wl workloadResult) []string {
	s := wl.Service
	return []string{
		backend, fmt.Sprint(n), wl.Name, fmt.Sprint(wl.Concurrency),
		fmt.Sprintf("%.0f", s.RPS), fmt.Sprintf("%.2f", s.P50ms), fmt.Sprintf("%.2f", s.P99ms),
		fmt.Sprint(s.Errors), fmt.Sprintf("%.0f", wl.Ceiling.RPS), fmt.Sprintf("%.3f", wl.Ratio),
		micros(wl.ServiceCPUus), micros(wl.CeilingCPUus), mib(wl.RSSMiB), mib(wl.DiskMiB), "",
	}
}

func micros(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f", *v)
}

func mib(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f", *v)
}

// writeMarkdown pads every cell to its column's width so the table reads
// aligned as plain text and renders as Markdown. Columns after the third
// are numbers and are right-aligned.
func writeMarkdown(w io.Writer, header []string, rows [][]string) {
	width := make([]int, len(header))
	for _, r := range append([][]string{header}, rows...) {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		for i, c := range cells {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i >= 3 {
				c = pad + c
			} else {
				c += pad
			}
			b.WriteString("| " + c + " ")
		}
		fmt.Fprintln(w, b.String()+"|")
	}
	line(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
		if i >= 3 {
			sep[i] = strings.Repeat("-", width[i]-1) + ":"
		}
	}
	line(sep)
	for _, r := range rows {
		line(r)
	}
}

func writeJSON(path string, r any) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
