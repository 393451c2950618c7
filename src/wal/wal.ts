// etcd's write-ahead log: a directory of `%016x-%016x.wal` segments holding
// framed walpb records chained by CRC-32C. Byte-compatible with etcd: a WAL
// written here opens in etcd and the other way round.
//
// Life cycle (as in etcd): create() makes a new WAL ready to append; open()
// and openForRead() return a WAL in "read" state whose readAll() must run
// before anything can be appended (write mode) or which is closed after it
// (read mode). Every mutating call is serialised: calls made without awaiting
// the previous one queue up in order.

import { dirname, join, resolve } from "node:path";
import { type FileSystem, fsyncDir, nodeFileSystem, writeAll } from "../fileutil/index.ts";
import type { Logger } from "../raft/index.ts";
import {
  ConfState,
  decodeEntry,
  decodeHardState,
  EMPTY_BYTES,
  type Entry,
  encodeHardState,
  HardState,
  isUint64,
  type Profile,
} from "../raftpb/index.ts";
import { Decoder, type DecoderOptions, type SegmentRef } from "./decoder.ts";
import { Encoder } from "./encoder.ts";
import { decodeEntryFast, PayloadSpan } from "./entry_fast.ts";
import { WalError, WalErrorCode, wrapIO } from "./errors.ts";
import { isValidSeq, parseWalName, readWalNames, searchIndex, walExists, walName } from "./names.ts";
import {
  type ResolvedWalOptions,
  resolveWalOptions,
  WARN_SYNC_DURATION_MS,
  type WalOptions,
  type WalSaveOptions,
} from "./options.ts";
import { FilePipeline } from "./pipeline.ts";
import { repair } from "./repair.ts";
import { decodeWalSnapshot, encodeWalSnapshot, RecordType, WalSnapshot } from "./walpb.ts";

/** What WAL.readAll returns: the state to restart raft from. */
export interface ReadAllResult {
  /** The metadata given to create(). */
  metadata: Uint8Array;
  /** The last hard state in the log (all zero if none). */
  hardState: HardState;
  /** Entries after the start snapshot; later records overwrite conflicting earlier ones. */
  entries: Entry[];
}

interface Segment {
  fd: number;
  name: string;
  seq: number;
  index: number;
}

function segment(fd: number, name: string): Segment {
  const { seq, index } = parseWalName(name);
  return { fd, name, seq, index };
}

/** Throws WalError ERR_WAL_INVALID_ARGUMENT unless `v` is a safe non-negative integer (`what` names it). */
export function checkIndex(what: string, v: unknown): void {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new WalError(
      WalErrorCode.InvalidArgument,
      `wal: ${what} must be a safe non-negative integer, got ${String(v)}`,
    );
  }
}

