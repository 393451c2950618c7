// The gRPC protocol details etcd's clients rely on, checked with a plain
// grpc-js client: watch IDs per stream from 0, failed creates, cancel of an
// unknown ID (no reply), stream-wide progress (-1), compaction cancels
// (header revision 0), fragmentation, half-close semantics of watch and
// keep-alive, error codes and messages, the message size limit, headers.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import {
  create,
  KV,
  Lease,
  LeaseKeepAliveRequestSchema,
  type LeaseKeepAliveResponse,
  Maintenance,
  type MessageInitShape,
  Watch,
  WatchRequestSchema,
  type WatchResponse,
} from "../../src/etcdpb/index.ts";
import { etcdServiceDefinition } from "../../src/v3rpc/index.ts";
import { startTs, type TsEndpoint, waitFor } from "./support.ts";

let ts: TsEndpoint;
// biome-ignore lint/suspicious/noExplicitAny: generic grpc-js clients
let kv: any;
// biome-ignore lint/suspicious/noExplicitAny: generic grpc-js clients
let watchClient: any;
// biome-ignore lint/suspicious/noExplicitAny: generic grpc-js clients
let lease: any;
// biome-ignore lint/suspicious/noExplicitAny: generic grpc-js clients
let maint: any;

const b = (s: string) => new TextEncoder().encode(s);

before(async () => {
  ts = await startTs("http://127.0.0.1:2380");
  const creds = grpc.credentials.createInsecure();
  const opts = { "grpc.max_send_message_length": -1, "grpc.max_receive_message_length": -1 };
  kv = new (grpc.makeGenericClientConstructor(etcdServiceDefinition(KV), "KV"))(ts.ep, creds, opts);
  watchClient = new (grpc.makeGenericClientConstructor(etcdServiceDefinition(Watch), "Watch"))(
    ts.ep,
    creds,
    opts,
  );
  lease = new (grpc.makeGenericClientConstructor(etcdServiceDefinition(Lease), "Lease"))(ts.ep, creds, opts);
  maint = new (grpc.makeGenericClientConstructor(etcdServiceDefinition(Maintenance), "Maintenance"))(
    ts.ep,
    creds,
    opts,
  );
});
after(async () => {
  for (const c of [kv, watchClient, lease, maint]) c?.close();
  await ts?.close();
});

// biome-ignore lint/suspicious/noExplicitAny: generic grpc-js clients
function call<T>(client: any, method: string, req: unknown): Promise<T> {
  return new Promise((res, rej) => client[method](req, (err: unknown, r: T) => (err ? rej(err) : res(r))));
}

function put(k: string, v: string) {
  return call<{ header: { revision: bigint } }>(
    kv,
    "Put",
    create(KV.method.put.input, { key: b(k), value: b(v) }),
  );
}

class WatchStream {
  readonly got: WatchResponse[] = [];
  readonly call: grpc.ClientDuplexStream<unknown, WatchResponse>;
  ended = false;
  status: grpc.StatusObject | undefined;
  constructor() {
    this.call = watchClient.Watch();
    this.call.on("data", (r: WatchResponse) => this.got.push(r));
    this.call.on("error", () => {});
    this.call.on("status", (s: grpc.StatusObject) => {
      this.status = s;
      this.ended = true;
    });
  }
  send(r: MessageInitShape<typeof WatchRequestSchema>): void {
    this.call.write(create(WatchRequestSchema, r));
  }
  async next(n: number): Promise<WatchResponse[]> {
    await waitFor(
      `${n} watch responses (got ${this.got.length})`,
      async () => this.got.length >= n,
      5000,
      10,
    );
    return this.got.slice(0, n);
  }
}

test("watch IDs start at 0 per stream, client IDs are honoured, duplicates and empty ranges fail as etcd's", async () => {
  const w = new WatchStream();
  w.send({ requestUnion: { case: "createRequest", value: { key: b("a") } } });
  w.send({ requestUnion: { case: "createRequest", value: { key: b("b"), watchId: 7n } } });
  w.send({ requestUnion: { case: "createRequest", value: { key: b("c") } } });
  w.send({ requestUnion: { case: "createRequest", value: { key: b("d"), watchId: 7n } } });
  w.send({ requestUnion: { case: "createRequest", value: { key: b("z"), rangeEnd: b("a") } } });
  w.send({ requestUnion: { case: "createRequest", value: { key: b("z"), startRevision: -1n } } });
  const rs = await w.next(6);
  assert.deepEqual(
    rs.map((r) => [r.watchId, r.created, r.canceled, r.cancelReason]),
    [
      [0n, true, false, ""],
      [7n, true, false, ""],
      [1n, true, false, ""],
      [-1n, true, true, "mvcc: duplicate watch ID provided on the WatchStream"],
      [-1n, true, true, "mvcc: watcher range is empty"],
      [-1n, true, true, "etcdserver: mvcc: required revision has been compacted"],
    ],
  );
  for (const r of rs) assert.ok(r.header && r.header.clusterId !== 0n && r.header.memberId !== 0n);
  // cancel of an unknown ID: no reply; of a known one: canceled reply; progress: watch_id -1
  w.send({ requestUnion: { case: "cancelRequest", value: { watchId: 99n } } });
  w.send({ requestUnion: { case: "cancelRequest", value: { watchId: 7n } } });
  w.send({ requestUnion: { case: "progressRequest", value: {} } });
  const more = await w.next(8);
  assert.deepEqual([more[6]!.watchId, more[6]!.canceled], [7n, true]);
  assert.deepEqual(
    [more[7]!.watchId, more[7]!.events.length, more[7]!.header!.revision > 0n],
    [-1n, 0, true],
  );
  // half-close does not end a watch stream: events still arrive
  w.call.end();
  const r = await put("a", "after-half-close");
  const ev = await w.next(9);
  assert.equal(ev[8]!.watchId, 0n);
  assert.equal(ev[8]!.header!.revision, r.header.revision);
  assert.equal(w.ended, false);
  w.call.cancel();
});

