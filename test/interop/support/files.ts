// File-level helpers for the interop tests: hashing a data directory, running
// the `tsraft` CLI as a user would, and rewriting an etcd WAL with tsraft's
// reader and writer.

import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { scanWal } from "../../../src/cli/wal_dump.ts";
import { discardLogger } from "../../../src/index.ts";
import {
  ConfChangeType,
  ConfState,
  decodeConfChange,
  type Entry,
  EntryType,
  HardState,
} from "../../../src/raftpb/index.ts";
import { WAL, WalSnapshot } from "../../../src/wal/index.ts";
import { repoRoot } from "../../support/testdata.ts";

const quiet = { logger: discardLogger };

const scratch = Buffer.allocUnsafe(1 << 20);

function hashFile(path: string): string {
  // Through one reused buffer: a fresh 64 MB buffer per WAL segment costs
  // ~20x more on a small VM (page faults) than the hashing itself.
  const h = createHash("sha256");
  const fd = openSync(path, "r");
  try {
    for (let off = 0; ; ) {
      const n = readSync(fd, scratch, 0, scratch.length, off);
      if (n === 0) break;
      h.update(scratch.subarray(0, n));
      off += n;
    }
  } finally {
    closeSync(fd);
  }
  return h.digest("hex");
}

/** Every file under `dir` (recursively) with the SHA-256 of its content. */
export function hashTree(dir: string, prefix = ""): Map<string, string> {
  const out = new Map<string, string>();
  for (const n of readdirSync(join(dir, prefix)).sort()) {
    const rel = join(prefix, n);
    const abs = join(dir, rel);
    if (statSync(abs).isDirectory()) for (const [k, v] of hashTree(dir, rel)) out.set(k, v);
    else out.set(rel, hashFile(abs));
  }
  return out;
}

/** Runs `node --import tsx src/cli/tsraft.ts ARGS` from the repository root (what `npm run tsraft` runs). */
export function runTsraftCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((res) => {
    execFile(
      process.execPath,
      ["--import", "tsx", resolve(repoRoot, "src/cli/tsraft.ts"), ...args],
      { cwd: repoRoot, maxBuffer: 256 * 1024 * 1024, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
        res({ code, out: String(stdout), err: String(stderr) });
      },
    );
  });
}

/** What `tsraft wal dump` printed, parsed. */
export interface DumpSummary {
  snapshotIndex: number;
  snapshotTerm: number;
  snapshotFiles: number;
  unreadable: number;
  nodeId: bigint;
  clusterId: bigint;
  term: number;
  vote: bigint;
  commit: number;
  entries: number;
  lastIndex: number;
  records: { entries: number; first: number; last: number; snapshots: number };
}

export function parseDump(out: string): DumpSummary {
  const need = (re: RegExp): RegExpExecArray => {
    const m = re.exec(out);
    if (m === null) throw new Error(`wal dump output lacks ${re}:\n${out.slice(0, 3000)}`);
    return m;
  };
  const snap = need(/^Snapshot:\n(?:empty|term=(\d+) index=(\d+) )/);
  const files = need(/Snapshot files \((\d+) in /);
  const meta = need(/WAL metadata:\nNodeID:([0-9a-f]+) ClusterID:([0-9a-f]+)\n/);
  const hs = need(/WAL HardState:\nTerm:(\d+)(?: Vote:([0-9a-f]+))? Commit:(\d+)\n/);
  const ents = need(/WAL entries: (\d+)\n(?:lastIndex=(\d+)\n)?/);
  const recs = need(
    /WAL records: (\d+) entries(?: \(index (\d+)\.\.(\d+)\))?, \d+ hard states, (\d+) snapshots/,
  );
  return {
    snapshotTerm: Number(snap[1] ?? 0),
    snapshotIndex: Number(snap[2] ?? 0),
    snapshotFiles: Number(files[1]),
    unreadable: (out.match(/\tUNREADABLE: /g) ?? []).length,
    nodeId: BigInt(`0x${meta[1]}`),
    clusterId: BigInt(`0x${meta[2]}`),
    term: Number(hs[1]),
    vote: hs[2] === undefined ? 0n : BigInt(`0x${hs[2]}`),
    commit: Number(hs[3]),
    entries: Number(ents[1]),
    lastIndex: Number(ents[2] ?? 0),
    records: {
      entries: Number(recs[1]),
      first: Number(recs[2] ?? 0),
      last: Number(recs[3] ?? 0),
      snapshots: Number(recs[4]),
    },
  };
}

/** The ConfState after applying the V1 conf changes among `entries` up to `index` (etcd uses V1 only). */
export function confStateAt(entries: readonly Entry[], index: number): ConfState {
  const voters = new Set<bigint>();
  const learners = new Set<bigint>();
  for (const e of entries) {
    if (e.index > index) break;
    if (e.type !== EntryType.EntryConfChange) continue;
    const cc = decodeConfChange(e.data);
    switch (cc.type) {
      case ConfChangeType.ConfChangeAddNode:
        learners.delete(cc.nodeId);
        voters.add(cc.nodeId);
        break;
      case ConfChangeType.ConfChangeAddLearnerNode:
        voters.delete(cc.nodeId);
        learners.add(cc.nodeId);
        break;
      case ConfChangeType.ConfChangeRemoveNode:
        voters.delete(cc.nodeId);
        learners.delete(cc.nodeId);
        break;
    }
  }
  const sorted = (s: Set<bigint>) => [...s].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return new ConfState(sorted(voters), sorted(learners));
}

export interface RewriteResult {
  metadata: Uint8Array;
  hardState: HardState;
  entries: number;
  markers: WalSnapshot[];
}

/**
 * Reads every record of the etcd WAL in `from` with tsraft's reader and
 * writes them into a new WAL in `to` with tsraft's writer: the same
 * metadata, the same entries, the snapshot markers at the same places in
 * the log (each with its ConfState, which tsraft's writer, like etcd >= 3.5,
 * requires and etcd 3.4's markers lack: it is recomputed from the log's conf
 * changes), and the last hard state.
 */
export async function rewriteWal(from: string, to: string): Promise<RewriteResult> {
  const scan = scanWal(from);
  if (scan.error !== null) throw scan.error;
  const r = await WAL.openForRead(from, new WalSnapshot(), quiet);
  const { metadata, hardState, entries } = await r.readAll();
  const markers = scan.snapshots.filter((s) => s.index > 0).sort((a, b) => a.index - b.index);
  const w = await WAL.create(to, metadata, quiet);
  let i = 0;
  for (const m of markers) {
    const batch: Entry[] = [];
    while (i < entries.length && entries[i]!.index <= m.index) batch.push(entries[i++]!);
    if (batch.length > 0) await w.save(null, batch);
    await w.saveSnapshot(new WalSnapshot(m.index, m.term, confStateAt(entries, m.index)));
  }
  await w.save(new HardState(hardState.term, hardState.vote, hardState.commit), entries.slice(i), true);
  await w.close();
  return { metadata, hardState, entries: entries.length, markers };
}
