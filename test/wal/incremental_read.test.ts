// The WAL decoder reads segments incrementally (a small first read, then
// read-size chunks, the preallocated zero tail proven by the 512-byte piece
// after the zero length word). These tests hold it to two promises:
//  - the outcome never depends on how a segment is read: every record, every
//    offset, the final CRC and any error (code, file, offset, message) are
//    those of reading each segment whole first, as the decoder did before,
//    for valid, preallocated, truncated and damaged segments alike, whatever
//    the read sizes and with or without buffer reuse;
//  - a preallocated 64 MB segment holding a few records costs a few KB of
//    reads, not the segment.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { MemFS } from "../../fuzz/memfs.ts";
import { Entry } from "../../src/raftpb/index.ts";
import { Decoder, type DecoderOptions } from "../../src/wal/decoder.ts";
import { Encoder } from "../../src/wal/encoder.ts";
import { WalError } from "../../src/wal/errors.ts";
import { nodeFileSystem, RecordType, readWalMetadata, WAL, WalSnapshot } from "../../src/wal/index.ts";
import { ascii, CountingFS, hs, quiet, rng, tempDir, toHex } from "./helpers.ts";

// ------------------------------------------------------------ same outcome however read

type R = () => number;
const pick = (r: R, n: number) => Math.floor(r() * n);

/** One segment as the WAL writes it: crc, metadata, (state), then records; returns its CRC. */
function writeSegment(fs: MemFS, path: string, prevCrc: number, r: R, first: boolean): number {
  const fd = fs.openSync(path, "w");
  const enc = new Encoder(fs, fd, 0, prevCrc, r() < 0.5 ? "P37" : "G36");
  enc.appendCrc(prevCrc);
  enc.appendData(RecordType.Metadata, ascii("member-1/cluster-7"));
  if (!first) enc.appendData(RecordType.State, new Uint8Array([8, 1, 16, 1, 24, 3]));
  const n = pick(r, 40);
  let index = 1;
  for (let i = 0; i < n; i++) {
    const k = r();
    if (k < 0.8) {
      // Payload sizes around the read sizes below, and some large ones.
      const size = r() < 0.1 ? 600 + pick(r, 3000) : pick(r, 80);
      const data = new Uint8Array(size);
      for (let j = 0; j < size; j++) data[j] = 1 + pick(r, 255);
      enc.appendEntry(new Entry(1, index++, 0, data));
    } else if (k < 0.9) {
      enc.appendData(RecordType.State, new Uint8Array([8, 1, 16, 1, 24, pick(r, 100)]));
    } else {
      enc.appendData(RecordType.Snapshot, new Uint8Array([8, pick(r, 100), 16, 1]));
    }
  }
  enc.flush();
  fs.closeSync(fd);
  return enc.crc;
}

/** Damage of the kinds the decoder classifies: flips, zeroed spans, truncation, stray data in the tail. */
function damage(b: Uint8Array, r: R): Uint8Array {
  let out = b.slice();
  const kind = pick(r, 6);
  if (out.length === 0) return out;
  if (kind === 0) {
    for (let i = 1 + pick(r, 3); i > 0; i--) out[pick(r, out.length)] ^= 1 << pick(r, 8);
  } else if (kind === 1) {
    const at = pick(r, out.length);
    out.fill(0, at, Math.min(out.length, at + 1 + pick(r, 1200)));
  } else if (kind === 2) {
    out = out.subarray(0, pick(r, out.length + 1));
  } else if (kind === 3) {
    // A copy of some of the log's own bytes further on (valid records after a gap).
    const from = pick(r, out.length);
    const len = Math.min(out.length - from, 16 + pick(r, 400));
    const to = (pick(r, out.length) & ~7) >>> 0;
    out.set(out.slice(from, from + len).subarray(0, Math.max(0, out.length - to)), to);
  } else if (kind === 4) {
    out[out.length - 1 - pick(r, Math.min(out.length, 2000))] = 1 + pick(r, 255);
  }
  return out;
}

function buildCase(seed: number): { fs: MemFS; names: string[] } {
  const r = rng(seed);
  const fs = new MemFS();
  const count = 1 + pick(r, 3);
  const names: string[] = [];
  let crc = 0;
  for (let i = 0; i < count; i++) {
    const name = `${i}.wal`;
    crc = writeSegment(fs, `/w/${name}`, crc, r, i === 0);
    names.push(name);
  }
  // The last segment is usually preallocated: a zero tail of a few sectors.
  const last = `/w/${names[names.length - 1]}`;
  if (r() < 0.7) {
    const b = fs.files.get(last)!;
    const g = new Uint8Array(b.length + pick(r, 5000));
    g.set(b);
    fs.files.set(last, g);
  }
  if (r() < 0.85) {
    const victim = `/w/${names[pick(r, names.length)]}`;
    fs.files.set(victim, damage(fs.files.get(victim)!, r));
  }
  return { fs, names };
}

