// The harness's etcd-API client (jepsen/grpc_client.ts): what it sends for a
// read, a write and a compare-and-swap, and how each answer becomes ok, fail
// (certainly not applied) or info (unknown). The classification is checked
// as a table, and then through real grpc-js transports against fake servers
// in this process: a scripted KV server (statuses etcd sends), a closed port
// (nothing sent: fail), a server that never answers (deadline: info), one
// that drops the connection once the request arrived (info), and a member
// that comes back on a port that refused (the channel reconnects).
import assert from "node:assert/strict";
import { createServer as createH2Server, type Http2Server } from "node:http2";
import { after, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import {
  classifyGrpcError,
  GrpcKvClient,
  KV_SERVICE,
  putOutcome,
  rangeOutcome,
  txnOutcome,
} from "../../jepsen/grpc_client.ts";
import { CAS_MISMATCH, freePort, newKvClient } from "../../jepsen/index.ts";
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  create,
  KV,
  type PutRequest,
  type RangeRequest,
  type TxnRequest,
} from "../../src/etcdpb/index.ts";

const S = grpc.status;
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

test("classifyGrpcError: definite refusals are fail, anything that may have reached raft is info", () => {
  const cases: [number, string, "fail" | "info", string?][] = [
    // grpc-js's picker: no connection, the call never left the process
    [
      S.UNAVAILABLE,
      "No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:29999 (2026-12-07T16:00:00.000Z). Resolution note: ",
      "fail",
      "ECONNREFUSED",
    ],
    [S.UNAVAILABLE, "No connection established. Last error: null. Resolution note: ", "fail"],
    // the connection went away with the request possibly delivered
    [S.UNAVAILABLE, "Connection dropped", "info"],
    [S.UNAVAILABLE, "read ECONNRESET", "info"],
    // etcd's server-side UNAVAILABLEs: it may have proposed the request already
    [S.UNAVAILABLE, "etcdserver: request timed out", "info"],
    [S.UNAVAILABLE, "etcdserver: no leader", "info"],
    [S.UNAVAILABLE, "etcdserver: leader changed", "info"],
    [S.UNAVAILABLE, "etcdserver: server stopped", "info"],
    // ...but a learner refuses in etcd's interceptor, before the server
    [S.UNAVAILABLE, "etcdserver: rpc not supported for learner", "fail"],
    [S.DEADLINE_EXCEEDED, "Deadline exceeded after 4.001s", "info"],
    [S.UNKNOWN, "etcdserver: request timed out, leader transfer took too long", "info"],
    [S.INTERNAL, "Failed to start HTTP/2 stream", "info"],
    [S.CANCELLED, "Cancelled on client", "info"],
    // grpc-js's own RESOURCE_EXHAUSTED comes after the server answered
    [S.RESOURCE_EXHAUSTED, "Received message larger than max (5000000 vs. 4194304)", "info"],
    // refused before the proposal
    [S.RESOURCE_EXHAUSTED, "etcdserver: too many requests", "fail"],
    [S.INVALID_ARGUMENT, "etcdserver: key is not provided", "fail"],
    [S.INVALID_ARGUMENT, "etcdserver: request is too large", "fail"],
    [S.FAILED_PRECONDITION, "etcdserver: not leader", "fail"],
    [S.OUT_OF_RANGE, "mvcc: required revision has been compacted", "fail"],
    [S.NOT_FOUND, "etcdserver: requested lease not found", "fail"],
    [S.UNIMPLEMENTED, "The server does not implement the method /etcdserverpb.KV/Range", "fail"],
    [S.UNAUTHENTICATED, "etcdserver: invalid auth token", "fail"],
  ];
  for (const [code, details, type, error] of cases) {
    const out = classifyGrpcError({ code, details });
    assert.equal(out.type, type, `${S[code]} ${details}`);
    assert.equal(out.value, undefined);
    if (error !== undefined) assert.equal(out.error, error);
    else assert.ok(out.error?.startsWith(S[code]!), `${out.error} names ${S[code]}`);
    assert.ok(out.error!.length <= 120, out.error);
  }
});

