// Reads records back from a list of segments, checking the CRC chain.
//
// Damage is classified the way etcd does it, with extra care so that a bit
// flip is never mistaken for a torn write (which repair would cut away):
//  - In any segment but the last, every defect is corruption.
//  - In the last segment a frame is "torn" (a crash mid-write, error
//    ERR_WAL_UNEXPECTED_EOF, repairable) when it runs past the end of the file
//    or holds an all-zero 512-byte sector (etcd's rule); other defects are
//    corruption. A torn-looking frame is still reported as corruption when the
//    record in it is intact under another length (a damaged length word), or
//    when valid, CRC-chained records follow it with no zero sector between:
//    a real torn write only loses sectors, it never leaves good data behind
//    without a hole.
//  - A zero length word ends a segment (preallocated space), unless valid
//    records follow it without a zero sector between (then it is corruption).
//  - Padding must be zero and the length word's flag byte well formed (etcd
//    ignores both; checking them costs nothing and catches flips there).
//
// Segments are read incrementally: a small first read, then ~1 MiB at a
// time, never past what the next record needs plus one read-ahead. A
// preallocated segment is 64 MB of which a restart may need a few KB, and
// loading it whole cost 0.5-0.9 s (most of it faulting in a fresh 64 MB
// buffer). The end of the data is proven with the 512-byte piece after the
// zero length word (see zeroWord), not the whole tail. The rare paths that
// classify damage look at the whole segment (resync, the zero-sector test),
// so they load it whole first and then run exactly as on a whole buffer:
// what is accepted or refused does not depend on how the file was read.

import { crc32cRange, crc32cUpdate, type FileSystem, readWhole } from "../fileutil/index.ts";
import { DecodeError } from "../raftpb/index.ts";
import { hex, WalError, WalErrorCode } from "./errors.ts";
import { decodeRecordInto, RecordType, WalRecord } from "./walpb.ts";

/** Sector size assumed by the torn-write test (etcd's minSectorSize). */
export const SECTOR_SIZE = 512;

/** A segment the Decoder reads: its name (for errors) and an open descriptor. */
export interface SegmentRef {
  /** File name (no directory). */
  name: string;
  /** Open descriptor of the segment (the caller closes it). */
  fd: number;
}

/** Options of a Decoder (buffering only: the records read are the same either way). */
export interface DecoderOptions {
  /**
   * Read every segment through one buffer, reused: record data and the
   * views into it (rec.data, data(), entryPayload, segment) are then valid
   * only until the next call to next(), and a caller that keeps bytes must
   * copy them. Without it (the default) every view stays valid for good,
   * each refill getting a fresh buffer.
   */
  reuseBuffer?: boolean;
  /** Bytes read at a time once a segment is under way (default 1 MiB). */
  readSize?: number;
  /** Bytes read first from each segment (default 64 KiB): a preallocated segment may hold little. */
  firstReadSize?: number;
  /**
   * Read each segment whole before decoding it, as this decoder did before
   * it read incrementally. Slow on preallocated segments; the tests compare
   * the incremental reader against it.
   */
  wholeSegments?: boolean;
}

/** Default read size (etcd reads through a 1 MiB-ish bufio reader too). */
export const READ_SIZE = 1 << 20;
/** Default first read of a segment. */
export const FIRST_READ_SIZE = 64 << 10;

function alloc(n: number): Uint8Array {
  // Uninitialised memory: only bytes read into it are ever looked at.
  const raw = Buffer.allocUnsafeSlow(n);
  return new Uint8Array(raw.buffer, raw.byteOffset, n);
}

type Damage = "truncated" | "decode" | "crc" | "padding" | "header";

/**
 * Reads the records of consecutive segments in order, checking each frame
 * and the CRC chain as etcd's decoder does; next() returns false at the clean
 * end of the log and throws a WalError (with file and offset) on damage,
 * UnexpectedEOF for a torn last record. Used by the WAL's replay, repair and
 * verify; exported for tools that walk a log.
 */