/** Whether `hs` is absent or all zero (term 0, no vote, commit 0): nothing to persist. */
export function isEmptyHardState(hs: HardState | null | undefined): boolean {
  return hs == null || (hs.term === 0 && hs.vote === 0n && hs.commit === 0);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const noop = (): void => {};

// Entries read back must not alias the decoder's buffer: it is reused for
// the whole log (reading each segment into a fresh buffer cost more in page
// faults than the copies do; see decoder.ts). The payloads of the entries
// kept are copied into 1 MiB slabs instead, so memory follows the live
// payload, however large the segments and however much of them is dead
// (entries before the snapshot, or since overwritten).
class Slab {
  private buf: Uint8Array = EMPTY_BYTES;
  private pos = 0;

  /** A copy of src[start, end). */
  copy(src: Uint8Array, start: number, end: number): Uint8Array {
    const n = end - start;
    // Present-but-empty stays present (Entry.present keeps the bit).
    if (n === 0) return EMPTY_BYTES;
    if (n > 65536) return src.slice(start, end);
    if (this.pos + n > this.buf.length) {
      this.buf = new Uint8Array(1 << 20);
      this.pos = 0;
    }
    const buf = this.buf;
    const at = this.pos;
    // Small payloads byte by byte: cheaper than the view set() needs.
    if (n < 64) for (let i = 0; i < n; i++) buf[at + i] = src[start + i]!;
    else buf.set(src.subarray(start, end), at);
    this.pos = at + n;
    return buf.subarray(at, at + n);
  }
}

/**
 * readAll's rules, one record at a time: which entries are kept after the
 * start snapshot (later records overwrite conflicting earlier ones) and the
 * checks of raft's invariants along the way. Each method throws the WalError
 * of a record that breaks them. Shared by readAll and WAL.recover.
 */
class Replay {
  readonly start: WalSnapshot;
  readonly ents: Entry[] = [];
  metadata: Uint8Array | null = null;
  state = new HardState(0, 0n, 0);
  /** Whether the start snapshot's record was seen. */
  match = false;
  /** Index of the last entry read, kept or not (etcd's enti). */
  enti = 0;
  private maxTerm = 0;
  private readonly slab = new Slab();
  private readonly span = new PayloadSpan();

  constructor(start: WalSnapshot) {
    this.start = start;
  }

  /** Applies the record the decoder just read. */
  record(d: Decoder): void {
    switch (d.rec.type) {
      case RecordType.Entry:
        this.entry(d);
        break;
      case RecordType.State:
        this.hardState(
          d,
          payload(d, "hard state", () => decodeHardState(d.data() ?? EMPTY_BYTES)),
        );
        break;
      case RecordType.Metadata:
        this.meta(d, d.data() ?? EMPTY_BYTES);
        break;
      case RecordType.Crc:
        break; // checked by the decoder
      case RecordType.Snapshot:
        this.snapshot(
          d,
          payload(d, "snapshot", () => decodeWalSnapshot(d.data() ?? EMPTY_BYTES)),
        );
        break;
      default:
        this.unexpected(d);
    }
  }

  entry(d: Decoder): void {
    // The payload stays in the decoder's buffer (span) until the entry is kept.
    const span = this.span;
    let src = d.segment;
    let e = d.payloadStart >= 0 ? decodeEntryFast(src, d.dataStart, d.dataEnd, span) : null;
    if (e === null) {
      src = d.data() ?? EMPTY_BYTES;
      e = decodeEntryFast(src, 0, src.length, span);
    }
    if (e === null) {
      try {
        e = decodeEntry(d.data() ?? EMPTY_BYTES);
      } catch (err) {
        throw payloadError(d, `cannot decode entry: ${(err as Error).message}`, err);
      }
      src = e.data;
      span.start = 0;
      span.end = src.length;
    }
    if (e.index === 0 || e.term === 0) {
      throw payloadError(d, `entry with index ${e.index} term ${e.term}`);
    }
    if (e.term > this.maxTerm) this.maxTerm = e.term;
    const start = this.start;
    if (e.index > start.index) {
      const ents = this.ents;
      const off = e.index - start.index - 1;
      if (off > ents.length) {
        throw withPartial(
          new WalError(
            WalErrorCode.SliceOutOfRange,
            `wal: slice bounds out of range, snapshot[Index: ${start.index}, Term: ${start.term}], current entry[Index: ${e.index}, Term: ${e.term}], len(ents): ${ents.length}`,
            { file: d.segmentName, offset: d.recOffset },
          ),
          this.result(),
        );
      }
      // Raft logs never decrease in term (log matching): a lower term
      // than the entry it follows means the record is not what was written.
      const prevTerm = off === 0 ? 0 : ents[off - 1]!.term;
      if (e.term < prevTerm) {
        throw payloadError(d, `entry ${e.index} has term ${e.term}, below the preceding term ${prevTerm}`);
      }
      if (off < ents.length) ents.length = off;
      if (span.start >= 0) e.data = this.slab.copy(src, span.start, span.end);
      ents.push(e);
    }
    this.enti = e.index;
  }

  hardState(d: Decoder, hs: HardState): void {
    // Save never writes an empty hard state, and raft's term is >= 1
    // once anything is persisted.
    if (hs.term === 0) throw payloadError(d, "hard state with term 0");
    // Entries are written with a term no greater than the node's, and
    // the node's term only grows.
    if (hs.term < this.maxTerm)
      throw payloadError(d, `hard state term ${hs.term} below entry term ${this.maxTerm}`);
    this.state = hs;
  }

  meta(d: Decoder, data: Uint8Array): void {
    if (this.metadata !== null && !bytesEqual(this.metadata, data)) {
      throw new WalError(
        WalErrorCode.MetadataConflict,
        `wal: conflicting metadata found: in file '${d.segmentName}' at position: ${d.recOffset}`,
        { file: d.segmentName, offset: d.recOffset },
      );
    }
    if (this.metadata === null) this.metadata = data.slice();
  }

  snapshot(d: Decoder, s: WalSnapshot): void {
    const start = this.start;
    if (s.index === start.index) {
      if (s.term !== start.term) {
        throw new WalError(
          WalErrorCode.SnapshotMismatch,
          `wal: snapshot mismatch: want index ${start.index} term ${start.term}, found term ${s.term} in file '${d.segmentName}' at position: ${d.recOffset}`,
          { file: d.segmentName, offset: d.recOffset },
        );
      }
      this.match = true;
    }
  }

  unexpected(d: Decoder): never {
    throw new WalError(
      WalErrorCode.UnexpectedBlockType,
      `unexpected block type ${d.rec.type}: in file '${d.segmentName}' at position: ${d.recOffset}`,
      { file: d.segmentName, offset: d.recOffset },
    );
  }

  result(): ReadAllResult {
    return { metadata: this.metadata ?? EMPTY_BYTES, hardState: this.state, entries: this.ents };
  }
}

/** What WAL.recover read: see there. */
export interface Recovery {
  /**
   * Every snapshot record of the whole WAL that the last hard state's
   * commit covers, in log order: what validSnapshotEntries returns.
   */
  snapshots: WalSnapshot[];
  /**
   * Completes the replay from the `start` given to recover: the WAL, ready
   * to append after its last record, and what readAll would have returned
   * after open(dir, start); or readAll's error (the files are then closed).
   * Null when no segment holds `start` or the segments from it do not follow
   * each other: nothing was replayed or locked, and open() will say why.
   */
  finish: (() => Promise<{ wal: WAL; result: ReadAllResult }>) | null;
  /** Releases the segments unless finish() was called (which hands them over or closes them). */
  close(): Promise<void>;
}

/**
 * etcd's write-ahead log over one directory (lifecycle at the top of this
 * file: create, or open + readAll, then save/saveSnapshot, close). Byte for
 * byte etcd's format; every mutating call is serialised; failures are
 * WalErrors, and after a failed write or sync the WAL refuses further writes
 * (ERR_WAL_FAILED) until reopened.
 */
export class WAL {
  /** The directory holding the segments. */
  readonly dir: string;
  private readonly fs: FileSystem;
  private readonly segmentSize: number;
  private readonly profile: Profile;
  private readonly unsafeNoFsync: boolean;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly writable: boolean;

  private meta: Uint8Array = EMPTY_BYTES;
  // The last non-empty hard state written by this object (not restored by readAll, as in etcd).
  private state: HardState = new HardState(0, 0n, 0);
  private start: WalSnapshot;
  private decoder: Decoder | null = null;
  private encoder: Encoder | null = null;
  private enti = 0;
  // Write mode: locked segments, oldest first; the last one is the tail.
  private locks: Segment[] = [];
  // Read mode: the open segments.
  private readFds: number[] = [];
  private pipeline: FilePipeline | null = null;
  private failure: WalError | null = null;
  private closed = false;
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, o: ResolvedWalOptions, writable: boolean, start: WalSnapshot) {
    this.dir = dir;
    this.fs = o.fs;
    this.segmentSize = o.segmentSize;
    this.profile = o.profile;
    this.unsafeNoFsync = o.unsafeNoFsync;
    this.logger = o.logger;
    this.now = o.now;
    this.writable = writable;
    this.start = start;
  }

  // ------------------------------------------------------------ creation

  /** True iff `dir` holds a WAL (at least one `.wal` file). */
  static exist(dir: string, fs: FileSystem = nodeFileSystem): boolean {
    return walExists(fs, dir);
  }

  /**
   * Creates a WAL in `dir` with `metadata` recorded at the head of every
   * segment. Built in `<dir>.tmp` and renamed into place, so a crash leaves
   * either no WAL or a complete one. Refuses a directory that already holds
   * a WAL (ERR_WAL_EXISTS) or anything else (ERR_WAL_DIR_NOT_EMPTY).
   */
  static async create(dir: string, metadata: Uint8Array, opts?: WalOptions): Promise<WAL> {
    const o = resolveWalOptions(opts);
    const fs = o.fs;
    dir = resolve(dir);
    if (walExists(fs, dir)) throw new WalError(WalErrorCode.Exists, `file exists: ${dir}`);
    if (fs.isDirectory(dir) && fs.readdirSync(dir).length > 0) {
      throw new WalError(WalErrorCode.DirNotEmpty, `wal: ${dir} is not empty and holds no WAL`);
    }
    const tmp = `${dir}.tmp`;
    const w = new WAL(dir, o, true, new WalSnapshot());
    w.meta = metadata.slice();
    let renamed = false;
    try {
      fs.rmSync(tmp);
      fs.mkdirSync(tmp, 0o700);
      const name = walName(0, 0);
      const fd = fs.openSync(join(tmp, name), "w", 0o600);
      w.locks.push(segment(fd, name));
      if (!fs.tryLock(fd)) throw new WalError(WalErrorCode.Locked, "fileutil: file already locked");
      fs.ftruncateSync(fd, o.segmentSize);
      const enc = new Encoder(fs, fd, 0, 0, o.profile);
      w.encoder = enc;
      enc.appendCrc(0);
      enc.appendData(RecordType.Metadata, w.meta);
      await w.saveSnapshotNow(new WalSnapshot(0, 0));
      if (fs.isDirectory(dir)) fs.rmSync(dir);
      fs.renameSync(tmp, dir);
      renamed = true;
    } catch (err) {
      w.closeFiles();
      fs.rmSync(tmp);
      throw wrapIO("create", err);
    }
    w.pipeline = new FilePipeline(fs, dir, o.segmentSize);
    try {
      await fsyncDir(fs, dirname(dir));
    } catch (err) {
      // The rename may not be durable: move the WAL aside, as etcd does.
      await w.close().catch(noop);
      if (renamed) fs.renameSync(dir, `${dir}.broken.${brokenSuffix(new Date())}`);
      throw wrapIO("fsync parent directory", err);
    }
    return w;
  }

  /** See {@link repair}. */
  static repair(dir: string, opts?: WalOptions): Promise<boolean> {
    return repair(dir, opts);
  }

  /** See {@link verify}. */
  static verify(dir: string, snap?: WalSnapshot, opts?: WalOptions): Promise<HardState> {
    return verify(dir, snap, opts);
  }

  /** See {@link validSnapshotEntries}. */
  static validSnapshotEntries(dir: string, opts?: WalOptions): Promise<WalSnapshot[]> {
    return validSnapshotEntries(dir, opts);
  }

  /** Opens a WAL for appending, at the snapshot the caller holds; call readAll() next. */
  static async open(dir: string, snap: WalSnapshot = new WalSnapshot(), opts?: WalOptions): Promise<WAL> {
    return WAL.openAt(dir, snap, true, resolveWalOptions(opts));
  }

  /** Opens a WAL read-only (no locks); call readAll(), which then closes the files. */
  static async openForRead(
    dir: string,
    snap: WalSnapshot = new WalSnapshot(),
    opts?: WalOptions,
  ): Promise<WAL> {
    return WAL.openAt(dir, snap, false, resolveWalOptions(opts));
  }

  /**
   * A restart in one read of the WAL (etcd reads it twice: once for the
   * snapshot records, then to replay from the snapshot it picked). Reads
   * every segment from the first, as validSnapshotEntries does, and from the
   * segment holding `start` on also replays the log as readAll would after
   * open(dir, start), with those segments locked (ERR_WAL_LOCKED at once if
   * another holder has one). `start` is the caller's guess of the snapshot it
   * will restart from, usually the newest `.snap` file: if the snapshot it
   * then picks from `snapshots` is another, it closes this and calls open().
   *
   * Thrown at once, as validSnapshotEntries would: damage anywhere (a torn
   * last record excepted) and undecodable snapshot or hard state records.
   * What readAll would refuse (a torn tail in write mode included) is
   * thrown by finish(), after the caller has chosen its snapshot, so that
   * errors come in the order the two reads gave them.
   */
  static async recover(
    dir: string,
    start: WalSnapshot = new WalSnapshot(),
    opts?: WalOptions,
  ): Promise<Recovery> {
    const o = resolveWalOptions(opts);
    const fs = o.fs;
    checkIndex("snapshot index", start.index);
    checkIndex("snapshot term", start.term);
    dir = resolve(dir);
    const names = readWalNames(fs, dir);
    let from = searchIndex(names, start.index);
    if (from < 0 || !isValidSeq(names.slice(from))) from = names.length;
    const w = new WAL(dir, o, true, new WalSnapshot(start.index, start.term, start.confState));
    const refs: SegmentRef[] = [];
    try {
      for (let i = 0; i < names.length; i++) {
        const name = names[i]!;
        const path = join(dir, name);
        if (i < from) {
          // Before the replay's first segment: read for its snapshot records only, unlocked.
          const fd = fs.openSync(path, "r");
          w.readFds.push(fd);
          refs.push({ name, fd });
          continue;
        }
        const fd = fs.openSync(path, "r+");
        w.locks.push(segment(fd, name));
        refs.push({ name, fd });
        if (!fs.tryLock(fd))
          throw new WalError(WalErrorCode.Locked, `fileutil: file already locked: ${path}`);
      }
    } catch (err) {
      w.closeFiles();
      throw wrapIO("open", err);
    }
    const replay = from < names.length ? new Replay(w.start) : null;
    const d = new Decoder(fs, refs, { reuseBuffer: true });
    // readAll's error, held back until finish(); the replay stops at it.
    let failed: unknown = null;
    const snaps: WalSnapshot[] = [];
    let commit = 0;
    try {
      for (;;) {
        try {
          if (!d.next()) break;
        } catch (err) {
          // A torn tail ends validSnapshotEntries' read; readAll (write mode) refuses it.
          if (!(err instanceof WalError && err.code === WalErrorCode.UnexpectedEOF)) throw err;
          if (replay !== null) failed ??= err;
          break;
        }
        const type = d.rec.type;
        let hs: HardState | null = null;
        let snap: WalSnapshot | null = null;
        if (type === RecordType.Snapshot) {
          snap = payload(d, "snapshot", () => decodeWalSnapshot(d.data() ?? EMPTY_BYTES));
          snaps.push(new WalSnapshot(snap.index, snap.term, snap.confState));
        } else if (type === RecordType.State) {
          hs = payload(d, "hard state", () => decodeHardState(d.data() ?? EMPTY_BYTES));
          commit = hs.commit;
        }
        if (replay === null || failed !== null || d.segmentIndex < from) continue;
        try {
          if (snap !== null) replay.snapshot(d, snap);
          else if (hs !== null) replay.hardState(d, hs);
          else replay.record(d);
        } catch (err) {
          failed = err;
        }
      }
    } catch (err) {
      w.closeFiles();
      throw wrapIO("read", err);
    }
    for (const fd of w.readFds) w.closeFd(fd);
    w.readFds = [];
    const snapshots = snaps.filter((s) => s.index <= commit);
    if (replay === null) {
      w.closeFiles();
      return { snapshots, finish: null, close: () => Promise.resolve() };
    }
    // finish() hands the WAL over (or closes it): close() is then not ours to do.
    let handedOver = false;
    return {
      snapshots,
      finish: async () => {
        if (handedOver) throw new WalError(WalErrorCode.InvalidState, "wal: recovery already finished");
        handedOver = true;
        try {
          if (failed !== null) throw failed;
          const result = w.serial(() => w.endRead(replay, d));
          w.pipeline = new FilePipeline(fs, dir, o.segmentSize);
          return { wal: w, result: await result };
        } catch (err) {
          await w.close().catch(noop);
          throw err;
        }
      },
      close: () => (handedOver ? Promise.resolve() : w.close()),
    };
  }

  private static openAt(dir: string, snap: WalSnapshot, write: boolean, o: ResolvedWalOptions): WAL {
    checkIndex("snapshot index", snap.index);
    checkIndex("snapshot term", snap.term);
    dir = resolve(dir);
    const { names, from } = selectFiles(o.fs, dir, snap.index);
    const w = new WAL(dir, o, write, new WalSnapshot(snap.index, snap.term, snap.confState));
    const refs: SegmentRef[] = [];
    try {
      for (const name of names.slice(from)) {
        const path = join(dir, name);
        const fd = o.fs.openSync(path, write ? "r+" : "r");
        if (write) {
          w.locks.push(segment(fd, name));
          if (!o.fs.tryLock(fd)) {
            throw new WalError(WalErrorCode.Locked, `fileutil: file already locked: ${path}`);
          }
        } else {
          w.readFds.push(fd);
        }
        refs.push({ name, fd });
      }
    } catch (err) {
      w.closeFiles();
      throw wrapIO("open", err);
    }
    w.decoder = new Decoder(o.fs, refs, { reuseBuffer: true });
    if (write) w.pipeline = new FilePipeline(o.fs, dir, o.segmentSize);
    return w;
  }

  // ------------------------------------------------------------ reading

  /**
   * Reads every record from the start snapshot on. Write mode requires the log
   * to end cleanly: a torn last record throws ERR_WAL_UNEXPECTED_EOF (run
   * WAL.repair and reopen); afterwards the WAL appends after the last record.
   * Read mode tolerates a torn tail, reports ERR_WAL_SNAPSHOT_NOT_FOUND if the
   * start snapshot is missing (the data read is on `err.partial`), and closes
   * the files.
   */
  readAll(): Promise<ReadAllResult> {
    return this.serial(() => this.readAllNow());
  }

  private readAllNow(): ReadAllResult {
    this.checkNotClosed();
    const d = this.decoder;
    if (d === null) throw new WalError(WalErrorCode.DecoderNotFound, "wal: decoder not found");
    this.decoder = null;
    const r = new Replay(this.start);
    try {
      while (d.next()) r.record(d);
    } catch (err) {
      const tornTail = err instanceof WalError && err.code === WalErrorCode.UnexpectedEOF;
      if (this.writable || !tornTail) {
        if (!this.writable) this.closeFiles();
        throw err;
      }
      // Read mode: a torn last record is the end of the log.
    }
    return this.endRead(r, d);
  }

  // After the last record: read mode closes the files and reports a missing
  // start snapshot; write mode makes the tail segment ready to append.
  private endRead(r: Replay, d: Decoder): ReadAllResult {
    const start = this.start;
    const result = r.result();
    this.enti = r.enti;
    this.start = new WalSnapshot();
    this.meta = result.metadata;
    if (!this.writable) {
      this.closeFiles();
      if (!r.match) {
        throw withPartial(
          new WalError(
            WalErrorCode.SnapshotNotFound,
            `wal: snapshot not found (index ${start.index}, term ${start.term})`,
          ),
          result,
        );
      }
      return result;
    }
    // Write mode. A zero length word ends the log, but a torn write may have
    // left stray bytes after it: zero everything from the end of the last
    // record, keeping the file size, so new records never mix with old bytes.
    // (etcd does not report a missing start snapshot in write mode either.)
    const tail = this.tail();
    const off = d.lastOffset;
    try {
      const size = this.fs.fileSize(tail.fd);
      if (size > off) {
        this.fs.ftruncateSync(tail.fd, off);
        this.fs.ftruncateSync(tail.fd, size);
      }
    } catch (err) {
      throw this.fail("zero the tail after the last record", err);
    }
    this.encoder = new Encoder(this.fs, tail.fd, off, d.crc, this.profile);
    return result;
  }

  // ------------------------------------------------------------ writing

  /**
   * Appends entries and the hard state, then fdatasyncs once if raft must
   * sync (entries present, or term/vote changed since the last state this
   * WAL wrote), or if `mustSync` is true. An empty hard state with no entries
   * writes nothing. Cuts a new segment when the tail reaches the segment size.
   */
  save(
    hardState: HardState | null | undefined,
    entries: readonly Entry[],
    mustSync?: boolean,
    opts?: WalSaveOptions,
  ): Promise<void> {
    const inline = opts?.inlineSync === true;
    return this.serial(() => this.saveNow(hardState, entries, mustSync === true, inline));
  }

  private async saveNow(
    hs: HardState | null | undefined,
    ents: readonly Entry[],
    force: boolean,
    inline = false,
  ): Promise<void> {
    const enc = this.checkWritable();
    const hsEmpty = isEmptyHardState(hs);
    if (!hsEmpty) {
      checkIndex("hard state term", hs!.term);
      // The vote is a member ID: a 64-bit bigint, not an index.
      if (!isUint64(hs!.vote)) {
        throw new WalError(
          WalErrorCode.InvalidArgument,
          `wal: hard state vote must be an unsigned 64-bit bigint, got ${String(hs!.vote)}`,
        );
      }
      checkIndex("hard state commit", hs!.commit);
    }
    for (let i = 0; i < ents.length; i++) {
      const e = ents[i]!;
      if (!Number.isSafeInteger(e.index) || !Number.isSafeInteger(e.term) || e.index < 0 || e.term < 0) {
        checkIndex("entry index", e.index);
        checkIndex("entry term", e.term);
      }
    }
    if (hsEmpty && ents.length === 0) return;
    const must = force || ents.length > 0 || hs!.vote !== this.state.vote || hs!.term !== this.state.term;
    for (let i = 0; i < ents.length; i++) enc.appendEntry(ents[i]!);
    if (!hsEmpty) enc.appendData(RecordType.State, encodeHardState(hs!, this.profile));
    this.flush(enc);
    if (ents.length > 0) this.enti = ents[ents.length - 1]!.index;
    if (!hsEmpty) this.state = new HardState(hs!.term, hs!.vote, hs!.commit);
    if (enc.offset < this.segmentSize) {
      if (must) {
        if (inline && this.fs.fdatasyncSync !== undefined) this.syncInline();
        else await this.syncNow();
      }
      return;
    }
    await this.cut();
  }

  /**
   * Appends a snapshot marker and fdatasyncs. A snapshot other than the
   * initial {0, 0} must carry its ConfState (etcd >= 3.5 rule).
   */
  saveSnapshot(snap: WalSnapshot): Promise<void> {
    return this.serial(() => this.saveSnapshotNow(snap));
  }

  private async saveSnapshotNow(snap: WalSnapshot): Promise<void> {
    const enc = this.checkWritable();
    if (snap == null) throw new WalError(WalErrorCode.InvalidSnapshot, "snapshot is nil");
    if (!Number.isSafeInteger(snap.index) || snap.index < 0) {
      throw new WalError(WalErrorCode.InvalidSnapshot, `snapshot is missing index: ${String(snap.index)}`);
    }
    if (!Number.isSafeInteger(snap.term) || snap.term < 0) {
      throw new WalError(WalErrorCode.InvalidSnapshot, `snapshot is missing term: ${String(snap.term)}`);
    }
    if (snap.index > 0 && snap.confState == null) {
      throw new WalError(
        WalErrorCode.InvalidSnapshot,
        `Saved (not-initial) snapshot is missing ConfState: index:${snap.index} term:${snap.term}`,
      );
    }
    if (snap.confState != null && !(snap.confState instanceof ConfState)) {
      throw new WalError(WalErrorCode.InvalidSnapshot, "snapshot confState must be a ConfState");
    }
    enc.appendData(RecordType.Snapshot, encodeWalSnapshot(snap, this.profile));
    this.flush(enc);
    if (this.enti < snap.index) this.enti = snap.index;
    await this.syncNow();
  }

  /** Flushes and fdatasyncs the tail segment. */
  sync(): Promise<void> {
    return this.serial(async () => {
      this.checkWritable();
      await this.syncNow();
    });
  }

  // Writes the encoder's batch. On failure the bytes that may have reached
  // the file are zeroed (best effort) so that a reopen sees the log end
  // before the failed batch, and the WAL refuses further writes.
  private flush(enc: Encoder): void {
    const at = enc.offset;
    const len = enc.buffered;
    try {
      enc.flush();
    } catch (err) {
      enc.discard();
      try {
        writeAll(this.fs, enc.fd, new Uint8Array(len), 0, len, at);
      } catch {}
      throw this.fail("write", err);
    }
  }

  private async syncNow(): Promise<void> {
    if (this.unsafeNoFsync) return;
    const t0 = this.now();
    try {
      await this.fs.fdatasync(this.tail().fd);
    } catch (err) {
      throw this.fail("fdatasync", err);
    }
    this.checkSyncDuration(t0);
  }

  /** syncNow on the calling thread (see WalSaveOptions.inlineSync). */
  private syncInline(): void {
    if (this.unsafeNoFsync) return;
    const t0 = this.now();
    try {
      this.fs.fdatasyncSync!(this.tail().fd);
    } catch (err) {
      throw this.fail("fdatasync", err);
    }
    this.checkSyncDuration(t0);
  }

  private checkSyncDuration(t0: number): void {
    const took = this.now() - t0;
    if (took > WARN_SYNC_DURATION_MS) {
      this.logger.warning(
        `slow fdatasync: took ${took.toFixed(0)}ms, expected-duration ${WARN_SYNC_DURATION_MS}ms`,
      );
    }
  }

  // Starts the next segment: the tail is truncated to its data and synced;
  // the preallocated file from the pipeline gets the crc, metadata and state
  // header records, is synced, and renamed into place; the directory is
  // synced so that the new name survives a crash before later saves use it.
  private async cut(): Promise<void> {
    const fs = this.fs;
    const old = this.tail();
    const enc = this.encoder!;
    try {
      fs.ftruncateSync(old.fd, enc.offset);
    } catch (err) {
      throw this.fail("truncate segment", err);
    }
    const name = walName(old.seq + 1, this.enti + 1);
    let file: { fd: number; path: string };
    try {
      file = await this.pipeline!.take();
    } catch (err) {
      throw this.fail("take preallocated segment", err);
    }
    const next = new Encoder(fs, file.fd, 0, enc.crc, this.profile);
    next.appendCrc(enc.crc);
    next.appendData(RecordType.Metadata, this.meta);
    if (!isEmptyHardState(this.state))
      next.appendData(RecordType.State, encodeHardState(this.state, this.profile));
    this.locks.push(segment(file.fd, name));
    this.encoder = next;
    this.flush(next);
    if (!this.unsafeNoFsync) {
      try {
        // Both files are independent until the rename; sync them together.
        await Promise.all([fs.fdatasync(old.fd), fs.fdatasync(file.fd)]);
      } catch (err) {
        throw this.fail("fdatasync at cut", err);
      }
    }
    try {
      fs.renameSync(file.path, join(this.dir, name));
      await fsyncDir(fs, this.dir);
    } catch (err) {
      throw this.fail("rename new segment", err);
    }
    this.logger.info(`created a new WAL segment: ${join(this.dir, name)}`);
  }

  /**
   * Releases (closes and unlocks) the segments that only hold entries before
   * `index`, keeping the one that may still hold entries at `index`. Returns
   * the names released; they may then be deleted (see purgeSegments).
   */
  releaseLockTo(index: number): string[] {
    checkIndex("index", index);
    if (this.locks.length === 0) return [];
    let smaller = this.locks.length - 1;
    for (let i = 0; i < this.locks.length; i++) {
      if (this.locks[i]!.index >= index) {
        smaller = i - 1;
        break;
      }
    }
    if (smaller <= 0) return [];
    const released = this.locks.slice(0, smaller);
    this.locks = this.locks.slice(smaller);
    for (const s of released) this.closeFd(s.fd);
    return released.map((s) => s.name);
  }

  /** Stops the pipeline, syncs the tail and closes every file. Idempotent. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return this.serial(async () => {
      if (this.closed) return;
      let err: unknown = null;
      if (this.pipeline !== null) {
        await this.pipeline.close().catch((e: unknown) => {
          err = e;
        });
        this.pipeline = null;
      }
      if (this.encoder !== null && this.failure === null && this.locks.length > 0) {
        await this.syncNow().catch((e: unknown) => {
          err ??= e;
        });
      }
      this.closed = true;
      this.encoder = null;
      this.decoder = null;
      this.closeFiles();
      if (err !== null) throw wrapIO("close", err);
    });
  }

  // ------------------------------------------------------------ accessors

  /** The metadata given to create() (known after create or readAll). */
  get metadata(): Uint8Array {
    return this.meta;
  }

  /** Index of the last entry written or read (etcd's enti). */
  get lastIndex(): number {
    return this.enti;
  }

  /** Names of the segments this WAL holds locked, oldest first. */
  get lockedSegments(): string[] {
    return this.locks.map((s) => s.name);
  }

  /** Name of the segment being appended to. */
  get tailSegment(): string {
    return this.tail().name;
  }

  /** Offset in the tail segment where the next record goes. */
  get tailOffset(): number {
    return this.encoder?.offset ?? 0;
  }

  /** The error that made this WAL refuse writes, if any. */
  get failed(): WalError | null {
    return this.failure;
  }

  // ------------------------------------------------------------ internals

  private tail(): Segment {
    const t = this.locks[this.locks.length - 1];
    if (t === undefined) throw new WalError(WalErrorCode.InvalidState, "wal: no segment held");
    return t;
  }

  private serial<T>(fn: () => T | Promise<T>): Promise<T> {
    const p = this.chain.then(fn);
    this.chain = p.then(noop, noop);
    return p;
  }

  private checkNotClosed(): void {
    if (this.closed) throw new WalError(WalErrorCode.Closed, "wal: closed");
  }

  private checkWritable(): Encoder {
    this.checkNotClosed();
    if (this.failure !== null) {
      throw new WalError(
        WalErrorCode.Failed,
        `wal: refusing writes after an earlier failure: ${this.failure.message}`,
        {
          cause: this.failure,
        },
      );
    }
    if (!this.writable) throw new WalError(WalErrorCode.InvalidState, "wal: opened read-only");
    if (this.encoder === null) {
      throw new WalError(WalErrorCode.InvalidState, "wal: readAll must be called before appending");
    }
    return this.encoder;
  }

  private fail(what: string, err: unknown): WalError {
    const e = wrapIO(what, err);
    this.failure ??= e;
    return e;
  }

  private closeFd(fd: number): void {
    try {
      this.fs.closeSync(fd);
    } catch {}
  }

  private closeFiles(): void {
    for (const s of this.locks) this.closeFd(s.fd);
    for (const fd of this.readFds) this.closeFd(fd);
    this.locks = [];
    this.readFds = [];
  }
}