/** Everything a reader can observe, as lines. */
function transcript(fs: MemFS, names: string[], opts: DecoderOptions): string[] {
  const refs = names.map((name) => ({ name, fd: fs.openSync(`/w/${name}`, "r") }));
  const out: string[] = [];
  const d = new Decoder(fs, refs, opts);
  try {
    while (d.next()) {
      const data = d.data();
      out.push(
        `${d.segmentIndex} type=${d.rec.type} crc=${d.rec.crc} at=${d.recOffset} next=${d.lastOffset} ${data === null ? "-" : toHex(data)}`,
      );
    }
    out.push(`end last=${d.lastOffset} crc=${d.crc}`);
  } catch (e) {
    if (!(e instanceof WalError)) throw e;
    out.push(`error ${e.code} ${e.file} ${e.offset} ${e.message}`);
  } finally {
    for (const ref of refs) fs.closeSync(ref.fd);
  }
  return out;
}

const READERS: [string, DecoderOptions][] = [
  ["default sizes, reused buffer", { reuseBuffer: true }],
  ["8-byte reads", { firstReadSize: 8, readSize: 8 }],
  ["13/24-byte reads, reused buffer", { firstReadSize: 13, readSize: 24, reuseBuffer: true }],
  ["100/512-byte reads", { firstReadSize: 100, readSize: 512 }],
  ["512/4096-byte reads, reused buffer", { firstReadSize: 512, readSize: 4096, reuseBuffer: true }],
];

describe("incremental segment reads", () => {
  test("records, offsets, CRC and errors are those of whole-segment reads, for 2,500 logs", () => {
    const kinds = new Map<string, number>();
    for (let seed = 1; seed <= 2500; seed++) {
      const { fs, names } = buildCase(seed);
      const want = transcript(fs, names, { wholeSegments: true });
      const last = want[want.length - 1]!;
      const kind = last.startsWith("error") ? last.split(" ")[1]! : "clean";
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      for (const [label, opts] of READERS) {
        assert.deepEqual(transcript(fs, names, opts), want, `seed ${seed}, ${label}`);
      }
    }
    // The cases reach every outcome the comparison is about.
    for (const k of ["clean", "ERR_WAL_UNEXPECTED_EOF", "ERR_WAL_CORRUPT", "ERR_WAL_CRC_MISMATCH"]) {
      assert.ok((kinds.get(k) ?? 0) >= 20, `${k}: ${kinds.get(k) ?? 0} cases (${[...kinds]})`);
    }
  });

  test("stray bytes in the zero tail: the end is proven by the first 512-byte piece, or the whole rule runs", () => {
    // A log of three records, then a zero tail, then one non-zero byte at
    // offset k. Whole-segment reads decide; the incremental reader must agree
    // for every k around the first sector boundaries.
    const base = new MemFS();
    const fd = base.openSync("/w/0.wal", "w");
    const enc = new Encoder(base, fd, 0, 0, "P37");
    enc.appendCrc(0);
    enc.appendData(RecordType.Metadata, ascii("m"));
    enc.appendEntry(new Entry(1, 1, 0, ascii("payload")));
    enc.flush();
    const end = enc.offset;
    const bytes = new Uint8Array(3000);
    bytes.set(base.files.get("/w/0.wal")!.subarray(0, end));
    for (let k = end; k < 1600; k++) {
      for (const v of [0x01, 0x08]) {
        const fs = new MemFS();
        const b = bytes.slice();
        b[k] = v;
        fs.files.set("/w/0.wal", b);
        const want = transcript(fs, ["0.wal"], { wholeSegments: true });
        for (const [label, opts] of READERS) {
          assert.deepEqual(transcript(fs, ["0.wal"], opts), want, `byte ${k} = ${v}, ${label}`);
        }
      }
    }
  });

  test("a file that shrinks while it is read reads as the shorter file", () => {
    // fstat said more than the reads return (a concurrent truncation, as at a
    // cut): the decoder must judge the bytes it got, like a whole read would.
    const fs = new MemFS();
    let crc = 0;
    crc = writeSegment(fs, "/w/0.wal", crc, rng(3), true);
    const full = fs.files.get("/w/0.wal")!;
    const shrinking = new (class extends MemFS {
      override fileSize(): number {
        return full.length + 4096;
      }
    })();
    shrinking.files.set("/w/0.wal", full);
    const got = transcript(shrinking, ["0.wal"], { firstReadSize: 64, readSize: 64 });
    const want = transcript(fs, ["0.wal"], { wholeSegments: true });
    assert.deepEqual(got, want);
    assert.equal(crc, Number(/crc=(\d+)$/.exec(want[want.length - 1]!)?.[1]));
  });
});

