// query.mjs runs one SQL statement in an in-memory DuckDB and prints the result rows to stdout as one JSON array
// of objects, every value a string, so that the Go side (testkit.DuckDBQuery) compares exact text:
//   BIGINT, HUGEINT, DECIMAL, DATE, TIMESTAMP[TZ] -> DuckDB's own text ("12345678901234567", "12.5000",
//                                                   "2026-11-22 13:45:00.123456+00"), never through a JS float;
//   DOUBLE/FLOAT -> the shortest text that round-trips the double; BOOLEAN -> "true"/"false";
//   LIST/STRUCT/MAP -> compact JSON with the same rules inside;  NULL -> the key is left out of the row.
// Usage: node query.mjs "SELECT count(*) AS n FROM read_parquet('out/**/*.parquet')", or the statement on stdin
// with no argument (a statement naming thousands of files is longer than one argument may be).
import { DuckDBInstance } from '@duckdb/node-api';
import { readFileSync } from 'node:fs';

const sql = process.argv.length === 2 ? readFileSync(0, 'utf8') : process.argv[2];
if (!sql || !sql.trim() || process.argv.length > 3) {
  console.error('usage: node query.mjs "<one SQL statement>" (or the statement on stdin)');
  process.exit(2);
}

function text(v) {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

try {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  // Timestamps with a zone print in the session zone; pin it so output does not depend on the machine.
  await conn.run("SET TimeZone = 'UTC'");
  const reader = await conn.runAndReadAll(sql);
  const rows = reader.getRowObjectsJson().map((row) => {
    const out = {};
    for (const [k, v] of Object.entries(row)) {
      if (v !== null && v !== undefined) out[k] = text(v);
    }
    return out;
  });
  process.stdout.write(JSON.stringify(rows) + '\n');
  conn.closeSync();
  instance.closeSync();
} catch (err) {
  console.error(`duckdb: ${err && err.message ? err.message : err}`);
  process.exit(1);
}
