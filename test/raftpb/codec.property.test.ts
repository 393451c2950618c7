// Property tests: random messages round-trip through both profiles, and random
// or mutated bytes only ever produce a value or a DecodeError.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { message } from "../../fuzz/values.ts";
import {
  DecodeError,
  decodeConfChange,
  decodeConfChangeV2,
  decodeHardState,
  decodeMessage,
  decodeSnapshot,
  type Entry,
  encodeMessage,
  type Message,
  type Snapshot,
} from "../../src/raftpb/index.ts";

function comparable(m: Message): unknown {
  const ent = (e: Entry) => [e.term, e.index, e.type, Array.from(e.data)];
  const snap = (s: Snapshot | null) =>
    s === null
      ? null
      : [Array.from(s.data), s.metadata.index, s.metadata.term, { ...s.metadata.confState, present: 0 }];
  return [
    m.type,
    m.to,
    m.from,
    m.term,
    m.logTerm,
    m.index,
    m.entries.map(ent),
    m.commit,
    m.vote,
    snap(m.snapshot),
    m.reject,
    m.rejectHint,
    Array.from(m.context),
    m.responses.map(comparable),
  ];
}

test("random messages round-trip through P37 and G36", () => {
  fc.assert(
    fc.property(message, (m) => {
      for (const profile of ["P37", "G36"] as const) {
        const enc = encodeMessage(m, profile);
        const dec = decodeMessage(enc);
        assert.deepEqual(comparable(dec), comparable(m));
        // Decoding keeps presence, so re-encoding is byte-identical.
        assert.deepEqual(encodeMessage(dec, profile), enc);
      }
    }),
    { numRuns: 500, seed: 42 },
  );
});

const decoders = [decodeMessage, decodeHardState, decodeSnapshot, decodeConfChange, decodeConfChangeV2];

function onlyValueOrDecodeError(b: Uint8Array): void {
  for (const d of decoders) {
    try {
      d(b);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
    }
  }
}

test("random bytes only ever decode or raise DecodeError", () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), onlyValueOrDecodeError), {
    numRuns: 3000,
    seed: 7,
  });
});

test("mutated valid messages only ever decode or raise DecodeError", () => {
  fc.assert(
    fc.property(
      message,
      fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }),
      (m, muts) => {
        const b = encodeMessage(m, "G36");
        if (b.length === 0) return;
        for (const [at, v] of muts) b[at % b.length] = v;
        onlyValueOrDecodeError(b);
        onlyValueOrDecodeError(b.subarray(0, muts[0]![0] % b.length));
      },
    ),
    { numRuns: 1000, seed: 11 },
  );
});
