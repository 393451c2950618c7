// The linearizability checker on hand-made histories: linearizable ones are
// accepted, the classic violations are rejected, unknown outcomes are
// handled both ways (may take effect late, may never take effect, cannot
// take effect before they were invoked), an exhausted budget is "unknown".
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  checkHistory,
  checkKey,
  formatHistory,
  HistoryFormatError,
  type Op,
  parseHistory,
  revisionAnomalies,
} from "../../jepsen/index.ts";
import { cas, generateLinearizable, read, write } from "./support/histories.ts";

const verdict = (ops: Op[]) => checkKey("k", ops).verdict;

test("sequential reads, writes and CASes that agree are linearizable", () => {
  const h = [
    read(null, 0, 1),
    write("a", 2, 3),
    read("a", 4, 5),
    cas("a", "b", 6, 7),
    read("b", 8, 9),
    cas(null, "x", 10, 11, "fail"),
    read("b", 12, 13),
  ];
  const r = checkKey("k", h);
  assert.equal(r.verdict, "ok");
  assert.equal(r.ops, 7);
  assert.equal(r.explanation, undefined);
});

test("a read concurrent with a write may return the old or the new value", () => {
  assert.equal(verdict([write("a", 0, 1), write("b", 2, 10), read("a", 3, 4), read("b", 5, 6)]), "ok");
  assert.equal(verdict([write("a", 0, 1), write("b", 2, 10), read("b", 3, 4), read("b", 5, 6)]), "ok");
  // Two overlapping reads may see the values in either order only while the write is running:
  // once one read saw the new value, a read that began after it ended cannot see the old one.
  assert.equal(verdict([write("a", 0, 1), write("b", 2, 10), read("b", 3, 4), read("a", 5, 6)]), "violation");
});

