// etcdctl 3.4 watch and lease commands against our server and a real etcd
// 3.4; outputs compared where deterministic (lease IDs differ: each server
// picks its own, so they are replaced by a placeholder).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  CtlProc,
  ctl,
  type EtcdEndpoint,
  errLines,
  etcdAndTsForFile,
  type TsEndpoint,
  waitFor,
} from "./support.ts";

let etcd: EtcdEndpoint;
let ts: TsEndpoint;

etcdAndTsForFile((e, t) => {
  etcd = e;
  ts = t;
});

async function both(args: string[], input?: string) {
  return Promise.all([ctl(etcd.ep, args, input), ctl(ts.ep, args, input)]);
}

async function same(args: string[], norm: (s: string) => string = (s) => s): Promise<[string, string]> {
  const [a, b] = await both(args);
  const label = `etcdctl ${args.join(" ")}`;
  assert.equal(norm(b.out), norm(a.out), `${label}: stdout`);
  assert.equal(norm(errLines(b)), norm(errLines(a)), `${label}: stderr`);
  assert.equal(b.code, a.code, `${label}: exit code`);
  return [a.out, b.out];
}

/** The next revision on both servers (their histories are identical: same commands, same order). */
async function nextRev(): Promise<number> {
  const [a, b] = await both(["get", "nothing", "-w", "json"]);
  const ra = JSON.parse(a.out).header.revision;
  assert.equal(JSON.parse(b.out).header.revision, ra, "both histories at the same revision");
  return ra + 1;
}

test("watch --prefix: live PUT/DELETE events with --prev-kv, same lines on both", async () => {
  // Watching from the next revision makes the test independent of when etcdctl's watch is set up.
  const rev = await nextRev();
  const args = ["watch", "w/", "--prefix", "--prev-kv", `--rev=${rev}`];
  const wa = new CtlProc(etcd.ep, args);
  const wb = new CtlProc(ts.ep, args);
  await both(["put", "w/a", "1"]);
  await both(["put", "w/a", "2"]);
  await both(["put", "other", "x"]);
  await both(["del", "w/", "--prefix"]);
  const [la, lb] = await Promise.all([wa.lines(12), wb.lines(12)]);
  await Promise.all([wa.stop(), wb.stop()]);
  assert.deepEqual(lb, la);
  // PUT; PUT with the previous key/value first; DELETE with the previous key/value, then the key
  assert.deepEqual(la, ["PUT", "w/a", "1", "PUT", "w/a", "1", "w/a", "2", "DELETE", "w/a", "2", "w/a"]);
});

test("watch --rev replays history, then streams; a compacted --rev is reported as etcd does", async () => {
  // Histories are identical on both servers (same commands so far), so revisions match.
  const [a] = await both(["put", "r/k", "v1"]);
  assert.equal(a.out, "OK\n");
  await both(["put", "r/k", "v2"]);
  const rev = JSON.parse((await ctl(etcd.ep, ["get", "r/k", "-w", "json"])).out).kvs[0].mod_revision - 1;
  const wa = new CtlProc(etcd.ep, ["watch", "r/", "--prefix", `--rev=${rev}`]);
  const wb = new CtlProc(ts.ep, ["watch", "r/", "--prefix", `--rev=${rev}`]);
  const [ha, hb] = await Promise.all([wa.lines(6), wb.lines(6)]);
  assert.deepEqual(hb, ha);
  await both(["put", "r/k", "v3"]);
  const [la, lb] = await Promise.all([wa.lines(9), wb.lines(9)]);
  assert.deepEqual(lb, la);
  await Promise.all([wa.stop(), wb.stop()]);
  await both(["compaction", String(rev + 1)]);
  const ca = new CtlProc(etcd.ep, ["watch", "r/", "--prefix", `--rev=${rev}`]);
  const cb = new CtlProc(ts.ep, ["watch", "r/", "--prefix", `--rev=${rev}`]);
  const [ea, eb] = await Promise.all([ca.exited, cb.exited]);
  assert.equal(eb, ea);
  assert.equal(cb.out, ca.out);
  assert.equal(errLines({ code: 0, out: "", err: cb.err }), errLines({ code: 0, out: "", err: ca.err }));
  assert.match(cb.err, /required revision has been compacted/);
});

