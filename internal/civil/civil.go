// Package civil converts between days since 1970-01-01 and proleptic Gregorian dates with integer arithmetic
// (Howard Hinnant's algorithms): no time.Time, no zone lookup, for per-row work on UTC dates and timestamps.
package civil

// FloorDiv divides rounding toward negative infinity, so that times before 1970 fall into the day, hour or
// unit they belong to (Go's / rounds toward zero).
func FloorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// FromDays converts days since 1970-01-01 to year, month (1-12) and day (1-31).
func FromDays(days int64) (y int64, m, d int) {
	z := days + 719468
	era := FloorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		m = int(mp + 3)
	} else {
		m = int(mp - 9)
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

// Days is the inverse of FromDays: days since 1970-01-01 of year y, month m (1-12), day d.
func Days(y int64, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := FloorDiv(y, 400)
	yoe := y - era*400
	mm := int64(m) + 9
	if m > 2 {
		mm = int64(m) - 3
	}
	doy := (153*mm+2)/5 + int64(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}
