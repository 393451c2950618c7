// Segment names: `%016x-%016x.wal` = <sequence>-<index of the first entry the
// segment is meant to hold>. Directory order (lexicographic) is log order.

import { type FileSystem, hex16 } from "../fileutil/index.ts";
import { WalError, WalErrorCode } from "./errors.ts";

/** The segment name for sequence `seq` starting at entry `index`: `%016x-%016x.wal`. */
export function walName(seq: number, index: number): string {
  return `${hex16(seq)}-${hex16(index)}.wal`;
}

const WAL_NAME = /^([0-9a-fA-F]{1,16})-([0-9a-fA-F]{1,16})\.wal$/;

/** Parses a segment name; throws ERR_WAL_BAD_NAME. */
export function parseWalName(name: string): { seq: number; index: number } {
  const m = WAL_NAME.exec(name);
  if (m === null) throw new WalError(WalErrorCode.BadName, "bad wal name");
  const seq = Number.parseInt(m[1]!, 16);
  const index = Number.parseInt(m[2]!, 16);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(index)) {
    throw new WalError(WalErrorCode.BadName, `bad wal name: ${name} (numbers beyond 2^53)`);
  }
  return { seq, index };
}

/** Whether `name` is a segment name with a sequence number within 2^53 (never throws). */
export function isWalName(name: string): boolean {
  const m = WAL_NAME.exec(name);
  return m !== null && Number.parseInt(m[1]!, 16) <= Number.MAX_SAFE_INTEGER;
}

/** True iff `dir` holds at least one `.wal` file (etcd's Exist). */
export function walExists(fs: FileSystem, dir: string): boolean {
  if (!fs.isDirectory(dir)) return false;
  return fs.readdirSync(dir).some((n) => n.endsWith(".wal"));
}

/** The segment names in `dir`, sorted; ERR_WAL_FILE_NOT_FOUND when there are none. */
export function readWalNames(fs: FileSystem, dir: string): string[] {
  let all: string[];
  try {
    all = fs.readdirSync(dir);
  } catch (err) {
    throw new WalError(WalErrorCode.FileNotFound, `wal: file not found (cannot list ${dir})`, { cause: err });
  }
  const names = all.filter(isWalName).sort();
  if (names.length === 0) {
    throw new WalError(WalErrorCode.FileNotFound, `wal: file not found (no *.wal segment in ${dir})`);
  }
  return names;
}

/** Position of the last name whose index is <= `index`, or -1. */
export function searchIndex(names: readonly string[], index: number): number {
  for (let i = names.length - 1; i >= 0; i--) {
    if (parseWalName(names[i]!).index <= index) return i;
  }
  return -1;
}

/** etcd's continuity rule: every sequence number follows the previous one (a 0 predecessor is not checked). */
export function isValidSeq(names: readonly string[]): boolean {
  let last = 0;
  for (const name of names) {
    const { seq } = parseWalName(name);
    if (last !== 0 && last !== seq - 1) return false;
    last = seq;
  }
  return true;
}