test("stale read: a read that began after a write was acknowledged returns the older value", () => {
  const h = [write("a", 0, 1), write("b", 2, 3), read("a", 4, 5)];
  const r = checkKey("k", h);
  assert.equal(r.verdict, "violation");
  assert.equal(r.pass, "weak");
  // The explanation names the operation whose completion broke linearizability.
  assert.match(r.explanation![0]!, /stops being linearizable when this operation completes/);
  assert.match(r.explanation![1]!, /#\d+ c0 read → "a" OK \[4\.0, 5\.0\]/);
  assert.match(r.explanation!.join("\n"), /write "b"/);
});

test("a CAS that cannot come next is explained by the read that still needs the old value", () => {
  // The key is created at [0, 3]; a read that began after that still sees it absent.
  const stale = read(null, 4, 5);
  const r = checkKey("k", [read(null, 0, 1), cas(null, "x", 0, 3), stale]);
  assert.equal(r.verdict, "violation");
  const text = r.explanation!.join("\n");
  assert.match(text, new RegExp(`it would overwrite \\(absent\\), which #${stale.index} still has to see`));
});

test("lost write: an acknowledged write that later reads never show", () => {
  // b is acknowledged at 3, yet reads from 4 on still see a; then c overwrites.
  const h = [write("a", 0, 1), write("b", 2, 3), read("a", 4, 5), write("c", 6, 7), read("c", 8, 9)];
  assert.equal(verdict(h), "violation");
  // The key absent after an acknowledged write.
  assert.equal(verdict([write("a", 0, 1), read(null, 2, 3)]), "violation");
});

test("a read of a value nobody wrote, or nobody had begun to write, is a violation", () => {
  const r = checkKey("k", [write("a", 0, 1), read("zzz", 2, 3)]);
  assert.equal(r.verdict, "violation");
  assert.match(r.explanation!.join("\n"), /no operation wrote/);
  assert.equal(verdict([read("a", 0, 1), write("a", 2, 3)]), "violation");
});

test("CAS that succeeded on a wrong precondition is a violation", () => {
  assert.equal(verdict([write("a", 0, 1), write("b", 2, 3), cas("a", "c", 4, 5)]), "violation");
  // ... and a CAS that expects the current value is fine even when a concurrent write overlaps it.
  assert.equal(verdict([write("a", 0, 1), write("b", 2, 9), cas("a", "c", 3, 4), read("b", 10, 11)]), "ok");
  // "Created" on a key that exists.
  assert.equal(verdict([write("a", 0, 1), cas(null, "c", 2, 3)]), "violation");
});

test("CAS refused although the register held the expected value: caught by the full pass", () => {
  const h = [write("a", 0, 1), cas("a", "c", 2, 3, "fail"), read("a", 4, 5)];
  const r = checkKey("k", h);
  assert.equal(r.verdict, "violation");
  assert.equal(r.pass, "full");
  assert.match(r.explanation!.join("\n"), /refused, yet the register held "a"/);
});

test("a refusal that names the key's mod revision is a read of the value with that revision", () => {
  const a = write("a", 0, 1, "ok", { revision: 1 });
  const b = write("b", 2, 3, "ok", { revision: 2 });
  // Refused at [4, 5] saying the key was at revision 1 ("a"): stale, b was acknowledged at 3.
  const stale = cas("a", "c", 4, 5, "fail", { seenRevision: 1 });
  assert.equal(verdict([a, b, stale]), "violation");
  const fine = cas("a", "c", 4, 5, "fail", { seenRevision: 2 });
  assert.equal(verdict([a, b, fine]), "ok");
  // Revision 0: the key was absent, not possible after a was acknowledged.
  assert.equal(verdict([a, cas("x", "c", 2, 3, "fail", { seenRevision: 0 })]), "violation");
});

test("an info write may take effect long after it was invoked, or never", () => {
  // Takes effect between the two reads.
  assert.equal(verdict([write("a", 0, 1), write("b", 2, 3, "info"), read("a", 4, 5), read("b", 6, 7)]), "ok");
  // Never takes effect.
  assert.equal(verdict([write("a", 0, 1), write("b", 2, 3, "info"), read("a", 40, 41)]), "ok");
  // Takes effect after later writes: its value can show up after theirs.
  assert.equal(
    verdict([write("b", 0, 1, "info"), write("c", 5, 6), read("c", 7, 8), read("b", 9, 10)]),
    "ok",
  );
});

test("an info write cannot take effect before it was invoked, nor twice", () => {
  assert.equal(verdict([read("b", 0, 1), write("b", 2, 3, "info")]), "violation");
  // Once its value has been overwritten it cannot come back.
  assert.equal(
    verdict([write("a", 0, 1), write("b", 2, 3, "info"), read("b", 4, 5), read("a", 6, 7)]),
    "violation",
  );
  assert.equal(
    verdict([write("b", 0, 1, "info"), read("b", 2, 3), write("c", 4, 5), read("b", 6, 7)]),
    "violation",
  );
});

test("an info CAS takes effect only where its precondition holds", () => {
  assert.equal(verdict([write("a", 0, 1), cas("a", "b", 2, 3, "info"), read("b", 4, 5)]), "ok");
  assert.equal(verdict([write("a", 0, 1), cas("x", "b", 2, 3, "info"), read("b", 4, 5)]), "violation");
  // It may have applied before a write that then overwrote it, unseen.
  assert.equal(
    verdict([write("a", 0, 1), cas("a", "b", 2, 9, "info"), write("c", 3, 4), read("c", 5, 6)]),
    "ok",
  );
});

test("info reads say nothing; failed writes did not happen", () => {
  const infoRead: Op = { ...read(null, 2, 3), type: "info", value: null };
  assert.equal(verdict([write("a", 0, 1), infoRead, read("a", 4, 5)]), "ok");
  const refused = write("b", 2, 3, "fail", { error: "ECONNREFUSED" });
  assert.equal(verdict([write("a", 0, 1), refused, read("a", 4, 5)]), "ok");
  assert.equal(verdict([write("a", 0, 1), refused, read("b", 4, 5)]), "violation");
});

test("an info write nothing reads can still explain a refused CAS", () => {
  // Without w, the CAS expecting a (the register's value throughout) could not be refused.
  const base = [write("a", 0, 1), cas("a", "c", 2, 3, "fail"), write("d", 4, 5), read("d", 6, 7)];
  assert.equal(verdict(base), "violation");
  assert.equal(verdict([...base, write("w", 1.5, 2, "info")]), "ok");
  // ... but not one invoked after the CAS returned (also when a later refused CAS keeps it in play).
  assert.equal(verdict([...base, write("w", 3.5, 4, "info")]), "violation");
  const later = cas("q", "r", 8, 9, "fail");
  assert.equal(verdict([...base, later, write("w", 3.5, 4, "info")]), "violation");
  assert.equal(verdict([...base, later, write("w", 1.5, 4, "info"), write("w2", 3.5, 4, "info")]), "ok");
});

test("an exhausted search budget is reported as unknown, never as ok", () => {
  const h = generateLinearizable({ seed: 7, ops: 2000, clients: 10, infoRate: 0.05 });
  assert.equal(checkKey("k", h).verdict, "ok");
  const r = checkKey("k", h, { budget: 50 });
  assert.equal(r.verdict, "unknown");
  assert.ok(r.steps > 50);
  const whole = checkHistory(h, { budget: 50 });
  assert.equal(whole.verdict, "unknown");
});

test("10,000-operation histories are checked in seconds; a stale read among them is found", () => {
  for (const [clients, infoRate] of [
    [5, 0.02],
    [15, 0.05],
  ] as const) {
    const h = generateLinearizable({ seed: 11, ops: 10_000, clients, infoRate });
    const t0 = performance.now();
    const r = checkKey("k", h);
    const ms = performance.now() - t0;
    assert.equal(r.verdict, "ok", `${clients} clients: ${r.verdict} after ${r.steps} steps`);
    assert.ok(ms < 10_000, `${clients} clients: ${ms.toFixed(0)} ms`);
    // A read in the middle returns a value overwritten long before it began.
    const mid = h.findIndex((o, i) => i > 5000 && o.f === "read" && o.type === "ok");
    const old = h.find((o) => o.f === "write" && o.type === "ok" && o.complete < h[mid]!.invoke - 100)!;
    const bad = h.map((o, i) => (i === mid ? { ...o, value: old.value, revision: undefined } : o));
    const t1 = performance.now();
    const rb = checkKey("k", bad);
    assert.equal(rb.verdict, "violation");
    assert.ok(performance.now() - t1 < 10_000);
    assert.ok(rb.explanation![1]!.includes(`#${h[mid]!.index} `), rb.explanation!.join("\n"));
  }
});

test("keys are checked independently; one violation makes the history invalid", () => {
  const h = [
    write("a", 0, 1, "ok", { key: "x" }),
    read("a", 2, 3, { key: "x" }),
    write("a", 0, 1, "ok", { key: "y" }),
    write("b", 2, 3, "ok", { key: "y" }),
    read("a", 4, 5, { key: "y" }),
  ];
  const r = checkHistory(h);
  assert.equal(r.verdict, "violation");
  assert.deepEqual(
    r.keys.map((k) => [k.key, k.verdict]),
    [
      ["x", "ok"],
      ["y", "violation"],
    ],
  );
  assert.equal(checkHistory(h.slice(0, 2)).verdict, "ok");
});

test("revision cross-check: one revision for two writes, or two revisions for one write", () => {
  const ok = [write("a", 0, 1, "ok", { revision: 5 }), read("a", 2, 3, { revision: 5 })];
  assert.deepEqual(revisionAnomalies(ok), []);
  // A write answered with the revision another write produced (the restart bug's symptom).
  const twoValues = [write("a", 0, 1, "ok", { revision: 5 }), read("b", 2, 3, { revision: 5 })];
  assert.equal(revisionAnomalies(twoValues).length, 1);
  assert.match(revisionAnomalies(twoValues)[0]!, /revision 5 names two writes/);
  const twoRevs = [write("a", 0, 1, "ok", { revision: 5 }), read("a", 2, 3, { revision: 6 })];
  assert.match(revisionAnomalies(twoRevs)[0]!, /has two revisions: 5 and 6/);
  // Reported once however many operations show it.
  const many = [...twoRevs, read("a", 4, 5, { revision: 6 }), read("a", 6, 7, { revision: 6 })];
  assert.equal(revisionAnomalies(many).length, 1);
  assert.match(revisionAnomalies(many)[0]!, /and 2 more operations/);
  assert.equal(checkHistory(twoRevs).verdict, "violation");
});

test("histories round-trip through JSON lines; bad lines are refused with their line number", () => {
  const h = generateLinearizable({ seed: 3, ops: 200, clients: 4, infoRate: 0.1 });
  const text = formatHistory({ meta: { seed: 3 }, ops: h });
  const back = parseHistory(text);
  assert.deepEqual(back.meta, { seed: 3 });
  assert.deepEqual(back.ops, h);
  assert.equal(checkHistory(back.ops).verdict, "ok");
  const lines = text.split("\n");
  const broken = [...lines.slice(0, 3), '{"index": 1.5}', ...lines.slice(3)].join("\n");
  assert.throws(
    () => parseHistory(broken),
    (e: unknown) => e instanceof HistoryFormatError && e.line === 4 && e.code === "ERR_JEPSEN_HISTORY",
  );
  assert.throws(() => parseHistory("{nope"), HistoryFormatError);
  const w = JSON.stringify({ ...write("a", 0, 1), value: null });
  assert.throws(() => parseHistory(w), /a write must write a value/);
  const early = JSON.stringify({ ...read("a", 5, 1) });
  assert.throws(() => parseHistory(early), /complete is before invoke/);
});
