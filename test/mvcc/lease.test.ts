// Leases (spec §3.9) on an injected clock: grant, min TTL, revoke deletes
// attached keys in one revision, expiry decided by the primary only,
// promote/demote, keep-alive renewal, TimeToLive, listing, ID generator.
import assert from "node:assert/strict";
import { test } from "node:test";
import { IdGenerator, MvccErrorCode } from "../../src/mvcc/index.ts";
import { b, Harness } from "./support.ts";

test("grant: given ID, min TTL, too-large TTL, duplicate and zero IDs", () => {
  const h = new Harness({ minLeaseTtl: 2 });
  const g = h.ok({ leaseGrant: { ID: 10n, TTL: 1n } });
  assert.deepEqual([g.ID, g.TTL, g.header.revision], [10n, 2n, 1n]);
  assert.equal(h.ok({ leaseGrant: { ID: 11n, TTL: -5n } }).TTL, 2n);
  assert.equal(h.ok({ leaseGrant: { ID: 12n, TTL: 30n } }).TTL, 30n);
  assert.equal(
    h.cmd({ leaseGrant: { ID: 10n, TTL: 5n } }).error?.etcdMessage,
    "etcdserver: lease already exists",
  );
  assert.equal(
    h.cmd({ leaseGrant: { ID: 13n, TTL: 9_000_000_001n } }).error?.etcdMessage,
    "etcdserver: too large lease TTL",
  );
  assert.equal(h.cmd({ leaseGrant: { ID: 0n, TTL: 5n } }).error?.code, MvccErrorCode.LeaseNotFound);
  assert.deepEqual(
    h.sm.lessor.list().map((l) => l.id),
    [10n, 11n, 12n],
  );
});

test("revoke: attached keys deleted in one revision (sorted), lease gone; unknown lease is NOT_FOUND", () => {
  const h = new Harness();
  h.ok({ leaseGrant: { ID: 5n, TTL: 60n } });
  h.put("z", "1", { lease: 5n }); // 2
  h.put("a", "1", { lease: 5n }); // 3
  h.put("m", "1"); // 4
  const r = h.ok({ leaseRevoke: { ID: 5n } });
  assert.equal(r.header.revision, 5n);
  const changes: string[] = [];
  h.sm.store.changesBetween(5, 5, (_r, cs) => {
    for (const c of cs) changes.push(`${c.key}:${c.sub}:${c.tombstone}`);
  });
  assert.deepEqual(changes, ["a:0:true", "z:1:true"]);
  assert.equal(h.sm.lessor.lookup(5n), undefined);
  assert.equal(h.get("m").count, 1n);
  assert.equal(
    h.cmd({ leaseRevoke: { ID: 5n } }).error?.etcdMessage,
    "etcdserver: requested lease not found",
  );
  // a lease without keys: no revision
  h.ok({ leaseGrant: { ID: 6n, TTL: 60n } });
  assert.equal(h.ok({ leaseRevoke: { ID: 6n } }).header.revision, 5n);
});

test("expiry: only the primary keeps clocks; expired() reports past-deadline leases once per 3 s", () => {
  const h = new Harness();
  h.ok({ leaseGrant: { ID: 1n, TTL: 10n } });
  h.clock = 1_000_000;
  assert.deepEqual(h.sm.lessor.expired(), [], "a follower never expires anything");
  h.sm.lessor.promote(1000); // deadline = now + 1 s + 10 s
  h.ok({ leaseGrant: { ID: 2n, TTL: 5n } }); // primary grant: deadline = now + 5 s
  h.clock += 4999;
  assert.deepEqual(h.sm.lessor.expired(), []);
  h.clock += 1;
  assert.deepEqual(h.sm.lessor.expired(), [2n]);
  assert.deepEqual(h.sm.lessor.expired(), [], "reported once, its revoke is in flight");
  h.clock += 3000;
  assert.deepEqual(h.sm.lessor.expired(), [2n], "reported again if still not revoked");
  h.clock = 1_000_000 + 11_000;
  assert.deepEqual(h.sm.lessor.expired(), [2n, 1n], "soonest deadline first; 2 is due for a retry");
  h.sm.lessor.demote();
  h.clock += 1_000_000;
  assert.deepEqual(h.sm.lessor.expired(), []);
});

