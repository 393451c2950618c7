// The clients: each loops over reads, writes and compare-and-swaps on a few
// keys, through a member of its choice, and records every operation.
//
// Every write writes a value no other write uses ("<client>-<n>"), so a
// value names its write. A CAS expects the revision the client last saw for
// the key (from its own read or write, which also told it the value), so the
// history can state it as "from value v" for the checker. A client with no
// knowledge of a key (at first, after a refused CAS or an unknown outcome)
// reads it instead.
//
// Each client has a home member it uses for most operations (so that a
// member that restarts gets requests at once) and picks any member for the
// rest; while the flap nemesis runs, most operations go to its target.

import type { KvApiClient } from "./client.ts";
import type { Cluster } from "./cluster.ts";
import type { Op, OpFn } from "./history.ts";
import { Prng } from "./rng.ts";

export interface WorkloadOptions {
  clients: number;
  keys: string[];
  /** Fractions of reads and writes; the rest are CASes. */
  reads: number;
  writes: number;
  /** Probability that an operation goes to the client's home member. */
  home: number;
  /** Upper bound of a random pause between a client's operations (ms); 0: none. */
  thinkMs: number;
  seed: number;
}

/** Records operations with times relative to the run's start. */
export class Recorder {
  readonly ops: Op[] = [];
  private readonly t0: number;
  constructor(t0 = performance.now()) {
    this.t0 = t0;
  }
  now(): number {
    return Math.round((performance.now() - this.t0) * 1000) / 1000;
  }
  add(op: Omit<Op, "index">): Op {
    const full = { index: this.ops.length, ...op } as Op;
    this.ops.push(full);
    return full;
  }
}

interface Known {
  value: string | null;
  revision: number;
}

export class Workload {
  private readonly cluster: Cluster;
  private readonly opts: WorkloadOptions;
  private readonly rec: Recorder;
  private readonly client: KvApiClient;
  private stopping = false;
  private loops: Promise<void>[] = [];
  /** Ok writes (write or CAS) per client loop, for the liveness check after the heal. */
  okWritesAt: number[] = [];
  /**
   * A member most operations go to for a while (the flap nemesis sets it so
   * that each short-lived incarnation of its target has writes in flight).
   */
  focus: number | null = null;

  /** `client` (REST or gRPC, see newKvClient) is closed by stop(). */
  constructor(cluster: Cluster, rec: Recorder, opts: WorkloadOptions, client: KvApiClient) {
    this.cluster = cluster;
    this.rec = rec;
    this.opts = opts;
    this.client = client;
  }

  start(): void {
    for (let c = 0; c < this.opts.clients; c++) this.loops.push(this.loop(c));
  }

  /** Stops issuing operations; resolves when every operation in flight has completed. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
    this.client.close();
  }

  private async loop(c: number): Promise<void> {
    const o = this.opts;
    const rng = new Prng(o.seed, 1000 + c);
    const members = this.cluster.members;
    const home = c % members.length;
    const known = new Map<string, Known>();
    let n = 0;
    while (!this.stopping) {
      const key = rng.pick(o.keys);
      const focus = this.focus;
      const m =
        focus !== null && rng.chance(0.9)
          ? members[focus]!
          : rng.chance(o.home)
            ? members[home]!
            : rng.pick(members);
      const r = rng.float();
      let f: OpFn = r < o.reads ? "read" : r < o.reads + o.writes ? "write" : "cas";
      const k = known.get(key);
      if (f === "cas" && k === undefined) f = "read";
      const value = `${c}-${++n}`;
      const invoke = this.rec.now();
      let refused = false;
      if (f === "read") {
        const out = await this.client.read(m.clientURL, key);
        const op = this.rec.add({
          process: c,
          key,
          f,
          value: out.type === "ok" ? out.value! : null,
          type: out.type,
          invoke,
          complete: this.rec.now(),
          node: m.name,
          ...(out.revision !== undefined ? { revision: out.revision } : {}),
          ...(out.error !== undefined ? { error: out.error } : {}),
        });
        if (op.type === "ok") known.set(key, { value: op.value, revision: out.revision ?? 0 });
        refused = out.error === "ECONNREFUSED";
      } else {
        const expect = f === "cas" ? k!.revision : undefined;
        const out = await this.client.write(m.clientURL, key, value, expect);
        this.rec.add({
          process: c,
          key,
          f,
          value,
          ...(f === "cas" ? { from: k!.value, expectRevision: expect } : {}),
          type: out.type,
          invoke,
          complete: this.rec.now(),
          node: m.name,
          ...(out.revision !== undefined ? { revision: out.revision } : {}),
          ...(out.seenRevision !== undefined ? { seenRevision: out.seenRevision } : {}),
          ...(out.error !== undefined ? { error: out.error } : {}),
        });
        if (out.type === "ok" && out.revision !== undefined) {
          known.set(key, { value, revision: out.revision });
          this.okWritesAt.push(this.rec.now());
        } else known.delete(key);
        refused = out.error === "ECONNREFUSED";
      }
      // A member that is down refuses at once: do not spin on it.
      if (refused) await sleepMs(20 + rng.int(80));
      else if (o.thinkMs > 0) await sleepMs(rng.int(o.thinkMs + 1));
    }
  }
}

function sleepMs(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
