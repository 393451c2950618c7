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
      if (cur === undefined) {
        this.data.set(key, { key, value, createRevision: rev, modRevision: rev, version: 1 });
      } else {
        cur.value = value;
        cur.modRevision = rev;
        cur.version++;
      }
      return { revision: rev, ok: true, prevRevision };
    }
    if (cur === undefined)
      return { revision: this.revision, ok: false, error: "KEY_NOT_FOUND", prevRevision };
    this.data.delete(key);
    return { revision: ++this.revision, ok: true, prevRevision };
  }

  /** Serializes the whole store plus an opaque application blob (membership, applied index). */
  snapshot(extra: Uint8Array): Uint8Array {
    const keys: Uint8Array[] = [];
    let size =
      4 +
      1 +
      varintSize(this.revision) +
      varintSize(this.data.size) +
      varintSize(extra.length) +
      extra.length;
    for (const kv of this.data.values()) {
      const k = textEncoder.encode(kv.key);
      keys.push(k);
      size +=
        varintSize(k.length) +
        k.length +
        varintSize(kv.value.length) +
        kv.value.length +
        varintSize(kv.createRevision) +
        varintSize(kv.modRevision) +
        varintSize(kv.version);
    }
    const w = new Writer(new Uint8Array(size));
    new DataView(w.buf.buffer).setUint32(0, SNAPSHOT_MAGIC);
    w.pos = 4;
    w.byte(SNAPSHOT_VERSION);
    w.varint(this.revision);
    w.bytes(extra);
    w.varint(this.data.size);
    let i = 0;
    for (const kv of this.data.values()) {
      w.bytes(keys[i++]!);
      w.bytes(kv.value);
      w.varint(kv.createRevision);
      w.varint(kv.modRevision);
      w.varint(kv.version);
    }
    return w.buf;
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
