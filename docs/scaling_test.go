package docs_test

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/jetflow-dev/jetflow/engine"
)

// SCALING.md sizes a deployment from figures measured by make bench. Its inputs table names, for every figure,
// the section, row and column of bench/RESULTS.md it comes from; these tests check that each figure is there,
// and recompute every derived table from the inputs, so a new RESULTS.md or a slip in the arithmetic fails here.

// docTable is a Markdown table: its header cells and rows of cells.
type docTable struct {
	header []string
	rows   [][]string
}

// markdownTables returns the tables of a Markdown document, in order.
func markdownTables(doc string) []docTable {
	var out []docTable
	var cur *docTable
	for _, line := range strings.Split(doc, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			cur = nil
			continue
		}
		var cells []string
		for _, c := range strings.Split(strings.Trim(line, "|"), "|") {
			cells = append(cells, strings.TrimSpace(c))
		}
		switch {
		case cur == nil:
			out = append(out, docTable{header: cells})
			cur = &out[len(out)-1]
		case strings.Trim(strings.Join(cells, ""), "-: ") == "": // the |---| line
		default:
			cur.rows = append(cur.rows, cells)
		}
	}
	return out
}

// tableWith returns the document's table whose first header cell is first.
func tableWith(t *testing.T, tables []docTable, first string) docTable {
	t.Helper()
	for _, tb := range tables {
		if len(tb.header) > 0 && tb.header[0] == first {
			return tb
		}
	}
	t.Fatalf("SCALING.md has no table whose first column is %q", first)
	return docTable{}
}

// number reads a figure as the docs write it: 1,631,944 or 2.1 or 0.35x.
func number(s string) (float64, error) {
	return strconv.ParseFloat(strings.TrimSuffix(strings.ReplaceAll(s, ",", ""), "x"), 64)
}

// benchCell finds, in the section of RESULTS.md headed "## section", the one line of a results table whose
// cells (split at runs of two or more spaces, as the tables are printed) include every key, and returns its
// cell in column, the nearest header line above it naming.
func benchCell(results, section string, keys []string, column string) (string, error) {
	var lines []string
	in := false
	for _, line := range strings.Split(results, "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			in = h == section
			continue
		}
		if in {
			lines = append(lines, line)
		}
	}
	if lines == nil {
		return "", fmt.Errorf("bench/RESULTS.md has no section %q", section)
	}
	split := regexp.MustCompile(`\s{2,}`)
	cellsOf := func(line string) []string { return split.Split(strings.TrimSpace(line), -1) }
	found := -1
	for i, line := range lines {
		cells := cellsOf(line)
		all := true
		for _, k := range keys {
			all = all && containsCell(cells, k)
		}
		if all {
			if found >= 0 {
				return "", fmt.Errorf("section %q: more than one row has the cells %q", section, keys)
			}
			found = i
		}
	}
	if found < 0 {
		return "", fmt.Errorf("section %q: no row has the cells %q", section, keys)
	}
	row := cellsOf(lines[found])
	for i := found - 1; i >= 0; i-- {
		header := cellsOf(lines[i])
		for j, h := range header {
			if h == column && len(header) == len(row) {
				return row[j], nil
			}
		}
	}
	return "", fmt.Errorf("section %q: no header with column %q above the row %q", section, column, keys)
}

func containsCell(cells []string, want string) bool {
	for _, c := range cells {
		if c == want {
			return true
		}
	}
	return false
}

// scalingInputs reads SCALING.md's inputs table, checks each figure against the RESULTS.md cell it cites, and
// returns the figures by id.
func scalingInputs(t *testing.T, tables []docTable) map[string]float64 {
	t.Helper()
	results, err := os.ReadFile("../bench/RESULTS.md")
	if err != nil {
		t.Fatal(err)
	}
	inputs := tableWith(t, tables, "id")
	backticked := regexp.MustCompile("`([^`]+)`")
	out := map[string]float64{}
	for _, r := range inputs.rows {
		if len(r) != 4 {
			t.Fatalf("inputs row %q: want 4 cells (id, figure, value, where in bench/RESULTS.md)", r)
		}
		id, value, cite := r[0], r[2], r[3]
		parts := strings.Split(cite, " › ")
		if len(parts) != 3 {
			t.Errorf("input %s: the citation %q is not `section › row cells › column`", id, cite)
			continue
		}
		var keys []string
		for _, m := range backticked.FindAllStringSubmatch(parts[1], -1) {
			keys = append(keys, m[1])
		}
		got, err := benchCell(string(results), parts[0], keys, parts[2])
		if err != nil {
			t.Errorf("input %s (%s): %v", id, r[1], err)
			continue
		}
		want, err1 := number(value)
		have, err2 := number(got)
		if err1 != nil || err2 != nil || want != have {
			t.Errorf("input %s (%s) is %s in SCALING.md but %s in bench/RESULTS.md (%s)", id, r[1], value, got, cite)
		}
		out[id] = want
	}
	return out
}

// TestScalingInputsAreMeasured checks every input of SCALING.md against bench/RESULTS.md.
func TestScalingInputsAreMeasured(t *testing.T) {
	doc, err := os.ReadFile("SCALING.md")
	if err != nil {
		t.Fatal(err)
	}
	if in := scalingInputs(t, markdownTables(string(doc))); len(in) < 10 {
		t.Errorf("SCALING.md's inputs table has %d figures; want every figure the arithmetic uses", len(in))
	}
}

