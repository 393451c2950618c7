// Inputs the fuzzers found that broke a property, kept as regression tests.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  decodeConfState,
  decodeSnapshotMetadata,
  encodeConfState,
  encodeSnapshotMetadata,
} from "../../src/index.ts";

const bytes = (hex: string) => Uint8Array.from(Buffer.from(hex, "hex"));

// `npm run fuzz -- --runs 1000000` (seed 1), targets raftpb-confstate and
// raftpb-snapshot-metadata: an empty packed list set a presence bit that no
// encoding can carry, so decode(encode(decode(x))) differed from decode(x).
test("an empty packed repeated field leaves no presence behind", () => {
  const cs = decodeConfState(bytes("1a00"));
  assert.equal(cs.present, 0);
  assert.deepEqual(decodeConfState(encodeConfState(cs)), cs);
  const md = decodeSnapshotMetadata(
    bytes(
      "0a1b100a8001002200180018808080808080800118808080808080800118002080011080808080808080011880808080808001",
    ),
  );
  assert.deepEqual(decodeSnapshotMetadata(encodeSnapshotMetadata(md)), md);
});
