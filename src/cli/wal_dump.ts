// `tsraft wal dump`: what a WAL and its snapshot directory hold, in the
// spirit of etcd-dump-logs. It is an inspection tool, so it only reads: no
// lock is taken, nothing is renamed, truncated, deleted or written (the
// snapshotter runs in read-only mode), and a torn WAL tail is shown as the
// end of the log, never repaired.
//
// It reads everything whole: every record of every segment is decoded (not
// only those after the snapshot), and every `.snap` file is decoded and
// checked. Damage is never skipped in silence: each unreadable file or
// record is named on stderr and the exit status is 1, after printing all
// that could be read. When the newest snapshot the WAL vouches for cannot be
// read, the dump starts from the newest one that can, and says so.
//
// Member and cluster IDs are printed in hex, as etcd prints them: the hard
// state's vote, ConfState lists, conf changes (node and request IDs), and
// the WAL metadata when it is etcd's (etcdserverpb.Metadata {NodeID, ClusterID}).

import { join } from "node:path";
import { discardLogger } from "../raft/index.ts";
import {
  type ConfChangeSingle,
  ConfChangeType,
  type ConfState,
  decodeConfChange,
  decodeConfChangeV2,
  decodeEntry,
  decodeHardState,
  type Entry,
  EntryType,
  formatId,
  HardState,
  quoteBytes,
  Reader,
  type Snapshot,
} from "../raftpb/index.ts";
import { type SnapFileStatus, Snapshotter } from "../snap/index.ts";
import {
  Decoder,
  decodeWalSnapshot,
  isValidSeq,
  nodeFileSystem,
  type ReadAllResult,
  RecordType,
  readWalNames,
  type SegmentRef,
  WAL,
  WalError,
  WalErrorCode,
  WalSnapshot,
  walExists,
} from "../wal/index.ts";

/** The `wal dump --type` names and their EntryType. */
export const ENTRY_TYPES: Record<string, number> = {
  normal: EntryType.EntryNormal,
  confchange: EntryType.EntryConfChange,
  confchangev2: EntryType.EntryConfChangeV2,
};

/** Options of the WAL dump (etcd-dump-logs' flags). */
export interface DumpOptions {
  /** Dump entries from this index on (--start-index). */
  startIndex?: number;
  /** Only entries of these types (--type, ENTRY_TYPES names); default all. */
  type?: string[];
  /** Where the .snap files are (--snap-dir; default: snap/ beside the WAL). */
  snapDir?: string;
}

/** Where the tools write (tests capture it). */
export interface Out {
  /** One line of output. */
  log(line: string): void;
  /** One line of error output. */
  error(line: string): void;
}

const quiet = { logger: discardLogger };

/**
 * Resolves DIR as a WAL directory, a DiskStorage directory with wal/ and
 * snap/, or an etcd or tsraft-kv data directory (member/wal, member/snap).
 */
function locate(dir: string, snapDir?: string): { walDir: string; snapDir: string | null } {
  if (walExists(nodeFileSystem, dir)) {
    const sibling = join(dir, "..", "snap");
    return { walDir: dir, snapDir: snapDir ?? (nodeFileSystem.isDirectory(sibling) ? sibling : null) };
  }
  if (!walExists(nodeFileSystem, join(dir, "wal")) && walExists(nodeFileSystem, join(dir, "member", "wal"))) {
    dir = join(dir, "member");
  }
  const walDir = join(dir, "wal");
  const snap = snapDir ?? join(dir, "snap");
  return { walDir, snapDir: nodeFileSystem.isDirectory(snap) ? snap : null };
}

// ------------------------------------------------------------ formatting (IDs in hex)

function idList(ids: readonly bigint[]): string {
  return `[${ids.map(formatId).join(" ")}]`;
}

/** A ConfState as etcd's tools print it, member IDs in hex. */
export function describeConfStateHex(cs: ConfState): string {
  return (
    `Voters:${idList(cs.voters)} VotersOutgoing:${idList(cs.votersOutgoing)} ` +
    `Learners:${idList(cs.learners)} LearnersNext:${idList(cs.learnersNext)} AutoLeave:${cs.autoLeave}`
  );
}

/** A HardState as etcd's tools print it, the vote in hex. */
export function describeHardStateHex(hs: HardState): string {
  return `Term:${hs.term}${hs.vote !== 0n ? ` Vote:${formatId(hs.vote)}` : ""} Commit:${hs.commit}`;
}