export class Decoder {
  private readonly fs: FileSystem;
  private readonly segs: readonly SegmentRef[];
  private readonly reuse: boolean;
  private readonly readSize: number;
  private readonly firstReadSize: number;
  private readonly wholeSegments: boolean;
  private si = -1;
  /** Whether a segment is being read (false before the first and between segments). */
  private inSegment = false;
  /**
   * The bytes [base, end) of the current segment (file offsets); buf[0] is
   * at file offset `base`. Frames are parsed in it at `x - base`.
   */
  private buf: Uint8Array | null = null;
  private base = 0;
  private end = 0;
  /** Size of the current segment (from fstat; smaller if a read ends early). */
  private size = 0;
  /** buf holds the whole segment (base 0): the damage paths need it. */
  private whole = false;
  /** Running CRC: the CRC of all record data read so far (seeded by crc records). */
  crc = 0;
  /** Whether a record has been read (the chain is seeded). */
  private seeded = false;
  /** File offset just past the last valid frame in the current segment. */
  lastOffset = 0;
  /** The record just read (reused); its data aliases the read buffer (see DecoderOptions.reuseBuffer). */
  readonly rec = new WalRecord();
  /** File offset of the record just read within its segment. */
  recOffset = 0;
  /**
   * For an entry record in etcd's layout, its payload (Entry.data) is
   * [payloadStart, payloadEnd) of the read buffer `segment`, else
   * payloadStart is -1; the record's data is [dataStart, dataEnd) of it
   * (buffer positions, not file offsets) and `rec.data` is left null (call
   * data()): the replay copies what it keeps without a view per record.
   */
  payloadStart = -1;
  /** End of the entry payload in `segment` (see payloadStart). */
  payloadEnd = -1;
  /** Start of the record's data in `segment` (see payloadStart). */
  dataStart = 0;
  /** End of the record's data in `segment` (see payloadStart). */
  dataEnd = 0;
  private lazyData = false;

  constructor(fs: FileSystem, segs: readonly SegmentRef[], opts?: DecoderOptions) {
    this.fs = fs;
    this.segs = segs;
    this.reuse = opts?.reuseBuffer === true;
    this.readSize = Math.max(8, opts?.readSize ?? READ_SIZE);
    this.firstReadSize = Math.max(8, opts?.firstReadSize ?? FIRST_READ_SIZE);
    this.wholeSegments = opts?.wholeSegments === true;
  }

  /** Name of the segment being read (the last one once reading is done). */
  get segmentName(): string {
    return this.segs[Math.max(0, Math.min(this.si, this.segs.length - 1))]!.name;
  }

  /** The buffer the record just read lies in (positions: dataStart, dataEnd, payloadStart). */
  get segment(): Uint8Array {
    return this.buf!;
  }

  /** The payload of the entry record just read (see payloadStart), or null. */
  get entryPayload(): Uint8Array | null {
    return this.payloadStart < 0 ? null : this.buf!.subarray(this.payloadStart, this.payloadEnd);
  }

  /** The data of the record just read (null if absent). */
  data(): Uint8Array | null {
    if (this.lazyData) {
      this.rec.data = this.buf!.subarray(this.dataStart, this.dataEnd);
      this.lazyData = false;
    }
    return this.rec.data;
  }

  /** Index of the segment being read in the list given to the constructor. */
  get segmentIndex(): number {
    return this.si;
  }

  private isLast(): boolean {
    return this.si === this.segs.length - 1;
  }

  private advance(): boolean {
    this.si++;
    this.inSegment = false;
    this.lastOffset = 0;
    this.base = 0;
    this.end = 0;
    this.whole = false;
    if (!this.reuse) this.buf = null;
    if (this.si >= this.segs.length) return false;
    this.size = this.fs.fileSize(this.segs[this.si]!.fd);
    this.inSegment = true;
    if (this.wholeSegments) this.loadWhole();
    return true;
  }

