// decodePutCommand (the apply fast path for put commands) against protobuf-es's
// fromBinary: the same request ID and PutRequest fields whenever it answers,
// and no answer for anything it does not fully understand.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  create,
  fromBinary,
  InternalRaftRequestSchema,
  type PutRequest,
  PutRequestSchema,
  RequestHeaderSchema,
  toBinary,
} from "../../src/etcdpb/index.ts";
import { decodePutCommand, decodePutRequest } from "../../src/mvcc/index.ts";
import { envelope, Field } from "../../src/v3rpc/index.ts";

const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const i64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });

/** The fields the applier reads, comparable with deepEqual. */
function fields(p: PutRequest) {
  return [
    Buffer.from(p.key).toString("hex"),
    Buffer.from(p.value).toString("hex"),
    p.lease,
    p.prevKv,
    p.ignoreValue,
    p.ignoreLease,
  ];
}

function expected(bytes: Uint8Array) {
  const req = fromBinary(InternalRaftRequestSchema, bytes);
  const id = req.header !== undefined && req.header.ID !== 0n ? req.header.ID : req.ID;
  return { id, put: fields(req.put!) };
}

function got(bytes: Uint8Array) {
  const c = decodePutCommand(bytes);
  return c === undefined ? undefined : { id: c.id, put: fields(c.put) };
}

test("decodePutCommand reads what the v3 API proposes for every put (the fast path is taken)", () => {
  fc.assert(
    fc.property(
      u64,
      fc.uint8Array({ minLength: 1, maxLength: 40 }),
      fc.uint8Array({ maxLength: 300 }),
      i64,
      fc.boolean(),
      fc.boolean(),
      fc.boolean(),
      (id, key, value, lease, prevKv, ignoreValue, ignoreLease) => {
        const put = create(PutRequestSchema, { key, value, lease, prevKv, ignoreValue, ignoreLease });
        const cmd = envelope(id, Field.put, toBinary(PutRequestSchema, put));
        const g = got(cmd);
        assert.notEqual(g, undefined, "the fast path must handle the API's own put commands");
        assert.deepEqual(g, expected(cmd));
        assert.equal(decodePutCommand(cmd)!.put.$typeName, "etcdserverpb.PutRequest");
        // The KV.Put request itself (gRPC's request decoder).
        const body = toBinary(PutRequestSchema, put);
        assert.deepEqual(fields(decodePutRequest(body)!), fields(put));
        assert.equal(decodePutRequest(Buffer.concat([body, body])), undefined, "repeated fields: declined");
      },
    ),
    { seed: 15, numRuns: 500 },
  );
});

test("decodePutCommand agrees with fromBinary or declines: headers, the old ID field, unknown and repeated fields, other kinds", () => {
  const header = fc.option(
    fc.record({ ID: u64, username: fc.constantFrom("", "root"), authRevision: fc.constantFrom(0n, 3n) }),
    { nil: undefined },
  );
  fc.assert(
    fc.property(
      header,
      u64,
      fc.option(
        fc.record({
          key: fc.uint8Array({ maxLength: 8 }),
          value: fc.uint8Array({ maxLength: 8 }),
          lease: i64,
          prevKv: fc.boolean(),
          ignoreValue: fc.boolean(),
          ignoreLease: fc.boolean(),
        }),
        { nil: undefined },
      ),
      fc.boolean(),
      fc.uint8Array({ maxLength: 6 }),
      (h, id, put, withRange, tail) => {
        const req = create(InternalRaftRequestSchema, {
          ID: id,
          header: h === undefined ? undefined : create(RequestHeaderSchema, h),
          put: put === undefined ? undefined : create(PutRequestSchema, put),
          range: withRange ? { key: new Uint8Array([1]) } : undefined,
        });
        const base = toBinary(InternalRaftRequestSchema, req);
        // Sometimes extra bytes: an unknown field, a repeated field, or garbage.
        for (const bytes of [base, Buffer.concat([base, tail])]) {
          let want: ReturnType<typeof expected> | undefined;
          try {
            want =
              fromBinary(InternalRaftRequestSchema, bytes).put === undefined ? undefined : expected(bytes);
          } catch {
            want = undefined;
          }
          const g = got(bytes);
          if (g !== undefined) assert.deepEqual(g, want, "an answer must be fromBinary's");
          if (
            withRange ||
            put === undefined ||
            (h !== undefined && (h.username !== "" || h.authRevision !== 0n))
          ) {
            if (bytes === base) assert.equal(g, undefined, "must decline what it does not understand");
          }
        }
      },
    ),
    { seed: 16, numRuns: 1000 },
  );
});
