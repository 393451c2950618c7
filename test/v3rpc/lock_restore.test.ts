// A Lock that waits on a member whose state machine is then replaced by a
// snapshot (a follower that fell behind and got the leader's image): the
// watch it waited on no longer has the history it started from (the
// snapshot compacted past it), so it cannot see the holder's key go. The
// waiter must read again and take the lock, not wait for an event that will
// never come (src/v3rpc/concurrency.ts, nextEvent's compacted case).
import assert from "node:assert/strict";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import {
  create,
  InternalRaftRequestSchema,
  Lease,
  LeaseGrantRequestSchema,
  Lock,
  LockRequestSchema,
  toBinary,
} from "../../src/etcdpb/index.ts";
import { EtcdStateMachine } from "../../src/mvcc/index.ts";
import { etcdServiceDefinition } from "../../src/v3rpc/index.ts";
import { startTs } from "./support.ts";

const b = (s: string) => new TextEncoder().encode(s);

// biome-ignore lint/suspicious/noExplicitAny: generic grpc-js clients
function call(client: any, method: string, req: unknown): Promise<any> {
  return new Promise((resolve, reject) =>
    client[method](req, (err: grpc.ServiceError | null, r: unknown) => (err ? reject(err) : resolve(r))),
  );
}

test("a Lock waiting when its member restores a snapshot past its watch reads again and gets the lock", {
  timeout: 20_000,
}, async () => {
  const ts = await startTs("http://127.0.0.1:2380");
  const creds = grpc.credentials.createInsecure();
  const lease = new (grpc.makeGenericClientConstructor(etcdServiceDefinition(Lease), "Lease"))(ts.ep, creds);
  const lock = new (grpc.makeGenericClientConstructor(etcdServiceDefinition(Lock), "Lock"))(ts.ep, creds);
  try {
    const grant = async () =>
      (await call(lease, "LeaseGrant", create(LeaseGrantRequestSchema, { TTL: 60n }))).ID;
    const [A, B] = [await grant(), await grant()];
    const held = await call(lock, "Lock", create(LockRequestSchema, { name: b("r"), lease: A }));
    let got: { key: Uint8Array } | undefined;
    const waiting = call(lock, "Lock", create(LockRequestSchema, { name: b("r"), lease: B })).then((r) => {
      got = r;
      return r;
    });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(got, undefined, "B waits while A holds the lock");

    // The image a leader would send: A's key deleted, one more write, history
    // compacted up to that write (beyond the revision B's watch started at).
    const sm = ts.backend.sm;
    const x = new EtcdStateMachine();
    const img: Uint8Array[] = [];
    for await (const c of sm.snapshot()) img.push(c);
    await x.restore(img);
    let index = x.appliedIndex;
    const apply = (req: Parameters<typeof create<typeof InternalRaftRequestSchema>>[1]) => {
      const r = x.apply([
        { index: ++index, data: toBinary(InternalRaftRequestSchema, create(InternalRaftRequestSchema, req)) },
      ])[0]!;
      assert.equal(r.error, undefined);
    };
    apply({ deleteRange: { key: held.key } });
    apply({ put: { key: b("other"), value: b("v") } });
    apply({ compaction: { revision: BigInt(x.rev) } });
    const next: Uint8Array[] = [];
    for await (const c of x.snapshot()) next.push(c);
    await sm.restore(next, { index, term: 2 });

    const r = await waiting;
    assert.equal(new TextDecoder().decode(r.key), `r/${B.toString(16)}`, "B holds the lock");
  } finally {
    lease.close();
    lock.close();
    await ts.close();
  }
});
