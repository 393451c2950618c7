// Exit codes: distinct per reason, and errors mapped to them by code.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, ExitCode, exitCodeFor, exitCodeTable } from "../../src/config/index.ts";

test("the exit-code table is complete, distinct and matches ExitCode", () => {
  const codes = Object.values(ExitCode);
  assert.equal(new Set(codes).size, codes.length, "distinct");
  assert.deepEqual(
    exitCodeTable.map((e) => [e.name, e.code]),
    Object.entries(ExitCode),
  );
  assert.ok(
    codes.every((c) => c >= 0 && c < 64),
    "below the shell's signal range and sysexits",
  );
});

test("exitCodeFor maps the start errors by code", () => {
  const err = (code: string, extra: object = {}) => Object.assign(new Error(code), { code }, extra);
  const cases: Array<[unknown, ExitCode]> = [
    [new ConfigError("flag", "--x", "bad"), ExitCode.BadConfig],
    [err("ERR_KV_CONFIG"), ExitCode.BadConfig],
    [err("ERR_RAFTHTTP_CONFIG"), ExitCode.BadConfig],
    [err("EADDRINUSE", { syscall: "listen" }), ExitCode.PortInUse],
    [err("EADDRNOTAVAIL", { syscall: "listen" }), ExitCode.PortInUse],
    [err("EACCES", { syscall: "listen" }), ExitCode.PortInUse],
    [err("EACCES", { syscall: "open" }), ExitCode.Fatal],
    [err("ERR_WAL_LOCKED"), ExitCode.DataDirLocked],
    [err("ERR_DATA_DIR_LOCKED"), ExitCode.DataDirLocked],
    [err("ERR_WAL_METADATA_MISMATCH"), ExitCode.ForeignDataDir],
    [err("ERR_DATA_DIR_FOREIGN"), ExitCode.ForeignDataDir],
    [err("ERR_WAL_CRC_MISMATCH"), ExitCode.DamagedData],
    [err("ERR_WAL_CORRUPT"), ExitCode.DamagedData],
    [err("ERR_SNAP_CRC_MISMATCH"), ExitCode.DamagedData],
    [err("ERR_DATA_DIR_DAMAGED"), ExitCode.DamagedData],
    [err("ERR_RAFTHTTP_MEMBER_REMOVED"), ExitCode.Removed],
    [err("ERR_MEMBER_REMOVED"), ExitCode.Removed],
    [err("ERR_RAFT_PANIC"), ExitCode.Fatal],
    [err("ERR_WAL_IO"), ExitCode.Fatal],
    [new Error("plain"), ExitCode.Fatal],
    [Object.assign(new Error("wrapped"), { cause: err("ERR_WAL_LOCKED") }), ExitCode.DataDirLocked],
    // tsraft/host's start errors, and the reason a wrapper holds.
    [err("ERR_HOST_LISTEN"), ExitCode.PortInUse],
    [err("ERR_HOST_DATA_DIR_LOCKED"), ExitCode.DataDirLocked],
    [err("ERR_HOST_DATA_DIR"), ExitCode.ForeignDataDir],
    [err("ERR_HOST_DATA_DIR", { cause: err("ERR_WAL_CRC_MISMATCH") }), ExitCode.DamagedData],
    [err("ERR_HOST_DATA_DIR", { cause: err("ERR_WAL_LOCKED") }), ExitCode.DataDirLocked],
    [err("ERR_HOST_DATA_DIR", { cause: new Error("EIO") }), ExitCode.ForeignDataDir],
    [err("ERR_HOST_INVALID_ARGUMENT"), ExitCode.BadConfig],
    [err("ERR_HOST_FATAL"), ExitCode.Fatal],
    [err("ERR_HOST_FATAL", { cause: err("ERR_SNAP_DECODE") }), ExitCode.DamagedData],
    [err("ERR_HOST_FATAL", { cause: err("EADDRINUSE", { syscall: "listen" }) }), ExitCode.PortInUse],
    [err("ERR_WAL_LOCKED", { cause: err("ERR_WAL_CRC_MISMATCH") }), ExitCode.DataDirLocked],
    ["a string", ExitCode.Fatal],
    [null, ExitCode.Fatal],
  ];
  for (const [e, want] of cases)
    assert.equal(exitCodeFor(e), want, String((e as Error | null)?.message ?? e));
});
