// docs/architecture.md is the module graph: which folder of src/ may import
// which, which folders are pure, and how code outside src/ reaches into it.
// This test reads the page's tables and every import in the repository
// (TypeScript's own scanner: imports, re-exports, dynamic and type imports)
// and fails on any import the page does not allow, so the page and the code
// cannot drift apart. The checks are pure functions of (file, import) so the
// last test can show that each kind of violation is caught.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const doc = readFileSync(join(repo, "docs/architecture.md"), "utf8");

interface Row {
  /** `raft`, `kv/dashboard`, or an entry point file `index.ts`. */
  module: string;
  /** Modules whose index.ts it may import, and single files (`kv/errors.ts`) for subfolders. */
  mayImport: Set<string>;
  pure: boolean;
}

// Rows of a markdown table whose first cell is a `code` name and that has a
// "May import" and a "Pure" column.
function tableRows(md: string): Row[] {
  const rows: Row[] = [];
  let header: string[] | null = null;
  for (const line of md.split("\n")) {
    if (!line.startsWith("|")) {
      header = null;
      continue;
    }
    const cells = line
      .slice(1, line.endsWith("|") ? -1 : undefined)
      .split("|")
      .map((c) => c.trim());
    if (header === null) {
      header = cells;
      continue;
    }
    const may = header.indexOf("May import");
    const pure = header.indexOf("Pure");
    if (may < 0 || pure < 0 || /^-+$/.test(cells[0] ?? "")) continue;
    const name = /^`([^`]+)`$/.exec(cells[0] ?? "");
    assert.ok(name, `docs/architecture.md: a row without a \`folder\`: ${line}`);
    const names = [...(cells[may] ?? "").matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    rows.push({ module: name[1]!, mayImport: new Set(names), pure: cells[pure] === "yes" });
  }
  return rows;
}

const rows = tableRows(doc);
const byModule = new Map(rows.map((r) => [r.module, r]));
const entryPoints = rows.filter((r) => r.module.endsWith(".ts")).map((r) => r.module);
const subModules = rows.filter((r) => r.module.includes("/")).map((r) => r.module);
const src = join(repo, "src");

/** The module a path under src/ belongs to: its folder, a subfolder with a row, or an entry point file. */
function moduleOf(path: string): string {
  const rel = relative(src, path);
  const sub = subModules.find((m) => rel.startsWith(`${m}/`));
  if (sub !== undefined) return sub;
  // A folder's first segment, or the entry point file itself (`index.ts`).
  return rel.split("/")[0]!;
}

const isIndex = (target: string, module: string) => target === join(src, module, "index.ts");

/**
 * Why importing `target` from `from` breaks the rule, or null if it does not.
 * `spec` is the import as written (a relative path, `node:x`, or a package).
 */
function violation(from: string, spec: string, target: string | null): string | null {
  const inSrc = from.startsWith(`${src}/`);
  if (target === null) {
    // node: modules and packages: only the pure modules refuse them.
    if (!inSrc) return null;
    const row = byModule.get(moduleOf(from));
    return row?.pure ? `${moduleOf(from)} is pure and may not import ${spec}` : null;
  }
  if (!target.startsWith(`${src}/`)) return null;
  const to = moduleOf(target);
  if (inSrc) {
    const mod = moduleOf(from);
    if (mod === to) return null;
    const row = byModule.get(mod);
    if (row === undefined) return `${mod} has no row in docs/architecture.md`;
    if (entryPoints.includes(to)) return `nothing in src imports a package entry point (${to})`;
    // A subfolder may import the parent's files its row names.
    if (row.mayImport.has(relative(src, target))) return null;
    if (!row.mayImport.has(to)) return `${mod} may not import ${to} (not in its row of docs/architecture.md)`;
    if (!isIndex(target, to))
      return `${mod} imports ${relative(src, target)}: other folders only through ${to}/index.ts`;
    return null;
  }
  const where = relative(repo, from).split("/");
  // Entry points: anyone outside src, except examples and tsraft/internal.
  if (entryPoints.includes(to)) {
    return where[0] === "examples" && to === "internal.ts" ? "examples may not import tsraft/internal" : null;
  }
  if (where[0] === "examples") {
    return isIndex(target, to) && publicFolders.has(to)
      ? null
      : `examples import only the package's public subpaths, not ${relative(src, target)}`;
  }
  // White-box tests: test/<name>/ reaches into src/<name>/ (and its subfolders).
  if (where[0] === "test" && where.length > 2 && to.split("/")[0] === where[1]) return null;
  if (where[0] === "test" && to === "cli") return null;
  if (isIndex(target, to)) return null;
  return `${relative(src, target)}: outside its own test folder, src/${to} only through ${to}/index.ts or an entry point`;
}

