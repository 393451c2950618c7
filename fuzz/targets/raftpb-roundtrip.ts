// raftpb encode∘decode identity: any valid value — with node IDs anywhere in
// the unsigned 64-bit range, including >= 2^63 where the varint takes 10
// bytes — encodes in either profile to bytes that decode to the same value,
// ID for ID, and re-encode to the same bytes. The decoder targets start from
// bytes and check decode∘encode; this one starts from values, so an encoder
// that writes an ID wrongly (sized for 9 bytes, or rounded through a float)
// is caught even when its output still decodes.

import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import type { ConfChange, ConfChangeV2, ConfState, HardState, Message, Snapshot } from "../../src/index.ts";
import {
  decodeConfChange,
  decodeConfChangeV2,
  decodeConfState,
  decodeHardState,
  decodeMessage,
  decodeSnapshot,
  encodeConfChange,
  encodeConfChangeV2,
  encodeConfState,
  encodedMessageSize,
  encodeHardState,
  encodeMessage,
  encodeSnapshot,
  type Profile,
} from "../../src/wire.ts";
import { FuzzFailure, type FuzzTarget, hex } from "../target.ts";
import { confChange, confChangeV2, confState, hardState, message, snapshot } from "../values.ts";

type Value =
  | { kind: "Message"; v: Message }
  | { kind: "HardState"; v: HardState }
  | { kind: "ConfState"; v: ConfState }
  | { kind: "ConfChange"; v: ConfChange }
  | { kind: "ConfChangeV2"; v: ConfChangeV2 }
  | { kind: "Snapshot"; v: Snapshot };

interface Input {
  value: Value;
  profile: Profile;
}

function encode(x: Value, profile: Profile): Uint8Array {
  switch (x.kind) {
    case "Message":
      return encodeMessage(x.v, profile);
    case "HardState":
      return encodeHardState(x.v, profile);
    case "ConfState":
      return encodeConfState(x.v, profile);
    case "ConfChange":
      return encodeConfChange(x.v, profile);
    case "ConfChangeV2":
      return encodeConfChangeV2(x.v, profile);
    case "Snapshot":
      return encodeSnapshot(x.v, profile);
  }
}

function decode(kind: Value["kind"], b: Uint8Array): Value {
  switch (kind) {
    case "Message":
      return { kind, v: decodeMessage(b) };
    case "HardState":
      return { kind, v: decodeHardState(b) };
    case "ConfState":
      return { kind, v: decodeConfState(b) };
    case "ConfChange":
      return { kind, v: decodeConfChange(b) };
    case "ConfChangeV2":
      return { kind, v: decodeConfChangeV2(b) };
    case "Snapshot":
      return { kind, v: decodeSnapshot(b) };
  }
}

/**
 * The value as plain data: byte arrays as arrays, and without the `present`
 * bits (a decoded value records which fields were on the wire, a constructed
 * one has none). Bigints stay bigints, so IDs compare exactly.
 */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return Array.from(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (k !== "present") out[k] = plain(x);
    return out;
  }
  return v;
}

const show = (v: unknown): string =>
  JSON.stringify(plain(v), (_, x) => (typeof x === "bigint" ? `${x.toString(16)}n` : x));

const target: FuzzTarget<Input> = {
  name: "raftpb-roundtrip",
  description:
    "raftpb encode∘decode identity for messages, hard states, conf states and changes, snapshots with IDs over the whole 64-bit range",
  input: fc.record({
    value: fc.oneof(
      { weight: 4, arbitrary: message.map((v): Value => ({ kind: "Message", v })) },
      hardState.map((v): Value => ({ kind: "HardState", v })),
      confState.map((v): Value => ({ kind: "ConfState", v })),
      confChange.map((v): Value => ({ kind: "ConfChange", v })),
      confChangeV2.map((v): Value => ({ kind: "ConfChangeV2", v })),
      snapshot.map((v): Value => ({ kind: "Snapshot", v })),
    ),
    profile: fc.constantFrom<Profile>("P37", "G36"),
  }),
  show: (i) => `${i.value.kind} ${i.profile} ${show(i.value.v)}`,
  run: ({ value, profile }) => {
    const bytes = encode(value, profile);
    if (value.kind === "Message" && encodedMessageSize(value.v, profile) !== bytes.length) {
      throw new FuzzFailure(
        `encodedMessageSize says ${encodedMessageSize(value.v, profile)}, encodeMessage wrote ${bytes.length}`,
      );
    }
    const back = decode(value.kind, bytes);
    if (!isDeepStrictEqual(plain(back.v), plain(value.v))) {
      throw new FuzzFailure(`decode(encode(v)) differs from v: got ${show(back.v)} from ${hex(bytes)}`);
    }
    const again = encode(back, profile);
    if (!isDeepStrictEqual(again, bytes)) {
      throw new FuzzFailure(`encode(decode(b)) differs from b: ${hex(again)} vs ${hex(bytes)}`);
    }
  },
};

export default target;