test("watch -i: interactive watch and progress", async () => {
  const script = `watch i/k --rev=${await nextRev()}\n`;
  const wa = new CtlProc(etcd.ep, ["watch", "-i"]);
  const wb = new CtlProc(ts.ep, ["watch", "-i"]);
  wa.proc.stdin!.write(script);
  wb.proc.stdin!.write(script);
  await both(["put", "i/k", "x"]);
  const [la, lb] = await Promise.all([wa.lines(3), wb.lines(3)]);
  assert.deepEqual(lb, la);
  wa.proc.stdin!.write("progress\n");
  wb.proc.stdin!.write("progress\n");
  const [pa, pb] = await Promise.all([wa.lines(4), wb.lines(4)]);
  assert.equal(pb[3], pa[3]);
  assert.match(pa[3]!, /^progress notify: \d+$/);
  await Promise.all([wa.stop(), wb.stop()]);
});

const LEASE_ID = /\b[0-9a-f]{16}\b/g;
const normLease = (s: string) => s.replace(LEASE_ID, "ID");

test("lease grant/timetolive/put --lease/list/keep-alive --once/revoke, errors", async () => {
  const [ga, gb] = await same(["lease", "grant", "100"], normLease);
  const ida = /lease ([0-9a-f]+) granted/.exec(ga)![1]!;
  const idb = /lease ([0-9a-f]+) granted/.exec(gb)![1]!;
  assert.match(gb, /^lease [0-9a-f]{16} granted with TTL\(100s\)\n$/);
  const each = async (fa: (id: string) => string[], norm = normLease) => {
    const [a, b] = await Promise.all([ctl(etcd.ep, fa(ida)), ctl(ts.ep, fa(idb))]);
    assert.equal(norm(b.out), norm(a.out), fa("ID").join(" "));
    assert.equal(norm(errLines(b)), norm(errLines(a)), fa("ID").join(" "));
    assert.equal(b.code, a.code);
    return [a.out, b.out];
  };
  await each((id) => ["put", "l/a", "1", `--lease=${id}`]);
  await each((id) => ["put", "l/b", "2", `--lease=${id}`]);
  // remaining time depends on timing: compare the shape, with the remaining seconds normalised
  // The attached keys come from a Go map in etcd (iteration order unspecified): sorted on both sides.
  const normRemaining = (s: string) =>
    normLease(s)
      .replace(/remaining\(\d+s\)/, "remaining(Ns)")
      .replace(
        /attached keys\(\[([^\]]*)\]\)/g,
        (_, ks: string) => `attached keys([${ks.split(" ").sort().join(" ")}])`,
      );
  await each((id) => ["lease", "timetolive", id, "--keys"], normRemaining);
  await each((id) => ["lease", "timetolive", id], normRemaining);
  await same(["lease", "list"], normLease);
  await each((id) => ["lease", "keep-alive", "--once", id]);
  await each((id) => ["lease", "revoke", id]);
  await same(["get", "l/", "--prefix"]);
  await each((id) => ["lease", "timetolive", id]);
  await each((id) => ["lease", "revoke", id]);
  await each((id) => ["lease", "keep-alive", "--once", id]);
  await same(["lease", "grant", "1"], normLease); // raised to the minimum TTL
  await same(["lease", "grant", "9000000001"]);
});

test("lease keep-alive stream keeps a lease alive past its TTL; an unkept lease expires and its keys go", async () => {
  const g = await ctl(ts.ep, ["lease", "grant", "2"]);
  const id = /lease ([0-9a-f]+) granted/.exec(g.out)![1]!;
  const g2 = await ctl(ts.ep, ["lease", "grant", "2"]);
  const id2 = /lease ([0-9a-f]+) granted/.exec(g2.out)![1]!;
  await ctl(ts.ep, ["put", "ka/kept", "1", `--lease=${id}`]);
  await ctl(ts.ep, ["put", "ka/gone", "1", `--lease=${id2}`]);
  const ka = new CtlProc(ts.ep, ["lease", "keep-alive", id]);
  const lines = await ka.lines(2, 10_000);
  assert.equal(lines[0], `lease ${id} keepalived with TTL(2)`);
  // the unkept lease expires (2 s TTL, checked every 500 ms) and takes its key; the kept one stays
  await waitFor(
    "the unkept lease's key to go",
    async () => (await ctl(ts.ep, ["get", "ka/", "--prefix", "--keys-only"])).out === "ka/kept\n\n",
    15_000,
    200,
  );
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(
    (await ctl(ts.ep, ["get", "ka/kept", "--print-value-only"])).out,
    "1\n",
    "kept alive past its TTL",
  );
  await ctl(ts.ep, ["lease", "revoke", id]);
  await ka.exited;
  assert.match(ka.out, new RegExp(`lease ${id} expired or revoked\\.`));
});