  /**
   * Makes the file bytes [from, to) of the current segment available in buf,
   * where `from` is the frame being parsed (never before `base`: frames only
   * move forward) and `to` <= size. Reads at least a read-size ahead (a
   * smaller first read per segment). Returns false if the file ended before
   * `to` after all (it shrank since fstat); `size` is then where it ended.
   */
  private fill(from: number, to: number): boolean {
    if (to <= this.end) return true;
    const want = Math.max(to - from, this.end === 0 ? this.firstReadSize : this.readSize);
    const stop = Math.min(this.size, from + want);
    const held = this.end - from;
    let buf = this.buf;
    if (this.reuse && buf !== null && stop - from <= buf.length) {
      if (from !== this.base && held > 0) buf.copyWithin(0, from - this.base, this.end - this.base);
    } else {
      // A fresh buffer: without reuse, views handed out into the old one must keep their bytes.
      const nb = alloc(this.reuse ? Math.max(stop - from, this.readSize) : stop - from);
      if (held > 0) nb.set(buf!.subarray(from - this.base, this.end - this.base));
      buf = nb;
    }
    const fd = this.segs[this.si]!.fd;
    let pos = this.end;
    while (pos < stop) {
      const n = this.fs.readSync(fd, buf, pos - from, stop - pos, pos);
      if (n === 0) break;
      pos += n;
    }
    this.buf = buf;
    this.base = from;
    this.end = pos;
    if (pos < stop) {
      this.size = pos;
      return to <= pos;
    }
    return true;
  }

  // Decodes the record of the frame at x again, from the whole segment; its DecodeError, if any.
  private redecode(x: number, n: number): DecodeError | null {
    const buf = this.loadWhole();
    try {
      decodeRecordInto(buf, x + 8, x + 8 + n, new WalRecord());
      return null;
    } catch (err) {
      if (err instanceof DecodeError) return err;
      throw err;
    }
  }

  // The damage paths work on the whole segment at file offsets (base 0).
  private loadWhole(): Uint8Array {
    if (!this.whole) {
      const buf = readWhole(this.fs, this.segs[this.si]!.fd);
      this.buf = buf;
      this.base = 0;
      this.end = buf.length;
      this.size = buf.length;
      this.whole = true;
    }
    return this.buf!;
  }

  /**
   * Reads the next record into `rec`. Returns false at the clean end of the
   * log; throws WalError for a torn tail (ERR_WAL_UNEXPECTED_EOF) or damage.
   * Crc records are checked against the running CRC and re-seed it.
   */
  next(): boolean {
    for (;;) {
      if (!this.inSegment && !this.advance()) return false;
      const size = this.size;
      const x = this.lastOffset;
      if (x + 8 > size) {
        if (x !== size) this.damaged(x, "truncated", "partial length field");
        if (this.isLast()) return false;
        this.endSegment(x);
        continue;
      }
      if (x + 8 > this.end && !this.fill(x, x + 8)) continue;
      let buf = this.buf!;
      let p = x - this.base;
      const lo = u32(buf, p);
      const hi = u32(buf, p + 4);
      if (lo === 0 && hi === 0) {
        this.zeroWord(x);
        if (this.isLast()) return false;
        this.endSegment(x);
        continue;
      }
      const n = lo + (hi & 0xffffff) * 0x100000000;
      const flags = hi >>> 24;
      const pad = flags & 0x80 ? flags & 7 : 0;
      if (!validFlags(flags, n)) this.damaged(x, "header", `malformed length word (flags 0x${hex(flags)})`);
      if (n > size - x - 8 - pad) this.damaged(x, "truncated", `record of ${n} bytes runs past end of file`);
      const frameEnd = x + 8 + n + pad;
      if (frameEnd > this.end) {
        if (!this.fill(x, frameEnd)) continue;
        buf = this.buf!;
        p = x - this.base;
      }
      // From here on, positions in buf.
      const rec = this.rec;
      const start = p + 8;
      this.payloadStart = -1;
      this.lazyData = false;
      const ds = canonicalRecord(buf, start, start + n, rec);
      if (ds < 0) {
        try {
          decodeRecordInto(buf, start, start + n, rec);
        } catch (e) {
          if (!(e instanceof DecodeError)) throw e;
          // The message names a position in the buffer: make it the file
          // offset, as when the segment is read whole.
          const err = this.whole ? e : (this.redecode(x, n) ?? e);
          this.damaged(x, "decode", err.message, err);
        }
      } else {
        this.dataStart = ds;
        this.dataEnd = start + n;
        if (rec.type === RecordType.Entry && ds < start + n)
          this.lazyData = this.splitEntry(buf, ds, start + n);
        if (!this.lazyData && rec.data === PRESENT) rec.data = buf.subarray(ds, start + n);
      }
      for (let i = start + n, end = start + n + pad; i < end; i++) {
        if (buf[i] !== 0) this.damaged(x, "padding", "non-zero padding");
      }
      if (rec.type === RecordType.Crc) {
        // A crc record carries the running CRC at the point it was written.
        // The first record a decoder reads is the crc record that opens its
        // first segment, and seeds the chain; after that it must match (also
        // when the chain happens to be 0, or an emptied segment would pass).
        if (this.seeded && rec.crc !== this.crc) {
          throw crcMismatch(this.segmentName, x, rec.crc, this.crc);
        }
        this.crc = rec.crc;
      } else {
        let c: number;
        if (this.lazyData) {
          // Header bytes by table, a payload of 64 bytes or more natively
          // (smaller ones by table, cheaper than the call), trailing bytes by table.
          const ps = this.payloadStart;
          const pe = this.payloadEnd;
          if (pe - ps >= 64) {
            c = crc32cRange(this.crc, buf, this.dataStart, ps);
            c = crc32cUpdate(c, buf.subarray(ps, pe));
            c = crc32cRange(c, buf, pe, this.dataEnd);
          } else {
            c = crc32cRange(this.crc, buf, this.dataStart, this.dataEnd);
          }
        } else {
          c = rec.data === null ? this.crc : crc32cUpdate(this.crc, rec.data);
        }
        if (c !== rec.crc) this.damaged(x, "crc", "", undefined, rec.crc, c);
        this.crc = c;
      }
      this.seeded = true;
      this.recOffset = x;
      this.lastOffset = frameEnd;
      return true;
    }
  }

