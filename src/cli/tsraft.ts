#!/usr/bin/env node
// The `tsraft` command line. `tsraft wal dump DIR` prints what a WAL holds,
// in the spirit of etcd-dump-logs: the snapshot it starts from, metadata,
// hard state and entries (filtered by start index and entry type). It only
// reads: no lock is taken and a torn tail is shown as the end of the log.

import { join } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { discardLogger } from "../raft/logger.ts";
import {
  describeConfState,
  describeEntry,
  describeHardState,
  type Entry,
  EntryType,
  quoteBytes,
  type Snapshot,
} from "../raftpb/index.ts";
import { SnapError, SnapErrorCode, Snapshotter } from "../snap/index.ts";
import {
  nodeFileSystem,
  type ReadAllResult,
  validSnapshotEntries,
  WAL,
  WalError,
  WalErrorCode,
  WalSnapshot,
  walExists,
} from "../wal/index.ts";
import { isMainModule } from "./main.ts";

const TYPES: Record<string, number> = {
  normal: EntryType.EntryNormal,
  confchange: EntryType.EntryConfChange,
  confchangev2: EntryType.EntryConfChangeV2,
};

export interface DumpOptions {
  startIndex?: number;
  type?: string[];
  snapDir?: string;
}

interface Out {
  log(line: string): void;
  error(line: string): void;
}

function parseIndex(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n))
    throw new InvalidArgumentError("must be a non-negative integer");
  return n;
}

function parseTypes(v: string): string[] {
  const list = v
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== "");
  for (const t of list) {
    if (!(t in TYPES))
      throw new InvalidArgumentError(`unknown entry type "${t}" (use ${Object.keys(TYPES).join(", ")})`);
  }
  return list;
}

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

/** Prints the WAL in `dir`; returns the process exit code. */
export async function dumpWal(dir: string, opts: DumpOptions, out: Out): Promise<number> {
  const { walDir, snapDir } = locate(dir, opts.snapDir);
  const quiet = { logger: discardLogger };
  let snap: Snapshot | null = null;
  if (snapDir !== null) {
    try {
      const walSnaps = await validSnapshotEntries(walDir, quiet);
      snap = new Snapshotter(snapDir, quiet).loadNewestAvailable(walSnaps);
    } catch (err) {
      if (!(err instanceof SnapError && err.code === SnapErrorCode.NoSnapshot)) throw err;
    }
  }
  if (snap === null) {
    out.log("Snapshot:\nempty");
  } else {
    const md = snap.metadata;
    out.log(`Snapshot:\nterm=${md.term} index=${md.index} ${describeConfState(md.confState)}`);
  }
  const start = snap === null ? new WalSnapshot() : new WalSnapshot(snap.metadata.index, snap.metadata.term);
  const w = await WAL.openForRead(walDir, start, quiet);
  let result: ReadAllResult;
  let failure: WalError | null = null;
  try {
    result = await w.readAll();
  } catch (err) {
    const partial = (err as { partial?: ReadAllResult }).partial;
    if (!(err instanceof WalError) || partial === undefined) throw err;
    result = partial;
    if (err.code !== WalErrorCode.SnapshotNotFound) failure = err;
  } finally {
    await w.close();
  }
  const from = opts.startIndex ?? 0;
  out.log(`Start dumping log entries from ${from > 0 ? `index ${from}` : "snapshot"}.`);
  out.log(`WAL metadata:\n${quoteBytes(result.metadata)}`);
  out.log(`WAL HardState:\n${describeHardState(result.hardState)}`);
  const wanted =
    opts.type === undefined || opts.type.length === 0 ? null : new Set(opts.type.map((t) => TYPES[t]));
  const shown: Entry[] = result.entries.filter(
    (e) => e.index >= from && (wanted === null || wanted.has(e.type)),
  );
  out.log(`WAL entries: ${result.entries.length}`);
  if (result.entries.length > 0) out.log(`lastIndex=${result.entries[result.entries.length - 1]!.index}`);
  out.log(`${"term".padStart(6)} ${"index".padStart(10)}\t${"type".padEnd(18)}\tdata`);
  for (const e of shown) {
    // describeEntry gives "term/index Type payload"; keep only the payload.
    const d = describeEntry(e);
    const payload = d.slice(d.indexOf(" ", d.indexOf(" ") + 1) + 1);
    const type = ["normal", "confchange", "confchangev2"][e.type] ?? `type(${e.type})`;
    out.log(
      `${String(e.term).padStart(6)} ${String(e.index).padStart(10)}\t${type.padEnd(18)}\t${payload === d ? "" : payload}`,
    );
  }
  out.log(`\nEntries shown: ${shown.length}`);
  if (failure !== null) {
    out.error(`error: ${failure.message}`);
    return 1;
  }
  return 0;
}

export function buildProgram(out: Out): Command {
  const program = new Command("tsraft").description("tsraft tools").exitOverride();
  program.configureOutput({ writeOut: (s) => out.log(s.trimEnd()), writeErr: (s) => out.error(s.trimEnd()) });
  const wal = program.command("wal").description("inspect etcd-format write-ahead logs");
  wal
    .command("dump")
    .description("print the snapshot, hard state and entries of a WAL (read-only)")
    .argument("<dir>", "WAL directory, or a data directory holding wal/ and snap/")
    .option("--start-index <index>", "only entries from this index on", parseIndex)
    .addOption(
      new Option(
        "--type <types>",
        "only these entry types (comma separated: normal,confchange,confchangev2)",
      ).argParser(parseTypes),
    )
    .option("--snap-dir <dir>", "snapshot directory (default: snap/ beside the WAL)")
    .action(async (dir: string, o: DumpOptions) => {
      process.exitCode = await dumpWal(dir, o, out);
    });
  return program;
}

/** Runs the CLI with `argv` (without node and script); returns the exit code. */
export async function main(argv: string[], out: Out = console): Promise<number> {
  process.exitCode = 0;
  try {
    await buildProgram(out).parseAsync(argv, { from: "user" });
    return Number(process.exitCode ?? 0);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string };
    if (typeof e.exitCode === "number" && e.code?.startsWith("commander.")) return e.exitCode;
    out.error(`error: ${e.message ?? String(err)}`);
    return 1;
  }
}

if (isMainModule(import.meta.url)) {
  // `tsraft wal dump DIR | head` closes the pipe early: that is not an error.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
