package postgres

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/jackc/pgx/v5"

	"github.com/jetflow-dev/jetflow/arrowtype"
)

// kind says how a column's binary values are decoded; the read loop switches on it (no interface call per value).
type kind uint8

const (
	kBool kind = iota
	kInt16
	kInt32
	kInt64
	kOID
	kFloat32
	kFloat64
	kDecimal       // numeric(p,s), p <= 38
	kNumericString // unconstrained numeric, or a precision above 38
	kText          // text, varchar, bpchar, name, "char", json, xml, enum labels
	kJSONB
	kBytea
	kUUID
	kDate
	kTime
	kTimestamp   // timestamp without time zone
	kTimestampTZ // timestamptz
	kInterval
	kInet
	kList
	kStruct
	kTID // only a partition bound (by: ctid): no column is decoded as one
)

// pgType is a resolved source type: what the server sends and the Arrow type it becomes.
type pgType struct {
	oid         uint32 // the type the server sends for it (a domain's base type)
	name        string // as format_type prints it, for errors
	kind        kind
	dt          arrow.DataType
	prec, scale int32   // kDecimal
	elem        *pgType // kList
	fields      []pgField
}

type pgField struct {
	name string
	typ  *pgType
}

// Built-in type OIDs (pg_type.dat); they are fixed across server versions.
const (
	oidBool        = 16
	oidBytea       = 17
	oidChar        = 18
	oidName        = 19
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidOID         = 26
	oidJSON        = 114
	oidXML         = 142
	oidCIDR        = 650
	oidFloat4      = 700
	oidFloat8      = 701
	oidInet        = 869
	oidBpchar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestampTZ = 1184
	oidInterval    = 1186
	oidNumeric     = 1700
	oidUUID        = 2950
	oidJSONB       = 3802
)

var (
	tsUTC   = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	tsNaive = &arrow.TimestampType{Unit: arrow.Microsecond}
)

// maxDepth bounds the nesting of domains, arrays and composites the resolver follows.
const maxDepth = 16

// resolver maps type OIDs to pgTypes through the catalog, for the columns of one table or query.
type resolver struct {
	conn *pgx.Conn
}

// resolve finds what a value of type oid with modifier typmod becomes. column names it in errors.
func (r *resolver) resolve(ctx context.Context, column string, oid uint32, typmod int32, depth int) (*pgType, error) {
	t, err := r.resolveType(ctx, column, oid, typmod, depth)
	if err == nil && t.oid == 0 {
		t.oid = oid // a domain's type already has its base type's oid, which is what the server sends
	}
	return t, err
}

func (r *resolver) resolveType(ctx context.Context, column string, oid uint32, typmod int32, depth int) (*pgType, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("column %q: types nested more than %d deep", column, maxDepth)
	}
	var (
		name              string
		typtype, category string
		base, elem, relid uint32
		baseTypmod        int32
	)
	err := r.conn.QueryRow(ctx, `SELECT format_type(t.oid, $2), t.typtype::text, t.typcategory::text, t.typbasetype,
		t.typtypmod, t.typelem, t.typrelid FROM pg_catalog.pg_type t WHERE t.oid = $1`, oid, typmod).
		Scan(&name, &typtype, &category, &base, &baseTypmod, &elem, &relid)
	if err != nil {
		return nil, fmt.Errorf("column %q: look up type oid %d in pg_type: %w", column, oid, err)
	}
	switch {
	case typtype == "d": // a domain reads as its base type, with the domain's modifier unless the column has one
		if typmod < 0 {
			typmod = baseTypmod
		}
		return r.resolve(ctx, column, base, typmod, depth+1)
	case typtype == "e":
		return &pgType{name: name, kind: kText, dt: arrow.BinaryTypes.String}, nil
	case typtype == "c":
		return r.composite(ctx, column, name, relid, depth)
	case category == "A" && elem != 0:
		// An array column's modifier applies to its elements (numeric(10,2)[]).
		et, err := r.resolve(ctx, column, elem, typmod, depth+1)
		if err != nil {
			return nil, err
		}
		return &pgType{name: name, kind: kList, dt: arrow.ListOf(et.dt), elem: et}, nil
	}
	t := builtin(oid, typmod)
	if t == nil {
		return nil, fmt.Errorf("unsupported type %s in column %q: cast it to a supported type in a query: "+
			"(SELECT ..., %s::text AS %s FROM ...)", name, column, pgx.Identifier{column}.Sanitize(), pgx.Identifier{column}.Sanitize())
	}
	t.name = name
	return t, nil
}

