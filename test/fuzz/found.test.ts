// Inputs the fuzzers found that broke a property, kept as regression tests.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MemFS } from "../../fuzz/memfs.ts";
import { Entry, Message, MessageType } from "../../src/index.ts";
import {
  FrameBuffer,
  LINK_HEARTBEAT,
  MessageDecoder,
  MsgAppV2Decoder,
  MsgAppV2Encoder,
  RaftHttpError,
  RaftHttpErrorCode,
} from "../../src/rafthttp/index.ts";
import { Decoder, Encoder, RecordType, WalError, WalErrorCode } from "../../src/wal/index.ts";
import {
  decodeConfState,
  decodeSnapshotMetadata,
  encodeConfState,
  encodeSnapshotMetadata,
} from "../../src/wire.ts";

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

// Reads every record of the given segments (in /w) back; returns the data of
// each, or the WalError that stopped the read.
function readSegments(fs: MemFS, names: string[]): { data: string[]; err: WalError | null } {
  const d = new Decoder(
    fs,
    names.map((name) => ({ name, fd: fs.openSync(`/w/${name}`, "r") })),
  );
  const data: string[] = [];
  try {
    while (d.next()) data.push(Buffer.from(d.data() ?? new Uint8Array(0)).toString("hex"));
    return { data, err: null };
  } catch (e) {
    assert.ok(e instanceof WalError);
    return { data, err: e };
  }
}

// Two segments as the WAL cuts them: each opens with a crc record and the metadata.
function twoSegments(metadata: Uint8Array): MemFS {
  const fs = new MemFS();
  let crc = 0;
  for (const name of ["0.wal", "1.wal"]) {
    const fd = fs.openSync(`/w/${name}`, "w");
    const enc = new Encoder(fs, fd, 0, crc, "P37");
    enc.appendCrc(crc);
    enc.appendData(RecordType.Metadata, metadata);
    enc.flush();
    crc = enc.crc;
  }
  return fs;
}

// `npm run fuzz` target wal-segment: a segment that is not the last, emptied
// by damage, was skipped without a word, because the next segment's crc
// record seeded a decoder that had read nothing.
test("an empty segment before the last is corruption", () => {
  const fs = twoSegments(bytes("6d64"));
  assert.deepEqual(readSegments(fs, ["0.wal", "1.wal"]).data, ["", "6d64", "", "6d64"]);
  fs.files.set("/w/0.wal", new Uint8Array(0));
  const { err } = readSegments(fs, ["0.wal", "1.wal"]);
  assert.equal(err?.code, WalErrorCode.Corrupt);
});

// wal-segment: the same with a segment cut right after its crc record: the
// running CRC was 0 there, and 0 was taken to mean "not seeded yet".
test("a crc record must match the chain even when the chain is 0", () => {
  const fs = twoSegments(bytes("6d64"));
  fs.files.set("/w/0.wal", fs.files.get("/w/0.wal")!.subarray(0, 16));
  const { data, err } = readSegments(fs, ["0.wal", "1.wal"]);
  assert.deepEqual(data, [""]);
  assert.equal(err?.code, WalErrorCode.CRCMismatch);
});

// wal-segment: one changed key byte (0x10 -> 0x79) turned a record's crc and
// data into a skipped unknown fixed64 field, which passed the CRC check as a
// record without data. etcd never writes other fields, nor omits type or crc.
test("a WAL record with an unknown field, or without its crc, is corruption", () => {
  const fs = new MemFS();
  fs.files.set(
    "/w/0.wal",
    bytes("040000000000008408041000000000000b00000000000085080179d1a6f593051a01000000000000"),
  );
  const { data, err } = readSegments(fs, ["0.wal"]);
  assert.deepEqual(data, [""]);
  assert.equal(err?.code, WalErrorCode.Corrupt);
  assert.match(err?.message ?? "", /unknown field 15/);
  fs.files.set("/w/0.wal", bytes("0400000000000084080410000000000002000000000000860801000000000000"));
  assert.match(readSegments(fs, ["0.wal"]).err?.message ?? "", /type or crc missing/);
});

// rafthttp stream decoders (targets rafthttp-*-stream), found this session.

// rafthttp-msgappv2-stream: `out.buf[out.reserve(1)] = 0` read out.buf before
// reserve() grew it, so a link heartbeat landing on the growth boundary wrote
// its byte into the old buffer; the peer then read garbage as a frame type.
test("a msgappv2 link heartbeat written as the frame buffer grows is intact", () => {
  const fb = new FrameBuffer(64);
  const enc = new MsgAppV2Encoder("P37");
  const app = (index: number, entries: Entry[]) =>
    Message.create({ type: MessageType.MsgApp, from: 2n, to: 1n, index, entries });
  // Short MsgApp frames fill the 64-byte buffer exactly...
  for (const m of [app(0, [new Entry(0, 1, 0, Uint8Array.of(0))]), app(1, []), app(1, [])]) enc.encode(m, fb);
  assert.equal(fb.len, 64);
  // ...and the heartbeat's byte must land in the grown buffer.
  enc.encode(LINK_HEARTBEAT, fb);
  const bytes = fb.take();
  assert.equal(bytes[bytes.length - 1], 0);
  const got: Message[] = [];
  new MsgAppV2Decoder({ onFrame: (m) => void got.push(m) }, 1 << 20, 1n, 2n).push(bytes);
  assert.equal(got.length, 4);
  assert.equal(got[3], LINK_HEARTBEAT);
});

// rafthttp-message-stream: a zero-length frame (a message whose fields are all
// defaults encodes to nothing in etcd 3.7's encoding) read past the end of an
// empty chunk queue: a TypeError surfaced as a bad frame and reset the stream.
test("an empty message frame decodes on both streams", () => {
  const got: Message[] = [];
  const sink = { onFrame: (m: Message) => void got.push(m) };
  new MessageDecoder(sink, 1024).push(new Uint8Array(8));
  new MsgAppV2Decoder(sink, 1024, 1n, 2n).push(Uint8Array.from([2, 0, 0, 0, 0, 0, 0, 0, 0]));
  assert.equal(got.length, 2);
  for (const m of got) assert.equal(m.type, MessageType.MsgHup);
});

// A short msgappv2 frame continues at the previous index + its entry count; a
// peer can push that past 2^53 - 1, which must end the stream, not yield an
// unsafe index in the next MsgApp.
test("msgappv2 refuses a log index beyond Number.MAX_SAFE_INTEGER", () => {
  const fb = new FrameBuffer(256);
  const enc = new MsgAppV2Encoder("P37");
  const max = Number.MAX_SAFE_INTEGER;
  enc.encode(Message.create({ type: MessageType.MsgApp, from: 2n, to: 1n, index: max }), fb);
  // A short frame whose one entry claims a small index (the decoder trusts the count).
  enc.encode(
    Message.create({ type: MessageType.MsgApp, from: 2n, to: 1n, index: max, entries: [new Entry(0, 5)] }),
    fb,
  );
  const got: Message[] = [];
  const dec = new MsgAppV2Decoder({ onFrame: (m) => void got.push(m) }, 1 << 20, 1n, 2n);
  assert.throws(
    () => dec.push(fb.take()),
    (e: unknown) => e instanceof RaftHttpError && e.code === RaftHttpErrorCode.BadFrame,
  );
  for (const m of got) assert.ok(Number.isSafeInteger(m.index));
});