/** etcd's conf change shorthand (v = voter, l = learner, r = remove, u = update), IDs in hex. */
function changesHex(ccs: readonly ConfChangeSingle[]): string {
  const letter: Record<number, string> = {
    [ConfChangeType.ConfChangeAddNode]: "v",
    [ConfChangeType.ConfChangeAddLearnerNode]: "l",
    [ConfChangeType.ConfChangeRemoveNode]: "r",
    [ConfChangeType.ConfChangeUpdateNode]: "u",
  };
  return ccs.map((c) => `${letter[c.type] ?? `type(${c.type})`}${formatId(c.nodeId)}`).join(" ");
}

/** A conf change's context: etcd puts its member JSON there; show it as text when it is printable. */
function context(b: Uint8Array): string {
  if (b.length === 0) return "";
  const text = new TextDecoder("utf-8", { fatal: false }).decode(b);
  return /^[\x20-\x7e]*$/.test(text) ? ` context=${text}` : ` context=${quoteBytes(b)}`;
}

/** The payload column of one entry line. */
export function describePayload(e: Entry): string {
  try {
    switch (e.type) {
      case EntryType.EntryNormal:
        return e.data.length === 0 ? "" : quoteBytes(e.data);
      case EntryType.EntryConfChange: {
        const cc = decodeConfChange(e.data);
        return `${changesHex([{ type: cc.type, nodeId: cc.nodeId, present: 0 }])} id=${formatId(cc.id)}${context(cc.context)}`;
      }
      case EntryType.EntryConfChangeV2: {
        const cc = decodeConfChangeV2(e.data);
        return `${changesHex(cc.changes)} transition=${cc.transition}${context(cc.context)}`;
      }
      default:
        return quoteBytes(e.data);
    }
  } catch (err) {
    return `(undecodable: ${(err as Error).message})`;
  }
}

/**
 * etcd's WAL metadata is etcdserverpb.Metadata {1: NodeID, 2: ClusterID},
 * both varints. Returns the pair when `b` is exactly that, else undefined
 * (another application's metadata is shown as quoted bytes).
 */
export function decodeEtcdMetadata(b: Uint8Array): { nodeId: bigint; clusterId: bigint } | undefined {
  if (b.length === 0) return undefined;
  try {
    const r = new Reader(b);
    let nodeId: bigint | undefined;
    let clusterId: bigint | undefined;
    while (r.pos < r.end) {
      const k = r.key("etcdserverpb.Metadata");
      if (k === 0x08) nodeId = r.uint64("Metadata.NodeID");
      else if (k === 0x10) clusterId = r.uint64("Metadata.ClusterID");
      else return undefined;
    }
    if (nodeId === undefined || clusterId === undefined) return undefined;
    return { nodeId, clusterId };
  } catch {
    return undefined;
  }
}

function describeMetadata(b: Uint8Array): string {
  const m = decodeEtcdMetadata(b);
  return m === undefined ? quoteBytes(b) : `NodeID:${formatId(m.nodeId)} ClusterID:${formatId(m.clusterId)}`;
}

// ------------------------------------------------------------ the whole-WAL scan

/** What every record of every segment holds. */
export interface WalScan {
  /** Segment file names, in order. */
  segments: string[];
  /** Entry records read (overwritten ones included). */
  entryRecords: number;
  /** Index of the first entry record (0: none). */
  firstEntryIndex: number;
  /** Index of the last entry record (0: none). */
  lastEntryIndex: number;
  /** Hard-state records read. */
  hardStates: number;
  /** The commit of the last hard state. */
  commit: number;
  /** Snapshot records, in log order. */
  snapshots: WalSnapshot[];
  /** Metadata records read (one per segment). */
  metadata: number;
  /** CRC records read (one per segment). */
  crcs: number;
  /** The first damage met (the scan stops there); null when every record read back. */
  error: Error | null;
}

/**
 * Decodes every record of every segment in `walDir` (CRC chain, framing and
 * every payload), read-only. A torn tail ends the scan, as in read mode.
 */
