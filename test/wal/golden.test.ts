// etcd-derived vectors: the golden segment written by etcd's TestNew
// (../shared/golden/etcd-TestNew.wal), the continuation vector and the legacy
// record vector from the storage-and-wire spec (section 2.5), and the
// walpb.Snapshot vector E9. Nothing here is compared with our own output.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ConfState, Entry, encodeEntry, encodeHardState } from "../../src/raftpb/index.ts";
import {
  crc32cUpdate,
  Decoder,
  decodeRecord,
  decodeWalSnapshot,
  Encoder,
  encodeRecord,
  encodeWalSnapshot,
  nodeFileSystem,
  RecordType,
  WAL,
  WalErrorCode,
  WalSnapshot,
} from "../../src/wal/index.ts";
import { ascii, hex, hs, quiet, readGolden, tempDir, toHex } from "./helpers.ts";

const FIRST = "0000000000000000-0000000000000000.wal";

const CONTINUATION = hex(`
  14 00 00 00 00 00 00 84  08 02 10 e0 e7 d7 b5 0b 1a 0a 08 00 10 01 18 02 22 02 68 69  00 00 00 00
  0f 00 00 00 00 00 00 81  08 03 10 fe f1 cf 5f 1a 06 08 01 10 02 18 03  00`);

// Splits a segment into frames by the spec's framing rule (independent of src/).
function frames(buf: Uint8Array): { record: Uint8Array; pad: number; at: number }[] {
  const out: { record: Uint8Array; pad: number; at: number }[] = [];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = 0;
  while (at + 8 <= buf.length) {
    const lo = dv.getUint32(at, true);
    const hi = dv.getUint32(at + 4, true);
    if (lo === 0 && hi === 0) break;
    const n = lo + (hi & 0xffffff) * 2 ** 32;
    const pad = hi & 0x80000000 ? (hi >>> 24) & 7 : 0;
    out.push({ record: buf.subarray(at + 8, at + 8 + n), pad, at });
    at += 8 + n + pad;
  }
  return out;
}