  // Leaves a segment that is not the last. Every segment starts with a crc
  // record and the metadata (written and synced before the segment is
  // renamed into place), so one without any record lost its data: its
  // records would otherwise vanish silently, since the next segment's crc
  // record seeds a decoder that has read nothing yet.
  private endSegment(x: number): void {
    if (x === 0) throw corrupt(this.segmentName, 0, "a segment that is not the last holds no records");
    this.inSegment = false;
  }

  // Finds Entry.data (field 4) inside an entry record's data [ds, de), when
  // the entry holds only the fields raft writes; false if it does not.
  private splitEntry(buf: Uint8Array, ds: number, de: number): boolean {
    let p = ds;
    while (p < de) {
      const key = buf[p++]!;
      let v = 0;
      let mul = 1;
      for (let i = 0; ; i++) {
        if (i === 8 || p >= de) return false;
        const c = buf[p++]!;
        v += (c & 0x7f) * mul;
        if (c < 0x80) break;
        mul *= 128;
      }
      if (key === 0x22) {
        if (v > de - p) return false;
        this.payloadStart = p;
        this.payloadEnd = p + v;
        return true;
      }
      if (key !== 0x08 && key !== 0x10 && key !== 0x18) return false;
    }
    return false;
  }

  // A zero length word: the end of the data in this segment, unless intact
  // records follow it.
  private zeroWord(x: number): void {
    if (this.isLast() && !this.whole) {
      // The usual end of the log: the preallocated tail. If the 512-byte
      // piece the zero word starts in is zero from x up to the next sector
      // boundary (and the byte after the word, where intactWithOtherLength
      // would look for a record, is zero too), the checks below cannot
      // fail: no record starts right after the word, and whatever resync
      // might find further on, that zero piece lies between. So those few
      // bytes prove the end; the rest of the tail is never read.
      const b = (Math.floor(x / SECTOR_SIZE) + 1) * SECTOR_SIZE;
      const to = Math.min(this.size, Math.max(b, x + 9));
      if (this.fill(x, to) && allZero(this.buf!, x - this.base, to - this.base)) return;
    }
    const buf = this.loadWhole();
    if (!this.isLast()) {
      if (!allZero(buf, x, buf.length)) {
        throw corrupt(this.segmentName, x, "zero length field followed by data in a non-final segment");
      }
      return;
    }
    // An intact record right after the zero word, in the same sector: a torn
    // write loses whole sectors, so the length word itself was damaged.
    if ((x + 8) % SECTOR_SIZE !== 0 && this.intactWithOtherLength(x)) {
      throw corrupt(this.segmentName, x, "zero length field in front of an intact record");
    }
    const y = this.resync(x + 8);
    if (y >= 0 && !hasZeroSector(buf, x, y)) {
      throw corrupt(this.segmentName, x, `zero length field followed by valid records at offset ${y}`);
    }
  }

