// Stream codecs. Encoders append frames to a FrameBuffer (one growing byte
// buffer per writer, flushed in batches); decoders are push-based state
// machines fed with socket chunks through a ByteQueue, and hand every decoded
// message to a FrameSink. No per-message closures, no JSON.
//
// Message stream frame: u64be length + marshalled Message.
// msgappv2 frames: 0x00 link heartbeat | 0x01 u64be count, count × (u64be size
// + Entry), u64be commit | 0x02 u64be size + Message. Both sides track
// (term, index) per connection so that a MsgApp continuing the previous one
// needs neither header fields nor a Message envelope.

import {
  DecodeError,
  decodeEntry,
  decodeMessage,
  type Entry,
  encodedEntrySize,
  encodedMessageSize,
  encodeEntryInto,
  encodeMessageInto,
  Message,
  MessageType,
  type Profile,
} from "../raftpb/index.ts";
import { limitExceeded, RaftHttpError, RaftHttpErrorCode } from "./errors.ts";

const TWO_32 = 0x100000000;
const SMALL_BATCH = 16 * 1024;
const MAX_KEPT = 4 * 1024 * 1024;

/** The link-layer keep-alive: a MsgHeartbeat with from = to = 0, which raft never sends. */
export const LINK_HEARTBEAT: Message = Message.create({ type: MessageType.MsgHeartbeat });

export function isLinkHeartbeat(m: Message): boolean {
  return m.type === MessageType.MsgHeartbeat && m.from === 0n && m.to === 0n;
}

/**
 * An append-only byte buffer that grows by doubling. `take()` hands the bytes
 * out; a large batch is handed over whole and its buffer can be given back
 * with `recycle()` once the socket has written it, so steady streaming does
 * not allocate.
 */
export class FrameBuffer {
  buf: Buffer;
  len = 0;
  /** The whole buffer behind the last large take(), for recycle(). */
  handed: Buffer | null = null;
  private spare: Buffer | null = null;
  private readonly initial: number;

  constructor(initial = 64 * 1024) {
    this.initial = initial;
    this.buf = Buffer.allocUnsafeSlow(initial);
  }

  /** Makes room for n more bytes; returns the offset to write at. */
  reserve(n: number): number {
    const need = this.len + n;
    if (need > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < need) cap *= 2;
      const nb = Buffer.allocUnsafeSlow(cap);
      this.buf.copy(nb, 0, 0, this.len);
      this.buf = nb;
    }
    const at = this.len;
    this.len = need;
    return at;
  }

  /** Returns the written bytes (owned by the caller from now on) and resets. */
  take(): Buffer {
    const n = this.len;
    this.len = 0;
    if (n <= SMALL_BATCH) {
      // Small batches are copied out so the working buffer can be reused at once.
      this.handed = null;
      const out = Buffer.allocUnsafe(n);
      this.buf.copy(out, 0, 0, n);
      return out;
    }
    const full = this.buf;
    this.handed = full;
    const spare = this.spare;
    this.spare = null;
    this.buf =
      spare !== null && spare.length === full.length
        ? spare
        : Buffer.allocUnsafeSlow(Math.max(this.initial, Math.min(full.length, MAX_KEPT)));
    return full.subarray(0, n);
  }

  /** Gives back a buffer from `handed` once nothing references its bytes any more. */
  recycle(full: Buffer): void {
    if (full.length === this.buf.length && full !== this.buf) this.spare = full;
  }

  /** Drops the written bytes, keeping the buffer. */
  clear(): void {
    this.len = 0;
  }
}

export function writeU64(buf: Buffer, at: number, v: number): void {
  buf.writeUInt32BE(Math.floor(v / TWO_32), at);
  buf.writeUInt32BE(v >>> 0, at + 4);
}

/** Frames of the general message stream (also the snapshot envelope). */
export class MessageEncoder {
  readonly profile: Profile;
  constructor(profile: Profile) {
    this.profile = profile;
  }

  /** Appends one frame; returns its size in bytes. */
  encode(m: Message, out: FrameBuffer): number {
    const n = encodedMessageSize(m, this.profile);
    const at = out.reserve(8 + n);
    writeU64(out.buf, at, n);
    encodeMessageInto(m, out.buf, at + 8, this.profile);
    return 8 + n;
  }

  reset(): void {}
}

/** Frames of the msgappv2 stream; one encoder per connection. */
export class MsgAppV2Encoder {
  readonly profile: Profile;
  term = 0;
  index = 0;
  constructor(profile: Profile) {
    this.profile = profile;
  }

  reset(): void {
    this.term = 0;
    this.index = 0;
  }