test("compacted start revision: created, then canceled with compact_revision and header revision 0", async () => {
  for (let i = 0; i < 3; i++) await put("cmp", String(i));
  const cur = Number((await put("cmp", "x")).header.revision);
  await call(kv, "Compact", create(KV.method.compact.input, { revision: BigInt(cur - 1) }));
  const w = new WatchStream();
  w.send({ requestUnion: { case: "createRequest", value: { key: b("cmp"), startRevision: 2n } } });
  const [created, canceled] = await w.next(2);
  assert.equal(created!.created, true);
  assert.deepEqual(
    [canceled!.canceled, canceled!.compactRevision, canceled!.cancelReason, canceled!.header!.revision],
    [true, BigInt(cur - 1), "", 0n],
  );
  assert.notEqual(canceled!.header!.memberId, 0n);
  w.call.cancel();
});

test("fragment: a replay above the limit is split into fragments; without the flag it is one message", async () => {
  const big = "v".repeat(700 * 1024);
  const first = Number((await put("frag", big)).header.revision);
  await put("frag", big);
  await put("frag", big);
  await put("frag", big);
  const w = new WatchStream();
  w.send({
    requestUnion: {
      case: "createRequest",
      value: { key: b("frag"), startRevision: BigInt(first), fragment: true },
    },
  });
  await waitFor("all 4 events", async () => w.got.reduce((n, r) => n + r.events.length, 0) >= 4, 5000, 10);
  const parts = w.got.slice(1);
  assert.ok(parts.length >= 2, `fragments: ${parts.length}`);
  assert.deepEqual(
    parts.map((p) => p.fragment),
    [...parts.slice(1).map(() => true), false],
  );
  const w2 = new WatchStream();
  w2.send({
    requestUnion: { case: "createRequest", value: { key: b("frag"), startRevision: BigInt(first) } },
  });
  await w2.next(2);
  assert.equal(w2.got[1]!.events.length, 4);
  w.call.cancel();
  w2.call.cancel();
});

test("keep-alive stream: replies in order, unknown lease is TTL 0, half-close ends the stream with OK", async () => {
  const g = await call<{ ID: bigint }>(
    lease,
    "LeaseGrant",
    create(Lease.method.leaseGrant.input, { TTL: 30n }),
  );
  assert.ok(g.ID > 0n);
  const s: grpc.ClientDuplexStream<unknown, LeaseKeepAliveResponse> = lease.LeaseKeepAlive();
  const got: LeaseKeepAliveResponse[] = [];
  s.on("data", (r: LeaseKeepAliveResponse) => got.push(r));
  const status = new Promise<grpc.StatusObject>((r) => s.on("status", r));
  s.on("error", () => {});
  s.write(create(LeaseKeepAliveRequestSchema, { ID: g.ID }));
  s.write(create(LeaseKeepAliveRequestSchema, { ID: 12345n }));
  s.end();
  const st = await status;
  assert.equal(st.code, grpc.status.OK);
  assert.deepEqual(
    got.map((r) => [r.ID, r.TTL]),
    [
      [g.ID, 30n],
      [12345n, 0n],
    ],
  );
});

test("errors: etcd's codes and messages; a message above the limit is RESOURCE_EXHAUSTED", async () => {
  const fail = async (p: Promise<unknown>, code: number, details: string) => {
    await assert.rejects(p, (e: grpc.ServiceError) => {
      assert.equal(e.code, code);
      assert.equal(e.details, details);
      return true;
    });
  };
  await fail(put("", "x"), grpc.status.INVALID_ARGUMENT, "etcdserver: key is not provided");
  await fail(
    call(kv, "Range", create(KV.method.range.input, { key: b("a"), revision: 1n << 40n })),
    grpc.status.OUT_OF_RANGE,
    "etcdserver: mvcc: required revision is a future revision",
  );
  await fail(
    call(lease, "LeaseRevoke", create(Lease.method.leaseRevoke.input, { ID: 424242n })),
    grpc.status.NOT_FOUND,
    "etcdserver: requested lease not found",
  );
  await assert.rejects(
    put("big", "x".repeat(3 * 1024 * 1024)),
    (e: grpc.ServiceError) => e.code === grpc.status.RESOURCE_EXHAUSTED,
  );
  // 1.5 MiB + a little: passes gRPC (2 MiB) but not etcd's max-request-bytes
  await fail(
    put("big", "x".repeat(1.6 * 1024 * 1024)),
    grpc.status.INVALID_ARGUMENT,
    "etcdserver: request is too large",
  );
});