  private damaged(
    x: number,
    kind: Damage,
    detail: string,
    cause?: unknown,
    expected = 0,
    computed = 0,
  ): never {
    const name = this.segmentName;
    const corruption =
      kind === "crc" ? crcMismatch(name, x, expected, computed) : corrupt(name, x, detail, cause);
    if (!this.isLast()) throw corruption;
    const buf = this.loadWhole();
    const size = buf.length;
    // An intact record under a different length: the length word is damaged.
    if (kind !== "crc" && this.intactWithOtherLength(x)) {
      throw corrupt(name, x, `${detail}; the record itself is intact (damaged length field)`, cause);
    }
    let frameEnd = size;
    if (x + 8 <= size) {
      const n = u32(buf, x) + (u32(buf, x + 4) & 0xffffff) * 0x100000000;
      frameEnd = Math.min(size, x + 8 + n + (buf[x + 7]! & 0x80 ? buf[x + 7]! & 7 : 0));
    }
    const torn = kind === "truncated" || hasZeroSector(buf, x + 8, frameEnd);
    if (!torn) throw corruption;
    const y = this.resync(x + 8);
    if (y >= 0 && !hasZeroSector(buf, x, y)) {
      throw corrupt(name, x, `${detail || "crc mismatch"}; valid records follow at offset ${y}`, cause);
    }
    throw new WalError(
      WalErrorCode.UnexpectedEOF,
      `unexpected EOF: torn record in file '${name}' at position: ${x}`,
      { file: name, offset: x, cause: cause ?? corruption },
    );
  }

  // Parses the record at x+8 by its own field structure, ignoring the length
  // word, and checks it against the CRC chain. (Whole segment loaded.)
  private intactWithOtherLength(x: number): boolean {
    const buf = this.buf!;
    const size = buf.length;
    const p = x + 8;
    if (p + 4 > size || buf[p] !== 0x08 || buf[p + 2] !== 0x10) return false;
    const type = buf[p + 1]!;
    if (type < 1 || type > 5) return false;
    const v = readVarint(buf, p + 3, size);
    if (v === null) return false;
    let end = v.next;
    let c: number;
    if (type === RecordType.Crc) {
      c = this.crc;
    } else {
      if (end >= size || buf[end] !== 0x1a) return false;
      const l = readVarint(buf, end + 1, size);
      if (l === null || l.next + l.value > size) return false;
      c = crc32cUpdate(this.crc, buf.subarray(l.next, l.next + l.value));
      end = l.next + l.value;
    }
    if (c !== v.value || (type === RecordType.Crc && c === 0)) return false;
    const declared = x + 8 <= size ? u32(buf, x) + (u32(buf, x + 4) & 0xffffff) * 0x100000000 : -1;
    return declared !== end - p;
  }

  /**
   * First 8-aligned offset >= from where two consecutive well-formed frames
   * sit whose CRCs chain (the second's CRC extends the first's with its data);
   * -1 if none. Only used on damage paths (whole segment loaded).
   */
  private resync(from: number): number {
    const buf = this.buf!;
    const size = buf.length;
    let y = align8(from);
    const rec = new WalRecord();
    while (y + 16 <= size) {
      // Jump to the next candidate record start (a record begins with 0x08).
      const k = buf.indexOf(0x08, y + 8);
      if (k < 0) return -1;
      if (k % 8 !== 0) {
        y = align8(k) - 8;
        continue;
      }
      y = k - 8;
      const a = frameAt(buf, y, rec);
      if (a > 0) {
        const prevCrc = rec.crc;
        if (frameAt(buf, a, rec) > 0 && rec.type !== RecordType.Crc) {
          const c = rec.data === null ? prevCrc : crc32cUpdate(prevCrc, rec.data);
          if (c === rec.crc) return y;
        }
      }
      y += 8;
    }
    return -1;
  }
}

/**
 * The replay fast path: parses a record laid out exactly as etcd writes it
 * (`08 type 10 crc [1a len data]`) without allocating a reader. Returns the
 * offset of the data (the end when there is none), or -1 for any other
 * layout, which then goes through the general decoder.
 */
