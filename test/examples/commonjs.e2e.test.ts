// tsraft as a CommonJS project installs it: the package is built by its own
// build script, packed by `npm pack` (so the tarball holds exactly what
// package.json "files" publishes) and unpacked into the node_modules of a
// throwaway project with "type": "commonjs". Then, with real node and tsc:
//
// - `require("tsraft/...")` of every subpath works on a Node that loads ES
//   modules through require() (20.19+, 22.12+: this one), and returns the very
//   module `import()` returns — one copy of every class, so `instanceof` on
//   error classes holds across both (no dual-package hazard, since there is
//   no second, CommonJS build);
// - a Node without require(esm) (simulated with --no-experimental-require-module)
//   refuses with Node's ERR_REQUIRE_ESM, which says to use import(), and
//   `await import("tsraft")` works there;
// - tsc under "module": "nodenext" compiles a CommonJS file importing tsraft
//   and the output runs; under "node16" (which models Node without
//   require(esm)) it is a compile-time error, TS1479;
// - every source map and declaration map in dist/ points at files the
//   tarball contains (src/ is published).
//
// Building and packing take ~10-20 s of CPU: an end-to-end test.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { repoRoot } from "../support/testdata.ts";

const root = mkdtempSync(join(tmpdir(), "tsraft-commonjs-"));
const pkgDir = join(root, "pkg"); // a copy of the package's sources, built here (never in the shared tree)
const app = join(root, "app"); // the CommonJS project
const installed = join(app, "node_modules", "tsraft");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
  exports: Record<string, Record<string, string>>;
  dependencies: Record<string, string>;
};
const subpaths = Object.keys(pkg.exports).map((s) => `tsraft${s.slice(1)}`);

interface Run {
  code: number;
  out: string;
  err: string;
}

/**
 * Runs a command to completion. On timeout the whole process group is killed:
 * npm's children (tsc) would otherwise go on writing into a directory the
 * test is removing. Timeouts are generous: the build takes ~10 s of CPU, but a
 * machine loaded by soaks has stretched it past five minutes.
 */