// TestScalingArithmetic recomputes SCALING.md's derived tables from its inputs.
func TestScalingArithmetic(t *testing.T) {
	doc, err := os.ReadFile("SCALING.md")
	if err != nil {
		t.Fatal(err)
	}
	tables := markdownTables(string(doc))
	in := scalingInputs(t, tables)
	if t.Failed() {
		return
	}
	// check compares a cell with the value recomputed, as the doc rounds it: to decimals places.
	check := func(what, cell string, want float64, decimals int) {
		t.Helper()
		got, err := number(cell)
		p := math.Pow(10, float64(decimals))
		if err != nil || math.Round(want*p) != math.Round(got*p) {
			t.Errorf("%s: SCALING.md says %s, the inputs give %.*f", what, cell, decimals, want)
		}
	}
	rate := tableWith(t, tables, "load")
	rates, dayRows := map[string]float64{}, 0.0
	for _, r := range rate.rows {
		rows, err1 := number(r[1])
		secs, err2 := number(r[2])
		if err1 != nil || err2 != nil {
			t.Fatalf("load row %q: rows and seconds must be numbers", r)
		}
		check("load "+r[0], r[3], rows/secs, 0)
		rates[r[0]] = rows / secs
		dayRows = rows
	}
	day, night := rates["a day, spread over 24 h"], rates["a day, in a nightly window of 8 h"]
	if day == 0 || night == 0 {
		t.Fatalf("the load table lacks the 24 h or the 8 h row: %v", rates)
	}

	// Workers and cores: per source, its inputs (rows/s of the run, workers of the run, rows, CPU seconds).
	sizing := tableWith(t, tables, "source → loader")
	if len(sizing.rows) < 5 {
		t.Errorf("the sizing table has %d sources", len(sizing.rows))
	}
	for _, r := range sizing.rows {
		// Columns: source, inputs, workers in the run, rows/s per worker, rows per CPU-s, workers 24 h, cores 24 h,
		// workers 8 h, cores 8 h.
		// The inputs cell is "RATE; ROWS ÷ CPU", each an input's id or a number (PostgreSQL: 1e9 ÷ ns a row).
		terms := strings.Fields(strings.NewReplacer(";", " ", "÷", " ").Replace(r[1]))
		if len(terms) != 3 {
			t.Errorf("sizing %s: the inputs cell %q is not `rate; rows ÷ CPU`", r[0], r[1])
			continue
		}
		var v [3]float64
		for i, term := range terms {
			if x, ok := in[term]; ok {
				v[i] = x
			} else if x, err := number(term); err == nil {
				v[i] = x
			} else {
				t.Errorf("sizing %s: %q is neither an input's id nor a number", r[0], term)
			}
		}
		workers, err := number(r[2])
		if err != nil {
			t.Errorf("sizing %s: workers %q", r[0], r[2])
			continue
		}
		perWorker := v[0] / workers
		perCPU := v[1] / v[2]
		check("sizing "+r[0]+", rows/s per worker", r[3], perWorker, 0)
		check("sizing "+r[0]+", rows per CPU-s", r[4], perCPU, 0)
		check("sizing "+r[0]+", workers 24 h", r[5], math.Ceil(day/perWorker), 0)
		check("sizing "+r[0]+", cores 24 h", r[6], day/perCPU, 1)
		check("sizing "+r[0]+", workers 8 h", r[7], math.Ceil(night/perWorker), 0)
		check("sizing "+r[0]+", cores 8 h", r[8], night/perCPU, 1)
	}

	// Partitions and the state store, for the PostgreSQL source (input a: rows/s of one worker) over the nightly
	// window: ops a partition = 4 + renewals (the engine's renewal interval of its default lease); server CPU % of a
	// core = ops/s × µs/op (input o) ÷ 10⁴.
	renewEvery := engine.RenewInterval(engine.DefaultLease).Seconds()
	parts := tableWith(t, tables, "rows a partition")
	for _, r := range parts.rows {
		size, err := number(r[0])
		if err != nil {
			t.Errorf("partitions row %q: size", r)
			continue
		}
		perDay := dayRows / size
		perSec := night / size
		secs := size / in["a"]
		renewals := math.Floor(secs / renewEvery)
		ops := 4 + renewals
		check(r[0]+" rows a partition: partitions a day", r[1], perDay, 0)
		check(r[0]+" rows a partition: partitions/s", r[2], perSec, 2)
		check(r[0]+" rows a partition: seconds a partition", r[3], secs, 2)
		check(r[0]+" rows a partition: renewals", r[4], renewals, 0)
		check(r[0]+" rows a partition: store operations/s", r[5], perSec*ops, 1)
		check(r[0]+" rows a partition: store server CPU % of a core", r[6], perSec*ops*in["o"]/1e4, 1)
	}

	// The store's limits that are arithmetic: a dedicated core's partitions/s, the smallest partition.
	limits := tableWith(t, tables, "state-store limit")
	checked := 0
	for _, r := range limits.rows {
		switch r[1] {
		case "10⁶ ÷ p":
			check("limit "+r[0], r[2], 1e6/in["p"], 0)
			checked++
		case "141e9 ÷ (q × 28,800)":
			check("limit "+r[0], r[2], dayRows/(in["q"]*28800), 0)
			checked++
		}
	}
	if checked != 2 {
		t.Errorf("the state-store limit table has %d of its 2 computed rows", checked)
	}
}