test("answers: a Range's value and mod revision, a Put's revision, a Txn's result", () => {
  const kv = (value: string, mod: bigint) => ({ key: enc("k"), value: enc(value), modRevision: mod });
  assert.deepEqual(rangeOutcome(create(KV.method.range.output, { kvs: [kv("3-7", 12n)], count: 1n })), {
    type: "ok",
    value: "3-7",
    revision: 12,
  });
  assert.deepEqual(rangeOutcome(create(KV.method.range.output, { header: { revision: 40n } })), {
    type: "ok",
    value: null,
  });
  assert.deepEqual(putOutcome(create(KV.method.put.output, { header: { revision: 41n } })), {
    type: "ok",
    revision: 41,
  });
  assert.equal(putOutcome(create(KV.method.put.output, {})).error, "Put answered without a revision");
  assert.deepEqual(txnOutcome(create(KV.method.txn.output, { succeeded: true, header: { revision: 42n } })), {
    type: "ok",
    revision: 42,
  });
  const refused = (kvs: ReturnType<typeof kv>[]) =>
    txnOutcome(
      create(KV.method.txn.output, {
        succeeded: false,
        header: { revision: 42n },
        responses: [{ response: { case: "responseRange", value: { kvs } } }],
      }),
    );
  assert.deepEqual(refused([kv("1-1", 30n)]), { type: "fail", error: CAS_MISMATCH, seenRevision: 30 });
  assert.deepEqual(refused([]), { type: "fail", error: CAS_MISMATCH, seenRevision: 0 });
  // A refusal without the else-branch Range still is one, with nothing seen.
  assert.deepEqual(txnOutcome(create(KV.method.txn.output, { succeeded: false })), {
    type: "fail",
    error: CAS_MISMATCH,
  });
});

// ---- a scripted KV server -------------------------------------------------------------------

type Reply = { resp: object } | { status: number; details: string } | "hang";
interface Seen {
  method: string;
  req: RangeRequest | PutRequest | TxnRequest;
}
const seen: Seen[] = [];
let script: (method: string) => Reply = () => ({ status: S.INTERNAL, details: "no script" });
const hung: grpc.ServerUnaryCall<unknown, unknown>[] = [];

function handler(method: string): grpc.handleUnaryCall<unknown, unknown> {
  return (call, cb) => {
    seen.push({ method, req: call.request as Seen["req"] });
    const r = script(method);
    if (r === "hang") {
      hung.push(call);
      return;
    }
    if ("resp" in r) cb(null, r.resp);
    else cb({ code: r.status, details: r.details });
  };
}

async function startKvServer(port: number): Promise<grpc.Server> {
  const server = new grpc.Server();
  server.addService(KV_SERVICE, { Range: handler("Range"), Put: handler("Put"), Txn: handler("Txn") });
  await new Promise<void>((res, rej) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e) =>
      e ? rej(e) : res(),
    ),
  );
  return server;
}

const servers: grpc.Server[] = [];
const h2servers: Http2Server[] = [];
const clients: GrpcKvClient[] = [];
after(() => {
  for (const c of clients) c.close();
  for (const s of servers) s.forceShutdown();
  for (const s of h2servers) s.close();
});

function client(timeoutMs: number): GrpcKvClient {
  const c = new GrpcKvClient(timeoutMs);
  clients.push(c);
  return c;
}

