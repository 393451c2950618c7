// The examples are programs a user could copy: they import the package by its
// published names ("tsraft", "tsraft/host", ...) and nothing else of ours, and
// each one runs, as its header says, in a fresh process. `--conditions=source`
// resolves the package's own names to src/ (package.json "exports"), so no
// build is needed; `npm run typecheck` checks them with the same condition
// (tsconfig.json "customConditions").
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { test } from "node:test";
import ts from "typescript";
import { repoRoot } from "../support/testdata.ts";

const examplesDir = join(repoRoot, "examples");
const examples = readdirSync(examplesDir)
  .filter((f) => f.endsWith(".ts"))
  .sort();

const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
  exports: Record<string, unknown>;
};

/**
 * Why an example may not import `spec`, or null. Allowed: Node's built-ins
 * and the package's public subpaths by name. Not allowed: relative paths
 * (into src/ or anywhere: a user's copy has no such file), tsraft/internal
 * (no stability promise), names the package does not export, other packages.
 */
function refusal(spec: string): string | null {
  if (spec.startsWith("node:")) return null;
  if (spec.startsWith(".")) return "a relative import; examples import the package by name";
  const m = /^tsraft(\/.*)?$/.exec(spec);
  if (m === null) return "not Node or tsraft";
  const sub = `.${m[1] ?? ""}`;
  if (!(sub in pkg.exports)) return `"${sub}" is not in package.json "exports"`;
  if (sub === "./internal") return "tsraft/internal has no stability promise";
  return null;
}

function importsOf(file: string): string[] {
  const src = readFileSync(join(examplesDir, file), "utf8");
  return ts.preProcessFile(src, true, true).importedFiles.map((f) => f.fileName);
}

test("every example imports only Node built-ins and the package's public names", () => {
  assert.ok(examples.length >= 5, `only ${examples.length} examples`);
  const bad: string[] = [];
  for (const f of examples) {
    const specs = importsOf(f);
    assert.ok(
      specs.some((s) => s.startsWith("tsraft")),
      `${f} imports nothing from tsraft`,
    );
    for (const s of specs) {
      const why = refusal(s);
      if (why !== null) bad.push(`${f}: ${s}: ${why}`);
    }
  }
  assert.deepEqual(bad, []);
  // The rule bites: the forms the examples used before are refused.
  for (const s of ["../src/index.ts", "../src/wire.ts", "tsraft/internal", "tsraft/nope", "commander"]) {
    assert.notEqual(refusal(s), null, s);
  }
  for (const s of ["tsraft", "tsraft/host", "tsraft/wire", "node:http"]) assert.equal(refusal(s), null, s);
});

// A test that only mentions an example in a comment does not count: the path
// must be a string (an import, or the file a test starts).
test("every example is run by a test", () => {
  const tests: string[] = [];
  const walk = (dir: string): void => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, d.name);
      if (d.isDirectory()) walk(p);
      else if (/\.ts$/.test(d.name)) tests.push(p);
    }
  };
  walk(join(repoRoot, "test"));
  const text = tests.map((p) => [relative(repoRoot, p), readFileSync(p, "utf8")] as const);
  const unrun = examples.filter(
    (f) =>
      !text.some(([, src]) => new RegExp(`["'](\\.\\./)*examples/${f.replace(".", "\\.")}["']`).test(src)),
  );
  assert.deepEqual(unrun, []);
});

/**
 * Runs `node --conditions=source --import tsx FILE ...args` (as the examples'
 * headers document). The timeout is generous: each takes a few seconds, but a
 * machine loaded by soaks and other tests' processes has taken two minutes.
 */
function runExample(file: string, args: string[] = []): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--conditions=source", "--import", "tsx", join(repoRoot, file), ...args],
      { cwd: repoRoot, timeout: 300_000, encoding: "utf8" },
      (e, out, err) => {
        const code = e === null ? 0 : typeof e.code === "number" ? e.code : 1;
        const why = e !== null && typeof e.signal === "string" ? `killed by ${e.signal} (timeout?)\n` : "";
        resolve({ code, out, err: `${why}${err}\nstdout:\n${out}` });
      },
    );
  });
}

test("examples/rawnode-demo.ts: three RawNodes elect node 1 and all apply the three words", async () => {
  const r = await runExample("examples/rawnode-demo.ts");
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trim().split("\n");
  assert.match(lines[0]!, /^node 1 is leader at term [1-9]\d*$/, r.out);
  const commits = new Set<string>();
  for (const id of [1, 2, 3]) {
    const l = lines.find((x) => x.startsWith(`node ${id}: `));
    assert.ok(l !== undefined, r.out);
    const m = /^node \d: commit=(\d+) applied=\[alpha, bravo, charlie\]$/.exec(l);
    assert.ok(m !== null, l);
    commits.add(m[1]!);
  }
  assert.equal(commits.size, 1, `commit indexes differ: ${r.out}`);
});

test("examples/node-cluster.ts run as a program: a leader, and four members applied all four entries", async () => {
  const r = await runExample("examples/node-cluster.ts");
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^member [1-3] is leader$/m);
  for (const id of [1, 2, 3, 4]) {
    assert.match(
      r.out,
      new RegExp(`^member ${id}: applied \\[alpha, bravo, charlie, delta\\], voters 1,2,3,4$`, "m"),
    );
  }
});

test("examples/kv-embedded.ts run as a program: put, linearizable get and HTTP GET, data under the dir given", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsraft-example-kv-"));
  try {
    const r = await runExample("examples/kv-embedded.ts", [dir]);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split("\n");
    assert.equal(lines[0], "put greeting at revision 2");
    assert.equal(lines[1], "get greeting: hello");
    assert.match(lines[2]!, /^GET http:\/\/127\.0\.0\.1:\d+\/kv\/greeting: 200 hello$/);
    // The member wrote where it was told (restarts on it: test/kv/embedded.test.ts).
    assert.ok(readdirSync(dir).length > 0, "nothing written under the data dir given");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
