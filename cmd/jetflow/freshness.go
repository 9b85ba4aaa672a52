package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jetflow-dev/jetflow/engine"
	"github.com/jetflow-dev/jetflow/internal/notify"
	"github.com/jetflow-dev/jetflow/pipelines"
	"github.com/jetflow-dev/jetflow/state"
	"github.com/jetflow-dev/jetflow/state/stores"
)

// freshnessRow is one pipeline's line of check-freshness.
type freshnessRow struct {
	Pipeline    string     `json:"pipeline"`
	Status      string     `json:"status"` // fresh, late, unchecked (no freshness.warn_after) or error
	LastSuccess *time.Time `json:"last_success"`
	AgeSeconds  float64    `json:"age_seconds,omitempty"`
	WarnAfter   float64    `json:"warn_after_seconds,omitempty"`
	// Notified says what became of the freshness notification of a late pipeline: sent, already (sent
	// earlier in this lateness episode), failed, or none (no target wants freshness events).
	Notified string `json:"notified,omitempty"`
	Error    string `json:"error,omitempty"`
}

func cmdCheckFreshness(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c commonFlags
	fs := newFlagSet("check-freshness", "check-freshness [--format text|json] DIR|FILE...", `  jetflow check-freshness pipelines/                  # from cron, every 15 minutes
  jetflow check-freshness --format json pipelines/ | jq '.[] | select(.status == "late")'
`, stderr)
	c.register(fs)
	format := fs.String("format", "text", "output: text (a table) or json")
	paths, err := parsePaths(fs, args)
	if err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return withCode(exitInvalid, fmt.Errorf("--format %s: want text or json", *format))
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	// Only what this command uses must resolve: a cron host needs no source or destination credentials.
	o := pipelines.Options{Redactor: redactorOf(stderr), Strict: []string{"name", "state", "notify", "freshness"}}
	ps, err := o.LoadPaths(paths...)
	if err != nil {
		return withCode(exitInvalid, err)
	}
	slices.SortFunc(ps, func(a, b *pipelines.Pipeline) int { return strings.Compare(a.Name, b.Name) })
	now := time.Now()
	open := map[stores.Config]state.Store{}
	defer func() {
		for _, s := range open {
			s.Close()
		}
	}()
	rows := make([]freshnessRow, 0, len(ps))
	late, broken := 0, 0
	for _, p := range ps {
		row := freshnessRow{Pipeline: p.Name, Status: "unchecked", WarnAfter: p.Freshness.WarnAfter.D().Seconds()}
		cfg := stores.Config{Type: p.State.Type, Path: p.State.Path, DSN: p.State.DSN.Reveal(), Schema: p.State.Schema}
		if c.statePath != "" {
			cfg.Path = c.statePath
		}
		store, ok := open[cfg]
		if !ok {
			if store, err = stores.Open(ctx, cfg); err != nil {
				row.Status, row.Error = "error", p.Redactor.Redact(err.Error())
				broken++
				rows = append(rows, row)
				continue
			}
			open[cfg] = store
		}
		out, found, err := engine.LastOutcome(ctx, store, p.Name)
		if err != nil {
			row.Status, row.Error = "error", p.Redactor.Redact(err.Error())
			broken++
			rows = append(rows, row)
			continue
		}
		f := engine.FreshnessOf(out, found, p.Freshness.WarnAfter.D(), now)
		if !f.LastSuccess.IsZero() {
			row.LastSuccess, row.AgeSeconds = &f.LastSuccess, f.Age.Seconds()
		}
		if f.WarnAfter > 0 {
			row.Status = "fresh"
			if f.Late {
				row.Status = "late"
				late++
				row.Notified = notifyLate(ctx, p, store, row, now, log)
			}
		}
		rows = append(rows, row)
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			return err
		}
	} else {
		printFreshness(stdout, rows)
	}
	switch {
	case broken > 0:
		return withCode(exitError, fmt.Errorf("%d pipeline(s) late, the state of %d could not be read", late, broken))
	case late > 0:
		return withCode(exitFailed, fmt.Errorf("%d of %d pipeline(s) late", late, len(rows)))
	}
	return nil
}

// notifyLate sends p's freshness notification, once per lateness episode: the episode is the last success
// that is too old (or none at all), recorded in the state store once a target took the message, so the next
// check sends nothing until a new success ends the episode.
func notifyLate(ctx context.Context, p *pipelines.Pipeline, store state.Store, row freshnessRow, now time.Time, log *slog.Logger) string {
	wants := slices.ContainsFunc(p.Notify, func(t notify.Target) bool { return t.Wants(notify.Freshness) })
	if !wants {
		return "none"
	}
	episode := "never"
	if row.LastSuccess != nil {
		episode = row.LastSuccess.UTC().Format(time.RFC3339Nano)
	}
	if sent, _, err := store.Watermark(ctx, p.Name, engine.FreshnessAlertRecord); err == nil && sent == episode {
		return "already"
	}
	msg := notify.NewMessage(notify.Freshness, p.Name, now)
	msg.Status = "late"
	info := &notify.FreshnessInfo{LastSuccess: row.LastSuccess, WarnAfter: row.WarnAfter}
	if row.LastSuccess != nil {
		info.Late = row.AgeSeconds - row.WarnAfter
	}
	msg.Freshness = info
	res := (&notify.Sender{Redactor: p.Redactor, Logger: log}).Send(ctx, p.Notify, msg)
	if res.Sent == 0 {
		return "failed" // tried again by the next check
	}
	if err := store.SetWatermark(context.WithoutCancel(ctx), p.Name, engine.FreshnessAlertRecord, episode); err != nil {
		log.Warn("freshness notification sent but not recorded: the next check sends it again", "pipeline", p.Name, "err", err)
	}
	if res.Failed > 0 {
		return "failed"
	}
	return "sent"
}

func printFreshness(w io.Writer, rows []freshnessRow) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PIPELINE\tSTATUS\tLAST SUCCESS\tAGE\tWARN AFTER\tNOTIFIED")
	for _, r := range rows {
		last, age, warn := "never", "-", "-"
		if r.LastSuccess != nil {
			last = r.LastSuccess.UTC().Format(time.RFC3339)
			age = fmtAge(r.AgeSeconds)
		}
		if r.WarnAfter > 0 {
			warn = fmtAge(r.WarnAfter)
		}
		status := r.Status
		if r.Error != "" {
			status += ": " + r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Pipeline, status, last, age, warn, cmp.Or(r.Notified, "-"))
	}
	tw.Flush()
}

// fmtAge prints seconds as people write a delay: 26h, 3h5m, 45s.
func fmtAge(secs float64) string {
	d := time.Duration(secs * float64(time.Second))
	if d >= time.Minute {
		d = d.Round(time.Minute)
	} else {
		d = d.Round(time.Second)
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	return strings.TrimSuffix(s, "0m")
}