function withPartial(err: WalError, partial: ReadAllResult): WalError {
  (err as WalError & { partial?: ReadAllResult }).partial = partial;
  return err;
}

function payloadError(d: Decoder, detail: string, cause?: unknown): WalError {
  return new WalError(
    WalErrorCode.Corrupt,
    `wal: corrupt record: ${detail}: in file '${d.segmentName}' at position: ${d.recOffset}`,
    { file: d.segmentName, offset: d.recOffset, cause },
  );
}

function payload<T>(d: Decoder, what: string, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    throw payloadError(d, `cannot decode ${what}: ${(err as Error).message}`, err);
  }
}

// `<dir>.broken.<YYYYMMDD.HHMMSS.ffffff>` with trailing zeros of the fraction trimmed (Go's layout).
export function brokenSuffix(t: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const base = `${t.getFullYear()}${p(t.getMonth() + 1)}${p(t.getDate())}.${p(t.getHours())}${p(t.getMinutes())}${p(t.getSeconds())}`;
  const frac = p(t.getMilliseconds() * 1000, 6).replace(/0+$/, "");
  return frac === "" ? base : `${base}.${frac}`;
}

/** Picks the segments to read for a snapshot index (etcd's selectWALFiles). */
export function selectFiles(fs: FileSystem, dir: string, index: number): { names: string[]; from: number } {
  const names = readWalNames(fs, dir);
  const from = searchIndex(names, index);
  if (from < 0) {
    throw new WalError(
      WalErrorCode.NoMatchingFile,
      `wal: file not found which matches the snapshot index '${index}'`,
    );
  }
  if (!isValidSeq(names.slice(from))) {
    throw new WalError(
      WalErrorCode.BadSequence,
      `wal: file sequence numbers (starting from ${from}) do not increase continuously`,
    );
  }
  return { names, from };
}

