// Helpers for the MVCC tests: a state machine on a manual clock and
// scheduler, and shorthands that build etcd request messages.
import {
  create,
  InternalRaftRequestSchema,
  type MessageInitShape,
  RangeRequestSchema,
  type TxnRequestSchema,
  toBinary,
} from "../../src/etcdpb/index.ts";
import { type ApplyResult, EtcdStateMachine } from "../../src/mvcc/index.ts";

export const enc = new TextEncoder();
export const dec = new TextDecoder();
export const b = (s: string) => enc.encode(s);
export const s = (u: Uint8Array) => dec.decode(u);

export class Harness {
  clock = 0;
  tasks: (() => void)[] = [];
  index = 0;
  readonly sm: EtcdStateMachine;
  constructor(opts: { minLeaseTtl?: number; maxTxnOps?: number } = {}) {
    this.sm = new EtcdStateMachine({
      now: () => this.clock,
      schedule: (fn) => this.tasks.push(fn),
      ...opts,
    });
  }
  /** Runs scheduled watcher work until none is left. */
  drain(): void {
    for (let i = 0; i < 10_000 && this.tasks.length > 0; i++) this.tasks.shift()!();
  }
  cmd(req: MessageInitShape<typeof InternalRaftRequestSchema>): ApplyResult {
    return this.sm.apply([
      {
        index: ++this.index,
        data: toBinary(InternalRaftRequestSchema, create(InternalRaftRequestSchema, req)),
      },
    ])[0]!;
  }
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary response shapes
  ok(req: MessageInitShape<typeof InternalRaftRequestSchema>): any {
    const r = this.cmd(req);
    if (r.error) throw r.error;
    return r.response;
  }
  put(k: string, v: string, extra: Record<string, unknown> = {}) {
    return this.ok({ put: { key: b(k), value: b(v), ...extra } });
  }
  del(k: string, end?: string, prevKv = false) {
    return this.ok({ deleteRange: { key: b(k), rangeEnd: end === undefined ? undefined : b(end), prevKv } });
  }
  get(k: string, extra: MessageInitShape<typeof RangeRequestSchema> = {}) {
    return this.sm.range(null, create(RangeRequestSchema, { key: b(k), ...extra }));
  }
  txn(t: MessageInitShape<typeof TxnRequestSchema>) {
    return this.ok({ txn: t });
  }
  keys(k: string, extra: MessageInitShape<typeof RangeRequestSchema> = {}): string[] {
    return this.get(k, extra).kvs.map((kv) => s(kv.key));
  }
}

export async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of it) out.push(c);
  return out;
}
