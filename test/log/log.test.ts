// Structured logging: the JSON line shape, level filtering, rate-limited
// repeats on an injected clock, the console form, outputs, and raft's
// messages through the adapter.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  createLogger,
  formatConsoleLine,
  LogConfigError,
  type LoggerOptions,
  RaftLogAdapter,
  RepeatLimiter,
  raftLogger,
} from "../../src/log/index.ts";
import { MemoryStorage, RaftPanicError, RawNode } from "../../src/raft/index.ts";

const T0 = Date.UTC(2030, 0, 2, 3, 4, 5, 678);

/** A logger writing into an array, on a clock the test moves. */
function capture(opts: LoggerOptions = {}) {
  const lines: string[] = [];
  const clock = { now: T0 };
  const log = createLogger({
    member: "m1",
    format: "json",
    clock: () => clock.now,
    output: { write: (l: string) => void lines.push(l) },
    ...opts,
  });
  const json = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { log, lines, clock, json };
}

test("a line is one JSON object: level name, ISO time, pid, member, component, fields, msg", () => {
  const { log, lines, clock, json } = capture();
  log.info("member started", { clientURL: "http://127.0.0.1:22379" });
  clock.now += 1500;
  log.child("rafthttp", { peer: "8e9e05c52164694d" }).warn("lost the stream", { type: "msgappv2" });
  assert.equal(lines.length, 2);
  assert.ok(
    lines.every((l) => l.endsWith("}\n") && !l.slice(0, -1).includes("\n")),
    "one line each",
  );
  assert.deepEqual(json(), [
    {
      level: "info",
      time: "2030-01-02T03:04:05.678Z",
      pid: process.pid,
      member: "m1",
      clientURL: "http://127.0.0.1:22379",
      msg: "member started",
    },
    {
      level: "warn",
      time: "2030-01-02T03:04:07.178Z",
      pid: process.pid,
      member: "m1",
      component: "rafthttp",
      peer: "8e9e05c52164694d",
      type: "msgappv2",
      msg: "lost the stream",
    },
  ]);
  // Field order puts the fixed keys first, as a reader scans them.
  assert.ok(lines[1]!.startsWith('{"level":"warn","time":"2030-01-02T03:04:07.178Z","pid":'));
  // No member: no member key.
  const solo = capture({ member: undefined });
  solo.log.error("x");
  assert.equal(solo.json()[0]!.member, undefined);
  assert.equal(solo.json()[0]!.level, "error");
});

test("level filtering: below the level nothing is written; a level change reaches every child", () => {
  const { log, json } = capture({ level: "warn" });
  const raft = log.child("raft");
  for (const l of [log, raft]) {
    l.debug("d");
    l.info("i");
    l.warn("w");
    l.error("e");
  }
  assert.deepEqual(
    json().map((o) => `${o.component ?? "-"}:${o.level}:${o.msg}`),
    ["-:warn:w", "-:error:e", "raft:warn:w", "raft:error:e"],
  );
  assert.equal(raft.isLevelEnabled("info"), false);
  log.level = "debug";
  assert.equal(raft.level, "debug");
  assert.equal(raft.isLevelEnabled("debug"), true);
  raft.debug("now visible");
  assert.equal(json().at(-1)!.msg, "now visible");
  log.level = "error";
  raft.warn("hidden");
  log.fatal("fatal is always written");
  assert.deepEqual(
    json()
      .slice(-1)
      .map((o) => [o.level, o.msg]),
    [["fatal", "fatal is always written"]],
  );
  assert.throws(() => createLogger({ level: "loud" as "info" }), LogConfigError);
  assert.throws(() => {
    log.level = "trace" as "info";
  }, /not one of debug, info, warn, error/);
  assert.throws(() => createLogger({ format: "xml" as "json" }), LogConfigError);
  assert.throws(() => createLogger({ repeatWindowMs: -1 }), LogConfigError);
});

test("repeats: once per window per key, then the next line carries the suppressed count", () => {
  const { log, clock, json } = capture({ repeatWindowMs: 5000 });
  const rafthttp = log.child("rafthttp");
  for (let i = 0; i < 100; i++) {
    rafthttp.error("critical error; stopping");
    clock.now += 10; // 1 s in all: inside the window
  }
  assert.equal(json().length, 1);
  assert.equal(json()[0]!.suppressed, undefined);
  clock.now = T0 + 4999;
  rafthttp.error("critical error; stopping");
  assert.equal(json().length, 1, "still inside the 5 s window");
  clock.now = T0 + 5000;
  rafthttp.error("critical error; stopping", { attempt: 102 });
  assert.equal(json().length, 2);
  assert.deepEqual(json()[1], {
    ...json()[1],
    level: "error",
    component: "rafthttp",
    attempt: 102,
    suppressed: 100,
    msg: "critical error; stopping",
  });
  // A new window starts at that line: the next one right after is held back again.
  rafthttp.error("critical error; stopping");
  assert.equal(json().length, 2);
  // Other messages, levels and components are other keys.
  rafthttp.warn("critical error; stopping");
  log.error("critical error; stopping");
  rafthttp.error("another message");
  assert.equal(json().length, 5);
});