  encode(m: Message, out: FrameBuffer): number {
    if (isLinkHeartbeat(m)) {
      // reserve() may move out.buf: look it up after (`out.buf[out.reserve(1)]`
      // would write into the old buffer; the fuzzer caught that).
      const at = out.reserve(1);
      out.buf[at] = 0;
      return 1;
    }
    const profile = this.profile;
    const entries = m.entries;
    if (this.index === m.index && this.term === m.logTerm && m.logTerm === m.term) {
      let size = 17;
      for (let i = 0; i < entries.length; i++) size += 8 + encodedEntrySize(entries[i]!, profile);
      let at = out.reserve(size);
      const buf = out.buf;
      buf[at] = 1;
      writeU64(buf, at + 1, entries.length);
      at += 9;
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]!;
        const end = encodeEntryInto(e, buf, at + 8, profile);
        writeU64(buf, at, end - at - 8);
        at = end;
      }
      writeU64(buf, at, m.commit);
      this.index += entries.length;
      return size;
    }
    const n = encodedMessageSize(m, profile);
    const at = out.reserve(9 + n);
    out.buf[at] = 2;
    writeU64(out.buf, at + 1, n);
    encodeMessageInto(m, out.buf, at + 9, profile);
    this.term = m.term;
    this.index = entries.length > 0 ? entries[entries.length - 1]!.index : m.index;
    return 9 + n;
  }
}

export type StreamEncoder = MessageEncoder | MsgAppV2Encoder;

/** Receives what a stream decoder produces. */
export interface FrameSink {
  /** One decoded message; `bytes` is the size of its frame on the wire. */
  onFrame(m: Message, bytes: number): void;
}

/**
 * Socket chunks waiting to be parsed. Reads within one chunk are zero-copy
 * views; a read that spans chunks copies once into a fresh buffer, so a large
 * frame arriving in many chunks costs O(size), not O(size²).
 */
export class ByteQueue {
  private chunks: Uint8Array[] = [];
  private first = 0;
  private offset = 0;
  length = 0;

  /** Keeps a plain Uint8Array view: its subarrays are cheaper than Buffer's and keep Entry.data monomorphic. */
  push(c: Uint8Array): void {
    if (c.length === 0) return;
    this.chunks.push(new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
    this.length += c.length;
  }

  clear(): void {
    this.chunks = [];
    this.first = 0;
    this.offset = 0;
    this.length = 0;
  }

  /** Reads one byte; the caller checks `length` first. */
  byte(): number {
    const c = this.chunks[this.first]!;
    const b = c[this.offset]!;
    this.advance(c, 1);
    return b;
  }

  /** Reads a u64be; returns -1 when it exceeds Number.MAX_SAFE_INTEGER. */
  u64(): number {
    let c = this.chunks[this.first]!;
    let o = this.offset;
    if (o + 8 <= c.length) {
      this.advance(c, 8);
    } else {
      c = this.take(8);
      o = 0;
    }
    const hi = ((c[o]! << 24) | (c[o + 1]! << 16) | (c[o + 2]! << 8) | c[o + 3]!) >>> 0;
    const lo = ((c[o + 4]! << 24) | (c[o + 5]! << 16) | (c[o + 6]! << 8) | c[o + 7]!) >>> 0;
    if (hi > 0x1fffff) return -1;
    return hi * TWO_32 + lo;
  }

  /** Reads exactly n bytes (n <= length). */
  take(n: number): Uint8Array {
    // An empty frame (a message with every field at its default) may arrive
    // when no chunk is queued at all.
    if (n === 0) return new Uint8Array(0);
    const c = this.chunks[this.first]!;
    const off = this.offset;
    if (off + n <= c.length) {
      this.advance(c, n);
      return c.subarray(off, off + n);
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const cur = this.chunks[this.first]!;
      const k = Math.min(n - filled, cur.length - this.offset);
      out.set(cur.subarray(this.offset, this.offset + k), filled);
      filled += k;
      this.advance(cur, k);
    }
    return out;
  }

  private advance(c: Uint8Array, n: number): void {
    this.length -= n;
    this.offset += n;
    if (this.offset === c.length) {
      this.offset = 0;
      this.first++;
      if (this.first === this.chunks.length) {
        this.chunks.length = 0;
        this.first = 0;
      } else if (this.first >= 1024) {
        this.chunks = this.chunks.slice(this.first);
        this.first = 0;
      }
    }
  }
}

function badFrame(err: unknown, what: string): RaftHttpError {
  const reason = err instanceof DecodeError ? err.message : String(err);
  return new RaftHttpError(RaftHttpErrorCode.BadFrame, `failed to decode ${what}: ${reason}`, 0, err);
}

const S_HEADER = 0;
const S_BODY = 1;

/** Decodes the general message stream. Throws a RaftHttpError on a bad or oversized frame. */
export class MessageDecoder {
  private readonly q = new ByteQueue();
  private readonly sink: FrameSink;
  private readonly limit: number;
  private state = S_HEADER;
  private need = 0;

  constructor(sink: FrameSink, limit: number) {
    this.sink = sink;
    this.limit = limit;
  }

  /** True when the stream stopped between two frames. */
  get atBoundary(): boolean {
    return this.state === S_HEADER && this.q.length === 0;
  }