// ------------------------------------------------------------ what is read from disk

describe("bytes read from a preallocated segment", () => {
  test("readAll of a 64 MB segment holding 20 entries reads under 80 KB", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const wdir = join(dir, "wal");
      const w = await WAL.create(wdir, ascii("meta"), quiet);
      for (let i = 1; i <= 20; i++) await w.save(hs(1, 1n, i - 1), [new Entry(1, i, 0, ascii(`e${i}`))]);
      await w.close();
      const fs = new CountingFS();
      const r = await WAL.openForRead(wdir, new WalSnapshot(), { ...quiet, fs });
      const got = await r.readAll();
      assert.equal(got.entries.length, 20);
      assert.deepEqual(
        got.entries.map((e) => new TextDecoder().decode(e.data)),
        Array.from({ length: 20 }, (_, i) => `e${i + 1}`),
      );
      // The first read of a segment is 64 KiB; nothing of the rest of the 64 MB.
      assert.ok(fs.total() <= 64 * 1024, `read ${fs.total()} bytes`);
      assert.ok(fs.total() > 0);
    } finally {
      cleanup();
    }
  });

  test("readWalMetadata reads the head of the first segment only", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const wdir = join(dir, "wal");
      const w = await WAL.create(wdir, ascii("member 1 of cluster 2"), { ...quiet, segmentSize: 4096 });
      // Several segments, so that the metadata is not just in the only one.
      for (let i = 1; i <= 60; i++) await w.save(hs(1, 1n, i - 1), [new Entry(1, i, 0, new Uint8Array(200))]);
      await w.close();
      const fs = new CountingFS();
      const meta = await readWalMetadata(wdir, { fs });
      assert.equal(new TextDecoder().decode(meta), "member 1 of cluster 2");
      assert.ok(fs.total() <= 512, `read ${fs.total()} bytes`);
      assert.equal(fs.read.size, 1, "one file read");
    } finally {
      cleanup();
    }
  });

  test("readWalMetadata: damage in the head is reported with file and offset; the log after it is not read", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const wdir = join(dir, "wal");
      const w = await WAL.create(wdir, ascii("member 1 of cluster 2"), { ...quiet, segmentSize: 4096 });
      for (let i = 1; i <= 60; i++) await w.save(hs(1, 1n, i - 1), [new Entry(1, i, 0, new Uint8Array(200))]);
      await w.close();
      const names = readdirSync(wdir)
        .filter((n) => n.endsWith(".wal"))
        .sort();
      const first = join(wdir, names[0]!);
      const good = readFileSync(first);
      // A flipped bit in the last segment's log: not the head's business.
      const last = join(wdir, names[names.length - 1]!);
      const lb = readFileSync(last);
      lb[200]! ^= 0x10;
      writeFileSync(last, lb);
      assert.equal(new TextDecoder().decode(await readWalMetadata(wdir)), "member 1 of cluster 2");
      // A flipped bit in the metadata itself: its CRC does not match.
      const b = Buffer.from(good);
      b[30]! ^= 0x01;
      writeFileSync(first, b);
      await assert.rejects(readWalMetadata(wdir), (e: WalError) => {
        assert.ok(e instanceof WalError);
        assert.equal(e.code, "ERR_WAL_CRC_MISMATCH");
        assert.equal(e.file, names[0]);
        assert.equal(e.offset, 16);
        return true;
      });
      // A first segment that lost everything after its crc record: the CRC
      // chain into the next segment breaks, as a full read reports it.
      const c = Buffer.alloc(good.length);
      good.copy(c, 0, 0, 16);
      writeFileSync(first, c);
      await assert.rejects(readWalMetadata(wdir), (e: WalError) => {
        assert.ok(e instanceof WalError);
        assert.equal(e.code, "ERR_WAL_CRC_MISMATCH");
        assert.equal(e.file, names[1]);
        return true;
      });
      // The same as the only segment: no metadata record, named where it should be.
      for (const n of names.slice(1)) rmSync(join(wdir, n));
      await assert.rejects(readWalMetadata(wdir), (e: WalError) => {
        assert.ok(e instanceof WalError);
        assert.equal(e.code, "ERR_WAL_CORRUPT");
        assert.equal(e.file, names[0]);
        assert.equal(e.offset, 16);
        return true;
      });
      rmSync(wdir, { recursive: true });
      nodeFileSystem.mkdirSync(wdir, 0o700);
      await assert.rejects(readWalMetadata(wdir), (e: WalError) => e.code === "ERR_WAL_FILE_NOT_FOUND");
    } finally {
      cleanup();
    }
  });
});