// Marks "data field present" between canonicalRecord and its caller.
const PRESENT = new Uint8Array(0);

function canonicalRecord(buf: Uint8Array, p: number, end: number, rec: WalRecord): number {
  if (end - p < 4 || buf[p] !== 0x08 || buf[p + 2] !== 0x10) return -1;
  const type = buf[p + 1]!;
  if (type >= 0x80) return -1;
  p += 3;
  let crc = 0;
  let shift = 1;
  for (let i = 0; ; i++) {
    if (i === 5 || p >= end) return -1;
    const b = buf[p++]!;
    crc += (b & 0x7f) * shift;
    if (b < 0x80) break;
    shift *= 128;
  }
  if (crc > 0xffffffff) return -1;
  let data: Uint8Array | null = null;
  if (p < end) {
    data = PRESENT;
    if (buf[p++] !== 0x1a) return -1;
    let len = 0;
    shift = 1;
    for (let i = 0; ; i++) {
      if (i === 5 || p >= end) return -1;
      const b = buf[p++]!;
      len += (b & 0x7f) * shift;
      if (b < 0x80) break;
      shift *= 128;
    }
    if (p + len !== end) return -1;
  }
  rec.type = type;
  rec.crc = crc;
  rec.data = data;
  return p;
}

/** Decodes a well-formed frame at y into rec; returns the offset after it, or -1. */
function frameAt(buf: Uint8Array, y: number, rec: WalRecord): number {
  const size = buf.length;
  if (y + 8 > size) return -1;
  const hi = u32(buf, y + 4);
  const n = u32(buf, y) + (hi & 0xffffff) * 0x100000000;
  const flags = hi >>> 24;
  if (n < 4 || !validFlags(flags, n)) return -1;
  const pad = flags & 0x80 ? flags & 7 : 0;
  if (n > size - y - 8 - pad) return -1;
  try {
    decodeRecordInto(buf, y + 8, y + 8 + n, rec);
  } catch {
    return -1;
  }
  if (rec.type < 1 || rec.type > 5) return -1;
  return y + 8 + n + pad;
}

// etcd writes the top byte as 0 (no padding) or 0x80 | padding, where padding
// is what aligns the frame to 8 bytes; records from etcd < 3.0 have no
// padding and a zero top byte whatever their length.
function validFlags(flags: number, n: number): boolean {
  if (flags === 0) return true;
  return flags === (0x80 | ((8 - (n % 8)) % 8)) && n % 8 !== 0;
}

function align8(v: number): number {
  return Math.ceil(v / 8) * 8;
}

function u32(buf: Uint8Array, p: number): number {
  return (buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24)) >>> 0;
}

function readVarint(buf: Uint8Array, p: number, end: number): { value: number; next: number } | null {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 10 && p < end; i++) {
    const b = buf[p++]!;
    v += (b & 0x7f) * mul;
    if (b < 0x80) return v > Number.MAX_SAFE_INTEGER ? null : { value: v, next: p };
    mul *= 128;
  }
  return null;
}

function allZero(buf: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * etcd's torn-write test: split [from, to) at every 512-byte boundary of the
 * file offset; true if any piece is entirely zero.
 */
export function hasZeroSector(buf: Uint8Array, from: number, to: number): boolean {
  let a = from;
  while (a < to) {
    const b = Math.min(to, (Math.floor(a / SECTOR_SIZE) + 1) * SECTOR_SIZE);
    if (allZero(buf, a, b)) return true;
    a = b;
  }
  return false;
}

export function crcMismatch(file: string, offset: number, expected: number, computed: number): WalError {
  return new WalError(
    WalErrorCode.CRCMismatch,
    `walpb: crc mismatch: expected: ${hex(expected)} computed: ${hex(computed)}: in file '${file}' at position: ${offset}`,
    { file, offset },
  );
}

export function corrupt(file: string, offset: number, detail: string, cause?: unknown): WalError {
  return new WalError(
    WalErrorCode.Corrupt,
    `wal: corrupt record: ${detail}: in file '${file}' at position: ${offset}`,
    { file, offset, cause },
  );
}