const pkg = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as {
  exports: Record<string, { source: string }>;
};
const publicFolders = new Set(
  Object.values(pkg.exports)
    .map((e) => /^\.\/src\/([^/]+)\/index\.ts$/.exec(e.source)?.[1])
    .filter((m): m is string => m !== undefined),
);

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.name === "node_modules"
      ? []
      : d.isDirectory()
        ? files(join(dir, d.name))
        : /\.m?ts$/.test(d.name) && !d.name.endsWith(".d.ts")
          ? [join(dir, d.name)]
          : [],
  );
}

function violationsIn(file: string): string[] {
  const out: string[] = [];
  // Colleagues' scratch files may vanish between the listing and the read.
  if (!existsSync(file)) return out;
  for (const { fileName: spec } of ts.preProcessFile(readFileSync(file, "utf8"), true, true).importedFiles) {
    const target = spec.startsWith(".") ? resolve(dirname(file), spec) : null;
    const v = violation(file, spec, target);
    if (v !== null) out.push(`${relative(repo, file)}: ${spec}: ${v}`);
  }
  return out;
}

test("docs/architecture.md has one row per folder of src/ and per entry point", () => {
  const present = new Set<string>();
  for (const f of files(src)) present.add(moduleOf(f));
  assert.deepEqual([...byModule.keys()].sort(), [...present].sort());
  for (const r of rows) {
    for (const m of r.mayImport) {
      const known = byModule.has(m) || existsSync(join(src, m));
      assert.ok(known, `${r.module} may import ${m}, which is neither a folder nor a file of src`);
    }
    // A folder other modules import has an index.ts (cli is a program: nothing imports it).
    if (!r.module.endsWith(".ts") && r.module !== "cli") {
      assert.ok(existsSync(join(src, r.module, "index.ts")), `${r.module} has no index.ts`);
    }
  }
  for (const m of entryPoints) assert.ok(byModule.get(m)?.pure, `entry point ${m} must be pure`);
});

test("the documented graph has no cycle", () => {
  const seen = new Map<string, "active" | "done">();
  const visit = (m: string, path: string[]): void => {
    if (seen.get(m) === "done") return;
    assert.notEqual(seen.get(m), "active", `cycle: ${[...path, m].join(" -> ")}`);
    seen.set(m, "active");
    for (const n of byModule.get(m)?.mayImport ?? []) if (byModule.has(n)) visit(n, [...path, m]);
    seen.set(m, "done");
  };
  for (const m of byModule.keys()) visit(m, []);
});

test("every import in src/ follows the documented graph", () => {
  const all = files(src);
  assert.ok(all.length > 150, `only ${all.length} files under src`);
  assert.deepEqual(all.flatMap(violationsIn), []);
});

test("tests, sim, fuzz, bench, scripts, jepsen and examples import src only as the rule allows", () => {
  const dirs = ["test", "sim", "fuzz", "bench", "scripts", "jepsen", "examples"].map((d) => join(repo, d));
  const all = dirs.filter(existsSync).flatMap(files);
  assert.ok(all.length > 150, `only ${all.length} files outside src`);
  assert.deepEqual(all.flatMap(violationsIn), []);
});

