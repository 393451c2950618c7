// The JSON gateway (spec §7) with plain fetch, against our server and a real
// etcd 3.4's gateway: same requests, same JSON (raft terms aside).
import assert from "node:assert/strict";
import { test } from "node:test";
import { type EtcdEndpoint, etcdAndTsForFile, type TsEndpoint } from "./support.ts";

let etcd: EtcdEndpoint;
let ts: TsEndpoint;

etcdAndTsForFile((e, t) => {
  etcd = e;
  ts = t;
});

const b64 = (s: string) => Buffer.from(s).toString("base64");

async function post(base: string, path: string, body: unknown) {
  const r = await fetch(`${base}${path}`, {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: r.status, type: r.headers.get("content-type"), text: await r.text() };
}

/** Same request to both; same status and the same JSON (raft_term aside). */
async function same(path: string, body: unknown, norm: (j: unknown) => unknown = (j) => j) {
  const [a, b] = await Promise.all([post(etcd.url, path, body), post(ts.url, path, body)]);
  const strip = (t: string) => norm(JSON.parse(t.replace(/"raft_term":"\d+"/g, '"raft_term":"T"')));
  assert.equal(b.status, a.status, `${path} ${JSON.stringify(body)}: status (${b.text} vs ${a.text})`);
  assert.deepEqual(strip(b.text), strip(a.text), `${path} ${JSON.stringify(body)}`);
  assert.match(b.type ?? "", /application\/json/);
  return JSON.parse(b.text);
}

test("kv: put, range (prefix, limit, rev, sort), deleterange, txn, compaction; int64 as strings, bytes base64", async () => {
  const put = await same("/v3/kv/put", { key: b64("foo"), value: b64("bar") });
  assert.equal(put.header.revision, "2");
  await same("/v3/kv/put", { key: b64("foo2"), value: b64("x"), prev_kv: true });
  await same("/v3/kv/put", { key: b64("foo2"), value: b64("y"), prevKv: true });
  const r = await same("/v3/kv/range", { key: b64("foo") });
  assert.deepEqual(r.kvs[0], {
    key: "Zm9v",
    create_revision: "2",
    mod_revision: "2",
    version: "1",
    value: "YmFy",
  });
  await same("/v3/kv/range", { key: b64("foo"), range_end: b64("fop"), limit: 1 });
  await same("/v3/kv/range", {
    key: b64("foo"),
    rangeEnd: b64("fop"),
    sortOrder: "DESCEND",
    sort_target: "MOD",
  });
  await same("/v3/kv/range", { key: b64("foo2"), revision: "3" });
  await same("/v3/kv/range", { key: b64("foo2"), revision: 99 });
  await same("/v3/kv/range", { key: b64("nope") });
  await same("/v3/kv/range", { key: "" });
  await same("/v3/kv/txn", {
    compare: [{ target: "CREATE", key: b64("foo"), createRevision: "2" }],
    success: [{ requestPut: { key: b64("foo"), value: b64("baz") } }, { request_range: { key: b64("foo") } }],
  });
  await same("/v3/kv/txn", {
    compare: [{ target: "VALUE", result: "NOT_EQUAL", key: b64("foo"), value: b64("baz") }],
    failure: [{ request_delete_range: { key: b64("foo2"), prev_kv: true } }],
  });
  await same("/v3/kv/deleterange", { key: b64("nothing") });
  await same("/v3/kv/compaction", { revision: 3 });
  await same("/v3/kv/compaction", { revision: 3 });
  await same("/v3beta/kv/range", { key: b64("foo") });
});

test("lease: grant with an ID, timetolive, leases, keepalive stream ends with the body, revoke", async () => {
  const g = await same("/v3/lease/grant", { TTL: "60", ID: "4242" });
  assert.deepEqual([g.ID, g.TTL], ["4242", "60"]);
  await same("/v3/lease/grant", { TTL: 60, ID: 4242 });
  await same("/v3/kv/put", { key: b64("lk"), value: b64("v"), lease: "4242" });
  await same("/v3/lease/timetolive", { ID: "4242", keys: true }, (j) => {
    const o = j as { TTL: string };
    assert.ok(Number(o.TTL) >= 58 && Number(o.TTL) <= 60);
    return { ...o, TTL: "N" };
  });
  await same("/v3/kv/lease/leases", {});
  const [ka, kb] = await Promise.all([
    post(etcd.url, "/v3/lease/keepalive", '{"ID":"4242"}\n{"ID":"1"}'),
    post(ts.url, "/v3/lease/keepalive", '{"ID":"4242"}\n{"ID":"1"}'),
  ]);
  const norm = (t: string) => t.replace(/"raft_term":"\d+"/g, "");
  assert.equal(norm(kb.text), norm(ka.text));
  assert.equal(kb.text.trim().split("\n").length, 2);
  await same("/v3/lease/revoke", { ID: "4242" });
  await same("/v3/kv/lease/revoke", { ID: "4242" });
  await same("/v3/lease/timetolive", { ID: "4242" });
});

test("watch stream: created reply, events as result lines, survives the end of the body", async () => {
  const open = (base: string, ac: AbortController) =>
    fetch(`${base}/v3/watch`, {
      method: "POST",
      body: JSON.stringify({ create_request: { key: b64("w"), prev_kv: true } }),
      signal: ac.signal,
    });
  const aca = new AbortController();
  const acb = new AbortController();
  const [ra, rb] = await Promise.all([open(etcd.url, aca), open(ts.url, acb)]);
  const reader = (r: Response) => {
    const rd = r.body!.getReader();
    let buf = "";
    return async (): Promise<unknown> => {
      for (;;) {
        const i = buf.indexOf("\n");
        if (i >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          return JSON.parse(line.replace(/"raft_term":"\d+"/g, '"raft_term":"T"'));
        }
        const { value, done } = await rd.read();
        if (done) throw new Error("stream ended");
        buf += new TextDecoder().decode(value);
      }
    };
  };
  const na = reader(ra);
  const nb = reader(rb);
  assert.deepEqual(await nb(), await na());
  await same("/v3/kv/put", { key: b64("w"), value: b64("1") });
  await same("/v3/kv/put", { key: b64("w"), value: b64("2") });
  await same("/v3/kv/deleterange", { key: b64("w") });
  for (let i = 0; i < 3; i++) assert.deepEqual(await nb(), await na());
  aca.abort();
  acb.abort();
});

test("maintenance and cluster over the gateway: status, alarm, member list, hashkv; errors as etcd's body", async () => {
  // etcd 3.4 leaves the Alarm response header unset; we fill it, as 3.5 does (safe for every client).
  const alarm = await same("/v3/maintenance/alarm", {}, (j) => ({ ...(j as object), header: undefined }));
  assert.equal(alarm.header.member_id.length > 0, true);
  await same("/v3/cluster/member/list", {}, (j) => {
    const o = j as { members: { clientURLs: string[] }[] };
    for (const m of o.members) m.clientURLs = ["C"];
    return o;
  });
  await same("/v3/maintenance/status", {}, (j) => {
    const o = j as Record<string, unknown>;
    for (const k of ["dbSize", "dbSizeInUse", "raftIndex", "raftAppliedIndex"]) delete o[k];
    return o;
  });
  const bad = await same("/v3/kv/put", { key: "" });
  assert.deepEqual(bad, {
    error: "etcdserver: key is not provided",
    message: "etcdserver: key is not provided",
    code: 3,
  });
  await same("/v3/lease/revoke", { ID: "77" });
  const h = await post(ts.url, "/v3/maintenance/hashkv", {});
  assert.equal(typeof JSON.parse(h.text).hash, "number");
  const nf = await post(ts.url, "/v3/nope", {});
  assert.equal(nf.status, 404);
  assert.equal((await fetch(`${ts.url}/version`)).status, 200);
  assert.deepEqual(await (await fetch(`${ts.url}/health`)).json(), { health: "true" });
});