function run(cmd: string, args: string[], cwd: string, timeoutMs = 180_000): Promise<Run> {
  return new Promise((res) => {
    const p = spawn(cmd, args, { cwd, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    p.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    const timer = setTimeout(() => {
      err += `\n(killed after ${timeoutMs} ms)`;
      try {
        process.kill(-p.pid!, "SIGKILL");
      } catch {}
    }, timeoutMs);
    p.on("close", (code) => {
      clearTimeout(timer);
      res({ code: code ?? 1, out, err });
    });
  });
}

function linkInto(modules: string, name: string): void {
  const at = join(modules, name);
  mkdirSync(dirname(at), { recursive: true });
  symlinkSync(join(repoRoot, "node_modules", name), at);
}

// A CommonJS program: every subpath through require(), a real raft election
// and commit through the required core, and class identity with import().
const requireApp = `
const assert = require("node:assert/strict");
for (const s of ${JSON.stringify(subpaths)}) {
  assert.ok(Object.keys(require(s)).length > 0, s + " exports nothing");
}
const { ConfState, discardLogger, MemoryStorage, RawNode, Snapshot, SnapshotMetadata, StateType } = require("tsraft");
const storage = new MemoryStorage();
storage.applySnapshot(new Snapshot(new Uint8Array(), new SnapshotMetadata(new ConfState([1n]), 1, 1)));
const rn = new RawNode({ id: 1n, electionTick: 10, heartbeatTick: 1, storage, logger: discardLogger });
const applied = [];
const pump = () => {
  while (rn.hasReady()) {
    const rd = rn.ready();
    if (rd.hardState.term !== 0) storage.setHardState(rd.hardState);
    storage.append(rd.entries);
    for (const e of rd.committedEntries) if (e.data.length > 0) applied.push(new TextDecoder().decode(e.data));
    rn.advance(rd);
  }
};
rn.campaign();
pump();
assert.equal(rn.status().softState.raftState, StateType.StateLeader);
rn.propose(new TextEncoder().encode("from commonjs"));
pump();
assert.deepEqual(applied, ["from commonjs"]);
import("tsraft/wal").then((esm) => {
  assert.equal(esm.WalError, require("tsraft/wal").WalError, "require and import give different classes");
  return import("tsraft");
}).then((esm) => {
  assert.equal(esm.MemoryStorage, MemoryStorage);
  console.log("commonjs ok");
});
`;

const importApp = `
import("tsraft").then(({ MemoryStorage }) => {
  new MemoryStorage();
  console.log("import ok");
});
`;

const tsApp = `
import { MemoryStorage } from "tsraft";
import { type AppliedCommand, HostError, type StateMachine } from "tsraft/host";
import { WalError } from "tsraft/wal";

class Echo implements StateMachine<number, void, number> {
  n = 0;
  apply(cmds: readonly AppliedCommand[]): number[] {
    return cmds.map((c) => (this.n += c.data.length));
  }
  async *snapshot(): AsyncIterable<Uint8Array> {}
  async restore(): Promise<void> {}
  query(): number {
    return this.n;
  }
}
const echo = new Echo();
const sm: StateMachine<number, void, number> = echo;
console.log(new MemoryStorage().lastIndex(), typeof HostError, typeof WalError, echo.query(), sm === echo);
`;

// skipLibCheck off for the nodenext build: tsraft's published declarations
// must check clean in a strict consumer (no types from dev dependencies).
// The node16 run only looks for TS1479, and skips that work.
function tsconfig(module: string, skipLibCheck: boolean): string {
  return JSON.stringify({
    compilerOptions: {
      module,
      moduleResolution: module,
      target: "es2022",
      strict: true,
      skipLibCheck,
      outDir: "out",
    },
    files: ["index.ts"],
  });
}

test("every export condition that require() takes is the ES module import() takes", () => {
  for (const [sub, e] of Object.entries(pkg.exports)) {
    assert.equal(e.default, e.import, `${sub}: "default" (require) and "import" differ`);
    const keys = Object.keys(e);
    assert.equal(keys.at(-1), "default", `${sub}: "default" must come last (conditions match in order)`);
    assert.ok(!("require" in e), `${sub}: a "require" condition would be a second module`);
  }
});

describe("a CommonJS project with the packed package installed", () => {
  before(async () => {
    // 1. Build: the package's own build script on a copy of its sources.
    mkdirSync(pkgDir);
    for (const f of [
      "package.json",
      "tsconfig.json",
      "tsconfig.build.json",
      "README.md",
      "LICENSE",
      "NOTICE",
    ]) {
      cpSync(join(repoRoot, f), join(pkgDir, f));
    }
    cpSync(join(repoRoot, "src"), join(pkgDir, "src"), { recursive: true });
    symlinkSync(join(repoRoot, "node_modules"), join(pkgDir, "node_modules"));
    // --noCheck: emit only; `npm run typecheck` type-checks the same sources.
    const built = await run(npm, ["run", "-s", "build", "--", "--noCheck"], pkgDir, 420_000);
    assert.equal(built.code, 0, `build failed:\n${built.out}${built.err}`);
    // 2. Pack (the prepack build already ran above) and unpack as npm installs it.
    const packed = await run(npm, ["pack", "--ignore-scripts", "--json", "--pack-destination", root], pkgDir);
    assert.equal(packed.code, 0, packed.err);
    const [{ filename }] = JSON.parse(packed.out) as [{ filename: string }];
    mkdirSync(join(app, "node_modules"), { recursive: true });
    const untar = await run("tar", ["-xzf", join(root, filename), "-C", join(app, "node_modules")], root);
    assert.equal(untar.code, 0, untar.err);
    renameSync(join(app, "node_modules", "package"), installed);
    // tsraft's runtime dependencies, and Node's types for tsc, from this checkout.
    for (const d of Object.keys(pkg.dependencies)) linkInto(join(app, "node_modules"), d);
    linkInto(join(app, "node_modules"), "@types/node");
    writeFileSync(
      join(app, "package.json"),
      JSON.stringify({ name: "cjs-app", private: true, type: "commonjs" }),
    );
  });

  after(() => rmSync(root, { recursive: true, force: true }));

  test("require() from a CommonJS project: every subpath, a raft commit, one copy of each class", async () => {
    writeFileSync(join(app, "require.js"), requireApp);
    const r = await run(process.execPath, ["require.js"], app);
    const canRequireEsm = (process.features as { require_module?: boolean }).require_module === true;
    if (canRequireEsm) {
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out.trim(), "commonjs ok");
      // No ExperimentalWarning or other noise for users.
      assert.equal(r.err, "");
    } else {
      assert.notEqual(r.code, 0);
      assert.match(r.err, /ERR_REQUIRE_ESM/);
    }
  });

  test("a Node without require(esm): ERR_REQUIRE_ESM pointing to import(), and import() works", async () => {
    const r = await run(process.execPath, ["--no-experimental-require-module", "require.js"], app);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /code: 'ERR_REQUIRE_ESM'/);
    assert.match(r.err, /dynamic import\(\)/);
    writeFileSync(join(app, "import.js"), importApp);
    const i = await run(process.execPath, ["--no-experimental-require-module", "import.js"], app);
    assert.equal(i.code, 0, i.err);
    assert.equal(i.out.trim(), "import ok");
  });

  test('tsc: "nodenext" compiles a CommonJS file importing tsraft (and it runs); "node16" refuses it', async () => {
    const tsc = join(repoRoot, "node_modules", "typescript", "bin", "tsc");
    writeFileSync(join(app, "index.ts"), tsApp);
    writeFileSync(join(app, "tsconfig.json"), tsconfig("nodenext", false));
    const ok = await run(process.execPath, [tsc, "-p", "."], app);
    assert.equal(ok.code, 0, ok.out);
    const r = await run(process.execPath, ["out/index.js"], app);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.trim(), "0 function function 0 true");

    writeFileSync(join(app, "tsconfig.json"), tsconfig("node16", true));
    const old = await run(process.execPath, [tsc, "-p", ".", "--noEmit"], app);
    assert.notEqual(old.code, 0);
    assert.match(old.out, /error TS1479: .*dynamic 'import\("tsraft"\)'/);
  });

  test("every source map and declaration map in the tarball resolves to a published file", () => {
    const maps: string[] = [];
    const walk = (dir: string): void => {
      for (const d of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, d.name);
        if (d.isDirectory()) walk(p);
        else if (d.name.endsWith(".map")) maps.push(p);
      }
    };
    walk(join(installed, "dist"));
    assert.ok(maps.length > 100, `only ${maps.length} maps`);
    const broken: string[] = [];
    for (const m of maps) {
      const map = JSON.parse(readFileSync(m, "utf8")) as { sources: string[]; sourceRoot?: string };
      for (const s of map.sources) {
        const p = resolve(dirname(m), map.sourceRoot ?? "", s);
        if (!p.startsWith(`${installed}/`) || !existsSync(p))
          broken.push(`${m.slice(installed.length)}: ${s}`);
      }
      // ...and the file the map belongs to names it.
      const gen = m.slice(0, -".map".length);
      const base = m.slice(dirname(m).length + 1);
      assert.ok(
        readFileSync(gen, "utf8").includes(`sourceMappingURL=${base}`),
        `${gen} does not name ${base}`,
      );
    }
    assert.deepEqual(broken.slice(0, 10), []);
  });
});
