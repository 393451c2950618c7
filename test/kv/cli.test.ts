// The tsraft-kv command line: help, bad flags, and refusing a data
// directory that belongs to another member or cluster without touching it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, test } from "node:test";
import { repoRoot } from "../support/testdata.ts";
import { freePort, http, ProcCluster } from "./support/cluster.ts";

const CLI = resolve(repoRoot, "src/cli/tsraft-kv.ts");
const run = (args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", CLI, ...args], {
    cwd: repoRoot,
    encoding: "utf8",
    timeout: 30_000,
  });

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test("--help describes the member flags and the cluster command", () => {
  const r = run(["--help"]);
  assert.equal(r.status, 0);
  for (const flag of [
    "--name",
    "--initial-cluster",
    "--listen-peer",
    "--listen-client",
    "--data-dir",
    "--join",
    "--snapshot-count",
    "--peer-cert-file",
  ]) {
    assert.ok(r.stdout.includes(flag), `help mentions ${flag}`);
  }
  assert.match(run(["cluster", "--help"]).stdout, /--size/);
});

test("bad flags exit non-zero with a clear message", () => {
  const cases: Array<[string[], RegExp]> = [
    [["--name", "a", "--listen-peer", "not-a-url"], /--listen-peer: not a URL/],
    [["--name", "a", "--snapshot-count", "0"], /--snapshot-count must be a positive integer/],
    [["--listen-client", "http://127.0.0.1:1"], /--name \(or --id\) is required/],
    [["--name", "x", "--initial-cluster", "a=http://127.0.0.1:9"], /not in --initial-cluster/],
    [["--name", "a", "--log-level", "loud"], /log-level/],
  ];
  for (const [args, msg] of cases) {
    const r = run(args);
    assert.notEqual(r.status, 0, args.join(" "));
    assert.match(r.stderr, msg, args.join(" "));
  }
});

function digest(dir: string): string {
  const h = createHash("sha256");
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else h.update(p).update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest("hex");
}

test("a data dir of another member or cluster is refused and left untouched", async () => {
  const c = new ProcCluster();
  dirs.push(c.root);
  const m = await c.add("solo");
  c.start(m, ["--initial-cluster", `solo=${m.peer}`]);
  await c.healthy(m);
  assert.equal((await http("PUT", `${m.client}/kv/x`, "1")).status, 200);
  await c.kill(m, "SIGTERM");
  const before = digest(m.dataDir);
  const peer = `http://127.0.0.1:${await freePort()}`;
  for (const args of [
    ["--name", "other", "--initial-cluster", `other=${peer}`],
    ["--name", "solo", "--initial-cluster", `solo=${m.peer}`, "--cluster-token", "another-cluster"],
  ]) {
    const r = run([
      ...args,
      "--data-dir",
      m.dataDir,
      "--listen-peer",
      peer,
      "--listen-client",
      `http://127.0.0.1:${await freePort()}`,
    ]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /belongs to member [0-9a-f]+ of cluster [0-9a-f]+.*refusing to touch it/);
  }
  assert.equal(digest(m.dataDir), before, "the data dir was not modified");
});