export function scanWal(walDir: string): WalScan {
  const fs = nodeFileSystem;
  const scan: WalScan = {
    segments: [],
    entryRecords: 0,
    firstEntryIndex: 0,
    lastEntryIndex: 0,
    hardStates: 0,
    commit: 0,
    snapshots: [],
    metadata: 0,
    crcs: 0,
    error: null,
  };
  const refs: SegmentRef[] = [];
  try {
    scan.segments = readWalNames(fs, walDir);
    if (!isValidSeq(scan.segments)) {
      throw new WalError(WalErrorCode.BadSequence, "wal: file sequence numbers do not increase continuously");
    }
    for (const name of scan.segments) refs.push({ name, fd: fs.openSync(join(walDir, name), "r") });
    const d = new Decoder(fs, refs);
    const where = (): string => `in file '${d.segmentName}' at position: ${d.recOffset}`;
    try {
      while (d.next()) {
        const data = d.data();
        switch (d.rec.type) {
          case RecordType.Entry: {
            let e: Entry;
            try {
              e = decodeEntry(data ?? new Uint8Array(0));
            } catch (err) {
              throw new WalError(
                WalErrorCode.Corrupt,
                `cannot decode entry ${where()}: ${(err as Error).message}`,
              );
            }
            if (scan.entryRecords === 0 || e.index < scan.firstEntryIndex) scan.firstEntryIndex = e.index;
            if (e.index > scan.lastEntryIndex) scan.lastEntryIndex = e.index;
            scan.entryRecords++;
            break;
          }
          case RecordType.State:
            try {
              scan.commit = decodeHardState(data ?? new Uint8Array(0)).commit;
            } catch (err) {
              throw new WalError(
                WalErrorCode.Corrupt,
                `cannot decode hard state ${where()}: ${(err as Error).message}`,
              );
            }
            scan.hardStates++;
            break;
          case RecordType.Snapshot:
            try {
              scan.snapshots.push(decodeWalSnapshot(data ?? new Uint8Array(0)));
            } catch (err) {
              throw new WalError(
                WalErrorCode.Corrupt,
                `cannot decode snapshot record ${where()}: ${(err as Error).message}`,
              );
            }
            break;
          case RecordType.Metadata:
            scan.metadata++;
            break;
          case RecordType.Crc:
            scan.crcs++;
            break;
          default:
            throw new WalError(
              WalErrorCode.UnexpectedBlockType,
              `unexpected block type ${d.rec.type} ${where()}`,
            );
        }
      }
    } catch (err) {
      if (!(err instanceof WalError && err.code === WalErrorCode.UnexpectedEOF)) throw err;
    }
  } catch (err) {
    scan.error = err as Error;
  } finally {
    for (const r of refs) {
      try {
        fs.closeSync(r.fd);
      } catch {}
    }
  }
  return scan;
}

// ------------------------------------------------------------ the dump

function sameSnap(s: Snapshot, w: WalSnapshot): boolean {
  return s.metadata.index === w.index && s.metadata.term === w.term;
}