// ------------------------------------------------------------ read-only helpers

/** Opens segments read-only, runs `fn` over a decoder, closes them. */
function scan<T>(
  fs: FileSystem,
  dir: string,
  names: readonly string[],
  opts: DecoderOptions,
  fn: (d: Decoder) => T,
): T {
  const refs: SegmentRef[] = [];
  try {
    for (const name of names) refs.push({ name, fd: fs.openSync(join(dir, name), "r") });
    return fn(new Decoder(fs, refs, { ...opts, reuseBuffer: true }));
  } catch (err) {
    throw wrapIO("read", err);
  } finally {
    for (const r of refs) {
      try {
        fs.closeSync(r.fd);
      } catch {}
    }
  }
}

// Iterates records; a torn tail ends the scan (read-mode rule).
function eachRecord(d: Decoder, fn: (type: number, data: Uint8Array) => void): void {
  try {
    while (d.next())
      fn(d.rec.type, d.rec.type === RecordType.Entry ? EMPTY_BYTES : (d.data() ?? EMPTY_BYTES));
  } catch (err) {
    if (!(err instanceof WalError && err.code === WalErrorCode.UnexpectedEOF)) throw err;
  }
}

/**
 * Checks that the WAL from the segment holding `snap` on is intact: CRCs,
 * metadata, record types, and the snapshot record. Returns the last hard state.
 */