test("repeats: the caller's key and window (once per sender per minute), and exemptions", () => {
  const { log, clock, json } = capture();
  const t = log.child("rafthttp");
  for (let i = 0; i < 30; i++) {
    for (const from of ["dead", "beef"]) {
      t.warn(
        `dropped a message from unknown member ${from} (index ${i})`,
        { from },
        { key: `drop:${from}`, everyMs: 60_000 },
      );
    }
    clock.now += 1000;
  }
  assert.deepEqual(
    json().map((o) => o.from),
    ["dead", "beef"],
    "one line per sender although every message differs",
  );
  clock.now = T0 + 60_000;
  t.warn(
    "dropped a message from unknown member dead (index 60)",
    { from: "dead" },
    { key: "drop:dead", everyMs: 60_000 },
  );
  assert.equal(json().at(-1)!.suppressed, 29);
  // everyMs: 0 never limits (a line that must always appear).
  for (let i = 0; i < 3; i++) t.info("ready: leader m2", undefined, { everyMs: 0 });
  assert.equal(json().filter((o) => o.msg === "ready: leader m2").length, 3);
  // Children with other bindings are limited separately.
  log.child("peer", { peer: "a" }).warn("stream lost");
  log.child("peer", { peer: "b" }).warn("stream lost");
  log.child("peer", { peer: "a" }).warn("stream lost");
  assert.deepEqual(
    json()
      .filter((o) => o.msg === "stream lost")
      .map((o) => o.peer),
    ["a", "b"],
  );
  // fatal is never held back.
  log.fatal("boom");
  log.fatal("boom");
  assert.equal(json().filter((o) => o.msg === "boom").length, 2);
});

test("flushSuppressed reports pending counts (before exit); repeatWindowMs 0 disables limiting", () => {
  const { log, json } = capture();
  const w = log.child("wal");
  for (let i = 0; i < 5; i++) w.error("sync failed");
  for (let i = 0; i < 3; i++) log.warn("slow disk");
  log.info("once");
  assert.equal(log.flushSuppressed(), 2);
  const tail = json().slice(-2);
  assert.deepEqual(
    tail.map((o) => [o.component, o.level, o.msg, o.suppressed]),
    [
      ["wal", "error", "sync failed", 4],
      [undefined, "warn", "slow disk", 2],
    ],
  );
  assert.equal(log.flushSuppressed(), 0, "counts are reported once");
  const off = capture({ repeatWindowMs: 0 });
  for (let i = 0; i < 4; i++) off.log.warn("same");
  assert.equal(off.json().length, 4);
});

test("the limiter's memory is bounded; an evicted key's pending count is still reported", () => {
  const { log, json } = capture({ maxRepeatKeys: 3 });
  log.warn("a");
  log.warn("a");
  log.warn("a"); // a: 2 pending
  log.warn("b");
  log.warn("c");
  log.warn("d"); // full, none expired: all forgotten, a's 2 reported
  assert.deepEqual(
    json().map((o) => [o.msg, o.suppressed]),
    [
      ["a", undefined],
      ["b", undefined],
      ["c", undefined],
      ["a", 2],
      ["d", undefined],
    ],
  );
  // The unit itself, on a clock of its own.
  let now = 0;
  const evicted: string[] = [];
  const lim = new RepeatLimiter(
    () => now,
    2,
    (_l, m, n) => evicted.push(`${m}:${n}`),
  );
  assert.deepEqual(lim.admit("k", 100, 30, "k"), { pass: true, suppressed: 0 });
  assert.deepEqual(lim.admit("k", 100, 30, "k"), { pass: false, suppressed: 0 });
  now = 100;
  assert.deepEqual(lim.admit("k", 100, 30, "k"), { pass: true, suppressed: 1 });
  lim.admit("x", 100, 30, "x");
  lim.admit("x", 100, 30, "x");
  lim.admit("y", 100, 30, "y"); // full, none expired: k and x forgotten, x's 1 reported
  assert.deepEqual(evicted, ["x:1"]);
  assert.equal(lim.size, 1);
  lim.admit("z", 100, 30, "z");
  now = 250;
  lim.admit("y", 100, 30, "y"); // y's window has passed
  lim.admit("w", 100, 30, "w"); // full: only the expired z is dropped (y just passed again)
  assert.equal(lim.size, 2);
  assert.deepEqual(evicted, ["x:1"]);
});

