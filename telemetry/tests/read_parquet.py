"""Reads every *.parquet file of a directory with pyarrow -- a reader independent of the Rust
parquet crate that wrote them -- and prints what it found as one JSON document, for
telemetry/tests/parquet_archive.rs to check:

  {"files": [{"name", "rows", "row_groups", "created_by",
              "columns": [[name, pyarrow type], ...],
              "values": {column: [value, ...]}}, ...],
   "other": [names of files that are not *.parquet]}

Values: timestamps and durations as integers in their unit (so nothing is rounded), maps as
JSON objects, binary as hex, null as null. Usage: python read_parquet.py DIR
"""

import json
import pathlib
import sys

import pyarrow as pa
import pyarrow.parquet as pq


def values(column):
    t = column.type
    if pa.types.is_timestamp(t) or pa.types.is_duration(t):
        return column.cast(pa.int64()).to_pylist()
    if pa.types.is_map(t):
        return [None if m is None else dict(m) for m in column.to_pylist()]
    if pa.types.is_binary(t):
        return [None if b is None else b.hex() for b in column.to_pylist()]
    return column.to_pylist()


def main(directory):
    out = {"files": [], "other": []}
    for path in sorted(pathlib.Path(directory).iterdir()):
        if path.suffix != ".parquet":
            out["other"].append(path.name)
            continue
        meta = pq.ParquetFile(path).metadata
        table = pq.read_table(path)
        out["files"].append(
            {
                "name": path.name,
                "rows": table.num_rows,
                "row_groups": meta.num_row_groups,
                "created_by": meta.created_by,
                "columns": [[f.name, str(f.type)] for f in table.schema],
                "values": {n: values(table.column(n)) for n in table.column_names},
            }
        )
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