func (r *resolver) composite(ctx context.Context, column, name string, relid uint32, depth int) (*pgType, error) {
	rows, err := r.conn.Query(ctx, `SELECT a.attname::text, a.atttypid, a.atttypmod FROM pg_catalog.pg_attribute a
		WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, relid)
	if err != nil {
		return nil, fmt.Errorf("column %q: fields of composite type %s: %w", column, name, err)
	}
	type att struct {
		name   string
		oid    uint32
		typmod int32
	}
	var atts []att
	for rows.Next() {
		var a att
		if err := rows.Scan(&a.name, &a.oid, &a.typmod); err != nil {
			rows.Close()
			return nil, fmt.Errorf("column %q: fields of composite type %s: %w", column, name, err)
		}
		atts = append(atts, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("column %q: fields of composite type %s: %w", column, name, err)
	}
	t := &pgType{name: name, kind: kStruct}
	afs := make([]arrow.Field, len(atts))
	for i, a := range atts {
		ft, err := r.resolve(ctx, column+"."+a.name, a.oid, a.typmod, depth+1)
		if err != nil {
			return nil, err
		}
		t.fields = append(t.fields, pgField{name: a.name, typ: ft})
		afs[i] = arrow.Field{Name: a.name, Type: ft.dt, Nullable: true}
	}
	t.dt = arrow.StructOf(afs...)
	return t, nil
}

// builtins maps the base types the consumer reads, by the OID the server sends, to how their values are decoded
// and the Arrow type they become. numeric is not here: its Arrow type follows the column's modifier.
var builtins = map[uint32]struct {
	kind kind
	dt   arrow.DataType
}{
	oidBool:        {kBool, arrow.FixedWidthTypes.Boolean},
	oidInt2:        {kInt16, arrow.PrimitiveTypes.Int16},
	oidInt4:        {kInt32, arrow.PrimitiveTypes.Int32},
	oidInt8:        {kInt64, arrow.PrimitiveTypes.Int64},
	oidOID:         {kOID, arrow.PrimitiveTypes.Uint32},
	oidFloat4:      {kFloat32, arrow.PrimitiveTypes.Float32},
	oidFloat8:      {kFloat64, arrow.PrimitiveTypes.Float64},
	oidText:        {kText, arrow.BinaryTypes.String},
	oidVarchar:     {kText, arrow.BinaryTypes.String},
	oidBpchar:      {kText, arrow.BinaryTypes.String},
	oidName:        {kText, arrow.BinaryTypes.String},
	oidChar:        {kText, arrow.BinaryTypes.String},
	oidJSON:        {kText, arrowtype.JSON()},
	oidXML:         {kText, arrow.BinaryTypes.String},
	oidJSONB:       {kJSONB, arrowtype.JSON()},
	oidBytea:       {kBytea, arrow.BinaryTypes.Binary},
	oidUUID:        {kUUID, extensions.NewUUIDType()},
	oidDate:        {kDate, arrow.FixedWidthTypes.Date32},
	oidTime:        {kTime, arrow.FixedWidthTypes.Time64us},
	oidTimestamp:   {kTimestamp, tsNaive},
	oidTimestampTZ: {kTimestampTZ, tsUTC},
	oidInterval:    {kInterval, arrow.FixedWidthTypes.MonthDayNanoInterval},
	oidInet:        {kInet, arrow.BinaryTypes.String},
	oidCIDR:        {kInet, arrow.BinaryTypes.String},
}

// builtin maps a base type; nil when it is not supported.
func builtin(oid uint32, typmod int32) *pgType {
	if oid == oidNumeric {
		if p, s, ok := numericTypmod(typmod); ok && p <= 38 && s >= 0 && s <= p {
			return &pgType{kind: kDecimal, dt: &arrow.Decimal128Type{Precision: p, Scale: s}, prec: p, scale: s}
		}
		return &pgType{kind: kNumericString, dt: arrow.BinaryTypes.String}
	}
	b, ok := builtins[oid]
	if !ok {
		return nil
	}
	return &pgType{kind: b.kind, dt: b.dt}
}

// numericTypmod decodes numeric(p,s)'s modifier; ok is false for an unconstrained numeric. Since PostgreSQL 15
// the scale is an 11-bit signed number (it may be negative or exceed p).
func numericTypmod(typmod int32) (p, s int32, ok bool) {
	if typmod < 4 {
		return 0, 0, false
	}
	t := typmod - 4
	p = (t >> 16) & 0xffff
	s = ((t & 0x7ff) ^ 1024) - 1024
	return p, s, true
}
