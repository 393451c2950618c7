// Exit codes of the tsraft-kv member process: one per reason an operator or a
// supervisor must tell apart. Every failure is non-zero, so a supervisor set
// to restart on failure restarts on each of them; the distinct values let it
// (or a person) decide without reading logs, e.g. systemd's
// RestartPreventExitStatus=2 4 5 6 7 for the cases a restart cannot fix.
//
// | code | name           | meaning                                                               | restart helps? |
// |------|----------------|-----------------------------------------------------------------------|----------------|
// | 0    | Ok             | stopped on request (SIGINT/SIGTERM), or --help / --version            | -              |
// | 1    | Fatal          | a fatal error while running: raft panic, WAL/disk I/O error, a bug    | maybe          |
// | 2    | BadConfig      | bad flags, environment variables or config file (ConfigError)          | no             |
// | 3    | PortInUse      | a listen URL cannot be bound (in use, not local, not permitted)       | once freed     |
// | 4    | DataDirLocked  | another process holds the data directory                              | once it exits  |
// | 5    | ForeignDataDir | the data directory belongs to another member or cluster               | no             |
// | 6    | DamagedData    | the WAL or snapshots are damaged; the member refuses to start         | no             |
// | 7    | Removed        | this member was removed from the cluster                              | no             |

/** The member process's exit status per failure reason (the table above). */
export const ExitCode = {
  Ok: 0,
  Fatal: 1,
  BadConfig: 2,
  PortInUse: 3,
  DataDirLocked: 4,
  ForeignDataDir: 5,
  DamagedData: 6,
  Removed: 7,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** One line per code, for `--help` and docs. */
export const exitCodeTable: ReadonlyArray<{ code: ExitCode; name: keyof typeof ExitCode; meaning: string }> =
  [
    { code: 0, name: "Ok", meaning: "stopped on request, or --help / --version" },
    { code: 1, name: "Fatal", meaning: "fatal error while running (raft panic, disk I/O error)" },
    { code: 2, name: "BadConfig", meaning: "bad flags, environment variables or config file" },
    { code: 3, name: "PortInUse", meaning: "a listen URL cannot be bound (port in use, address not local)" },
    { code: 4, name: "DataDirLocked", meaning: "another process holds the data directory" },
    { code: 5, name: "ForeignDataDir", meaning: "the data directory belongs to another member or cluster" },
    { code: 6, name: "DamagedData", meaning: "damaged WAL or snapshot files; refusing to start" },
    { code: 7, name: "Removed", meaning: "this member was removed from the cluster" },
  ];

/** Error codes of damage found on disk at start (tsraft/wal, tsraft/snap, tsraft/mvcc). */
const DAMAGE = new Set([
  "ERR_WAL_METADATA_CONFLICT",
  "ERR_WAL_NO_MATCHING_FILE",
  "ERR_WAL_BAD_SEQUENCE",
  "ERR_WAL_CRC_MISMATCH",
  "ERR_WAL_CORRUPT",
  "ERR_WAL_UNEXPECTED_EOF",
  "ERR_WAL_UNEXPECTED_BLOCK_TYPE",
  "ERR_WAL_SNAPSHOT_MISMATCH",
  "ERR_WAL_SNAPSHOT_NOT_FOUND",
  "ERR_WAL_SLICE_OUT_OF_RANGE",
  "ERR_WAL_BAD_NAME",
  "ERR_SNAP_NO_SNAPSHOT",
  "ERR_SNAP_EMPTY",
  "ERR_SNAP_CRC_MISMATCH",
  "ERR_SNAP_DECODE",
  "ERR_SNAP_NO_DB_SNAPSHOT",
  "ERR_DATA_DIR_DAMAGED",
  // A state machine image that does not check out (a member's snapshot, or a
  // file given to `tsraft-kv snapshot restore`).
  "ERR_MVCC_SNAPSHOT_CORRUPT",
]);

const BAD_CONFIG = new Set([
  "ERR_CONFIG",
  "ERR_KV_CONFIG",
  "ERR_INVALID_CONFIG",
  "ERR_RAFTHTTP_CONFIG",
  "ERR_HOST_INVALID_ARGUMENT",
]);

/**
 * The exit code for an error that stopped the member, from its `code` (and
 * `syscall` for Node's socket errors), looking through `cause` when the
 * error itself says no more than "fatal" (a host error wrapping a WAL CRC
 * error is DamagedData). Besides the existing codes (tsraft/host's start
 * errors among them) it maps `ERR_DATA_DIR_LOCKED`, `ERR_DATA_DIR_FOREIGN`,
 * `ERR_DATA_DIR_DAMAGED` and `ERR_MEMBER_REMOVED`, for errors the server may
 * define for those cases. Unknown errors are Fatal.
 */
export function exitCodeFor(err: unknown, depth = 0): ExitCode {
  const e = err as { code?: unknown; syscall?: unknown; cause?: unknown } | null;
  const own = ownCode(e);
  if ((own === ExitCode.Fatal || own === ExitCode.ForeignDataDir) && e?.cause != null && depth < 8) {
    // A wrapper (ERR_HOST_FATAL, ERR_HOST_DATA_DIR) may hold the precise reason.
    const inner = exitCodeFor(e.cause, depth + 1);
    if (inner !== ExitCode.Fatal) return inner;
  }
  return own;
}

function ownCode(e: { code?: unknown; syscall?: unknown } | null): ExitCode {
  const code = typeof e?.code === "string" ? e.code : undefined;
  if (code === undefined) return ExitCode.Fatal;
  if (BAD_CONFIG.has(code)) return ExitCode.BadConfig;
  if (code === "ERR_HOST_LISTEN") return ExitCode.PortInUse;
  if (code === "ERR_HOST_DATA_DIR_LOCKED") return ExitCode.DataDirLocked;
  if (code === "ERR_HOST_DATA_DIR") return ExitCode.ForeignDataDir;
  if (code === "ERR_HOST_DAMAGED_DATA") return ExitCode.DamagedData;
  if (
    (code === "EADDRINUSE" || code === "EADDRNOTAVAIL" || code === "EACCES") &&
    (e?.syscall === "listen" || e?.syscall === "bind")
  ) {
    return ExitCode.PortInUse;
  }
  if (code === "ERR_WAL_LOCKED" || code === "ERR_DATA_DIR_LOCKED") return ExitCode.DataDirLocked;
  if (code === "ERR_WAL_METADATA_MISMATCH" || code === "ERR_DATA_DIR_FOREIGN") return ExitCode.ForeignDataDir;
  if (DAMAGE.has(code)) return ExitCode.DamagedData;
  if (code === "ERR_RAFTHTTP_MEMBER_REMOVED" || code === "ERR_MEMBER_REMOVED") return ExitCode.Removed;
  return ExitCode.Fatal;
}