export async function verify(
  dir: string,
  snap: WalSnapshot = new WalSnapshot(),
  opts?: WalOptions,
): Promise<HardState> {
  const o = resolveWalOptions(opts);
  dir = resolve(dir);
  const { names, from } = selectFiles(o.fs, dir, snap.index);
  return scan(o.fs, dir, names.slice(from), {}, (d) => {
    let metadata: Uint8Array | null = null;
    let state = new HardState(0, 0n, 0);
    let match = false;
    eachRecord(d, (type, data) => {
      switch (type) {
        case RecordType.Metadata:
          if (metadata !== null && !bytesEqual(metadata, data)) {
            throw new WalError(WalErrorCode.MetadataConflict, "wal: conflicting metadata found", {
              file: d.segmentName,
              offset: d.recOffset,
            });
          }
          metadata = data.slice();
          break;
        case RecordType.Snapshot: {
          const s = payload(d, "snapshot", () => decodeWalSnapshot(data));
          if (s.index === snap.index) {
            if (s.term !== snap.term) {
              throw new WalError(WalErrorCode.SnapshotMismatch, "wal: snapshot mismatch", {
                file: d.segmentName,
                offset: d.recOffset,
              });
            }
            match = true;
          }
          break;
        }
        case RecordType.State:
          state = payload(d, "hard state", () => decodeHardState(data));
          break;
        case RecordType.Entry:
        case RecordType.Crc:
          break;
        default:
          throw new WalError(WalErrorCode.UnexpectedBlockType, `unexpected block type ${type}`, {
            file: d.segmentName,
            offset: d.recOffset,
          });
      }
    });
    if (!match) throw new WalError(WalErrorCode.SnapshotNotFound, "wal: snapshot not found");
    return state;
  });
}