test("each kind of violation is caught (planted imports)", () => {
  const at = (p: string) => join(repo, p);
  const cases: [string, string, string | null][] = [
    // a core folder reaching for Node, a package, or a folder above it
    ["src/raft/raft.ts", "node:fs", null],
    ["src/quorum/majority.ts", "@node-rs/crc32", null],
    ["src/raft/raft.ts", "../wal/index.ts", at("src/wal/index.ts")],
    // skipping a folder's index.ts
    ["src/storage/disk_storage.ts", "../wal/wal.ts", at("src/wal/wal.ts")],
    // an edge the graph does not have, and one that would close a cycle
    ["src/wal/wal.ts", "../snap/index.ts", at("src/snap/index.ts")],
    ["src/wal/wal.ts", "../storage/index.ts", at("src/storage/index.ts")],
    ["src/kv/dashboard/hub.ts", "../http_api.ts", at("src/kv/http_api.ts")],
    // src importing a package entry point
    ["src/host/host.ts", "../index.ts", at("src/index.ts")],
    // outside src: deep imports into another folder, examples using internals
    ["test/kv/member.test.ts", "../../src/raft/raft.ts", at("src/raft/raft.ts")],
    ["sim/node.ts", "../src/raft/log.ts", at("src/raft/log.ts")],
    ["examples/counter.ts", "../src/internal.ts", at("src/internal.ts")],
    ["examples/counter.ts", "../src/raft/index.ts", at("src/raft/index.ts")],
  ];
  for (const [from, spec, target] of cases) {
    assert.notEqual(violation(at(from), spec, target), null, `${from} importing ${spec} was not caught`);
  }
  // ...and the allowed forms are allowed.
  const fine: [string, string, string | null][] = [
    ["src/storage/disk_storage.ts", "../wal/index.ts", at("src/wal/index.ts")],
    ["src/wal/wal.ts", "./decoder.ts", at("src/wal/decoder.ts")],
    ["src/kv/dashboard/hub.ts", "../json_reply.ts", at("src/kv/json_reply.ts")],
    ["src/host/host.ts", "node:fs", null],
    ["test/wal/faults.test.ts", "../../src/wal/decoder.ts", at("src/wal/decoder.ts")],
    ["test/kv/cli.test.ts", "../../src/cli/member_command.ts", at("src/cli/member_command.ts")],
    ["sim/node.ts", "../src/internal.ts", at("src/internal.ts")],
    ["examples/counter.ts", "../src/host/index.ts", at("src/host/index.ts")],
  ];
  for (const [from, spec, target] of fine) {
    assert.equal(violation(at(from), spec, target), null, `${from} importing ${spec}`);
  }
});

// The "Where did X go" table: each name that left the root is exported where
// the page says, and no longer from the root.
test("every name the page says moved is exported from its new subpath and not from the root", async () => {
  const moved = [...doc.matchAll(/^\| `([A-Za-z0-9_]+)` \| `(tsraft\/[a-z]+)` \|$/gm)].map((m) => [
    m[1]!,
    m[2]!,
  ]);
  assert.ok(moved.length > 50, `only ${moved.length} moved names listed`);
  const root = (await import(join(src, "index.ts"))) as Record<string, unknown>;
  const entry: Record<string, Record<string, unknown>> = {
    "tsraft/wire": await import(join(src, "wire.ts")),
    "tsraft/internal": await import(join(src, "internal.ts")),
  };
  // Type-only names have no runtime binding: those are checked by the compiler
  // (the entry files name them), values here.
  const typeOnly = new Set(readTypeOnlyNames());
  for (const [name, where] of moved) {
    assert.ok(where in entry, `${name}: unknown subpath ${where}`);
    if (typeOnly.has(name)) continue;
    assert.ok(name in entry[where]!, `${name} is not exported by ${where}`);
    assert.ok(!(name in root), `${name} is still exported by the root`);
  }
});

// `type X` re-exports in the entry files.
function readTypeOnlyNames(): string[] {
  const out: string[] = [];
  for (const f of ["index.ts", "wire.ts", "internal.ts"]) {
    for (const m of readFileSync(join(src, f), "utf8").matchAll(/\btype ([A-Za-z0-9_]+)/g)) out.push(m[1]!);
  }
  return out;
}
