// Builders for hand-made histories and a generator of large histories that
// are linearizable by construction (each operation takes effect at a random
// instant inside its interval, on a plain register).
import { CAS_MISMATCH, type Op, Prng } from "../../../jepsen/index.ts";

let counter = 0;

type Base = { invoke: number; complete: number; key?: string; process?: number };

function op(b: Base, rest: Omit<Op, "index" | "process" | "key" | "invoke" | "complete">): Op {
  return {
    index: counter++,
    process: b.process ?? 0,
    key: b.key ?? "k",
    invoke: b.invoke,
    complete: b.complete,
    ...rest,
  };
}

/** An ok read of `value` (null: absent) over [invoke, complete]. */
export const read = (value: string | null, invoke: number, complete: number, extra: Partial<Op> = {}) =>
  ({ ...op({ invoke, complete }, { f: "read", value, type: "ok" }), ...extra }) as Op;

export const write = (
  value: string,
  invoke: number,
  complete: number,
  type: Op["type"] = "ok",
  extra: Partial<Op> = {},
) => ({ ...op({ invoke, complete }, { f: "write", value, type }), ...extra }) as Op;

export const cas = (
  from: string | null,
  to: string,
  invoke: number,
  complete: number,
  type: Op["type"] = "ok",
  extra: Partial<Op> = {},
) =>
  ({
    ...op({ invoke, complete }, { f: "cas", from, value: to, type }),
    ...(type === "fail" ? { error: CAS_MISMATCH } : {}),
    ...extra,
  }) as Op;

/**
 * A linearizable history of one register: `clients` clients each issue
 * operations back to back; each takes effect at a random instant inside its
 * interval; a fraction end as info (some applied, some never). Reads see the
 * register at their instant; CASes expect either the current value or a
 * stale one (and then fail with 412).
 */
export function generateLinearizable(opts: {
  seed: number;
  ops: number;
  clients: number;
  infoRate?: number;
  key?: string;
}): Op[] {
  const rng = new Prng(opts.seed, 1);
  const key = opts.key ?? "k";
  const infoRate = opts.infoRate ?? 0.02;
  // Plan: per client, consecutive intervals; then take effect in order of instants.
  type Plan = { op: Op; at: number; applies: boolean };
  const plans: Plan[] = [];
  const clock = new Array<number>(opts.clients).fill(0);
  let n = 0;
  let idx = 0;
  while (n < opts.ops) {
    const c = rng.int(opts.clients);
    const invoke = clock[c]! + rng.float() * 2;
    const complete = invoke + 0.5 + rng.float() * 6;
    clock[c] = complete;
    const at = invoke + rng.float() * (complete - invoke);
    const r = rng.float();
    const f = r < 0.45 ? "read" : r < 0.75 ? "write" : "cas";
    const o: Op = { index: idx++, process: c, key, f, value: null, type: "ok", invoke, complete };
    const info = rng.chance(infoRate);
    plans.push({ op: o, at, applies: !info || rng.chance(0.5) });
    if (info) o.type = "info";
    n++;
  }
  plans.sort((a, b) => a.at - b.at);
  // Revisions as the server numbers them: one per applied write (across keys
  // in a real store; one key here), the register's mod revision with it.
  let reg: string | null = null;
  let rev = 0;
  let modRev = 0;
  const written: (string | null)[] = [null];
  const apply = (o: Op) => {
    reg = o.value;
    modRev = ++rev;
    if (o.type === "ok") o.revision = modRev;
    written.push(reg);
  };
  for (const p of plans) {
    const o = p.op;
    if (o.f === "read") {
      o.value = o.type === "ok" ? reg : null;
      if (o.type === "ok" && reg !== null) o.revision = modRev;
    } else if (o.f === "write") {
      o.value = `v${o.index}`;
      if (p.applies) apply(o);
    } else {
      // Expect the current value most of the time, an older one otherwise.
      o.from = rng.chance(0.6) ? reg : written[rng.int(written.length)]!;
      o.value = `v${o.index}`;
      if (o.type === "info") {
        if (p.applies && reg === o.from) apply(o);
      } else if (reg === o.from) apply(o);
      else {
        o.type = "fail";
        o.error = CAS_MISMATCH;
        o.seenRevision = modRev;
      }
    }
  }
  return plans.map((p) => p.op).sort((a, b) => a.index - b.index);
}