test("snapshot stream: chunks with remaining_bytes counting down, then the SHA-256", async () => {
  const s = maint.Snapshot(create(Maintenance.method.snapshot.input, {}));
  const msgs: { remainingBytes: bigint; blob: Uint8Array }[] = [];
  await new Promise<void>((res, rej) => {
    s.on("data", (m: { remainingBytes: bigint; blob: Uint8Array }) => msgs.push(m));
    s.on("end", () => res());
    s.on("error", rej);
  });
  const last = msgs.at(-1)!;
  assert.equal(last.blob.length, 32);
  assert.equal(last.remainingBytes, 0n);
  let total = 0;
  for (const m of msgs.slice(0, -1)) {
    assert.ok(m.blob.length <= 32 * 1024);
    total += m.blob.length;
  }
  assert.equal(total % 512, 0);
  assert.equal(msgs[0]!.remainingBytes, BigInt(total - msgs[0]!.blob.length));
  const { createHash } = await import("node:crypto");
  const h = createHash("sha256");
  for (const m of msgs.slice(0, -1)) h.update(m.blob);
  assert.equal(Buffer.from(last.blob).toString("hex"), h.digest("hex"));
});

test("hasleader metadata without a leader, and learners, are refused as etcd's interceptors do", async () => {
  const { SingleMemberBackend, startV3Server } = await import("../../src/v3rpc/index.ts");
  const { freePort } = await import("./support.ts");
  class Leaderless extends SingleMemberBackend {
    learner = false;
    override hasLeader(): boolean {
      return false;
    }
    isLearner(): boolean {
      return this.learner;
    }
  }
  const backend = new Leaderless();
  const server = await startV3Server({ backend, port: await freePort() });
  const ep = `127.0.0.1:${server.port}`;
  const creds = grpc.credentials.createInsecure();
  const c = new (grpc.makeGenericClientConstructor(etcdServiceDefinition(KV), "KV"))(ep, creds);
  const wc = new (grpc.makeGenericClientConstructor(etcdServiceDefinition(Watch), "Watch"))(ep, creds);
  const md = new grpc.Metadata();
  md.set("hasleader", "true");
  const putReq = create(KV.method.put.input, { key: b("k"), value: b("v") });
  const rangeReq = (serializable: boolean) => create(KV.method.range.input, { key: b("k"), serializable });
  const unaryErr = (method: string, req: unknown, meta = new grpc.Metadata()) =>
    new Promise<grpc.ServiceError | null>((res) =>
      c[method](req, meta, (err: grpc.ServiceError | null) => res(err)),
    );
  try {
    const e1 = await unaryErr("Put", putReq, md);
    assert.deepEqual([e1?.code, e1?.details], [grpc.status.UNAVAILABLE, "etcdserver: no leader"]);
    assert.equal(await unaryErr("Put", putReq), null, "without hasleader the request is served");
    const ws = wc.Watch(md);
    const st = await new Promise<grpc.StatusObject>((res) => {
      ws.on("status", res);
      ws.on("error", () => {});
    });
    assert.deepEqual([st.code, st.details], [grpc.status.UNAVAILABLE, "etcdserver: no leader"]);
    backend.learner = true;
    const e2 = await unaryErr("Range", rangeReq(false));
    assert.deepEqual(
      [e2?.code, e2?.details],
      [grpc.status.UNAVAILABLE, "etcdserver: rpc not supported for learner"],
    );
    assert.equal(await unaryErr("Range", rangeReq(true)), null);
  } finally {
    c.close();
    wc.close();
    await server.close();
    backend.close();
  }
});

test("a dedicated gRPC port (grpc-js's own listener) serves the same services", async () => {
  const { SingleMemberBackend, startV3Server } = await import("../../src/v3rpc/index.ts");
  const { ctl, freePort } = await import("./support.ts");
  const backend = new SingleMemberBackend();
  const server = await startV3Server({ backend, port: await freePort(), grpcPort: await freePort() });
  try {
    assert.ok(server.grpcPort !== undefined && server.grpcPort !== server.port);
    assert.equal((await ctl(`127.0.0.1:${server.grpcPort}`, ["put", "dp", "1"])).out, "OK\n");
    assert.equal((await ctl(`127.0.0.1:${server.port}`, ["get", "dp", "--print-value-only"])).out, "1\n");
  } finally {
    await server.close();
    backend.close();
  }
});