/** Prints the WAL in `dir` and its snapshots; returns the process exit code (0, or 1 on any damage). */
export async function dumpWal(dir: string, opts: DumpOptions, out: Out): Promise<number> {
  const { walDir, snapDir } = locate(dir, opts.snapDir);
  const problems: string[] = [];

  // Snapshot files: all of them are read; the newest one the WAL vouches
  // for (a record with the same term and index, covered by the commit) is
  // where the log is dumped from, as etcd would restart from it.
  // One pass over the whole WAL serves both the record counts and the
  // snapshot records a restart may use (those covered by the last commit,
  // as WAL.validSnapshotEntries gives them).
  const scan = scanWal(walDir);
  if (scan.error !== null && scan.segments.length === 0) throw scan.error;
  if (scan.error !== null) problems.push(`WAL: ${scan.error.message}`);
  const walSnaps = scan.snapshots.filter((w) => w.index <= scan.commit);
  const files: SnapFileStatus[] =
    snapDir === null ? [] : new Snapshotter(snapDir, { ...quiet, readOnly: true }).inspect();
  const vouched = (f: SnapFileStatus): boolean =>
    f.snapshot !== null
      ? walSnaps.some((w) => sameSnap(f.snapshot!, w))
      : walSnaps.some((w) => w.index === f.index && w.term === f.term);
  const chosen = files.find((f) => f.snapshot !== null && vouched(f)) ?? null;
  const snap = chosen?.snapshot ?? null;
  if (snap === null) {
    out.log("Snapshot:\nempty");
  } else {
    const md = snap.metadata;
    out.log(`Snapshot:\nterm=${md.term} index=${md.index} ${describeConfStateHex(md.confState)}`);
  }
  if (snapDir !== null) {
    out.log(`Snapshot files (${files.length} in ${snapDir}):`);
    for (const f of files) {
      let line: string;
      if (f.snapshot !== null) {
        const md = f.snapshot.metadata;
        line = `${f.name}\tterm=${md.term} index=${md.index} data=${f.snapshot.data.length}B ${describeConfStateHex(md.confState)}`;
        if (f.term !== md.term || f.index !== md.index) {
          problems.push(
            `snapshot file ${f.path} holds term ${md.term} index ${md.index}, not what its name says`,
          );
          line += "  [NAME DOES NOT MATCH CONTENT]";
        }
        line += f === chosen ? "  [dumped from]" : vouched(f) ? "  [in WAL]" : "  [not in WAL]";
      } else {
        line = `${f.name}\tUNREADABLE: ${f.error!.message}`;
        problems.push(`snapshot file ${f.path}: [${f.error!.code}] ${f.error!.message}`);
      }
      out.log(`  ${line}`);
    }
    // Falling back past a snapshot that should have been used is the one
    // outcome that must never go unnoticed.
    const newer = files.filter(
      (f) =>
        f.snapshot === null &&
        (chosen === null || f.name > chosen.name) &&
        (f.index === undefined || vouched(f)),
    );
    for (const f of newer) {
      const msg = `the newest snapshot ${f.name} cannot be read; ${chosen === null ? "no snapshot can be used" : `dumping from the older ${chosen.name}`}`;
      out.log(`WARNING: ${msg}`);
    }
  }

  const start = snap === null ? new WalSnapshot() : new WalSnapshot(snap.metadata.index, snap.metadata.term);
  let result: ReadAllResult = {
    metadata: new Uint8Array(0),
    hardState: new HardState(0, 0n, 0),
    entries: [],
  };
  try {
    const w = await WAL.openForRead(walDir, start, quiet);
    try {
      result = await w.readAll();
    } finally {
      await w.close();
    }
  } catch (err) {
    if (!(err instanceof WalError)) throw err;
    const partial = (err as { partial?: ReadAllResult }).partial;
    if (partial !== undefined) result = partial;
    // Read mode reports a start snapshot without its WAL record: only the
    // empty start (a log whose first segments were purged) may lack one.
    if (err.code !== WalErrorCode.SnapshotNotFound || snap !== null) problems.push(`WAL: ${err.message}`);
  }
  const from = opts.startIndex ?? 0;
  out.log(`Start dumping log entries from ${from > 0 ? `index ${from}` : "snapshot"}.`);
  out.log(`WAL metadata:\n${describeMetadata(result.metadata)}`);
  out.log(`WAL HardState:\n${describeHardStateHex(result.hardState)}`);
  out.log(`WAL segments: ${scan.segments.length} (${scan.segments.join(" ")})`);
  const span = scan.entryRecords === 0 ? "" : ` (index ${scan.firstEntryIndex}..${scan.lastEntryIndex})`;
  out.log(
    `WAL records: ${scan.entryRecords} entries${span}, ${scan.hardStates} hard states, ` +
      `${scan.snapshots.length} snapshots, ${scan.metadata} metadata, ${scan.crcs} crc`,
  );
  const wanted =
    opts.type === undefined || opts.type.length === 0 ? null : new Set(opts.type.map((t) => ENTRY_TYPES[t]));
  const shown: Entry[] = result.entries.filter(
    (e) => e.index >= from && (wanted === null || wanted.has(e.type)),
  );
  out.log(`WAL entries: ${result.entries.length}`);
  // raft's last index: the last entry's, or the snapshot's when none follows it.
  out.log(
    `lastIndex=${result.entries.length > 0 ? result.entries[result.entries.length - 1]!.index : start.index}`,
  );
  out.log(`${"term".padStart(6)} ${"index".padStart(10)}\t${"type".padEnd(18)}\tdata`);
  for (const e of shown) {
    const type = ["normal", "confchange", "confchangev2"][e.type] ?? `type(${e.type})`;
    out.log(
      `${String(e.term).padStart(6)} ${String(e.index).padStart(10)}\t${type.padEnd(18)}\t${describePayload(e)}`,
    );
  }
  out.log(`\nEntries shown: ${shown.length}`);
  for (const p of problems) out.error(`error: ${p}`);
  return problems.length === 0 ? 0 : 1;
}
