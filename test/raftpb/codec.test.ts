// Hex vectors from ../shared/spec/storage-and-wire.md (section 1.6), each
// hand-derived and protoc-verified there; our encoder must match them byte for
// byte and our decoder must read every profile.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ConfChange,
  ConfChangeSingle,
  ConfChangeType,
  ConfChangeV2,
  ConfState,
  DecodeError,
  decodeConfChange,
  decodeConfChangeV2,
  decodeConfState,
  decodeEntry,
  decodeHardState,
  decodeMessage,
  decodeSnapshot,
  Entry,
  encodeConfChange,
  encodeConfChangeV2,
  encodeConfState,
  encodeEntry,
  encodeHardState,
  encodeMessage,
  encodeSnapshot,
  entrySize,
  HardState,
  Message,
  MessageType,
  Snapshot,
  SnapshotMetadata,
} from "../../src/raftpb/index.ts";

const hex = (s: string) =>
  Uint8Array.from(
    s
      .trim()
      .split(/\s+/)
      .map((b) => Number.parseInt(b, 16)),
  );
const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

function e1(): Entry {
  return new Entry(1, 2, 0, ascii("hi"));
}

describe("raftpb codec: spec vectors", () => {
  test("E1 Entry: G36 writes the zero type, P37 omits it", () => {
    assert.equal(toHex(encodeEntry(e1(), "G36")), "08 00 10 01 18 02 22 02 68 69");
    assert.equal(toHex(encodeEntry(e1())), "10 01 18 02 22 02 68 69");
    const noop = new Entry(2, 7);
    assert.equal(toHex(encodeEntry(noop, "G36")), "08 00 10 02 18 07");
    assert.equal(toHex(encodeEntry(noop)), "10 02 18 07");
    assert.equal(entrySize(e1()), 8);
  });

  test("E1 decodes from both profiles to the same entry", () => {
    for (const v of ["08 00 10 01 18 02 22 02 68 69", "10 01 18 02 22 02 68 69"]) {
      const e = decodeEntry(hex(v));
      assert.equal(e.term, 1);
      assert.equal(e.index, 2);
      assert.equal(e.type, 0);
      assert.deepEqual(Array.from(e.data), [0x68, 0x69]);
      // Re-encoding a decoded entry with P37 reproduces its input exactly.
      assert.equal(toHex(encodeEntry(e)), v);
    }
  });

  test("E2 HardState: raft sets all three fields", () => {
    assert.equal(toHex(encodeHardState(new HardState(1, 2n, 3))), "08 01 10 02 18 03");
    assert.equal(toHex(encodeHardState(new HardState(1, 0n, 0), "G36")), "08 01 10 00 18 00");
    const onlyTerm = decodeHardState(hex("08 01"));
    assert.equal(toHex(encodeHardState(onlyTerm)), "08 01");
    assert.equal(toHex(encodeHardState(onlyTerm, "G36")), "08 01 10 00 18 00");
  });

  test("E3 heartbeat in G36, G35 and P37", () => {
    const m = Message.create({ type: MessageType.MsgHeartbeat, to: 2n, from: 1n, term: 5, commit: 3 });
    const g36 = "08 08 10 02 18 01 20 05 28 00 30 00 40 03 50 00 58 00 68 00";
    const p37 = "08 08 10 02 18 01 20 05 40 03";
    const g35 = "08 08 10 02 18 01 20 05 28 00 30 00 40 03 4a 0a 12 08 0a 02 28 00 10 00 18 00 50 00 58 00";
    assert.equal(toHex(encodeMessage(m, "G36")), g36);
    assert.equal(toHex(encodeMessage(m)), p37);
    for (const v of [g36, p37, g35]) {
      const d = decodeMessage(hex(v));
      assert.equal(d.type, MessageType.MsgHeartbeat);
      assert.equal(d.to, 2n);
      assert.equal(d.from, 1n);
      assert.equal(d.term, 5);
      assert.equal(d.commit, 3);
      assert.equal(toHex(encodeMessage(d)), v, "P37 re-encoding keeps what was present");
    }
    // G35 always carries an empty snapshot; it must read as "no snapshot data".
    const old = decodeMessage(hex(g35));
    assert.ok(old.snapshot !== null && old.snapshot.metadata.index === 0);
    m.context = ascii("ab");
    assert.equal(
      toHex(encodeMessage(m, "G36")),
      "08 08 10 02 18 01 20 05 28 00 30 00 40 03 50 00 58 00 62 02 61 62 68 00",
    );
  });

  test("E4 ConfState lists are written unpacked", () => {
    const cs = new ConfState([1n, 2n, 3n], [4n]);
    assert.equal(toHex(encodeConfState(cs, "G36")), "08 01 08 02 08 03 10 04 28 00");
    assert.equal(toHex(encodeConfState(cs)), "08 01 08 02 08 03 10 04");
    // Packed form is accepted on read.
    const packed = decodeConfState(hex("0a 03 01 02 03 12 01 04 28 01"));
    assert.deepEqual(packed.voters, [1n, 2n, 3n]);
    assert.deepEqual(packed.learners, [4n]);
    assert.equal(packed.autoLeave, true);
  });

  test("E5 MsgApp with one entry (G36)", () => {
    const m = Message.create({
      type: MessageType.MsgApp,
      to: 2n,
      from: 1n,
      term: 1,
      logTerm: 1,
      index: 1,
      entries: [e1()],
      commit: 1,
    });
    assert.equal(
      toHex(encodeMessage(m, "G36")),
      "08 03 10 02 18 01 20 01 28 01 30 01 3a 0a 08 00 10 01 18 02 22 02 68 69 40 01 50 00 58 00 68 00",
    );
    const d = decodeMessage(encodeMessage(m, "G36"));
    assert.equal(d.entries.length, 1);
    assert.equal(d.entries[0]!.index, 2);
  });

  test("E6 ConfChange and ConfChangeV2 field order", () => {
    const cc = new ConfChange(ConfChangeType.ConfChangeAddNode, 1n);
    assert.equal(toHex(encodeConfChange(cc, "G36")), "08 00 10 00 18 01");
    const v2 = new ConfChangeV2([new ConfChangeSingle(ConfChangeType.ConfChangeAddLearnerNode, 4n)]);
    assert.equal(toHex(encodeConfChangeV2(v2, "G36")), "08 00 12 04 08 03 10 04");
    assert.equal(toHex(encodeConfChangeV2(new ConfChangeV2(), "G36")), "08 00");
    assert.equal(encodeConfChangeV2(new ConfChangeV2()).length, 0);
    assert.equal(decodeConfChange(hex("08 00 10 00 18 01")).nodeId, 1n);
    assert.equal(decodeConfChangeV2(hex("08 00 12 04 08 03 10 04")).changes[0]!.nodeId, 4n);
  });

  test("E7 MsgSnap (G36)", () => {
    const snap = new Snapshot(undefined, new SnapshotMetadata(new ConfState([1n, 2n]), 10, 2));
    const m = Message.create({ type: MessageType.MsgSnap, to: 2n, from: 1n, term: 3, snapshot: snap });
    const v =
      "08 07 10 02 18 01 20 03 28 00 30 00 40 00 4a 0e 12 0c 0a 06 08 01 08 02 28 00 10 0a 18 02 50 00 58 00 68 00";
    assert.equal(toHex(encodeMessage(m, "G36")), v);
    const d = decodeMessage(hex(v));
    assert.deepEqual(d.snapshot?.metadata.confState.voters, [1n, 2n]);
    assert.equal(d.snapshot?.metadata.index, 10);
  });

  test("E8 an ID of 2^64-1 (a 10-byte varint) decodes exactly and re-encodes to the same bytes", () => {
    const v = "08 05 10 ff ff ff ff ff ff ff ff ff 01 18 01 20 05 28 00 30 00 40 00 50 00 58 00 68 00";
    const d = decodeMessage(hex(v));
    assert.equal(d.to, 2n ** 64n - 1n);
    assert.equal(d.from, 1n);
    assert.equal(toHex(encodeMessage(d, "G36")), v);
    // A term is a number and stays capped at 2^53-1: the same varint in the term field is refused.
    assert.throws(
      () => decodeMessage(hex("08 05 10 02 18 01 20 ff ff ff ff ff ff ff ff ff 01")),
      (err: unknown) =>
        err instanceof DecodeError && err.field === "Message.term" && /MAX_SAFE_INTEGER/.test(err.message),
    );
  });

  test("E10 Snapshot with data", () => {
    const s = new Snapshot(ascii("x"), new SnapshotMetadata(new ConfState([1n]), 10, 2));
    assert.equal(toHex(encodeSnapshot(s, "G36")), "0a 01 78 12 0a 0a 04 08 01 28 00 10 0a 18 02");
    const d = decodeSnapshot(hex("0a 01 78 12 0a 0a 04 08 01 28 00 10 0a 18 02"));
    assert.equal(d.metadata.term, 2);
    assert.deepEqual(Array.from(d.data), [0x78]);
  });

  test("nil and empty bytes stay distinct", () => {
    const present = decodeEntry(hex("10 01 18 02 22 00"));
    assert.equal(present.data.length, 0);
    assert.equal(toHex(encodeEntry(present)), "10 01 18 02 22 00");
    const absent = decodeEntry(hex("10 01 18 02"));
    assert.equal(toHex(encodeEntry(absent)), "10 01 18 02");
  });
});