/**
 * Every snapshot record in the whole WAL whose index is covered by the last
 * hard state's commit, in log order (what a restarting node may load).
 */
export async function validSnapshotEntries(dir: string, opts?: WalOptions): Promise<WalSnapshot[]> {
  const o = resolveWalOptions(opts);
  dir = resolve(dir);
  const names = readWalNames(o.fs, dir);
  return scan(o.fs, dir, names, {}, (d) => {
    const snaps: WalSnapshot[] = [];
    let commit = 0;
    eachRecord(d, (type, data) => {
      if (type === RecordType.Snapshot) {
        const s = payload(d, "snapshot", () => decodeWalSnapshot(data));
        snaps.push(new WalSnapshot(s.index, s.term, s.confState));
      } else if (type === RecordType.State) {
        commit = payload(d, "hard state", () => decodeHardState(data)).commit;
      }
    });
    return snaps.filter((s) => s.index <= commit);
  });
}

/**
 * The metadata recorded when the WAL was created (etcd: the member and
 * cluster IDs), read from the head of the first segment, where every
 * segment holds it right after its crc record: a few hundred bytes, not the
 * log. Read-only, no lock. The two records are checked (framing, CRC); the
 * rest of the WAL is not, so a damaged log is only found by a full read.
 * ERR_WAL_FILE_NOT_FOUND without segments; the decoder's error (naming file
 * and offset) if the head is damaged; ERR_WAL_CORRUPT if it holds no
 * metadata record.
 */
export async function readWalMetadata(dir: string, opts?: Pick<WalOptions, "fs">): Promise<Uint8Array> {
  const fs = opts?.fs ?? nodeFileSystem;
  dir = resolve(dir);
  const names = readWalNames(fs, dir);
  // With its successor listed, the first segment is read as one that is not
  // the last: damage in its head is corruption, never a torn tail.
  return scan(fs, dir, names.slice(0, 2), { firstReadSize: 512, readSize: 4096 }, (d) => {
    let at = 0;
    for (const type of [RecordType.Crc, RecordType.Metadata]) {
      if (!d.next() || d.segmentIndex !== 0) break; // the first segment ended
      at = d.recOffset;
      if (d.rec.type !== type) break;
      if (type === RecordType.Metadata) return (d.data() ?? EMPTY_BYTES).slice();
      at = d.lastOffset;
    }
    throw new WalError(
      WalErrorCode.Corrupt,
      `wal: corrupt record: the segment does not start with a crc and a metadata record: in file '${names[0]}' at position: ${at}`,
      { file: names[0], offset: at },
    );
  });
}
