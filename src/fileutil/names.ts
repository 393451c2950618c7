// The number format of etcd's file names: WAL segments are
// `%016x-%016x.wal` and snapshots `%016x-%016x.snap`, so both the WAL and the
// snapshotter spell numbers the same way (and lexicographic order of the names
// is numeric order, which both rely on when they list a directory).

/** 16 lowercase hex digits, zero-padded. */
export function hex16(n: number): string {
  return n.toString(16).padStart(16, "0");
}
