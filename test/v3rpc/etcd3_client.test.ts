// The `etcd3` npm client (microsoft/etcd3), written by people who never saw
// this server, against our single-member v3 server: KV, transactions and
// STM, watches, leases with keep-alive, locks and elections (its recipes).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Etcd3 } from "etcd3";
import { startTs, type TsEndpoint, waitFor } from "./support.ts";

let ts: TsEndpoint;
let client: Etcd3;

before(async () => {
  ts = await startTs("http://127.0.0.1:2380");
  client = new Etcd3({ hosts: ts.url });
});
after(async () => {
  client?.close();
  await ts?.close();
});

test("put/get/getAll/delete, revisions and counts", async () => {
  await client.put("a/1").value("one");
  await client.put("a/2").value("two");
  await client.put("b").value("bee");
  assert.equal(await client.get("a/1").string(), "one");
  assert.deepEqual(await client.getAll().prefix("a/").strings(), { "a/1": "one", "a/2": "two" });
  assert.equal(await client.getAll().prefix("a/").count(), 2);
  assert.deepEqual(await client.getAll().keys(), ["a/1", "a/2", "b"]);
  const r = await client.get("a/1").exec();
  assert.equal(r.kvs[0]!.version, "1");
  assert.equal(await client.get("missing").string(), null);
  const del = await client.delete().prefix("a/").exec();
  assert.equal(del.deleted, "2");
  assert.deepEqual(await client.getAll().keys(), ["b"]);
});

test("transactions: if/then/else and the STM (serializable snapshot isolation) under contention", async () => {
  await client.put("x").value("1");
  const t1 = await client
    .if("x", "Value", "==", "1")
    .then(client.put("x").value("2"))
    .else(client.put("x").value("no"))
    .commit();
  assert.equal(t1.succeeded, true);
  const t2 = await client
    .if("x", "Value", "==", "1")
    .then(client.put("x").value("3"))
    .else(client.get("x"))
    .commit();
  assert.equal(t2.succeeded, false);
  assert.equal(await client.get("x").string(), "2");
  await client.put("counter").value("0");
  const incr = () =>
    client.stm({ retries: 50 }).transact(async (tx) => {
      const v = Number(await tx.get("counter").string());
      await tx.put("counter").value(String(v + 1));
    });
  await Promise.all(Array.from({ length: 10 }, incr));
  assert.equal(await client.get("counter").string(), "10");
});

test("watch: put and delete events with prev_kv, from a past revision too", async () => {
  const w = await client.watch().prefix("wt/").withPreviousKV().create();
  const seen: string[] = [];
  w.on("put", (kv, prev) => seen.push(`put ${kv.key} ${kv.value} prev=${prev?.value ?? "-"}`));
  w.on("delete", (kv, prev) => seen.push(`del ${kv.key} prev=${prev?.value ?? "-"}`));
  await client.put("wt/k").value("1");
  const rev = (await client.put("wt/k").value("2")).header.revision;
  await client.delete().key("wt/k");
  await waitFor("3 events", async () => seen.length >= 3);
  assert.deepEqual(seen, ["put wt/k 1 prev=-", "put wt/k 2 prev=1", "del wt/k prev=2"]);
  await w.cancel();
  const replay = await client.watch().key("wt/k").startRevision(rev).create();
  const again: string[] = [];
  replay.on("data", (res) => {
    for (const e of res.events) again.push(`${e.type} ${e.kv.mod_revision}`);
  });
  await waitFor("replayed events", async () => again.length >= 2);
  assert.deepEqual(again, [`Put ${rev}`, `Delete ${Number(rev) + 1}`]);
  await replay.cancel();
});

test("leases: grant, attach keys, keep-alive past the TTL, revoke deletes the keys", async () => {
  const lease = client.lease(2, { autoKeepAlive: true });
  await lease.put("lk").value("v");
  const id = await lease.grant();
  let renewed = 0;
  lease.on("keepaliveSucceeded", () => renewed++);
  await new Promise((r) => setTimeout(r, 3000));
  assert.ok(renewed >= 2, `renewed ${renewed} times`);
  assert.equal(await client.get("lk").string(), "v");
  const ttl = await client.leaseClient.leaseTimeToLive({ ID: id, keys: true });
  assert.ok(Number(ttl.TTL) > 0 && Number(ttl.TTL) <= 2, ttl.TTL);
  assert.equal(ttl.grantedTTL, "2");
  assert.deepEqual(
    ttl.keys.map((k) => k.toString()),
    ["lk"],
  );
  const once = await lease.keepaliveOnce();
  assert.equal(once.TTL, "2");
  await lease.revoke();
  assert.equal(await client.get("lk").string(), null);
  const leases = await client.leaseClient.leaseLeases();
  assert.equal(
    leases.leases.some((l) => l.ID === id),
    false,
  );
  // a lease nobody keeps alive expires on the server and takes its key with it
  const short = client.lease(2, { autoKeepAlive: false });
  await short.put("short").value("x");
  await waitFor("expiry", async () => (await client.get("short").string()) === null, 8000, 200);
  await short.revoke().catch(() => {});
});

test("locks: a held lock is refused to a second holder until released (etcd3's try-lock)", async () => {
  const a = client.lock("the-lock").ttl(5);
  await a.acquire();
  const b = client.lock("the-lock").ttl(5);
  await assert.rejects(b.acquire(), /Failed to acquire a lock on the-lock/);
  await a.release();
  await b.acquire();
  await b.release();
  const order: string[] = [];
  await client.lock("seq").do(async () => order.push("ran"));
  assert.deepEqual(order, ["ran"]);
  assert.deepEqual(await client.getAll().prefix("lock/").keys(), []);
});

test("elections: one leader, an observer sees it change when the leader resigns", async () => {
  const election = client.election("job", 5);
  const c1 = election.campaign("first");
  await new Promise<void>((res, rej) => {
    c1.on("elected", () => res());
    c1.on("error", rej);
  });
  const c2 = election.campaign("second");
  let secondElected = false;
  c2.on("elected", () => {
    secondElected = true;
  });
  const observer = await election.observe();
  assert.equal(observer.leader(), "first");
  const changes: string[] = [];
  observer.on("change", (v: string | undefined) => {
    changes.push(v ?? "");
  });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(secondElected, false);
  await c1.resign();
  await waitFor("second elected", async () => secondElected);
  await waitFor("observer change", async () => changes.includes("second"));
  assert.equal(await election.leader(), "second");
  await c2.resign();
  await observer.cancel();
});
