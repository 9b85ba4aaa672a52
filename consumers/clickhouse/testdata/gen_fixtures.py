#!/usr/bin/env python3
"""Generates the Native-format fixtures of types the test server (ClickHouse 18.16) lacks.

Run once by hand, not in CI; the .native files it writes are committed:

    mkdir -p /tmp/chdb && (cd /tmp/chdb && npm install @chdb/lib-linux-x64-gnu)
    python3 consumers/clickhouse/testdata/gen_fixtures.py /tmp/chdb/node_modules/@chdb/lib-linux-x64-gnu/libchdb.so

libchdb.so is ClickHouse (26.x) in-process; each fixture is the output of `SELECT ... FORMAT Native`, decoded in the
tests by ch-go's block reader through the consumer's conversion code. The queries are in FIXTURES below; the tests
hold the values each one must decode to.
"""
import ctypes
import os
import sys

FIXTURES = {
    # Types that arrived after 18.16, one column each, with a NULL or edge value where the type allows one.
    # Every type 18.16 has as well, so plain `go test` (no server) covers the whole conversion.
    "common": """
SELECT
    toInt8(-1 * number) AS i8, toInt16(-300 * number) AS i16, toInt32(-70000 * number) AS i32,
    toInt64(-5000000000 * number) AS i64, toUInt8(200 + number) AS u8, toUInt16(60000 + number) AS u16,
    toUInt32(4000000000 + number) AS u32, toUInt64(18446744073709551615 - number) AS u64,
    toFloat32(1.5 * number) AS f32, toFloat64(-2.25 * number) AS f64,
    's' || toString(number) AS s, toFixedString('ab' || toString(number), 4) AS fs,
    toDate('2026-11-22') + number AS d, CAST(toDateTime('2026-11-22 10:00:00', 'Asia/Tokyo') + number AS DateTime('Asia/Tokyo')) AS dt,
    toDateTime('2026-11-22 10:00:00', 'UTC') AS dt_utc,
    toDecimal32(-1.5, 2) AS dec32, toDecimal64(12345678.123456, 6) AS dec64,
    toDecimal128('-1234567890123456789012345.678', 3) AS dec128,
    toUUID('01234567-89ab-cdef-0123-456789abcdef') AS u,
    CAST(if(number = 0, 'a', 'b') AS Enum8('a' = -5, 'b' = 7)) AS e8,
    CAST('y' AS Enum16('x' = -1000, 'y' = 1000)) AS e16,
    CAST('v' || toString(number % 2) AS LowCardinality(String)) AS lc,
    if(number = 1, NULL, toInt32(number)) AS ni32,
    if(number = 1, NULL, 'n' || toString(number)) AS ns,
    range(number) AS arr,
    [if(number = 0, NULL, 'x'), 'y'] AS arr_ns,
    [[toInt64(number)], [], [1, 2]] AS arr2,
    tuple(toInt8(number), 'str', [toUInt16(1)]) AS tup,
    CAST(tuple(number, 'n') AS Tuple(id UInt64, name String)) AS named,
    NULL AS nothing
FROM numbers(3)
""",
    "modern": """
SELECT
    toDateTime64('2026-11-22 01:02:03.456789', 6, 'Europe/Paris') + toIntervalSecond(number) AS dt64_us,
    toDateTime64('2026-11-22 01:02:03.123', 3, 'UTC') AS dt64_ms,
    toDateTime64('2026-11-22 01:02:03.123456789', 9, 'UTC') AS dt64_ns,
    toDateTime64('2026-11-22 01:02:03.12', 2, 'UTC') AS dt64_cs,
    CAST(number % 2 = 0 AS Bool) AS b,
    toIPv4('10.0.0.' || toString(number + 1)) AS ip4,
    toIPv6('2001:db8::' || toString(number + 1)) AS ip6,
    map('k' || toString(number), number, 'z', 100 + number) AS m,
    CAST(if(number = 1, NULL, 'v' || toString(number % 2)) AS LowCardinality(Nullable(String))) AS lcn,
    toDate32('1900-01-01') + number AS d32,
    toInt128('-170141183460469231731687303715884105728') + number AS i128,
    toUInt128(number) * toUInt128('1000000000000000000000') AS u128,
    toInt256(-1) * (number + 1) * toInt256('100000000000000000000000000000000000000000') AS i256,
    CAST(toUInt256('115792089237316195423570985008687907853269984665640564039457584007913129639935') - number AS UInt256) AS u256,
    toDecimal256('-12345678901234567890123456789012345678901234567890.12', 2) AS dec256,
    CAST(if(number = 2, NULL, number) AS Nullable(Bool)) AS nb,
    [map('a', [toIPv4('1.2.3.4')])] AS nested
FROM numbers(3)
""",
}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    lib = ctypes.CDLL(sys.argv[1])
    lib.chdb_connect.restype = ctypes.c_void_p
    lib.chdb_connect.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
    lib.chdb_query.restype = ctypes.c_void_p
    lib.chdb_query.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    lib.chdb_result_buffer.restype = ctypes.POINTER(ctypes.c_char)
    lib.chdb_result_buffer.argtypes = [ctypes.c_void_p]
    lib.chdb_result_length.restype = ctypes.c_size_t
    lib.chdb_result_length.argtypes = [ctypes.c_void_p]
    lib.chdb_result_error.restype = ctypes.c_char_p
    lib.chdb_result_error.argtypes = [ctypes.c_void_p]
    lib.chdb_destroy_query_result.argtypes = [ctypes.c_void_p]
    lib.chdb_close_conn.argtypes = [ctypes.c_void_p]

    args = (ctypes.c_char_p * 1)(b"clickhouse")
    connp = lib.chdb_connect(1, args)
    if not connp:
        sys.exit("chdb_connect failed")
    conn = ctypes.cast(connp, ctypes.POINTER(ctypes.c_void_p)).contents.value
    out_dir = os.path.dirname(os.path.abspath(__file__))
    for name, sql in FIXTURES.items():
        res = lib.chdb_query(conn, sql.encode(), b"Native")
        err = lib.chdb_result_error(res)
        if err:
            sys.exit(f"{name}: {err.decode()}")
        n = lib.chdb_result_length(res)
        data = ctypes.string_at(lib.chdb_result_buffer(res), n)
        with open(os.path.join(out_dir, name + ".native"), "wb") as f:
            f.write(data)
        print(f"{name}.native: {n} bytes")
        lib.chdb_destroy_query_result(res)
    lib.chdb_close_conn(connp)


if __name__ == "__main__":
    main()
