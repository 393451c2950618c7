// Node IDs are exact unsigned 64-bit values (issue 12). etcd derives member
// IDs from SHA-1, so they use the whole range: half of them are >= 2^63 and
// take a 10-byte varint. Expected bytes here are written by hand (varints)
// or produced by protobufjs from a proto2 schema with etcd's field numbers —
// never by our own encoder.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import protobuf from "protobufjs";
import {
  ConfChange,
  ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  ConfChangeV2,
  ConfState,
  compareIds,
  DecodeError,
  decodeConfChange,
  decodeConfChangeV2,
  decodeConfState,
  decodeHardState,
  decodeMessage,
  decodeSnapshot,
  EncodeError,
  Entry,
  EntryType,
  encodeConfChange,
  encodeConfChangeV2,
  encodeConfState,
  encodedMessageSize,
  encodeEntry,
  encodeHardState,
  encodeMessage,
  encodeSnapshot,
  formatId,
  HardState,
  IdParseError,
  Message,
  MessageType,
  parseDecimalId,
  parseHexId,
  Reader,
  Snapshot,
  SnapshotMetadata,
  sortIds,
  varintSize,
  varintSize64,
  Writer,
} from "../../src/raftpb/index.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const unhex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));

// The IDs of the brief: both sides of every boundary where an encoding changes.
const IDS: readonly bigint[] = [
  0n,
  1n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 56n - 1n,
  2n ** 56n,
  2n ** 63n - 1n,
  2n ** 63n,
  2n ** 64n - 1n,
];

// Their varints, by hand: 7 bits per byte, least significant group first,
// high bit set on every byte but the last.
const VARINTS: ReadonlyMap<bigint, string> = new Map([
  [0n, "00"],
  [1n, "01"],
  [2n ** 53n - 1n, "ff ff ff ff ff ff ff 0f"], // 53 one-bits: 7 groups of 7, then 4
  [2n ** 53n, "80 80 80 80 80 80 80 10"], // bit 53 is bit 4 of the 8th group
  [2n ** 56n - 1n, "ff ff ff ff ff ff ff 7f"], // the largest 8-byte varint
  [2n ** 56n, "80 80 80 80 80 80 80 80 01"],
  [2n ** 63n - 1n, "ff ff ff ff ff ff ff ff 7f"], // the largest 9-byte varint
  [2n ** 63n, "80 80 80 80 80 80 80 80 80 01"], // bit 63 alone in the 10th byte
  [2n ** 64n - 1n, "ff ff ff ff ff ff ff ff ff 01"],
]);

// etcd's raft.proto (proto2), reduced to the wire: enums as uint32 (same varint).
const root = protobuf.parse(
  `
  syntax = "proto2";
  package raftpb;
  message Entry { optional uint64 Term = 2; optional uint64 Index = 3; optional uint32 Type = 1; optional bytes Data = 4; }
  message ConfState {
    repeated uint64 voters = 1; repeated uint64 learners = 2; repeated uint64 voters_outgoing = 3;
    repeated uint64 learners_next = 4; optional bool auto_leave = 5;
  }
  message SnapshotMetadata { optional ConfState conf_state = 1; optional uint64 index = 2; optional uint64 term = 3; }
  message Snapshot { optional bytes data = 1; optional SnapshotMetadata metadata = 2; }
  message Message {
    optional uint32 type = 1; optional uint64 to = 2; optional uint64 from = 3; optional uint64 term = 4;
    optional uint64 logTerm = 5; optional uint64 index = 6; repeated Entry entries = 7; optional uint64 commit = 8;
    optional Snapshot snapshot = 9; optional bool reject = 10; optional uint64 rejectHint = 11;
    optional bytes context = 12; optional uint64 vote = 13; repeated Message responses = 14;
  }
  message HardState { optional uint64 term = 1; optional uint64 vote = 2; optional uint64 commit = 3; }
  message ConfChange { optional uint64 id = 1; optional uint32 type = 2; optional uint64 node_id = 3; optional bytes context = 4; }
  message ConfChangeSingle { optional uint32 type = 1; optional uint64 node_id = 2; }
  message ConfChangeV2 { optional uint32 transition = 1; repeated ConfChangeSingle changes = 2; optional bytes context = 3; }
`,
  { keepCase: true },
).root;
const pb = (name: string) => root.lookupType(`raftpb.${name}`);

