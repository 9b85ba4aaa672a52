// Package records compares, prints and reads back Arrow records: the canonical cell text, the record diff, and
// the Parquet reader that `jetflow test` and testkit share. It does not import testing, so the product binary
// can use it; testkit's assertions are thin layers over it.
package records
