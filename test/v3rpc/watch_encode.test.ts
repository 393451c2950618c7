// The spliced event-delivery WatchResponses of src/v3rpc/watch_encode.ts are
// byte for byte protobuf-es's encoding of the same response (toBinary, not
// our own encoder), whatever the watch ID, header and events, and a cached
// part is never reused for other events or another header.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create, toBinary, WatchResponseSchema } from "../../src/etcdpb/index.ts";
import { KeyRev, toKeyValue, type WatchEvent } from "../../src/mvcc/index.ts";
import { WatchResponseSplicer, watchIdField } from "../../src/v3rpc/watch_encode.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const put = (key: string, rev: number, version: number, value: string, lease = 0n) =>
  new KeyRev(key, bytes(key), rev, 0, rev - version + 1, version, bytes(value), lease, false);

function expected(
  cluster: bigint,
  member: bigint,
  term: bigint,
  revision: number,
  watchId: bigint,
  evs: readonly WatchEvent[],
): Uint8Array {
  return toBinary(
    WatchResponseSchema,
    create(WatchResponseSchema, {
      header: { clusterId: cluster, memberId: member, revision: BigInt(revision), raftTerm: term },
      watchId,
      events: evs.map((e) => ({
        type: e.type,
        kv: toKeyValue(e.kv),
        prevKv: e.prev === undefined ? undefined : toKeyValue(e.prev),
      })),
    }),
  );
}

test("spliced WatchResponses equal protobuf-es's encoding for any watch ID, header and events", () => {
  const s = new WatchResponseSplicer();
  const a1 = put("a", 7, 1, "x".repeat(300), 0x7fffffffffffn);
  const a2 = put("a", 9, 2, "y");
  const del = KeyRev.tombstoneOf("b", bytes("b"), 9, 1);
  const cases: Array<[bigint, bigint, bigint, number, bigint, WatchEvent[]]> = [
    [0xcdef0123456789abn, 0xfedcba9876543210n, 2n, 7, 0n, [{ type: 0, kv: a1, prev: undefined }]],
    [1n, 2n, 3n, 7, 1n, [{ type: 0, kv: a1, prev: undefined }]], // same events, other header
    [1n, 2n, 3n, 7, 129n, [{ type: 0, kv: a1, prev: undefined }]], // two-byte varint ID
    [1n, 2n, 3n, 9, (1n << 62n) + 5n, [{ type: 0, kv: a2, prev: a1 }]], // prev_kv; a large ID
    [
      1n,
      2n,
      3n,
      9,
      4n,
      [
        { type: 0, kv: a2, prev: undefined },
        { type: 1, kv: del, prev: undefined },
      ],
    ],
    [1n, 2n, 3n, 9, 4n, [{ type: 0, kv: a2, prev: undefined }]], // a prefix of the cached events
    [1n, 2n, 3n, 9, 4n, [{ type: 0, kv: a2, prev: a1 }]], // same kv, now with prev
    [1n, 2n, 4n, 9, 0n, []],
  ];
  for (const [c, m, t, r, id, evs] of cases) {
    // Each case twice: once filling the caches, once from them.
    for (let i = 0; i < 2; i++) {
      assert.deepEqual(
        Buffer.from(s.encode(c, m, t, r, watchIdField(id), evs)),
        Buffer.from(expected(c, m, t, r, id, evs)),
        `watch ${id}, revision ${r}, ${evs.length} events, pass ${i}`,
      );
    }
  }
});