test("keep-alive renews on the primary only; expired or unknown leases are not found; TimeToLive", () => {
  const h = new Harness();
  h.ok({ leaseGrant: { ID: 1n, TTL: 10n } });
  assert.throws(
    () => h.sm.lessor.renew(1n),
    (e: { code: string }) => e.code === MvccErrorCode.NotPrimary,
  );
  h.sm.lessor.promote(0);
  h.put("k1", "v", { lease: 1n });
  h.clock += 7500;
  assert.deepEqual(h.sm.lessor.remaining(1n), { ttl: 2, grantedTtl: 10, keys: ["k1"] });
  assert.equal(h.sm.lessor.renew(1n), 10);
  h.clock += 9000;
  assert.equal(h.sm.lessor.remaining(1n)!.ttl, 1);
  assert.deepEqual(h.sm.lessor.expired(), []);
  h.clock += 1000;
  assert.deepEqual(h.sm.lessor.expired(), [1n]);
  assert.throws(
    () => h.sm.lessor.renew(1n),
    (e: { code: string }) => e.code === MvccErrorCode.LeaseNotFound,
  );
  assert.throws(
    () => h.sm.lessor.renew(99n),
    (e: { code: string }) => e.code === MvccErrorCode.LeaseNotFound,
  );
  assert.equal(h.sm.lessor.remaining(99n), undefined);
  // the revoke the caller proposes deletes the key
  h.ok({ leaseRevoke: { ID: 1n } });
  assert.equal(h.get("k1").count, 0n);
});

test("promote renews every lease (leader change never expires a kept-alive lease); checkpoints shorten it", () => {
  const h = new Harness();
  h.ok({ leaseGrant: { ID: 1n, TTL: 10n } });
  h.ok({ leaseGrant: { ID: 2n, TTL: 10n } });
  h.clock = 50_000;
  h.sm.lessor.promote(1000);
  h.clock += 10_999;
  assert.deepEqual(h.sm.lessor.expired(), []);
  h.sm.lessor.demote();
  h.ok({ leaseCheckpoint: { checkpoints: [{ ID: 2n, remainingTTL: 3n }] } });
  h.sm.lessor.promote(0);
  h.clock += 3000;
  assert.deepEqual(h.sm.lessor.expired(), [2n]);
});

test("lease keys follow puts without a lease (detach) and deletes; restored from history", () => {
  const h = new Harness();
  h.ok({ leaseGrant: { ID: 1n, TTL: 60n } });
  h.ok({ leaseGrant: { ID: 2n, TTL: 60n } });
  h.put("a", "1", { lease: 1n });
  h.put("a", "2", { lease: 2n });
  assert.equal(h.sm.lessor.lookup(1n)!.keys.size, 0);
  assert.deepEqual([...h.sm.lessor.lookup(2n)!.keys], ["a"]);
  h.put("a", "3");
  assert.equal(h.sm.lessor.lookup(2n)!.keys.size, 0);
  h.put("b", "1", { lease: 1n });
  h.del("b");
  assert.equal(h.sm.lessor.lookup(1n)!.keys.size, 0);
});

test("lease ID generator: member prefix, time, counter; positive 63-bit lease IDs", () => {
  const g = new IdGenerator(0x8e9e05c52164694dn, 0x123456789a);
  const a = g.nextLeaseId();
  const c = g.nextLeaseId();
  assert.equal(a >> 48n, 0x694dn);
  assert.equal(c - a, 1n);
  assert.ok(a > 0n && a < 1n << 63n);
  const g2 = new IdGenerator(0xffffn, 0);
  assert.ok(g2.nextLeaseId() < 1n << 63n);
});

test("put with a lease checks the lease at apply time", () => {
  const h = new Harness();
  assert.equal(h.cmd({ put: { key: b("a"), lease: 3n } }).error?.code, MvccErrorCode.LeaseNotFound);
});

test("promote spreads a pile-up: at most 750 of 3000 same-TTL leases expire in the first second", () => {
  const h = new Harness();
  for (let i = 1; i <= 3000; i++) h.ok({ leaseGrant: { ID: BigInt(i), TTL: 10n } });
  h.clock = 1000;
  h.sm.lessor.promote(0);
  h.clock += 10_000;
  const first = h.sm.lessor.expired(5000);
  assert.equal(first.length, 750);
  h.clock += 1000;
  assert.equal(h.sm.lessor.expired(5000).length, 0, "the 751st is pushed just past the next second");
  h.clock += 1000;
  const second = h.sm.lessor.expired(5000);
  assert.equal(second.length, 750);
  h.clock += 10_000;
  const all = new Set([...first, ...second, ...h.sm.lessor.expired(5000)]);
  assert.equal(all.size, 3000, "all expire eventually (the unrevoked ones are reported again)");
});
