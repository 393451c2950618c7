// From the error that ends a tsraft-kv process to its exit status and its one
// line; and the member's logger, which files raft's, the host's and
// rafthttp's messages under their components.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ComponentLogger } from "../../src/cli/component_logger.ts";
import { describeError, exitStatusOf } from "../../src/cli/exit_status.ts";
import { ConfigError, ExitCode } from "../../src/config/index.ts";
import { HostError, HostErrorCode } from "../../src/host/index.ts";
import { KvConfigError } from "../../src/kv/index.ts";
import { createLogger, LogConfigError } from "../../src/log/index.ts";
import { RaftPanicError } from "../../src/raft/index.ts";

test("exit status: KvMember's start errors by the host code they carry; the rest by their own code", () => {
  const kv = (reason?: string) => new KvConfigError("x", reason);
  assert.equal(exitStatusOf(kv(HostErrorCode.Listen)), ExitCode.PortInUse);
  assert.equal(exitStatusOf(kv(HostErrorCode.DataDirLocked)), ExitCode.DataDirLocked);
  assert.equal(exitStatusOf(kv(HostErrorCode.DataDir)), ExitCode.ForeignDataDir);
  assert.equal(exitStatusOf(kv(HostErrorCode.DamagedData)), ExitCode.DamagedData);
  assert.equal(exitStatusOf(kv(HostErrorCode.InvalidArgument)), ExitCode.BadConfig);
  assert.equal(exitStatusOf(kv(HostErrorCode.Join)), ExitCode.Fatal);
  assert.equal(exitStatusOf(kv()), ExitCode.BadConfig);
  assert.equal(exitStatusOf(new HostError(HostErrorCode.Listen, "port in use")), ExitCode.PortInUse);
  assert.equal(exitStatusOf(new ConfigError("flag", "--x", "bad")), ExitCode.BadConfig);
  assert.equal(exitStatusOf(new LogConfigError("log output: cannot open /x")), ExitCode.BadConfig);
  const enospc = Object.assign(new Error("ENOSPC"), { code: "ENOSPC" });
  assert.equal(
    exitStatusOf(new HostError(HostErrorCode.Fatal, "wal: ENOSPC", { cause: enospc })),
    ExitCode.Fatal,
  );
  assert.equal(exitStatusOf(new RaftPanicError("tocommit(9) is out of range")), ExitCode.Fatal);
  assert.equal(exitStatusOf(new Error("bug")), ExitCode.Fatal);
  assert.equal(exitStatusOf("thrown string"), ExitCode.Fatal);
  assert.equal(exitStatusOf(null), ExitCode.Fatal);
});

test("describeError: one line; stacks of the error and its causes only when asked", () => {
  const inner = new Error("listen EADDRINUSE: address already in use 127.0.0.1:2380");
  const e = new HostError(
    HostErrorCode.Listen,
    "peer URL http://127.0.0.1:2380: port 2380 is already in use",
    {
      cause: inner,
    },
  );
  assert.equal(describeError(e), "peer URL http://127.0.0.1:2380: port 2380 is already in use");
  assert.equal(describeError(new Error("two\n  lines\r\nhere")), "two; lines; here");
  assert.equal(describeError("text"), "text");
  assert.equal(describeError(new Error("")), "unknown error");
  const d = describeError(e, true).split("\n");
  assert.equal(d[0], "peer URL http://127.0.0.1:2380: port 2380 is already in use");
  assert.match(d[1]!, /^HostError: peer URL/);
  assert.ok(
    d.some((l) => l === "caused by: Error: listen EADDRINUSE: address already in use 127.0.0.1:2380"),
  );
  assert.ok(d.filter((l) => /^\s+at /.test(l)).length >= 2);
});

function collect(level: "debug" | "info" = "info") {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({
    member: "m1",
    level,
    format: "json",
    output: { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) },
    clock: () => Date.UTC(2026, 0, 2, 3, 4, 5),
  });
  return { lines, logger: new ComponentLogger(log) };
}

test("component logger: 'component: ' prefixes become the component; the rest is raft's", () => {
  const { lines, logger } = collect();
  logger.info("rafthttp: peer 8e9e05c52164694d became active");
  logger.warning("host: snapshot to 2 failed: timeout");
  logger.error("wal: cannot repair /d/0.wal: EIO");
  logger.info("8e9e05c52164694d became leader at term 2");
  logger.info("unknownthing: stays with raft");
  logger.debug("rafthttp: not written at info");
  assert.deepEqual(
    lines.map((l) => [l.level, l.component, l.msg, l.member, l.time]),
    [
      ["info", "rafthttp", "peer 8e9e05c52164694d became active", "m1", "2026-01-02T03:04:05.000Z"],
      ["warn", "host", "snapshot to 2 failed: timeout", "m1", "2026-01-02T03:04:05.000Z"],
      ["error", "wal", "cannot repair /d/0.wal: EIO", "m1", "2026-01-02T03:04:05.000Z"],
      ["info", "raft", "8e9e05c52164694d became leader at term 2", "m1", "2026-01-02T03:04:05.000Z"],
      ["info", "raft", "unknownthing: stays with raft", "m1", "2026-01-02T03:04:05.000Z"],
    ],
  );
});

test("component logger: debug at debug level; fatal and panic are written, then throw RaftPanicError", () => {
  const { lines, logger } = collect("debug");
  logger.debug("rafthttp: dialing");
  assert.throws(() => logger.panic("tocommit(9) is out of range [lastIndex(3)]"), RaftPanicError);
  assert.throws(() => logger.fatal("host: cannot go on"), RaftPanicError);
  assert.deepEqual(
    lines.map((l) => [l.level, l.component, l.msg, l.panic]),
    [
      ["debug", "rafthttp", "dialing", undefined],
      ["fatal", "raft", "tocommit(9) is out of range [lastIndex(3)]", true],
      ["fatal", "host", "cannot go on", undefined],
    ],
  );
});
