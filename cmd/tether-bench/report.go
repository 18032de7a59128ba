package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// results is everything a run measured: what -json writes and chart reads.
type results struct {
	Command  []string          `json:"command"`
	Started  time.Time         `json:"started"`
	Seconds  float64           `json:"seconds"`
	Machine  machine           `json:"machine"`
	Targets  map[string]string `json:"targets"` // name → what exactly ran
	Runs     []scenarioResult  `json:"runs"`
	Summary  []row             `json:"summary"`
	Pass     bool              `json:"pass"` // no Tether run failed or saw an unexplained loss
	Failures []string          `json:"failures,omitempty"`
}

type machine struct {
	CPUs      int    `json:"cpus"`
	Model     string `json:"model"`
	Kernel    string `json:"kernel"`
	MemoryGiB int    `json:"memory_gib"`
	Go        string `json:"go"`
	Node      string `json:"node,omitempty"`
}

func thisMachine(node string) machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.Model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				m.MemoryGiB = int(math.Round(float64(kb) / (1 << 20)))
			}
		}
	}
	if node != "" {
		if v := nodeVersion(node); v != "?" {
			m.Node = v
		}
	}
	return m
}

// figureSpec is a row of the summary table.
type figureSpec struct {
	key         string
	label       string
	lowerBetter bool
}

var figureSpecs = map[string][]figureSpec{
	"idle": {
		{"rss_kb_per_session", "idle RSS per session, KB", true},
	},
	"fanout": {
		{"cpu_s_per_1m", "server CPU-s per 1M deliveries (paced)", true},
		{"latency_p50_ms", "fan-out latency p50, ms (paced)", true},
		{"latency_p99_ms", "fan-out latency p99, ms (paced)", true},
		{"lost", "fan-out lost (paced)", true},
		{"deliveries_per_s", "fan-out deliveries/s (burst)", false},
		{"burst_latency_p99_ms", "fan-out latency p99, ms (burst)", true},
		{"burst_cpu_s_per_1m", "server CPU-s per 1M deliveries (burst)", true},
		{"burst_lost", "fan-out lost (burst)", true},
	},
	"storm": {
		{"first_s", "storm: first resumed, s", true},
		{"p50_s", "storm: 50% resumed, s", true},
		{"p99_s", "storm: 99% resumed, s", true},
		{"all_s", "storm: 100% resumed, s", true},
		{"lost", "storm: messages lost", true},
		{"dup", "storm: duplicates", true},
		{"reorder", "storm: reordered", true},
	},
	"chaos": {
		{"lost", "chaos: lost (down + echo)", true},
		{"up_lost", "chaos: lost client to server", true},
		{"dup", "chaos: duplicates", true},
		{"reorder", "chaos: reordered", true},
		{"unexplained", "chaos: unexplained", true},
	},
}

var scenarioOrder = []string{"idle", "fanout", "storm", "chaos"}

// row is one figure for every target: the median over runs, and the range.
type row struct {
	Scenario    string             `json:"scenario"`
	Param       int                `json:"param"`
	Key         string             `json:"key"`
	Label       string             `json:"label"`
	LowerBetter bool               `json:"lower_better"`
	Median      map[string]float64 `json:"median"`
	Min         map[string]float64 `json:"min"`
	Max         map[string]float64 `json:"max"`
	Runs        map[string]int     `json:"runs"`
}

// summarize builds the summary rows from the runs.
func summarize(runs []scenarioResult) []row {
	type key struct {
		scenario string
		param    int
	}
	var keys []key
	seen := map[key]bool{}
	for _, r := range runs {
		k := key{r.Scenario, r.Param}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	slices.SortStableFunc(keys, func(a, b key) int {
		ia, ib := slices.Index(scenarioOrder, a.scenario), slices.Index(scenarioOrder, b.scenario)
		if ia != ib {
			return ia - ib
		}
		return a.param - b.param
	})
	var rows []row
	for _, k := range keys {
		for _, fs := range figureSpecs[k.scenario] {
			rw := row{Scenario: k.scenario, Param: k.param, Key: fs.key, Label: fs.label, LowerBetter: fs.lowerBetter,
				Median: map[string]float64{}, Min: map[string]float64{}, Max: map[string]float64{}, Runs: map[string]int{}}
			vals := map[string][]float64{}
			for _, r := range runs {
				if r.Scenario != k.scenario || r.Param != k.param || r.Error != "" {
					continue
				}
				if v, ok := r.Figures[fs.key]; ok && !math.IsNaN(v) {
					vals[r.Target] = append(vals[r.Target], v)
				}
			}
			if len(vals) == 0 {
				continue
			}
			for t, vs := range vals {
				slices.Sort(vs)
				rw.Median[t] = median(vs)
				rw.Min[t], rw.Max[t] = vs[0], vs[len(vs)-1]
				rw.Runs[t] = len(vs)
			}
			rows = append(rows, rw)
		}
	}
	return rows
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// fmtNum prints a figure with about three significant digits.
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

func cell(rw row, t string) string {
	v, ok := rw.Median[t]
	if !ok {
		return "–"
	}
	s := fmtNum(v)
	if rw.Runs[t] > 1 && rw.Min[t] != rw.Max[t] {
		s += " (" + fmtNum(rw.Min[t]) + "–" + fmtNum(rw.Max[t]) + ")"
	}
	return s
}

// ratio is a peer's figure over Tether's: how many times Tether's.
func ratio(rw row, t string) string {
	v, ok1 := rw.Median[t]
	b, ok2 := rw.Median["tether"]
	if !ok1 || !ok2 || t == "tether" {
		return ""
	}
	if b == 0 {
		if v == 0 {
			return "="
		}
		return "∞"
	}
	return fmt.Sprintf("%.2f×", v/b)
}

// writeTable writes the summary as a Markdown table.
func writeTable(w io.Writer, rows []row, targets []string) {
	fmt.Fprintf(w, "| figure | %s |", strings.Join(targets, " | "))
	peers := slices.DeleteFunc(slices.Clone(targets), func(t string) bool { return t == "tether" })
	hasTether := slices.Contains(targets, "tether")
	if hasTether {
		for _, p := range peers {
			fmt.Fprintf(w, " %s ÷ tether |", p)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, "|---|")
	for range targets {
		fmt.Fprint(w, "---:|")
	}
	if hasTether {
		for range peers {
			fmt.Fprint(w, "---:|")
		}
	}
	fmt.Fprintln(w)
	for _, rw := range rows {
		better := "higher is better"
		if rw.LowerBetter {
			better = "lower is better"
		}
		fmt.Fprintf(w, "| %s (%s, %s) |", rw.Label, paramLabel(rw.Scenario, rw.Param), better)
		for _, t := range targets {
			fmt.Fprintf(w, " %s |", cell(rw, t))
		}
		if hasTether {
			for _, p := range peers {
				fmt.Fprintf(w, " %s |", ratio(rw, p))
			}
		}
		fmt.Fprintln(w)
	}
}

func paramLabel(scenario string, p int) string {
	switch scenario {
	case "fanout":
		return fmt.Sprintf("%d members", p)
	}
	return fmt.Sprintf("%d sessions", p)
}