describe("wal: golden vectors", () => {
  test("golden file is the one the spec describes", () => {
    const g = readGolden();
    assert.equal(g.length, 72);
    assert.equal(
      createHash("sha256").update(g).digest("hex"),
      "370d9e120591e4f35b089cd7a03a2df49d5f4e113e54f4825b30dfe7cc270562",
    );
  });

  test("CRC-32C check values", () => {
    assert.equal(crc32cUpdate(0, ascii("123456789")), 0xe3069283);
    assert.equal(crc32cUpdate(0, ascii("somedata")), 0x741f6a05);
    assert.equal(crc32cUpdate(0x741f6a05, hex("08 00 10 00")), 0x18206d80);
    // Chaining equals the CRC of the concatenation.
    assert.equal(crc32cUpdate(crc32cUpdate(0, ascii("1234")), ascii("56789")), 0xe3069283);
    // The table path (short inputs) and the native path (long ones) agree.
    const long = Uint8Array.from({ length: 1000 }, (_, i) => (i * 31) & 0xff);
    let bytewise = 0;
    for (let i = 0; i < long.length; i++) bytewise = crc32cUpdate(bytewise, long.subarray(i, i + 1));
    assert.equal(crc32cUpdate(0, long), bytewise);
    assert.equal(crc32cUpdate(crc32cUpdate(0, long.subarray(0, 10)), long.subarray(10)), bytewise);
  });

  test("create() with etcd's TestNew inputs writes the golden bytes, then zeros", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const w = await WAL.create(join(dir, "wal"), ascii("somedata"), quiet);
      const seg = new Uint8Array(readFileSync(join(dir, "wal", FIRST)));
      assert.equal(seg.length, 64_000_000, "preallocated to etcd's segment size");
      assert.deepEqual(seg.subarray(0, 72), readGolden());
      assert.ok(seg.subarray(72, 1 << 20).every((b) => b === 0));
      await w.close();
    } finally {
      cleanup();
    }
  });

  test("a fresh encoder re-encodes the golden records byte for byte", () => {
    const enc = new Encoder(nodeFileSystem, -1, 0, 0, "P37");
    enc.appendCrc(0);
    enc.appendData(RecordType.Metadata, ascii("somedata"));
    enc.appendData(RecordType.Snapshot, encodeWalSnapshot(new WalSnapshot(0, 0)));
    assert.deepEqual(enc.pending(), readGolden());
  });

  test("every golden record round-trips through the walpb and raftpb codecs", () => {
    const g = readGolden();
    const fs = frames(g);
    assert.deepEqual(
      fs.map((f) => [f.at, f.record.length, f.pad]),
      [
        [0, 4, 4],
        [16, 18, 6],
        [48, 14, 2],
      ],
    );
    const types: number[] = [];
    for (const f of fs) {
      const rec = decodeRecord(f.record);
      types.push(rec.type);
      assert.deepEqual(encodeRecord(rec), f.record, `record at ${f.at}`);
      if (rec.type === RecordType.Snapshot) {
        const s = decodeWalSnapshot(rec.data!);
        assert.equal(s.index, 0);
        assert.equal(s.term, 0);
        assert.equal(s.confState, null);
        assert.deepEqual(encodeWalSnapshot(s), rec.data);
        assert.deepEqual(encodeWalSnapshot(s, "G36"), rec.data);
      }
    }
    assert.deepEqual(types, [RecordType.Crc, RecordType.Metadata, RecordType.Snapshot]);
    assert.equal(decodeRecord(fs[1]!.record).crc, 0x741f6a05);
    assert.equal(decodeRecord(fs[2]!.record).crc, 0x18206d80);
  });

  test("the golden segment opens and reads: metadata, empty state, no entries", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const wdir = join(dir, "wal");
      nodeFileSystem.mkdirSync(wdir, 0o700);
      // As etcd leaves it: the 72 data bytes followed by zeros.
      const seg = new Uint8Array(4096);
      seg.set(readGolden());
      nodeFileSystem.rmSync(join(wdir, FIRST));
      const fd = nodeFileSystem.openSync(join(wdir, FIRST), "w", 0o600);
      nodeFileSystem.writeSync(fd, seg, 0, seg.length, 0);
      nodeFileSystem.closeSync(fd);
      const w = await WAL.open(wdir, new WalSnapshot(), quiet);
      const r = await w.readAll();
      assert.deepEqual(r.metadata, ascii("somedata"));
      assert.deepEqual([r.hardState.term, r.hardState.vote, r.hardState.commit], [0, 0n, 0]);
      assert.equal(r.entries.length, 0);
      assert.equal(w.tailOffset, 72);
      // The continuation vector: etcd 3.6's (G36) encoding of the next Save.
      const w2 = w;
      await w2.close();
      const g36 = await WAL.open(wdir, new WalSnapshot(), { ...quiet, profile: "G36" });
      await g36.readAll();
      await g36.save(hs(1, 2n, 3), [new Entry(1, 2, 0, ascii("hi"))]);
      await g36.close();
      const after = new Uint8Array(readFileSync(join(wdir, FIRST)));
      assert.deepEqual(after.subarray(0, 72), readGolden());
      assert.deepEqual(after.subarray(72, 72 + CONTINUATION.length), CONTINUATION);
      assert.ok(after.subarray(72 + CONTINUATION.length).every((b) => b === 0));
    } finally {
      cleanup();
    }
  });

  test("continuation vector decodes: entry and state CRCs chain from the golden file", () => {
    const fs = frames(CONTINUATION);
    const e = decodeRecord(fs[0]!.record);
    const s = decodeRecord(fs[1]!.record);
    assert.equal(e.type, RecordType.Entry);
    assert.equal(e.crc, 0xb6b5f3e0);
    assert.equal(crc32cUpdate(0x18206d80, e.data!), 0xb6b5f3e0);
    assert.deepEqual(e.data, encodeEntry(new Entry(1, 2, 0, ascii("hi")), "G36"));
    assert.equal(s.type, RecordType.State);
    assert.equal(s.crc, 0x0bf3f8fe);
    assert.deepEqual(s.data, encodeHardState(hs(1, 2n, 3)));
    // Under P37 (etcd 3.7+) the entry omits the zero type: 8 bytes instead of 10.
    assert.equal(toHex(encodeEntry(new Entry(1, 2, 0, ascii("hi")))), "10 01 18 02 22 02 68 69");
  });

  test("legacy unpadded record (etcd record_test.go) decodes; damage is detected", () => {
    const legacy = hex("0e 00 00 00 00 00 00 00 08 01 10 99 b5 e4 d0 03 1a 04 08 ef fd 02");
    const read = (bytes: Uint8Array) => {
      const { dir, cleanup } = tempDir();
      try {
        const p = join(dir, FIRST);
        const fd = nodeFileSystem.openSync(p, "w", 0o600);
        nodeFileSystem.writeSync(fd, bytes, 0, bytes.length, 0);
        nodeFileSystem.closeSync(fd);
        const rfd = nodeFileSystem.openSync(p, "r");
        try {
          const d = new Decoder(nodeFileSystem, [{ name: FIRST, fd: rfd }]);
          const out: { type: number; crc: number; data: string }[] = [];
          while (d.next()) out.push({ type: d.rec.type, crc: d.rec.crc, data: toHex(d.data()!) });
          return out;
        } finally {
          nodeFileSystem.closeSync(rfd);
        }
      } finally {
        cleanup();
      }
    };
    assert.deepEqual(read(legacy), [{ type: 1, crc: 0x3a191a99, data: "08 ef fd 02" }]);
    assert.deepEqual(read(new Uint8Array(0)), []);
    const code = (fn: () => unknown) => {
      try {
        fn();
        return "ok";
      } catch (err) {
        return (err as { code: string }).code;
      }
    };
    assert.equal(
      code(() => read(legacy.subarray(0, 14))),
      WalErrorCode.UnexpectedEOF,
    );
    assert.equal(
      code(() => read(legacy.subarray(0, legacy.length - 8))),
      WalErrorCode.UnexpectedEOF,
    );
    const bad = legacy.slice();
    bad[bad.length - 1] ^= 0x01;
    assert.equal(
      code(() => read(bad)),
      WalErrorCode.CRCMismatch,
    );
  });

  test("walpb.Snapshot vector E9", () => {
    const s = new WalSnapshot(10, 2, new ConfState([1n]));
    assert.equal(toHex(encodeWalSnapshot(s, "G36")), "08 0a 10 02 1a 04 08 01 28 00");
    const d = decodeWalSnapshot(hex("08 0a 10 02 1a 04 08 01 28 00"));
    assert.deepEqual([d.index, d.term, d.confState?.voters], [10, 2, [1n]]);
    assert.equal(toHex(encodeWalSnapshot(new WalSnapshot(0, 0))), "08 00 10 00");
  });
});
