// Disaster recovery as an etcd operator does it: `etcdctl snapshot save` from
// a running three-member tsraft-kv cluster, `tsraft-kv snapshot status` of
// the file, `tsraft-kv snapshot restore` into three new data directories,
// then the new cluster started with the same flags serves the saved keys,
// their revisions, history and leases to etcdctl. Damaged files, a data
// directory that holds a member and bad flags are refused with one line and
// the documented exit status.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { unwrapSnapshotFile } from "../../src/v3rpc/index.ts";
import { KV_CLI } from "../cli/support/kv_proc.ts";
import { ProcCluster } from "../kv/support/cluster.ts";
import { ctl, errLines, http, TsCluster, v3Status, waitFor } from "./support.ts";

let old: TsCluster;
let fresh: ProcCluster;
let dir: string;
let file: string;
/** The member the snapshot was saved from. */
let savedFrom: string;
let leaseHex: string;
const TOKEN = "restored-from-snapshot";

function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [KV_CLI, ...args], { timeout: 30_000 }, (err, out, errOut) => {
      resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), out, err: errOut });
    });
  });
}

/** etcdctl -w json output with the parts that differ between two clusters left out. */
function kvsOf(out: string): unknown {
  const j = JSON.parse(out.replace(/"lease":(\d+)/g, '"lease":"$1"'));
  return { kvs: j.kvs, count: j.count, more: j.more };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "tsraft-restore-e2e-"));
  file = join(dir, "saved.db");
  old = await TsCluster.start(3);
  const ep = await old.leaderEp();
  const run = async (args: string[]) => {
    const r = await ctl(ep, args);
    assert.equal(r.code, 0, `etcdctl ${args.join(" ")}: ${r.err}`);
    return r.out;
  };
  await run(["put", "k", "v1"]); // rev 2
  await run(["put", "k", "v2"]); // 3
  await run(["put", "k", "v3"]); // 4
  await run(["put", "other", "o"]); // 5
  await run(["put", "gone", "x"]); // 6
  await run(["del", "gone"]); // 7
  leaseHex = /lease ([0-9a-f]+) granted/.exec(await run(["lease", "grant", "600"]))![1]!;
  await run(["put", "leased", "L", `--lease=${leaseHex}`]); // 8
  await run(["compaction", "3"]);
  // Saved through a follower, as an operator's backup job might.
  savedFrom = (await old.followerEps())[0]!;
  const saved = await ctl(savedFrom, ["snapshot", "save", file]);
  assert.equal(saved.code, 0, saved.err);
});