test("on the wire: linearizable Range, Put, and a CAS as Txn(mod_revision ==) Put else Range", async () => {
  const port = await freePort();
  servers.push(await startKvServer(port));
  const base = `http://127.0.0.1:${port}`;
  const c = client(5000);
  seen.length = 0;

  script = () => ({
    resp: create(KV.method.range.output, { kvs: [{ key: enc("k1"), value: enc("3-7"), modRevision: 12n }] }),
  });
  assert.deepEqual(await c.read(base, "k1"), { type: "ok", value: "3-7", revision: 12 });
  script = () => ({ resp: create(KV.method.range.output, {}) });
  assert.deepEqual(await c.read(base, "k2", true), { type: "ok", value: null });
  const [r1, r2] = seen.splice(0) as { method: string; req: RangeRequest }[];
  assert.equal(r1!.method, "Range");
  assert.equal(dec(r1!.req.key), "k1");
  assert.equal(r1!.req.rangeEnd.length, 0, "one key, not a range");
  assert.equal(r1!.req.serializable, false, "the workload's reads are linearizable");
  assert.equal(dec(r2!.req.key), "k2");
  assert.equal(r2!.req.serializable, true, "local reads are serializable");

  script = () => ({ resp: create(KV.method.put.output, { header: { revision: 13n } }) });
  assert.deepEqual(await c.write(base, "k1", "4-1"), { type: "ok", revision: 13 });
  const put = seen.splice(0)[0]!;
  assert.equal(put.method, "Put");
  assert.equal(dec((put.req as PutRequest).key), "k1");
  assert.equal(dec((put.req as PutRequest).value), "4-1");

  script = () => ({ resp: create(KV.method.txn.output, { succeeded: true, header: { revision: 14n } }) });
  assert.deepEqual(await c.write(base, "k1", "4-2", 13), { type: "ok", revision: 14 });
  script = () => ({
    resp: create(KV.method.txn.output, {
      succeeded: false,
      header: { revision: 15n },
      responses: [{ response: { case: "responseRange", value: { kvs: [] } } }],
    }),
  });
  assert.deepEqual(await c.write(base, "k3", "4-3", 0), {
    type: "fail",
    error: CAS_MISMATCH,
    seenRevision: 0,
  });
  const txns = seen.splice(0).map((s) => s.req as TxnRequest);
  assert.equal(txns.length, 2);
  for (const [t, key, value, expect] of [
    [txns[0]!, "k1", "4-2", 13n],
    [txns[1]!, "k3", "4-3", 0n],
  ] as const) {
    assert.equal(t.compare.length, 1);
    const cmp = t.compare[0]!;
    assert.equal(dec(cmp.key), key);
    assert.equal(cmp.target, Compare_CompareTarget.MOD);
    assert.equal(cmp.result, Compare_CompareResult.EQUAL);
    assert.deepEqual(cmp.targetUnion, { case: "modRevision", value: expect });
    assert.equal(t.success.length, 1);
    const p = t.success[0]!.request;
    assert.equal(p.case, "requestPut");
    assert.equal(dec((p.value as PutRequest).key), key);
    assert.equal(dec((p.value as PutRequest).value), value);
    assert.equal(t.failure.length, 1);
    const f = t.failure[0]!.request;
    assert.equal(f.case, "requestRange");
    assert.equal(dec((f.value as RangeRequest).key), key);
    assert.equal((f.value as RangeRequest).serializable, false);
  }

  // Statuses from the server, through grpc-js: etcd's words decide.
  const statuses: [number, string, "fail" | "info"][] = [
    [S.UNAVAILABLE, "etcdserver: request timed out", "info"],
    [S.UNAVAILABLE, "etcdserver: leader changed", "info"],
    [S.UNKNOWN, "RETRY_MS is not defined", "info"],
    [S.INVALID_ARGUMENT, "etcdserver: duplicate key given in txn request", "fail"],
    [S.RESOURCE_EXHAUSTED, "etcdserver: too many requests", "fail"],
  ];
  for (const [status, details, type] of statuses) {
    script = () => ({ status, details });
    for (const out of [
      await c.write(base, "k1", "5-1"),
      await c.write(base, "k1", "5-2", 14),
      await c.read(base, "k1"),
    ]) {
      assert.equal(out.type, type, `${S[status]} ${details}`);
      assert.equal(out.error, `${S[status]} ${details}`);
    }
  }
  assert.deepEqual(
    seen.splice(0).map((s) => s.method),
    statuses.flatMap(() => ["Put", "Txn", "Range"]),
    "one request per operation (no retries)",
  );
});