/** protobufjs's encoding of a plain object; uint64s are given as decimal strings (exact, through Long). */
function pbEncode(name: string, obj: Record<string, unknown>): string {
  const t = pb(name);
  return hex(t.encode(t.fromObject(obj)).finish());
}

/** protobufjs's decoding, with every uint64 as a decimal string. */
function pbDecode(name: string, b: Uint8Array): Record<string, unknown> {
  const t = pb(name);
  return t.toObject(t.decode(b), { longs: String, defaults: false }) as Record<string, unknown>;
}

const dec = (id: bigint) => id.toString(10);
/** A second ID for each case, so that `to` and `from` differ. */
const other = (id: bigint) => IDS[(IDS.indexOf(id) + 4) % IDS.length]!;

describe("varints of 64-bit IDs", () => {
  for (const id of IDS) {
    test(`${formatId(id)}: written as ${VARINTS.get(id)}, sized, and read back exactly`, () => {
      const want = VARINTS.get(id)!;
      const n = want.split(" ").length;
      assert.equal(varintSize64(id), n);
      const w = new Writer(new Uint8Array(n));
      w.varint64(id);
      assert.equal(w.pos, n);
      assert.equal(hex(w.buf), want.replace(/ /g, ""));
      const r = new Reader(unhex(want));
      assert.equal(r.uint64("id"), id);
      assert.equal(r.pos, n);
    });
  }

  test("varintSize64: 10 bytes from 2^63, 9 below it, 8 up to 2^56 - 1", () => {
    assert.equal(varintSize64(2n ** 63n), 10);
    assert.equal(varintSize64(2n ** 63n + 12345n), 10);
    assert.equal(varintSize64(0x8e9e05c52164694dn), 10);
    assert.equal(varintSize64(2n ** 63n - 1n), 9);
    assert.equal(varintSize64(2n ** 56n), 9);
    assert.equal(varintSize64(2n ** 56n - 1n), 8);
    assert.equal(varintSize64(127n), 1);
    assert.equal(varintSize64(128n), 2);
  });

  test("varintSize of numbers: 1 to 8 bytes for safe integers", () => {
    const cases: Array<[number, number]> = [
      [0, 1],
      [127, 1],
      [128, 2],
      [2 ** 14 - 1, 2],
      [2 ** 14, 3],
      [2 ** 28, 5],
      [2 ** 35 - 1, 5],
      [2 ** 35, 6],
      [2 ** 49, 8],
      [Number.MAX_SAFE_INTEGER, 8],
    ];
    for (const [v, n] of cases) assert.equal(varintSize(v), n, `varintSize(${v})`);
  });

  test("EncodeError for what no field may hold: -1, 1.5, NaN, Infinity, 2^53 as numbers; -1n, 2^64 and numbers as IDs", () => {
    for (const v of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, 2 ** 64]) {
      assert.throws(
        () => varintSize(v),
        (e: unknown) => e instanceof EncodeError && e.code === "ERR_ENCODE" && Object.is(e.value, v),
        `varintSize(${v})`,
      );
    }
    for (const v of [-1n, 2n ** 64n, 2n ** 70n, 5, 0, 1.5] as unknown[]) {
      assert.throws(
        () => varintSize64(v as bigint),
        (e: unknown) => e instanceof EncodeError && e.code === "ERR_ENCODE",
        `varintSize64(${String(v)})`,
      );
    }
  });

  test("encoders refuse bad values in any field instead of writing bytes", () => {
    const bad: Array<[string, () => Uint8Array]> = [
      ["a number in Message.to", () => encodeMessage(Message.create({ to: 5 as unknown as bigint }))],
      [
        "a number in Message.from",
        () => encodeMessage(Message.create({ from: (2 ** 60) as unknown as bigint })),
      ],
      ["-1n in Message.vote", () => encodeMessage(Message.create({ vote: -1n }))],
      ["2^64 in Message.to", () => encodeMessage(Message.create({ to: 2n ** 64n }), "G36")],
      ["2^53 in Message.term", () => encodeMessage(Message.create({ to: 1n, term: 2 ** 53 }))],
      ["1.5 in Message.index", () => encodeMessage(Message.create({ to: 1n, index: 1.5 }))],
      ["NaN in Message.commit", () => encodeMessage(Message.create({ to: 1n, commit: Number.NaN }))],
      ["-1 in Message.logTerm", () => encodeMessage(Message.create({ to: 1n, logTerm: -1 }))],
      ["2^64 in HardState.vote", () => encodeHardState(new HardState(1, 2n ** 64n, 1))],
      ["a number in HardState.vote", () => encodeHardState(new HardState(1, 3 as unknown as bigint, 1))],
      ["2^64 in ConfState.voters", () => encodeConfState(new ConfState([1n, 2n ** 64n]))],
      ["a number in ConfState.learnersNext", () => encodeConfState(new ConfState([], [], [], [7 as never]))],
      ["-1n in ConfChange.id", () => encodeConfChange(new ConfChange(0, 1n, undefined, -1n))],
      ["2^64 in ConfChange.nodeId", () => encodeConfChange(new ConfChange(0, 2n ** 64n))],
      [
        "2^64 in ConfChangeSingle.nodeId",
        () => encodeConfChangeV2(new ConfChangeV2([new ConfChangeSingle(0, 2n ** 64n)])),
      ],
      ["2^53 in Entry.index", () => encodeEntry(new Entry(1, 2 ** 53))],
    ];
    for (const [what, f] of bad) {
      assert.throws(f, (e: unknown) => e instanceof EncodeError && e.code === "ERR_ENCODE", what);
    }
  });

  test("DecodeError for an 11-byte varint and for a 10th byte that overflows 64 bits", () => {
    const cases: Array<[string, string, string, RegExp]> = [
      // Message.to (field 2, ID)
      ["Message", "10 ff ff ff ff ff ff ff ff ff ff 01", "Message.to", /longer than 10 bytes/],
      ["Message", "10 ff ff ff ff ff ff ff ff ff 02", "Message.to", /overflows 64 bits/],
      ["Message", "10 80 80 80 80 80 80 80 80 80 7f", "Message.to", /overflows 64 bits/],
      ["Message", "10 80 80 80 80 80 80 80 80 80 81 00", "Message.to", /longer than 10 bytes/],
      // Message.term (field 4, number)
      ["Message", "20 ff ff ff ff ff ff ff ff ff 02", "Message.term", /overflows 64 bits/],
      ["Message", "20 80 80 80 80 80 80 80 80 80 80 01", "Message.term", /longer than 10 bytes/],
      // HardState.vote, ConfState.voters (unpacked and packed), ConfChange.id
      ["HardState", "10 ff ff ff ff ff ff ff ff ff 03", "HardState", /overflows 64 bits/],
      ["ConfState", "08 ff ff ff ff ff ff ff ff ff ff 01", "ConfState.voters", /longer than 10 bytes/],
      ["ConfState", "0a 0a ff ff ff ff ff ff ff ff ff 02", "ConfState.voters", /overflows 64 bits/],
      ["ConfChange", "08 ff ff ff ff ff ff ff ff ff 02", "ConfChange.id", /overflows 64 bits/],
    ];
    const decoders: Record<string, (b: Uint8Array) => unknown> = {
      Message: (b) => decodeMessage(b),
      HardState: decodeHardState,
      ConfState: decodeConfState,
      ConfChange: (b) => decodeConfChange(b),
    };
    for (const [type, bytes, field, why] of cases) {
      assert.throws(
        () => decoders[type]!(unhex(bytes)),
        (e: unknown) =>
          e instanceof DecodeError &&
          e.code === "ERR_DECODE" &&
          e.field.startsWith(field) &&
          why.test(e.message),
        `${type} ${bytes}`,
      );
    }
    // The largest legal 10-byte varints decode.
    assert.equal(decodeMessage(unhex("10 ff ff ff ff ff ff ff ff ff 01")).to, 2n ** 64n - 1n);
    assert.equal(decodeMessage(unhex("10 80 80 80 80 80 80 80 80 80 01")).to, 2n ** 63n);
    // A non-minimal varint of a small ID (10 bytes, legal protobuf) reads as that ID.
    assert.equal(decodeMessage(unhex("10 81 80 80 80 80 80 80 80 80 00")).to, 1n);
  });
});