after(async () => {
  await old?.close();
  await fresh?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

test("snapshot status: the file's hash (Maintenance.Hash of the saved state), revision, key versions and size, in etcdctl's formats", async () => {
  const image = unwrapSnapshotFile(readFileSync(file));
  const json = await cli(["snapshot", "status", file, "-w", "json"]);
  assert.equal(json.code, 0, json.err);
  const st = JSON.parse(json.out) as { hash: number; revision: number; totalKey: number; totalSize: number };
  assert.equal(st.revision, 8);
  assert.equal(st.totalSize, image.length);
  // k@3, k@4, other, gone, its deletion, leased: six versions survive compaction at 3.
  assert.equal(st.totalKey, 6);
  // Nothing was written since the save: the member it came from hashes the same state.
  const hash = (await http("POST", `http://${savedFrom}/v3/maintenance/hash`, "{}")).json() as {
    hash: number;
  };
  assert.equal(st.hash, hash.hash, "the hash Maintenance.Hash answers for that state");

  const simple = await cli(["snapshot", "status", file]);
  assert.ok(image.length >= 10 && image.length < 1000, `a small image (${image.length} bytes)`);
  assert.equal(simple.out, `${st.hash.toString(16)}, 8, 6, ${image.length} B\n`);
  const table = await cli(["snapshot", "status", file, "--write-out=table"]);
  assert.match(
    table.out,
    /^\+-+\+-+\+-+\+-+\+\n\| +HASH +\| REVISION \| TOTAL KEYS \| TOTAL SIZE \|\n\+-+\+-+\+-+\+-+\+\n\| +[0-9a-f]+ \| +8 \| +6 \| +\d+ B \|\n\+-+\+-+\+-+\+-+\+\n$/,
  );
  // A bare image (a member's <index>.snap.db) with --skip-hash-check: the same status.
  const bare = join(dir, "bare.snap.db");
  writeFileSync(bare, image);
  const fromBare = await cli(["snapshot", "status", bare, "--skip-hash-check", "-w", "json"]);
  assert.deepEqual(JSON.parse(fromBare.out), st);
});

test("restore into three new data directories: the new cluster serves the saved keys, revisions, history and leases", async () => {
  fresh = new ProcCluster();
  const names = ["n1", "n2", "n3"];
  for (const n of names) await fresh.add(n);
  const ic = fresh.initialCluster(names);
  const flags = ["--initial-cluster", ic, "--initial-cluster-token", TOKEN];
  for (const m of fresh.members) {
    const r = await cli(["snapshot", "restore", file, "--name", m.name, "--data-dir", m.dataDir, ...flags]);
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out,
      new RegExp(
        `^restored .* \\(revision 8, 6 key versions\\) into .*: member [0-9a-f]+ \\(${m.name}\\) of cluster [0-9a-f]+, 3 members;`,
      ),
    );
  }
  for (const m of fresh.members) fresh.start(m, flags);
  await Promise.all(fresh.members.map((m) => fresh.healthy(m)));
  const eps = fresh.members.map((m) => m.client.replace("http://", ""));
  await waitFor(
    "a leader in the restored cluster",
    async () => (await v3Status(eps[0]!)).leader !== "0",
    20_000,
  );

  const oldEp = old.eps()[0]!;
  for (const ep of eps) {
    for (const args of [
      ["get", "", "--prefix", "-w", "json"],
      ["get", "k", "--rev=3", "-w", "json"],
      ["get", "k", "--rev=4", "-w", "json"],
      ["get", "", "--prefix", "--rev=6", "-w", "json"],
    ]) {
      const [a, b] = await Promise.all([ctl(oldEp, [...args, "--consistency=s"]), ctl(ep, args)]);
      assert.equal(b.code, 0, b.err);
      assert.deepEqual(kvsOf(b.out), kvsOf(a.out), `etcdctl ${args.join(" ")} on ${ep}`);
    }
    const compacted = await ctl(ep, ["get", "k", "--rev=2"]);
    assert.equal(errLines(compacted), "Error: etcdserver: mvcc: required revision has been compacted");
  }
  const ttl = await ctl(eps[1]!, ["lease", "timetolive", leaseHex, "--keys"]);
  assert.match(
    ttl.out,
    new RegExp(
      `^lease ${leaseHex} granted with TTL\\(600s\\), remaining\\(\\d+s\\), attached keys\\(\\[leased\\]\\)`,
    ),
  );

  // A new cluster: new IDs, its own members; writes go on from the saved revision.
  const [oldSt, newSt] = await Promise.all([
    http("POST", `http://${oldEp}/v3/maintenance/status`, "{}"),
    http("POST", `http://${eps[0]}/v3/maintenance/status`, "{}"),
  ]);
  assert.notEqual(newSt.json().header.cluster_id, oldSt.json().header.cluster_id);
  const list = await ctl(eps[2]!, ["member", "list"]);
  assert.deepEqual(
    list.out
      .trim()
      .split("\n")
      .map((l) => l.split(", ")[2])
      .sort(),
    names,
  );
  const put = await ctl(eps[2]!, ["put", "after", "restore", "-w", "json"]);
  assert.equal(JSON.parse(put.out).header.revision, 9);
});

test("restore refuses: a data directory that holds a member (5), a damaged file (6), bad flags (2); one line each", async () => {
  const ic = "z1=http://127.0.0.1:1";
  const held = await cli([
    "snapshot",
    "restore",
    file,
    "--name",
    "z1",
    "--initial-cluster",
    ic,
    "--data-dir",
    old.pc.members[0]!.dataDir,
  ]);
  assert.equal(held.code, 5);
  assert.match(
    held.err,
    /^tsraft-kv snapshot restore: .*member exists: a restore writes only a new data directory; refusing to touch it\n$/,
  );

  const bytes = readFileSync(file);
  bytes[100] = bytes[100]! ^ 0xff;
  const damaged = join(dir, "damaged.db");
  writeFileSync(damaged, bytes);
  const target = join(dir, "never");
  const bad = await cli([
    "snapshot",
    "restore",
    damaged,
    "--name",
    "z1",
    "--initial-cluster",
    ic,
    "--data-dir",
    target,
  ]);
  assert.equal(bad.code, 6);
  assert.match(
    bad.err,
    /^tsraft-kv snapshot restore: etcdserver: snapshot is corrupt: .*damaged\.db: sha256 mismatch \(not a snapshot file as etcdctl snapshot save writes it; a bare image needs --skip-hash-check\)\n$/,
  );
  // The image's own checksum catches what the file's hash is told to skip.
  const image = Buffer.from(unwrapSnapshotFile(readFileSync(file)));
  image[image.length - 1] = image[image.length - 1]! ^ 0xff;
  writeFileSync(damaged, image);
  const skip = await cli([
    "snapshot",
    "restore",
    damaged,
    "--skip-hash-check",
    "--name",
    "z1",
    "--initial-cluster",
    ic,
    "--data-dir",
    target,
  ]);
  assert.equal(skip.code, 6, skip.err);
  assert.match(
    skip.err,
    /^tsraft-kv snapshot restore: etcdserver: snapshot is corrupt: .*damaged\.db: .+\n$/,
  );

  const noName = await cli([
    "snapshot",
    "restore",
    file,
    "--name",
    "zz",
    "--initial-cluster",
    ic,
    "--data-dir",
    target,
  ]);
  assert.equal(noName.code, 2, noName.err);
  const noFile = await cli(["snapshot", "restore", "--name", "z1", "--initial-cluster", ic]);
  assert.equal(noFile.code, 2);
  const badFormat = await cli(["snapshot", "status", file, "-w", "yaml"]);
  assert.equal(badFormat.code, 2);
  assert.equal(
    badFormat.err,
    'tsraft-kv snapshot status: --write-out: must be simple, table or json, not "yaml"\n',
  );
  const missing = await cli(["snapshot", "status", join(dir, "nope.db")]);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /nope\.db: cannot read it: ENOENT\n$/);
  assert.ok(!existsSync(target), "nothing was written for a refused restore");
});