test("transport: a refused connection is fail (nothing sent), and the channel reconnects when the member is back", async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // A deadline far beyond any wait on a loaded machine: the refusals below
  // are refusals, not deadlines.
  const c = client(60_000);
  for (const out of [
    await c.read(base, "k"),
    await c.write(base, "k", "1-1"),
    await c.write(base, "k", "1-2", 5),
  ])
    assert.deepEqual(out, { type: "fail", error: "ECONNREFUSED" });
  // The member comes back on its port: within grpc-js's reconnect backoff
  // (100 ms-1 s with CHANNEL_OPTIONS) requests reach it again.
  seen.length = 0;
  script = () => ({ resp: create(KV.method.put.output, { header: { revision: 2n } }) });
  servers.push(await startKvServer(port));
  const back = performance.now();
  let out = await c.write(base, "k", "1-3");
  while (out.type !== "ok" && performance.now() - back < 20_000) {
    assert.deepEqual(out, { type: "fail", error: "ECONNREFUSED" });
    await new Promise((r) => setTimeout(r, 50));
    out = await c.write(base, "k", "1-4");
  }
  assert.deepEqual(out, { type: "ok", revision: 2 });
  assert.equal(seen.length, 1, "the refused attempts never reached the server");
});

test("transport: no answer by the deadline, or a connection dropped after the request arrived, is info", async () => {
  const port = await freePort();
  servers.push(await startKvServer(port));
  const base = `http://127.0.0.1:${port}`;
  const c = client(2000);
  // Connected first, so that the deadlines below run out with the requests
  // at the server, not while connecting (the first call may itself run out
  // of its time on a loaded machine).
  script = () => ({ resp: create(KV.method.range.output, {}) });
  let warm = await c.read(base, "k");
  for (let i = 0; i < 20 && warm.type !== "ok"; i++) warm = await c.read(base, "k");
  assert.equal(warm.type, "ok", JSON.stringify(warm));
  seen.length = 0;
  script = () => "hang";
  const t0 = performance.now();
  const outs = await Promise.all([
    c.write(base, "k", "2-1"),
    c.write(base, "k", "2-2", 3),
    c.read(base, "k"),
  ]);
  for (const out of outs) {
    assert.equal(out.type, "info", JSON.stringify(out));
    assert.match(out.error!, /^DEADLINE_EXCEEDED /);
  }
  assert.ok(performance.now() - t0 >= 1990, "they waited for their deadline");
  // (All three normally; a starved event loop may see one only after its deadline.)
  assert.ok(seen.length >= 1, "the server had the requests it never answered");

  // A member killed mid-request: an HTTP/2 server that takes the request and
  // then destroys the connection.
  const dropPort = await freePort();
  let arrived = 0;
  const h2 = createH2Server();
  h2.on("stream", (stream) => {
    arrived++;
    stream.session?.destroy();
  });
  h2servers.push(h2);
  await new Promise<void>((r) => h2.listen(dropPort, "127.0.0.1", r));
  const d = client(60_000);
  const dropBase = `http://127.0.0.1:${dropPort}`;
  for (const out of [await d.write(dropBase, "k", "3-1"), await d.write(dropBase, "k", "3-2", 1)]) {
    assert.equal(out.type, "info", JSON.stringify(out));
    assert.doesNotMatch(out.error!, /^DEADLINE_EXCEEDED/, "answered at the drop, not at the deadline");
  }
  assert.equal(arrived, 2);
});

test("newKvClient picks the API; the grpc client wants a plaintext http:// client URL", async () => {
  const g = await newKvClient("grpc", 1000);
  assert.ok(g instanceof GrpcKvClient);
  const r = await newKvClient("rest", 1000);
  assert.ok(!(r instanceof GrpcKvClient));
  r.close();
  await assert.rejects(g.read("https://127.0.0.1:29999", "k"), { code: "ERR_JEPSEN_CONFIG" });
  g.close();
});