describe("round trips with 64-bit IDs, byte-exact against protobufjs", () => {
  for (const id of IDS) {
    const name = formatId(id);

    test(`Message with to/from/vote = ${name}`, () => {
      const from = other(id);
      const resp = Message.create({ type: MessageType.MsgVoteResp, to: from, from: id, term: 7 });
      const m = Message.create({
        type: MessageType.MsgVote,
        to: id,
        from,
        term: 7,
        logTerm: 6,
        index: 42,
        vote: id,
        responses: [resp],
      });
      // G36 writes every non-nullable scalar; P37 only what is not zero.
      const g36 = pbEncode("Message", {
        type: MessageType.MsgVote,
        to: dec(id),
        from: dec(from),
        term: 7,
        logTerm: 6,
        index: 42,
        commit: 0,
        reject: false,
        rejectHint: 0,
        vote: dec(id),
        responses: [
          {
            type: MessageType.MsgVoteResp,
            to: dec(from),
            from: dec(id),
            term: 7,
            logTerm: 0,
            index: 0,
            commit: 0,
            reject: false,
            rejectHint: 0,
            vote: "0",
          },
        ],
      });
      const nz = (k: string, v: bigint) => (v === 0n ? {} : { [k]: dec(v) });
      const p37 = pbEncode("Message", {
        type: MessageType.MsgVote,
        ...nz("to", id),
        ...nz("from", from),
        term: 7,
        logTerm: 6,
        index: 42,
        ...nz("vote", id),
        responses: [{ type: MessageType.MsgVoteResp, ...nz("to", from), ...nz("from", id), term: 7 }],
      });
      assert.equal(hex(encodeMessage(m, "G36")), g36);
      assert.equal(hex(encodeMessage(m, "P37")), p37);
      assert.equal(encodedMessageSize(m, "G36"), g36.length / 2);
      for (const bytes of [g36, p37]) {
        const d = decodeMessage(unhex(bytes));
        assert.equal(d.to, id);
        assert.equal(d.from, from);
        assert.equal(d.vote, id);
        assert.equal(d.responses[0]!.to, from);
        assert.equal(d.responses[0]!.from, id);
        // And protobufjs reads our bytes as the same 64-bit values.
        const o = pbDecode("Message", encodeMessage(d, "G36"));
        assert.equal(o.to, dec(id));
        assert.equal(o.from, dec(from));
        assert.equal(o.vote, dec(id));
      }
    });

    test(`HardState with vote = ${name}`, () => {
      const hs = new HardState(3, id, 2);
      const g36 = pbEncode("HardState", { term: 3, vote: dec(id), commit: 2 });
      assert.equal(hex(encodeHardState(hs, "G36")), g36);
      // raft always sets all three fields, so P37 writes a zero vote too.
      assert.equal(hex(encodeHardState(hs, "P37")), g36);
      // etcd's HardState.vote is field 2: tag 0x10 then the hand-written varint.
      assert.equal(g36, `0803 10${VARINTS.get(id)!.replace(/ /g, "")} 1802`.replace(/ /g, ""));
      assert.equal(decodeHardState(unhex(g36)).vote, id);
    });

    test(`ConfState with voters, learners and joint lists holding ${name}`, () => {
      const cs = new ConfState([1n, id], [other(id)], [id, 2n ** 63n + 5n], [other(id)], true);
      const want = pbEncode("ConfState", {
        voters: ["1", dec(id)],
        learners: [dec(other(id))],
        voters_outgoing: [dec(id), dec(2n ** 63n + 5n)],
        learners_next: [dec(other(id))],
        auto_leave: true,
      });
      assert.equal(hex(encodeConfState(cs, "G36")), want);
      assert.equal(hex(encodeConfState(cs, "P37")), want);
      const d = decodeConfState(unhex(want));
      assert.deepEqual(
        [d.voters, d.learners, d.votersOutgoing, d.learnersNext, d.autoLeave],
        [[1n, id], [other(id)], [id, 2n ** 63n + 5n], [other(id)], true],
      );
      // Packed lists (another proto writer's choice) read the same.
      const packed = `0a${(1 + VARINTS.get(id)!.split(" ").length).toString(16).padStart(2, "0")}01${VARINTS.get(id)!.replace(/ /g, "")}`;
      assert.deepEqual(decodeConfState(unhex(packed)).voters, [1n, id]);
    });

    test(`Snapshot whose ConfState names ${name}`, () => {
      const s = new Snapshot(new Uint8Array([7]), new SnapshotMetadata(new ConfState([id]), 10, 2));
      const want = pbEncode("Snapshot", {
        data: Buffer.from([7]),
        metadata: { conf_state: { voters: [dec(id)], auto_leave: false }, index: 10, term: 2 },
      });
      assert.equal(hex(encodeSnapshot(s, "G36")), want);
      assert.deepEqual(decodeSnapshot(unhex(want)).metadata.confState.voters, [id]);
    });

    test(`ConfChange with id and nodeId = ${name}`, () => {
      const cc = new ConfChange(ConfChangeType.ConfChangeAddLearnerNode, other(id), undefined, id);
      const g36 = pbEncode("ConfChange", { id: dec(id), type: 3, node_id: dec(other(id)) });
      assert.equal(hex(encodeConfChange(cc, "G36")), g36);
      const nz = (k: string, v: bigint) => (v === 0n ? {} : { [k]: dec(v) });
      assert.equal(
        hex(encodeConfChange(cc, "P37")),
        pbEncode("ConfChange", { ...nz("id", id), type: 3, ...nz("node_id", other(id)) }),
      );
      const d = decodeConfChange(unhex(g36));
      assert.equal(d.id, id);
      assert.equal(d.nodeId, other(id));
    });

    test(`ConfChangeV2 with changes for ${name}`, () => {
      const cc = new ConfChangeV2(
        [
          new ConfChangeSingle(ConfChangeType.ConfChangeAddNode, id),
          new ConfChangeSingle(ConfChangeType.ConfChangeRemoveNode, other(id)),
        ],
        ConfChangeTransition.ConfChangeTransitionJointExplicit,
      );
      const want = pbEncode("ConfChangeV2", {
        transition: 2,
        changes: [
          { type: 0, node_id: dec(id) },
          { type: 1, node_id: dec(other(id)) },
        ],
      });
      assert.equal(hex(encodeConfChangeV2(cc, "G36")), want);
      const d = decodeConfChangeV2(unhex(want));
      assert.deepEqual(
        d.changes.map((c) => [c.type, c.nodeId]),
        [
          [0, id],
          [1, other(id)],
        ],
      );
    });
  }
});