  push(chunk: Uint8Array): void {
    const q = this.q;
    q.push(chunk);
    for (;;) {
      if (this.state === S_HEADER) {
        if (q.length < 8) return;
        const n = q.u64();
        if (n < 0 || n > this.limit) throw limitExceeded("message frame", n < 0 ? Infinity : n, this.limit);
        this.need = n;
        this.state = S_BODY;
      }
      const n = this.need;
      if (q.length < n) return;
      let m: Message;
      try {
        m = decodeMessage(q.take(n));
      } catch (err) {
        throw badFrame(err, "message frame");
      }
      this.state = S_HEADER;
      this.sink.onFrame(m, 8 + n);
    }
  }
}

const A_TYPE = 0;
const A_COUNT = 1;
const A_ENTRY_SIZE = 2;
const A_ENTRY = 3;
const A_COMMIT = 4;
const A_MSG_SIZE = 5;
const A_MSG = 6;

/** Decodes a msgappv2 stream coming from peer `remote` to us (`local`). */
export class MsgAppV2Decoder {
  private readonly q = new ByteQueue();
  private readonly sink: FrameSink;
  private readonly limit: number;
  private readonly local: bigint;
  private readonly remote: bigint;
  private term = 0;
  private index = 0;
  private state = A_TYPE;
  private need = 0;
  private count = 0;
  private frameBytes = 0;
  private entries: Entry[] = [];

  constructor(sink: FrameSink, limit: number, local: bigint, remote: bigint) {
    this.sink = sink;
    this.limit = limit;
    this.local = local;
    this.remote = remote;
  }

  get atBoundary(): boolean {
    return this.state === A_TYPE && this.q.length === 0;
  }

  push(chunk: Uint8Array): void {
    const q = this.q;
    q.push(chunk);
    for (;;) {
      switch (this.state) {
        case A_TYPE: {
          if (q.length < 1) return;
          const t = q.byte();
          if (t === 0) {
            this.sink.onFrame(LINK_HEARTBEAT, 1);
          } else if (t === 1) {
            this.state = A_COUNT;
            this.frameBytes = 1;
          } else if (t === 2) {
            this.state = A_MSG_SIZE;
          } else {
            throw new RaftHttpError(
              RaftHttpErrorCode.BadFrame,
              `failed to parse type ${t} in msgappv2 stream`,
            );
          }
          break;
        }
        case A_COUNT: {
          if (q.length < 8) return;
          const n = q.u64();
          // Every entry takes at least its 8-byte size, which bounds the count.
          if (n < 0 || n * 8 > this.limit) throw limitExceeded("msgappv2 entry count", n, this.limit / 8);
          this.count = n;
          this.frameBytes += 8;
          this.entries = n === 0 ? [] : ([] as Entry[]);
          this.state = n === 0 ? A_COMMIT : A_ENTRY_SIZE;
          break;
        }
        case A_ENTRY_SIZE: {
          if (q.length < 8) return;
          const n = q.u64();
          this.frameBytes += 8;
          if (n < 0 || this.frameBytes + n > this.limit) {
            throw limitExceeded("msgappv2 frame", n < 0 ? Infinity : this.frameBytes + n, this.limit);
          }
          this.need = n;
          this.state = A_ENTRY;
          break;
        }
        case A_ENTRY: {
          const n = this.need;
          if (q.length < n) return;
          let e: Entry;
          try {
            e = decodeEntry(q.take(n));
          } catch (err) {
            throw badFrame(err, "msgappv2 entry");
          }
          this.frameBytes += n;
          this.entries.push(e);
          this.state = this.entries.length === this.count ? A_COMMIT : A_ENTRY_SIZE;
          break;
        }
        case A_COMMIT: {
          if (q.length < 8) return;
          const commit = q.u64();
          if (commit < 0) throw badFrame("commit index exceeds Number.MAX_SAFE_INTEGER", "msgappv2 frame");
          // The next short frame continues at index + count: it must stay a safe integer.
          if (this.index + this.count > Number.MAX_SAFE_INTEGER)
            throw badFrame("log index exceeds Number.MAX_SAFE_INTEGER", "msgappv2 frame");
          const m = new Message();
          m.type = MessageType.MsgApp;
          m.from = this.remote;
          m.to = this.local;
          m.term = this.term;
          m.logTerm = this.term;
          m.index = this.index;
          m.entries = this.entries;
          m.commit = commit;
          this.index += this.count;
          this.entries = [];
          this.state = A_TYPE;
          this.sink.onFrame(m, this.frameBytes + 8);
          break;
        }
        case A_MSG_SIZE: {
          if (q.length < 8) return;
          const n = q.u64();
          if (n < 0 || n > this.limit)
            throw limitExceeded("msgappv2 message", n < 0 ? Infinity : n, this.limit);
          this.need = n;
          this.state = A_MSG;
          break;
        }
        default: {
          const n = this.need;
          if (q.length < n) return;
          let m: Message;
          try {
            m = decodeMessage(q.take(n));
          } catch (err) {
            throw badFrame(err, "msgappv2 message");
          }
          this.term = m.term;
          const es = m.entries;
          this.index = es.length > 0 ? es[es.length - 1]!.index : m.index;
          this.state = A_TYPE;
          this.sink.onFrame(m, 9 + n);
        }
      }
    }
  }
}

export type StreamDecoder = MessageDecoder | MsgAppV2Decoder;
