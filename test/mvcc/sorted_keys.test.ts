// SortedKeys (the MVCC store's ordered key set) against a plain sorted array:
// insertions, removals and range scans across chunk splits and merges.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { SortedKeys } from "../../src/mvcc/sorted_keys.ts";

function scan(s: SortedKeys, from: string, end: string | null, limit = Number.MAX_SAFE_INTEGER): string[] {
  const out: string[] = [];
  s.forEachInRange(from, end, (k) => {
    out.push(k);
    return out.length < limit;
  });
  return out;
}

test("SortedKeys keeps every key in order through 5,000 inserts and removals (chunks split at 256)", () => {
  // Deterministic pseudo-random keys: a linear congruential sequence.
  let x = 12345;
  const next = () => {
    x = (x * 1103515245 + 12345) >>> 0;
    return x;
  };
  const s = new SortedKeys();
  const model = new Set<string>();
  for (let n = 0; n < 5000; n++) {
    const k = `k${(next() % 3000).toString().padStart(5, "0")}`;
    if (model.has(k)) {
      if (next() % 2 === 0) {
        s.remove(k);
        model.delete(k);
      }
    } else {
      s.insert(k);
      model.add(k);
    }
  }
  const sorted = [...model].sort();
  assert.equal(s.size, sorted.length);
  assert.deepEqual(scan(s, "", null), sorted);
  assert.deepEqual(
    scan(s, "k01000", "k02000"),
    sorted.filter((k) => k >= "k01000" && k < "k02000"),
  );
});

test("SortedKeys: inserts at the front, the back and in between, then scans, match a sorted array (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.boolean(), fc.string({ maxLength: 3 })), { maxLength: 400 }),
      fc.string({ maxLength: 3 }),
      fc.option(fc.string({ maxLength: 3 }), { nil: null }),
      fc.integer({ min: 1, max: 50 }),
      (ops, from, end, limit) => {
        const s = new SortedKeys();
        const model = new Set<string>();
        for (const [add, k] of ops) {
          if (add && !model.has(k)) {
            s.insert(k);
            model.add(k);
          } else if (!add) {
            s.remove(k);
            model.delete(k);
          }
        }
        const sorted = [...model].sort();
        assert.equal(s.size, sorted.length);
        assert.deepEqual(scan(s, "", null), sorted);
        const want = sorted.filter((k) => k >= from && (end === null || k < end)).slice(0, limit);
        assert.deepEqual(scan(s, from, end, limit), want);
      },
    ),
    { seed: 15, numRuns: 300 },
  );
});
