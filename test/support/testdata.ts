// Locates etcd's data-driven files (../shared/testdata/etcd-raft or
// $ETCD_RAFT_TESTDATA) and lists them by directory.
import { existsSync, readdirSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export function testdataRoot(): string {
  return resolve(process.env.ETCD_RAFT_TESTDATA ?? join(repoRoot, "../shared/testdata/etcd-raft"));
}

function skippedName(name: string): boolean {
  return name.startsWith(".") || name.endsWith("~") || (name.startsWith("#") && name.endsWith("#"));
}

/** Every test file under `path` (a file or a directory), in lexical order. */
export function collectFiles(path: string, out: string[] = []): string[] {
  if (!statSync(path).isDirectory()) {
    out.push(path);
    return out;
  }
  for (const name of readdirSync(path).sort()) {
    if (skippedName(name)) continue;
    const p = join(path, name);
    if (statSync(p).isDirectory()) collectFiles(p, out);
    else if (name.endsWith(".txt")) out.push(p);
  }
  return out;
}

/** The testdata kind of a file: the name of its directory (quorum, confchange, interaction). */
export function kindOf(file: string): string {
  return basename(dirname(file));
}

export function testdataExists(): boolean {
  return existsSync(testdataRoot());
}