describe("ID helpers", () => {
  test("sortIds orders numerically across the whole range (the default sort would not)", () => {
    const ids = [2n ** 64n - 1n, 10n, 9n, 2n ** 53n, 2n ** 53n - 1n, 0n, 2n ** 63n, 100n];
    assert.deepEqual(sortIds(ids), [0n, 9n, 10n, 100n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n]);
    // Why compareIds exists: JS sorts bigints by their decimal strings.
    assert.deepEqual([10n, 9n, 100n].sort(), [10n, 100n, 9n]);
    assert.deepEqual([10n, 9n, 100n].sort(compareIds), [9n, 10n, 100n]);
    assert.equal(sortIds(new Set([3n, 1n, 2n])).join(), "1,2,3");
    assert.ok(ids.length === 8, "sortIds returns a new array");
  });

  test("formatId, parseHexId, parseDecimalId: etcd's hex, and refusal of anything outside 64 bits", () => {
    assert.equal(formatId(0x8e9e05c52164694dn), "8e9e05c52164694d");
    assert.equal(formatId(2n ** 64n - 1n), "ffffffffffffffff");
    assert.equal(formatId(10n), "a");
    assert.equal(parseHexId("8e9e05c52164694d"), 0x8e9e05c52164694dn);
    assert.equal(parseHexId("0xFFFFFFFFFFFFFFFF"), 2n ** 64n - 1n);
    assert.equal(parseDecimalId("18446744073709551615"), 2n ** 64n - 1n);
    assert.equal(parseDecimalId("9223372036854775808"), 2n ** 63n);
    for (const bad of ["", "0x", "1ffffffffffffffff", "-1", "g", " 1"]) {
      assert.throws(
        () => parseHexId(bad),
        (e: unknown) => e instanceof IdParseError && e.code === "ERR_ID_PARSE",
      );
    }
    for (const bad of ["", "18446744073709551616", "-1", "1e3", "0x10", "1.0"]) {
      assert.throws(
        () => parseDecimalId(bad),
        (e: unknown) => e instanceof IdParseError && e.code === "ERR_ID_PARSE",
      );
    }
  });

  test("an entry's payload is unaffected by the ID width of what carries it", () => {
    const e = new Entry(2, 3, EntryType.EntryNormal, new Uint8Array([1, 2]));
    const m = Message.create({ type: MessageType.MsgApp, to: 2n ** 64n - 1n, from: 2n ** 63n, entries: [e] });
    assert.deepEqual(Array.from(decodeMessage(encodeMessage(m)).entries[0]!.data), [1, 2]);
  });
});
