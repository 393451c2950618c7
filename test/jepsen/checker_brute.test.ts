// The checker's pruning rules (forced reads, dead values, the info-op rules,
// the pool of interchangeable info writes) must never change a verdict. This
// compares it with a brute-force search written straight from the
// definition, on thousands of small random histories: few values (so values
// repeat and most histories are not linearizable), every outcome type,
// overlapping intervals.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CAS_MISMATCH, checkKey, type Op, Prng } from "../../jepsen/index.ts";

/**
 * Linearizable by definition: some order of all completed operations and any
 * subset of the info ones, respecting real time (an operation that returned
 * before another was invoked comes first; an info op never returned), in
 * which every operation does what the register allows: a read returns the
 * value, a write sets it, an ok CAS finds `from`, a CAS refused with
 * REVISION_MISMATCH does not, an info CAS sets `to` only if it finds `from`.
 * Info reads and other failures are not operations at all.
 */
function bruteForce(ops: Op[]): boolean {
  const xs = ops.filter((o) =>
    o.f === "read" ? o.type === "ok" : o.type !== "fail" || (o.f === "cas" && o.error === CAS_MISMATCH),
  );
  const end = (o: Op) => (o.type === "info" ? Number.POSITIVE_INFINITY : o.complete);
  const mustPrecede = xs.map((b) => xs.map((a) => end(a) < b.invoke));
  const placed = new Array<boolean>(xs.length).fill(false);
  const completed = xs.filter((o) => o.type !== "info").length;
  const go = (state: string | null, nDone: number): boolean => {
    if (nDone === completed) return true;
    for (let i = 0; i < xs.length; i++) {
      if (placed[i]) continue;
      if (xs.some((_, j) => mustPrecede[i]![j] && !placed[j])) continue;
      const o = xs[i]!;
      let next: string | null;
      if (o.f === "read") {
        if (o.value !== state) continue;
        next = state;
      } else if (o.f === "write") next = o.value;
      else if (o.type === "ok") {
        if (state !== o.from) continue;
        next = o.value;
      } else if (o.type === "fail") {
        if (state === o.from) continue;
        next = state;
      } else next = state === o.from ? o.value : state;
      placed[i] = true;
      const ok = go(next, nDone + (o.type === "info" ? 0 : 1));
      placed[i] = false;
      if (ok) return true;
    }
    return false;
  };
  return go(null, 0);
}

function randomHistory(rng: Prng, n: number): Op[] {
  const vals = ["a", "b", "c"];
  const ops: Op[] = [];
  for (let i = 0; i < n; i++) {
    const invoke = rng.float() * 10;
    const complete = invoke + 0.1 + rng.float() * 5;
    const r = rng.float();
    const type = rng.chance(0.6) ? "ok" : rng.chance(0.5) ? "info" : "fail";
    const base = { index: i, process: i, key: "k", invoke, complete, type } as const;
    if (r < 0.35) {
      ops.push({ ...base, f: "read", value: type === "ok" && rng.chance(0.8) ? rng.pick(vals) : null });
    } else if (r < 0.65) {
      ops.push({ ...base, f: "write", value: rng.pick(vals) });
    } else {
      const from = rng.chance(0.2) ? null : rng.pick(vals);
      ops.push({
        ...base,
        f: "cas",
        from,
        value: rng.pick(vals),
        ...(type === "fail" && rng.chance(0.8) ? { error: CAS_MISMATCH } : {}),
      });
    }
  }
  return ops;
}

test("the checker agrees with a brute-force search on 6,000 small random histories", () => {
  const rng = new Prng(20240601, 3);
  let linearizable = 0;
  for (let t = 0; t < 6000; t++) {
    const h = randomHistory(rng, 2 + rng.int(6));
    const expected = bruteForce(h);
    const got = checkKey("k", h, { budget: 1e7 }).verdict;
    assert.equal(
      got,
      expected ? "ok" : "violation",
      `history ${t}:\n${h.map((o) => JSON.stringify(o)).join("\n")}`,
    );
    if (expected) linearizable++;
  }
  // Both outcomes are well represented.
  assert.ok(linearizable > 1000 && linearizable < 5000, `${linearizable} linearizable`);
});

test("... and with unique values, as the harness writes them", () => {
  const rng = new Prng(99, 4);
  let linearizable = 0;
  for (let t = 0; t < 3000; t++) {
    const h = randomHistory(rng, 2 + rng.int(7));
    // Every write gets its own value; reads and CAS expectations pick among those (or absent).
    const written: (string | null)[] = [null, ...h.filter((o) => o.f !== "read").map((o) => `v${o.index}`)];
    for (const o of h) {
      if (o.f !== "read") o.value = `v${o.index}`;
      if (o.f === "cas") o.from = rng.pick(written);
      if (o.f === "read" && o.type === "ok") o.value = rng.pick(written);
    }
    const expected = bruteForce(h);
    const got = checkKey("k", h, { budget: 1e7 }).verdict;
    assert.equal(
      got,
      expected ? "ok" : "violation",
      `history ${t}:\n${h.map((o) => JSON.stringify(o)).join("\n")}`,
    );
    if (expected) linearizable++;
  }
  assert.ok(linearizable > 300, `${linearizable} linearizable`);
});