test("errors: message and code always, the stack only at debug level", () => {
  const e = Object.assign(new Error("disk full"), { code: "ENOSPC" });
  const info = capture();
  info.log.error("WAL write failed", { err: e });
  const o = info.json()[0]!.err as Record<string, unknown>;
  assert.equal(o.message, "disk full");
  assert.equal(o.code, "ENOSPC");
  assert.equal(o.type, "Error");
  assert.equal(o.stack, undefined);
  const dbg = capture({ level: "debug" });
  dbg.log.error("WAL write failed", { err: e });
  assert.match(String((dbg.json()[0]!.err as Record<string, unknown>).stack), /^Error: disk full\n {4}at /);
});

test("console form on a terminal: readable line, fields, suppressed count, no colour unless asked", () => {
  const lines: string[] = [];
  const log = createLogger({
    member: "m1",
    clock: () => T0,
    color: false,
    output: { write: (l: string) => void lines.push(l), isTTY: true }, // format "auto" picks console
  });
  log.child("raft").info("1 became leader at term 2", { term: 2, note: "has spaces" });
  log.warn("x");
  log.warn("x");
  log.flushSuppressed();
  assert.deepEqual(lines, [
    '2030-01-02T03:04:05.678Z INFO  m1 raft: 1 became leader at term 2 term=2 note="has spaces"\n',
    "2030-01-02T03:04:05.678Z WARN  m1 x\n",
    "2030-01-02T03:04:05.678Z WARN  m1 x (suppressed 1 similar)\n",
  ]);
  const colored = formatConsoleLine('{"level":"error","time":"t","msg":"m"}', true);
  assert.equal(colored, "t \x1b[31mERROR\x1b[0m m\n");
  const withErr = formatConsoleLine(
    JSON.stringify({
      level: "error",
      time: "t",
      msg: "m",
      err: { message: "boom", code: "E1", stack: "Error: boom\n  at x" },
    }),
    false,
  );
  assert.equal(withErr, "t ERROR m err=boom code=E1\n    Error: boom\n      at x\n");
  assert.equal(formatConsoleLine("not json", false), "not json\n");
  // Not a terminal: JSON.
  const pipe: string[] = [];
  createLogger({ output: { write: (l: string) => void pipe.push(l), isTTY: false } }).info("y");
  assert.equal((JSON.parse(pipe[0]!) as { msg: string }).msg, "y");
  // Forced console format on a pipe.
  const forced: string[] = [];
  createLogger({
    format: "console",
    color: false,
    clock: () => T0,
    output: { write: (l: string) => void forced.push(l) },
  }).info("z");
  assert.equal(forced[0], "2030-01-02T03:04:05.678Z INFO  z\n");
});

test("a file output is created with its directory and appended to", () => {
  const d = mkdtempSync(join(tmpdir(), "tsraft-log-"));
  after(() => rmSync(d, { recursive: true, force: true }));
  const file = join(d, "logs", "m1.log");
  createLogger({ output: file, member: "m1" }).info("first");
  createLogger({ output: file, member: "m1" }).info("second");
  const got = readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((l) => (JSON.parse(l) as { msg: string }).msg);
  assert.deepEqual(got, ["first", "second"]);
  assert.throws(() => createLogger({ output: join(file, "under-a-file.log") }), LogConfigError);
  assert.throws(() => createLogger({ output: "" }), LogConfigError);
});

test("raft's Logger through the adapter: levels mapped, fatal and panic logged then thrown", () => {
  const { log, json } = capture({ level: "debug" });
  const rl = raftLogger(log);
  rl.debug("d");
  rl.info("i");
  rl.warning("w");
  rl.error("e");
  assert.throws(() => rl.fatal("f"), RaftPanicError);
  assert.throws(
    () => rl.panic("p"),
    (e: unknown) => e instanceof RaftPanicError && e.message === "p",
  );
  assert.deepEqual(
    json().map((o) => [o.component, o.level, o.msg, o.panic]),
    [
      ["raft", "debug", "d", undefined],
      ["raft", "info", "i", undefined],
      ["raft", "warn", "w", undefined],
      ["raft", "error", "e", undefined],
      ["raft", "fatal", "f", undefined],
      ["raft", "fatal", "p", true],
    ],
  );
  // A child keeps its own component.
  const other = capture();
  new RaftLogAdapter(other.log.child("raft-group-7")).info("x");
  assert.equal(other.json()[0]!.component, "raft-group-7");
});

test("a real RawNode logs through the adapter", () => {
  const { log, json } = capture();
  const rn = new RawNode({
    id: 1n,
    electionTick: 10,
    heartbeatTick: 1,
    storage: new MemoryStorage(),
    logger: raftLogger(log),
  });
  rn.bootstrap([{ id: 1n }]);
  const msgs = json().map((o) => `${o.component} ${o.level} ${o.msg}`);
  assert.ok(msgs.includes("raft info 1 became follower at term 0"), msgs.join("\n"));
  assert.ok(msgs.includes("raft info 1 switched to configuration voters=(1)"), msgs.join("\n"));
  assert.ok(json().every((o) => o.member === "m1" && typeof o.time === "string"));
});
