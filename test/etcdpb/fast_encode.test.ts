// The hand-written response encoders give exactly protobuf-es's bytes, and
// decode back to the same message.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  create,
  DeleteRangeResponseSchema,
  encodeDeleteRangeResponse,
  encodePutResponse,
  encodeRangeResponse,
  encodeWatchResponse,
  fromBinary,
  PutResponseSchema,
  RangeResponseSchema,
  toBinary,
  WatchResponseSchema,
} from "../../src/etcdpb/index.ts";

const int64 = fc.oneof(
  fc.constant(0n),
  fc.bigInt({ min: 1n, max: 300n }),
  fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
);
const uint64 = fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }));
const bytes = fc.oneof(fc.uint8Array({ maxLength: 4 }), fc.uint8Array({ minLength: 100, maxLength: 300 }));
const header = fc.option(
  fc.record({ clusterId: uint64, memberId: uint64, revision: int64, raftTerm: uint64 }),
  { nil: undefined },
);
const kv = fc.record({
  key: bytes,
  createRevision: int64,
  modRevision: int64,
  version: int64,
  value: bytes,
  lease: int64,
});

test("RangeResponse, PutResponse, DeleteRangeResponse, WatchResponse: same bytes as toBinary", () => {
  fc.assert(
    fc.property(header, fc.array(kv, { maxLength: 4 }), fc.boolean(), int64, (h, kvs, more, count) => {
      const m = create(RangeResponseSchema, { header: h, kvs, more, count });
      const fast = encodeRangeResponse(m);
      assert.deepEqual(fast, toBinary(RangeResponseSchema, m));
      assert.deepEqual(fromBinary(RangeResponseSchema, fast), m);
    }),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(header, fc.option(kv, { nil: undefined }), (h, prevKv) => {
      const m = create(PutResponseSchema, { header: h, prevKv });
      assert.deepEqual(encodePutResponse(m), toBinary(PutResponseSchema, m));
    }),
    { numRuns: 200 },
  );
  fc.assert(
    fc.property(header, int64, fc.array(kv, { maxLength: 3 }), (h, deleted, prevKvs) => {
      const m = create(DeleteRangeResponseSchema, { header: h, deleted, prevKvs });
      assert.deepEqual(encodeDeleteRangeResponse(m), toBinary(DeleteRangeResponseSchema, m));
    }),
    { numRuns: 200 },
  );
  const event = fc.record({
    type: fc.constantFrom(0, 1),
    kv: fc.option(kv, { nil: undefined }),
    prevKv: fc.option(kv, { nil: undefined }),
  });
  fc.assert(
    fc.property(
      fc.record({
        header,
        watchId: int64,
        created: fc.boolean(),
        canceled: fc.boolean(),
        compactRevision: int64,
        cancelReason: fc.oneof(fc.constant(""), fc.string(), fc.constant("mvcc: watcher range is émpty")),
        fragment: fc.boolean(),
        events: fc.array(event, { maxLength: 3 }),
      }),
      (r) => {
        const m = create(WatchResponseSchema, r);
        assert.deepEqual(encodeWatchResponse(m), toBinary(WatchResponseSchema, m));
      },
    ),
    { numRuns: 300 },
  );
});
