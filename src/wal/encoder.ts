// Frames records into a batch buffer and writes a whole batch with one write.
//
// Frame: 8-byte little-endian length word (record size in the low 56 bits;
// when padding is needed the top byte is 0x80 | padding), the walpb.Record,
// then zero padding to a multiple of 8 bytes. Every record except the crc
// record extends the running CRC-32C with its data and stores the result.

import { crc32cUpdate, type FileSystem, writeAll } from "../fileutil/index.ts";
import { type Entry, encodedEntrySize, encodeEntryInto, type Profile, varintSize } from "../raftpb/index.ts";
import { RecordType } from "./walpb.ts";

const INITIAL_BUFFER = 128 * 1024;
// Room left for the crc varint before the data is placed: a uint32 takes at most 5 bytes.
const MAX_CRC_BYTES = 5;

/**
 * Appends framed records to the tail segment: records collect in a batch
 * buffer and a whole batch goes out with one write (flush). Used by the WAL;
 * exported for tools and tests that write segments directly.
 */
export class Encoder {
  /** The file system writes go through. */
  readonly fs: FileSystem;
  /** Descriptor of the segment being written (replaced when the WAL cuts a new segment). */
  fd: number;
  /** File offset where the next batch is written. */
  offset: number;
  /** Running CRC after the last record appended (written or not). */
  crc: number;
  private readonly profile: Profile;
  private buf: Uint8Array;
  private len: number;
  // State at the start of the current batch, to undo an unwritten batch.
  private batchCrc: number;

  constructor(fs: FileSystem, fd: number, offset: number, prevCrc: number, profile: Profile) {
    this.fs = fs;
    this.fd = fd;
    this.offset = offset;
    this.crc = prevCrc;
    this.batchCrc = prevCrc;
    this.profile = profile;
    this.buf = new Uint8Array(INITIAL_BUFFER);
    this.len = 0;
  }

  /** Bytes appended but not yet written. */
  get buffered(): number {
    return this.len;
  }

  private reserve(n: number): void {
    const need = this.len + n;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  /** Appends an entry record, encoding the entry straight into the batch buffer. */
  appendEntry(e: Entry): void {
    const dlen = encodedEntrySize(e, this.profile);
    const hdr = 8 + 2 + 1 + MAX_CRC_BYTES + 1 + varintSize(dlen);
    this.reserve(hdr + dlen + 8);
    const dstart = this.len + hdr;
    encodeEntryInto(e, this.buf, dstart, this.profile);
    this.crc = crc32cUpdate(this.crc, this.buf.subarray(dstart, dstart + dlen));
    this.finishFrame(RecordType.Entry, dstart, dlen);
  }

  /** Appends a record carrying `data` (metadata, state, snapshot). */
  appendData(type: number, data: Uint8Array): void {
    const dlen = data.length;
    const hdr = 8 + 2 + 1 + MAX_CRC_BYTES + 1 + varintSize(dlen);
    this.reserve(hdr + dlen + 8);
    const dstart = this.len + hdr;
    this.buf.set(data, dstart);
    this.crc = crc32cUpdate(this.crc, data);
    this.finishFrame(type, dstart, dlen);
  }

  /** Appends a crc record holding `crc` (it does not feed the running CRC). */
  appendCrc(crc: number): void {
    this.reserve(32);
    const f = this.len;
    const buf = this.buf;
    let p = f + 8;
    buf[p++] = 0x08;
    buf[p++] = RecordType.Crc;
    buf[p++] = 0x10;
    p = putVarint(buf, p, crc);
    this.endFrame(f, p - f - 8);
  }

  // Writes the header in front of data that was placed assuming a 5-byte crc
  // varint, moving the data left when the crc is shorter.
  private finishFrame(type: number, dstart: number, dlen: number): void {
    const buf = this.buf;
    const f = this.len;
    const crc = this.crc;
    const shift = MAX_CRC_BYTES - varintSize(crc);
    if (shift > 0 && dlen > 0) buf.copyWithin(dstart - shift, dstart, dstart + dlen);
    let p = f + 8;
    buf[p++] = 0x08;
    buf[p++] = type;
    buf[p++] = 0x10;
    p = putVarint(buf, p, crc);
    buf[p++] = 0x1a;
    p = putVarint(buf, p, dlen);
    this.endFrame(f, p + dlen - f - 8);
  }

  // Writes the length word and zero padding of the frame starting at `f`.
  private endFrame(f: number, n: number): void {
    const buf = this.buf;
    const pad = (8 - (n % 8)) % 8;
    const end = f + 8 + n;
    for (let i = 0; i < pad; i++) buf[end + i] = 0;
    const hi = Math.floor(n / 0x100000000);
    buf[f] = n & 0xff;
    buf[f + 1] = (n >>> 8) & 0xff;
    buf[f + 2] = (n >>> 16) & 0xff;
    buf[f + 3] = (n >>> 24) & 0xff;
    buf[f + 4] = hi & 0xff;
    buf[f + 5] = (hi >>> 8) & 0xff;
    buf[f + 6] = (hi >>> 16) & 0xff;
    buf[f + 7] = pad === 0 ? 0 : 0x80 | pad;
    this.len = end + pad;
  }

  /** The bytes appended since the last flush (for tests and tools). */
  pending(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  /** Writes the batch at `offset` (one write call, looping over short writes). */
  flush(): void {
    if (this.len === 0) return;
    writeAll(this.fs, this.fd, this.buf, 0, this.len, this.offset);
    this.offset += this.len;
    this.len = 0;
    this.batchCrc = this.crc;
    // Do not keep a huge buffer alive after one exceptional batch.
    if (this.buf.length > 8 * INITIAL_BUFFER * 8) this.buf = new Uint8Array(INITIAL_BUFFER);
  }

  /** Drops the records appended since the last flush and restores the CRC. */
  discard(): void {
    this.len = 0;
    this.crc = this.batchCrc;
  }
}

function putVarint(buf: Uint8Array, p: number, v: number): number {
  while (v >= 0x80) {
    buf[p++] = (v & 0x7f) | 0x80;
    v = v >= 0x80000000 ? Math.floor(v / 128) : v >>> 7;
  }
  buf[p++] = v;
  return p;
}
