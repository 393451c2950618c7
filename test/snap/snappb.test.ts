// The .snap file is written in pieces (to avoid copying large snapshot data);
// the bytes must be exactly those of the one-buffer encoding, which the spec's
// worked example pins.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { crc32cUpdate } from "../../src/fileutil/index.ts";
import { ConfState, encodeSnapshot, Snapshot, SnapshotMetadata } from "../../src/raftpb/index.ts";
import { encodeSnapFile, snapFilePieces } from "../../src/snap/snappb.ts";

const concat = (parts: Uint8Array[]) => Buffer.concat(parts.map((p) => Buffer.from(p)));

test("the spec's .snap example (Data 'x', voters [1], index 10, term 2) in pieces", () => {
  const s = new Snapshot(Uint8Array.from([0x78]), new SnapshotMetadata(new ConfState([1n]), 10, 2));
  const bytes = concat(snapFilePieces(s, "G36", crc32cUpdate));
  assert.equal(
    bytes.toString("hex"),
    Buffer.from("08aee5edac09120f0a017812" + "0a0a0408012800100a1802", "hex").toString("hex"),
  );
});

test("pieces concatenate to the single-buffer encoding for any snapshot and profile", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      fc.array(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { maxLength: 4 }),
      fc.nat(),
      fc.nat(),
      fc.constantFrom("P37" as const, "G36" as const),
      (data, voters, index, term, profile) => {
        const s = new Snapshot(data, new SnapshotMetadata(new ConfState(voters), index + 1, term));
        const body = encodeSnapshot(s, profile);
        const want = encodeSnapFile(crc32cUpdate(0, body), body);
        assert.deepEqual(concat(snapFilePieces(s, profile, crc32cUpdate)), Buffer.from(want));
      },
    ),
    { numRuns: 300, seed: 3 },
  );
});
