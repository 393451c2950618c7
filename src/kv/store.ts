// The replicated state machine of tsraft-kv: an in-memory map from keys to
// values with etcd-style revisions, and its binary snapshot form.

import { DecodeError, Reader, varintSize, Writer } from "../raftpb/wire.ts";
import { type ApplyResult, type Command, Op } from "./command.ts";

export interface KeyValue {
  key: string;
  value: Uint8Array;
  /** Revision of the write that created the key. */
  createRevision: number;
  /** Revision of the last write to the key. */
  modRevision: number;
  /** Number of writes since creation. */
  version: number;
}

const textDecoder = new TextDecoder("utf-8", { fatal: false });
const textEncoder = new TextEncoder();

const SNAPSHOT_MAGIC = 0x74736b76; // "tskv"
const SNAPSHOT_VERSION = 1;

export class KvStore {
  private readonly data = new Map<string, KeyValue>();
  /** Incremented by every successful write. */
  revision = 0;

  get size(): number {
    return this.data.size;
  }

  get(key: string): KeyValue | undefined {
    return this.data.get(key);
  }

  /** Keys starting with `prefix`, in byte order, at most `limit`. */
  range(prefix: string, limit = Number.POSITIVE_INFINITY): KeyValue[] {
    const out: KeyValue[] = [];
    for (const [k, v] of this.data) if (k.startsWith(prefix)) out.push(v);
    out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return out.length > limit ? out.slice(0, limit) : out;
  }

  /** Applies a committed command. Deterministic: every member gets the same result. */
  apply(c: Command): ApplyResult {
    const key = textDecoder.decode(c.key);
    const cur = this.data.get(key);
    const prevRevision = cur?.modRevision ?? 0;
    if (c.expectedRevision >= 0 && c.expectedRevision !== prevRevision) {
      return { revision: this.revision, ok: false, error: "REVISION_MISMATCH", prevRevision };
    }
    if (c.op === Op.Put) {
      const rev = ++this.revision;
      // Values are copied so that the store never aliases a raft entry buffer.
      const value = c.value.slice();
      // Records are replaced, never mutated, so that a snapshot can capture
      // them and serialize them later while writes go on.
      this.data.set(
        key,
        cur === undefined
          ? { key, value, createRevision: rev, modRevision: rev, version: 1 }
          : { key, value, createRevision: cur.createRevision, modRevision: rev, version: cur.version + 1 },
      );
      return { revision: rev, ok: true, prevRevision };
    }
    if (cur === undefined)
      return { revision: this.revision, ok: false, error: "KEY_NOT_FOUND", prevRevision };
    this.data.delete(key);
    return { revision: ++this.revision, ok: true, prevRevision };
  }

  /** Serializes the whole store plus an opaque application blob (membership, applied index). */
  snapshot(extra: Uint8Array): Uint8Array {
    return serializeSnapshot(this.capture(), extra);
  }

  /** A consistent point-in-time view for serializeSnapshotAsync (records are immutable). */
  capture(): StoreCapture {
    return { revision: this.revision, records: Array.from(this.data.values()) };
  }

  /** Replaces the store's contents with a snapshot; returns its application blob. */
  restore(b: Uint8Array): Uint8Array {
    if (b.length < 5 || new DataView(b.buffer, b.byteOffset, 4).getUint32(0) !== SNAPSHOT_MAGIC) {
      throw new DecodeError("KvSnapshot", "not a tsraft-kv snapshot", 0);
    }
    if (b[4] !== SNAPSHOT_VERSION) throw new DecodeError("KvSnapshot", `unsupported version ${b[4]}`, 4);
    const r = new Reader(b, 5);
    const revision = r.uint("KvSnapshot.revision");
    const extra = r.bytes("KvSnapshot.extra", true);
    const n = r.uint("KvSnapshot.count");
    const data = new Map<string, KeyValue>();
    for (let i = 0; i < n; i++) {
      const key = textDecoder.decode(r.bytes("KvSnapshot.key", false));
      const value = r.bytes("KvSnapshot.value", true);
      const createRevision = r.uint("KvSnapshot.createRevision");
      const modRevision = r.uint("KvSnapshot.modRevision");
      const version = r.uint("KvSnapshot.version");
      data.set(key, { key, value, createRevision, modRevision, version });
    }
    if (r.pos !== r.end) throw new DecodeError("KvSnapshot", "trailing bytes", r.pos);
    this.data.clear();
    for (const [k, v] of data) this.data.set(k, v);
    this.revision = revision;
    return extra;
  }
}

export interface StoreCapture {
  revision: number;
  records: KeyValue[];
}

function recordSize(kv: KeyValue, keyBytes: number): number {
  return (
    varintSize(keyBytes) +
    keyBytes +
    varintSize(kv.value.length) +
    kv.value.length +
    varintSize(kv.createRevision) +
    varintSize(kv.modRevision) +
    varintSize(kv.version)
  );
}

function writeHeader(cap: StoreCapture, extra: Uint8Array, size: number): Writer {
  const w = new Writer(new Uint8Array(size));
  new DataView(w.buf.buffer).setUint32(0, SNAPSHOT_MAGIC);
  w.pos = 4;
  w.byte(SNAPSHOT_VERSION);
  w.varint(cap.revision);
  w.bytes(extra);
  w.varint(cap.records.length);
  return w;
}

function headerSize(cap: StoreCapture, extra: Uint8Array): number {
  return (
    4 +
    1 +
    varintSize(cap.revision) +
    varintSize(extra.length) +
    extra.length +
    varintSize(cap.records.length)
  );
}

function writeRecord(w: Writer, kv: KeyValue, keyBytes: number): void {
  w.varint(keyBytes);
  w.pos += textEncoder.encodeInto(kv.key, w.buf.subarray(w.pos)).written;
  w.bytes(kv.value);
  w.varint(kv.createRevision);
  w.varint(kv.modRevision);
  w.varint(kv.version);
}

/** Serializes a capture in one go. */
export function serializeSnapshot(cap: StoreCapture, extra: Uint8Array): Uint8Array {
  const keyLens = cap.records.map((kv) => utf8Length(kv.key));
  let size = headerSize(cap, extra);
  for (let i = 0; i < cap.records.length; i++) size += recordSize(cap.records[i]!, keyLens[i]!);
  const w = writeHeader(cap, extra, size);
  for (let i = 0; i < cap.records.length; i++) writeRecord(w, cap.records[i]!, keyLens[i]!);
  return w.buf;
}

/**
 * Serializes a capture in slices, yielding to the event loop between them,
 * so that a large store never stalls request handling.
 */
export async function serializeSnapshotAsync(
  cap: StoreCapture,
  extra: Uint8Array,
  yieldEvery = 4096,
  pause: () => Promise<void> = () => new Promise((r) => setImmediate(r)),
): Promise<Uint8Array> {
  const n = cap.records.length;
  const keyLens = new Uint32Array(n);
  let size = headerSize(cap, extra);
  for (let i = 0; i < n; i++) {
    const kv = cap.records[i]!;
    keyLens[i] = utf8Length(kv.key);
    size += recordSize(kv, keyLens[i]!);
    if (i % yieldEvery === yieldEvery - 1) await pause();
  }
  const w = writeHeader(cap, extra, size);
  for (let i = 0; i < n; i++) {
    writeRecord(w, cap.records[i]!, keyLens[i]!);
    if (i % yieldEvery === yieldEvery - 1) await pause();
  }
  return w.buf;
}

/** UTF-8 byte length of a string without encoding it. */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3; // includes a lone surrogate, which TextEncoder writes as U+FFFD
  }
  return n;
}
