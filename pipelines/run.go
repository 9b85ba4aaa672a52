package pipelines

import (
	"fmt"
	"time"

	"github.com/jetflow-dev/jetflow/stage"
)

const day = 24 * time.Hour

// StreamRun is the run instance of a stream: open-ended, labelled "stream".
func StreamRun() stage.RunInstance { return stage.RunInstance{Label: "stream"} }

// LabelLayout is the time layout of this pipeline's run instance labels: a date for whole days, an hour for
// whole hours, a minute otherwise.
func (p *Pipeline) LabelLayout() string {
	every := p.RunInstance.Every.D()
	switch {
	case every%day == 0:
		return "2006-01-02"
	case every%time.Hour == 0:
		return "2006-01-02T15"
	}
	return "2006-01-02T15:04"
}

func (p *Pipeline) loc() *time.Location {
	if p.Location != nil {
		return p.Location
	}
	return time.UTC
}

// ParseRun reads a run instance label ("2026-11-22", "2026-11-22T13", "2026-11-22T13:15"; "today" and
// "yesterday" for a daily pipeline) and checks it is aligned to run_instance.every.
func (p *Pipeline) ParseRun(s string) (stage.RunInstance, error) { return p.ParseRunAt(s, time.Now()) }

// ParseRunAt is ParseRun with "today" and "yesterday" taken relative to now.
func (p *Pipeline) ParseRunAt(s string, now time.Time) (stage.RunInstance, error) {
	every, layout, loc := p.RunInstance.Every.D(), p.LabelLayout(), p.loc()
	if every == day {
		switch s {
		case "today":
			return p.instance(p.containing(now)), nil
		case "yesterday":
			return p.PreviousRun(now), nil
		}
	}
	start, err := time.ParseInLocation(layout, s, loc)
	if err != nil {
		hint := ""
		if every == day {
			hint = ", today or yesterday"
		}
		return stage.RunInstance{}, fmt.Errorf("%q is not a run instance of pipeline %s: want the form %s%s (run_instance.every: %s)",
			s, p.Name, layout, hint, fmtDuration(p.RunInstance.Every.D()))
	}
	if start.Format(layout) != s {
		// The wall-clock time does not exist here: clocks skip it when daylight saving time begins.
		return stage.RunInstance{}, fmt.Errorf("%s does not exist in time zone %s (the clocks skip it)", s, loc)
	}
	if aligned := p.containing(start); !aligned.Equal(start) {
		next := p.step(aligned, 1)
		return stage.RunInstance{}, fmt.Errorf("%s is not aligned to every: %s; the nearest run instances are %s and %s",
			s, fmtDuration(p.RunInstance.Every.D()), aligned.Format(layout), next.Format(layout))
	}
	return p.instance(start), nil
}

// PreviousRun is the last run instance that is complete at now: the default of `jetflow run`.
func (p *Pipeline) PreviousRun(now time.Time) stage.RunInstance {
	return p.instance(p.step(p.containing(now), -1))
}

// containing is the start, in the pipeline's zone, of the run instance that holds t. Instances follow the wall
// clock: a daily one runs from local midnight to local midnight, whatever daylight saving time does.
func (p *Pipeline) containing(t time.Time) time.Time {
	every, loc := p.RunInstance.Every.D(), p.loc()
	t = t.In(loc)
	y, m, d := t.Date()
	if every%day == 0 {
		n := int64(every / day)
		// Multi-day instances are aligned on days since 1970-01-01, so the grid never depends on the year.
		days := civilDays(y, m, d)
		off := ((days % n) + n) % n
		return time.Date(y, m, d-int(off), 0, 0, 0, 0, loc)
	}
	mins := int64(every / time.Minute)
	sinceMidnight := int64(t.Hour()*60 + t.Minute())
	aligned := sinceMidnight - sinceMidnight%mins
	return time.Date(y, m, d, 0, int(aligned), 0, 0, loc)
}

// step moves a run instance start by k instances, on the wall clock.
func (p *Pipeline) step(start time.Time, k int) time.Time {
	every := p.RunInstance.Every.D()
	y, m, d := start.Date()
	if every%day == 0 {
		return time.Date(y, m, d+k*int(every/day), 0, 0, 0, 0, start.Location())
	}
	return time.Date(y, m, d, start.Hour(), start.Minute()+k*int(every/time.Minute), 0, 0, start.Location())
}

func (p *Pipeline) instance(start time.Time) stage.RunInstance {
	return stage.RunInstance{
		Start: start.UTC(),
		End:   p.step(start, 1).UTC(),
		Label: start.Format(p.LabelLayout()),
	}
}

// civilDays counts days from 1970-01-01 to the date, in the proleptic Gregorian calendar.
func civilDays(y int, m time.Month, d int) int64 {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}
