package stage

import (
	"errors"
	"fmt"
)

// FieldError is a config error at a key of a stage's config, such as "partition.every" or "columns[2].type".
// The pipeline loader turns Path into the file, line and column of that key.
type FieldError struct {
	Path string
	Err  error
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Err.Error()
	}
	return e.Path + ": " + e.Err.Error()
}

func (e *FieldError) Unwrap() error { return e.Err }

// FieldErrorf builds a FieldError for the key at path.
func FieldErrorf(path, format string, args ...any) error {
	return &FieldError{Path: path, Err: fmt.Errorf(format, args...)}
}

// ValueError is an error at a position inside a config value's text, such as a syntax error in an expression.
// Wrapped in a FieldError for the key holding that value, it lets the pipeline loader point at the file's
// line:col of that character instead of at the value's start.
type ValueError interface {
	error
	// ValueOffset is the byte offset of the error in the value's text, as decoded from YAML.
	ValueOffset() int
	// Detail is the message without the position inside the value, printed once the file position replaces it.
	Detail() string
}

// ValueErrorOf finds the ValueError inside err, if any.
func ValueErrorOf(err error) (ValueError, bool) {
	var ve ValueError
	if errors.As(err, &ve) {
		return ve, true
	}
	return nil, false
}

// FieldErrors returns every FieldError inside err (joined errors included), and the errors that name no field.
func FieldErrors(err error) (fields []*FieldError, other []error) {
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		var fe *FieldError
		if errors.As(e, &fe) && fe == e {
			fields = append(fields, fe)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		if errors.As(e, &fe) {
			fields = append(fields, fe)
			return
		}
		other = append(other, e)
	}
	walk(err)
	return fields, other
}

// Permanent marks err as one no retry can fix — a value that does not fit its column, a record field the
// pipeline refuses, a schema the destination rejects — so the engine fails the partition at once instead of
// reading it again attempts times. It returns nil for nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// IsPermanent tells whether err, or an error it wraps, was marked by Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
