// tsraft-kv's replicated commands: the InternalRaftRequest bytes every
// member applies from its log (a peer's bytes, once committed). Any bytes
// must give a result or a typed MvccError in that result -- never a throw,
// which would stop the member -- and every member must reach the same state,
// so applying the same bytes twice on two fresh stores must agree.
import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { create, PutRequestSchema, toBinary } from "../../src/etcdpb/index.ts";
import { EtcdStateMachine, MvccError } from "../../src/mvcc/index.ts";
import { envelope, Field } from "../../src/v3rpc/index.ts";
import { byteInputs, checkTime, FuzzFailure, type FuzzTarget, hex } from "../target.ts";

const validPut = fc
  .record({
    id: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    key: fc.uint8Array({ minLength: 1, maxLength: 8 }),
    value: fc.uint8Array({ maxLength: 16 }),
  })
  .map((r) =>
    envelope(
      r.id,
      Field.put,
      toBinary(PutRequestSchema, create(PutRequestSchema, { key: r.key, value: r.value })),
    ),
  );

function applyOn(b: Uint8Array) {
  const sm = new EtcdStateMachine({ now: () => 0 });
  const seed = envelope(
    1n,
    Field.put,
    toBinary(
      PutRequestSchema,
      create(PutRequestSchema, { key: new Uint8Array([1]), value: new Uint8Array([2]) }),
    ),
  );
  sm.apply([{ index: 1, data: seed }]);
  const [r] = sm.apply([{ index: 2, data: b }]);
  return { sm, r: r! };
}

const target: FuzzTarget<Uint8Array> = {
  name: "mvcc-command",
  description: "tsraft-kv EtcdStateMachine.apply: an InternalRaftRequest from the log",
  input: byteInputs(validPut),
  run(b) {
    const t0 = performance.now();
    const a = applyOn(b);
    if (a.r.error !== undefined && !(a.r.error instanceof MvccError)) {
      throw new FuzzFailure(`untyped error in the result: ${String(a.r.error)}`);
    }
    const again = applyOn(b);
    if (a.sm.rev !== again.sm.rev || !isDeepStrictEqual(a.r.error?.code, again.r.error?.code)) {
      throw new FuzzFailure("the same command applied twice on fresh stores gave different outcomes");
    }
    checkTime(t0);
  },
  show: (b) => hex(b),
};
export default target;
