// The decoders under fuzzing (a smaller run than `npm run fuzz`), and proof
// that the fuzz checks catch what they claim to catch.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { test } from "node:test";
import fc from "fast-check";
import { loadTargets } from "../../fuzz/registry.ts";
import { fuzzTarget } from "../../fuzz/runner.ts";
import { decoderTarget, varint } from "../../fuzz/target.ts";
import { entry, id64 } from "../../fuzz/values.ts";
import type { Entry } from "../../src/index.ts";
import {
  DecodeError,
  decodeConfChange,
  decodeConfChangeV2,
  decodeConfState,
  decodeEntry,
  decodeHardState,
  decodeMessage,
  decodeSnapshot,
  decodeSnapshotMetadata,
  encodeEntry,
  Writer,
} from "../../src/wire.ts";

const targets = await loadTargets();

test("every file in fuzz/targets is a target", () => {
  const files = readdirSync(new URL("../../fuzz/targets/", import.meta.url)).filter((f) => f.endsWith(".ts"));
  assert.equal(targets.length, files.length);
  assert.ok(targets.length >= 9);
  for (const t of targets) assert.ok(t.description.length > 0);
});

for (const t of targets) {
  test(`fuzz ${t.name}: 3,000 cases give a value or a typed error`, () => {
    const r = fuzzTarget(t, 3000, 20240501);
    assert.equal(r.failure, null, r.failure ? `${r.failure.message}\n${r.failure.counterexample}` : "");
    assert.equal(r.runs, 3000);
  });
}

const decoders: [string, (b: Uint8Array) => unknown][] = [
  ["Message", (b) => decodeMessage(b)],
  ["Entry", (b) => decodeEntry(b)],
  ["HardState", decodeHardState],
  ["ConfState", decodeConfState],
  ["Snapshot", (b) => decodeSnapshot(b)],
  ["SnapshotMetadata", decodeSnapshotMetadata],
  ["ConfChange", (b) => decodeConfChange(b)],
  ["ConfChangeV2", (b) => decodeConfChangeV2(b)],
];

test("a length field claiming gigabytes is refused without allocating them", () => {
  const before = process.memoryUsage().arrayBuffers;
  let refused = 0;
  for (const [name, decode] of decoders) {
    for (const claim of [2 ** 31, 2 ** 32, 2 ** 40, 2 ** 53 - 1]) {
      for (let field = 1; field <= 17; field++) {
        const input = Uint8Array.from([(field << 3) | 2, ...varint(claim), 1, 2, 3]);
        try {
          decode(input);
        } catch (e) {
          assert.ok(e instanceof DecodeError, `${name}: ${String(e)}`);
          refused++;
        }
      }
    }
  }
  assert.ok(refused > 400);
  assert.ok(process.memoryUsage().arrayBuffers - before < 16 * 1024 * 1024);
});

// Decoders with planted flaws: the checks must catch each.
function flawed(name: string, decode: (b: Uint8Array) => Entry) {
  return decoderTarget({
    name,
    description: "a decoder with a planted flaw",
    decode: (b) => decode(b),
    encode: (v, p) => encodeEntry(v, p),
    values: entry,
    isTypedError: (e) => e instanceof DecodeError,
  });
}

test("the fuzz checks catch an untyped error, amplification, a broken round trip and slow cases", () => {
  const cases = [
    flawed("untyped", (b) => {
      if (b.length > 3 && b[2]! > 200) throw new TypeError("boom");
      return decodeEntry(b);
    }),
    flawed("amplifies", (b) => {
      const e = decodeEntry(b);
      if (e.data.length > 0) e.data = new Uint8Array(e.data.length * 1000 + 1);
      return e;
    }),
    flawed("no-round-trip", (b) => {
      const e = decodeEntry(b);
      e.index += 1;
      return e;
    }),
    flawed("slow", (b) => {
      if (b.length > 20 && b[0] === 0x22) {
        const until = performance.now() + 1100;
        while (performance.now() < until) {
          // burn
        }
      }
      return decodeEntry(b);
    }),
  ];
  for (const t of cases) {
    // No shrinking: shrinking a slow case repeats it many times.
    const r = fuzzTarget(t, 2000, 7, undefined, false);
    assert.notEqual(r.failure, null, `${t.name} was not caught`);
  }
});

test("ID values cover the whole unsigned 64-bit range, including >= 2^63", () => {
  const xs = fc.sample(id64, { numRuns: 2000, seed: 5 });
  const count = (p: (x: bigint) => boolean) => xs.filter(p).length;
  assert.ok(xs.every((x) => x >= 0n && x < 2n ** 64n));
  assert.ok(count((x) => x < 2n ** 53n) > 200, "small and safe IDs");
  assert.ok(count((x) => x >= 2n ** 53n && x < 2n ** 63n) > 100, "IDs beyond numbers, 8 and 9 varint bytes");
  assert.ok(count((x) => x >= 2n ** 63n) > 400, "IDs needing a 10-byte varint");
  assert.ok(xs.includes(2n ** 64n - 1n) && xs.includes(2n ** 63n) && xs.includes(2n ** 53n));
});

test("the raftpb round-trip target catches an encoder that writes large IDs through a float", () => {
  const t = targets.find((x) => x.name === "raftpb-roundtrip")!;
  const original = Writer.prototype.varint64;
  // The bug the bigint migration removed: an ID squeezed through a double loses its low bits.
  Writer.prototype.varint64 = function (this: Writer, v: bigint): void {
    original.call(this, BigInt(Number(v)) & (2n ** 64n - 1n));
  };
  try {
    const r = fuzzTarget(t, 2000, 9, undefined, false);
    assert.notEqual(r.failure, null, "a lossy ID encoder was not caught");
    // Either the value comes back different or the bytes no longer parse.
    assert.match(r.failure!.message, /differs|cannot decode/);
  } finally {
    Writer.prototype.varint64 = original;
  }
  assert.equal(fuzzTarget(t, 500, 9).failure, null);
});

test("fuzz inputs reach both outcomes: values and typed errors", () => {
  const t = targets.find((x) => x.name === "raftpb-message")!;
  let ok = 0;
  let err = 0;
  for (const input of fc.sample(t.input, { numRuns: 2000, seed: 3 })) {
    try {
      decodeMessage((input as { bytes: Uint8Array }).bytes);
      ok++;
    } catch {
      err++;
    }
  }
  assert.ok(ok > 300 && err > 300, `ok ${ok} err ${err}`);
});

test("npm run fuzz: runs the targets and reports cases/s", () => {
  const res = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "fuzz/cli.ts",
      "--runs",
      "300",
      "--target",
      "raftpb-entry",
      "--target",
      "confchange-text",
    ],
    { encoding: "utf8" },
  );
  assert.equal(res.status, 0, res.stdout + res.stderr);
  assert.match(res.stdout, /600 cases in [\d.]+s: [\d,]+ cases\/s/);
  assert.match(res.stdout, /no failures/);
});
