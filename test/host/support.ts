// Test support for the host: a counter state machine and in-process clusters on loopback.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Host, type HostConfig, type StateMachine } from "../../src/host/index.ts";
import { freePort, waitFor } from "../kv/support/cluster.ts";

/** Adds signed 32-bit deltas; apply returns the new total. */
export class Counter implements StateMachine<number, "get", number> {
  value = 0;
  applied: number[] = [];

  apply(cmds: readonly { index: number; data: Uint8Array }[]): number[] {
    return cmds.map((c) => {
      this.applied.push(c.index);
      this.value += new DataView(c.data.buffer, c.data.byteOffset, 4).getInt32(0, true);
      return this.value;
    });
  }

  snapshot(): AsyncIterable<Uint8Array> {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, this.value, true);
    return (async function* () {
      yield b;
    })();
  }

  async restore(image: AsyncIterable<Uint8Array>): Promise<void> {
    const parts: Uint8Array[] = [];
    for await (const c of image) parts.push(c);
    const b = Buffer.concat(parts);
    if (b.length !== 8) throw new Error(`bad counter image of ${b.length} bytes`);
    this.value = b.readDoubleLE(0);
  }

  query(): number {
    return this.value;
  }
}

export function delta(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, n, true);
  return b;
}

export interface TestCluster {
  dir: string;
  hosts: Array<Host<number, "get", number>>;
  sms: Counter[];
  configs: Array<HostConfig<number, "get", number>>;
  leader(): Promise<Host<number, "get", number>>;
  close(): Promise<void>;
}

export const fastTiming = { tickMs: 20, electionTicks: 10, heartbeatTicks: 1 };

export async function startCluster(
  n: number,
  extra: Partial<HostConfig<number, "get", number>> = {},
): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), "tsraft-host-"));
  const ports = await Promise.all(Array.from({ length: n }, () => freePort()));
  const initialCluster = ports.map((p, i) => ({ name: `m${i + 1}`, peerURLs: [`http://127.0.0.1:${p}`] }));
  const sms: Counter[] = [];
  const configs = initialCluster.map((m) => {
    const sm = new Counter();
    sms.push(sm);
    return {
      name: m.name,
      dataDir: join(dir, m.name),
      stateMachine: sm,
      initialCluster,
      listenPeerURL: m.peerURLs[0]!,
      unsafeNoFsync: true,
      ...fastTiming,
      ...extra,
    } satisfies HostConfig<number, "get", number>;
  });
  const hosts = configs.map((c) => new Host(c));
  await Promise.all(hosts.map((h) => h.start()));
  const c: TestCluster = {
    dir,
    hosts,
    sms,
    configs,
    leader: () =>
      waitFor("a leader", async () => {
        const live = c.hosts.filter((h) => h.leader() !== 0n);
        return live.find((h) => h.leader() === h.id);
      }),
    close: async () => {
      await Promise.all(c.hosts.map((h) => h.stop(0)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return c;
}