describe("raftpb codec: malformed input", () => {
  const cases: Array<[string, string, string]> = [
    ["truncated varint", "08 80", "Message.type"],
    ["length past end", "3a 05 08 00", "Message.entries"],
    ["wrong wire type", "0a 01 00", "Message.type"],
    ["unknown message type", "08 18", "Message.type"],
    ["unknown entry type inside message", "3a 02 08 03", "Entry.Type"],
    ["group wire type on an unknown field", "7b", "Message"],
    ["field number zero", "00 00", "Message"],
    ["varint of 11 bytes", "10 ff ff ff ff ff ff ff ff ff ff 01", "Message.to"],
    ["entry varint running past its sub-message", "3a 01 10 80 01", "Entry.Term"],
  ];
  for (const [name, bytes, field] of cases) {
    test(name, () => {
      assert.throws(
        () => decodeMessage(hex(bytes)),
        (err: unknown) => err instanceof DecodeError && err.field === field && err.code === "ERR_DECODE",
      );
    });
  }

  test("unknown fields are skipped", () => {
    // field 15 varint, field 16 bytes, field 17 fixed32, field 18 fixed64
    const m = decodeMessage(
      hex("08 08 78 05 82 01 02 aa bb 8d 01 01 02 03 04 91 01 01 02 03 04 05 06 07 08 10 02"),
    );
    assert.equal(m.type, MessageType.MsgHeartbeat);
    assert.equal(m.to, 2n);
  });

  test("deeply nested responses are refused, not a stack overflow", () => {
    let inner = new Uint8Array(0);
    for (let i = 0; i < 100; i++) {
      const len = encodeLen(inner.length);
      const next = new Uint8Array(1 + len.length + inner.length);
      next[0] = 0x72;
      next.set(len, 1);
      next.set(inner, 1 + len.length);
      inner = next;
    }
    assert.throws(() => decodeMessage(inner), DecodeError);
  });
});

function encodeLen(n: number): Uint8Array {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Uint8Array.from(out);
}
