package main

import (
	"fmt"
	"io"
)

// DurationS is the run's length in seconds, from what was due at which rate.
func (r *fleetResult) DurationS() float64 {
	if r.DueRate == 0 {
		return 1
	}
	return float64(r.Due) / r.DueRate
}

// cpuPerReport is the service's CPU time per acknowledged report in µs,
// readings and all: what it costs, whatever else ran on the machine.
func (r *fleetResult) cpuPerReport() float64 {
	if r.OKRate == 0 {
		return 0
	}
	return 1e6 * r.CPUCores / r.OKRate
}

// printFleetTable writes one row per fleet size.
func printFleetTable(w io.Writer, rs []fleetResult) {
	header := []string{"backend", "N", "build", "replicas", "due/s", "sent/s", "ok/s", "p50 ms", "p99 ms", "dropped", "most in flight", "errors",
		"group read p99 ms", "full GET s", "full GET MiB", "RSS peak MiB", "RSS rise full GET MiB", "commits/s", "writes/commit", "read calls/report", "write calls/report", "CPU µs/report", "CPU cores", "generator CPU cores", "machine busy", "start→ready ms", "RSS at ready MiB", "carried"}
	var rows [][]string
	f := func(format string, v float64) string { return fmt.Sprintf(format, v) }
	for _, r := range rs {
		full, rise := "-", "-"
		if r.Reads.FullReads > 0 {
			full, rise = f("%.2f", r.Reads.FullMaxMs/1000), f("%.0f", r.RSSRiseFullMiB)
		}
		replicas := fmt.Sprint(r.Replicas)
		if r.Proxy != "" {
			replicas += " (" + r.Proxy + ")"
		}
		carried := "no"
		if r.Carried {
			carried = "yes"
		}
		rows = append(rows, []string{r.Backend, fmt.Sprint(r.N), r.Build, replicas,
			f("%.0f", r.DueRate), f("%.0f", r.SentRate), f("%.0f", r.OKRate), f("%.1f", r.P50ms), f("%.1f", r.P99ms),
			fmt.Sprint(r.Dropped), fmt.Sprint(r.MostInFlight), fmt.Sprint(r.Errors + r.Reads.GroupErrors + r.Reads.FullErrors),
			f("%.1f", r.Reads.GroupP99ms), full, f("%.0f", r.Reads.FullMiB), f("%.0f", r.RSSPeakMiB), rise, f("%.0f", r.Commits/r.DurationS()), f("%.0f", r.MeanBatch),
			f("%.1f", r.ReadCallsPerReport), f("%.1f", r.WriteCallsPerReport), f("%.0f", r.cpuPerReport()),
			f("%.2f", r.CPUCores), f("%.2f", r.GenCPUCores), f("%.0f%%", 100*r.MachineBusy), f("%.0f", r.ReadyMS), f("%.0f", r.ReadyRSSMiB), carried})
	}
	writeMarkdown(w, header, rows)
	for _, r := range rs {
		for _, e := range []string{r.FirstErr, r.Reads.FirstErr} {
			if e != "" {
				fmt.Fprintf(w, "\n%s N=%d first error: %s\n", r.Backend, r.N, e)
			}
		}
	}
}
