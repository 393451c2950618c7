// Health probing (xiang90/probing, as etcd uses it): GET /raft/probing on a
// peer every probeInterval, keeping a smoothed round trip and the clock
// difference. Informational only: it never changes peer status or routing.

import type { ServerResponse } from "node:http";
import type { Ctx } from "./context.ts";
import type { ProbeStats } from "./stats.ts";

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$/;

/** Parses an RFC 3339 time (any number of fraction digits, any offset) to ms since epoch. */
export function parseRfc3339(text: string): number | undefined {
  const m = RFC3339.exec(text);
  if (m === null) return undefined;
  const frac = m[7] === undefined ? 0 : Number(`0.${m[7]}`) * 1000;
  let t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  const z = m[8]!;
  if (z !== "Z" && z !== "z") {
    const sign = z[0] === "-" ? -1 : 1;
    t -= sign * (Number(z.slice(1, 3)) * 60 + Number(z.slice(4, 6))) * 60000;
  }
  return t + frac;
}

/**
 * The probing handler's answer, as etcd 3.4 gives it: any method, no checks,
 * 200 with `{"OK":true,"Now":"<RFC 3339>"}` and a newline. etcd sets no
 * content type; Go's sniffing makes it text/plain, and so do we.
 */
export function serveProbe(res: ServerResponse, now: number): void {
  const body = `{"OK":true,"Now":"${new Date(now).toISOString()}"}\n`;
  res.writeHead(200, {
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(body);
}

const UNHEALTHY_LOG_MS = 5000;
const HEALTHY_LOG_MS = 30000;
const CLOCK_DRIFT_MS = 1000;

export class Prober {
  private readonly ctx: Ctx;
  private readonly peerHex: string;
  private readonly name: string;
  private readonly stream: boolean;
  private urls: URL[];
  private picked = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private srtt = 0;
  private clockDiff = 0;
  private total = 0;
  private failed = 0;
  private healthy = false;
  private lastReport = performance.now();
  private readonly probeTask = (): void => {
    this.timer = null;
    this.probe();
  };

  /** `stream` selects the stream client (no connection reuse) instead of the pipeline client. */
  constructor(ctx: Ctx, peerHex: string, urls: URL[], stream: boolean) {
    this.ctx = ctx;
    this.peerHex = peerHex;
    this.urls = urls;
    this.stream = stream;
    this.name = stream ? "ROUND_TRIPPER_RAFT_MESSAGE" : "ROUND_TRIPPER_SNAPSHOT";
  }

  start(): void {
    this.schedule();
  }

  update(urls: URL[]): void {
    this.urls = urls;
    this.picked = 0;
    this.srtt = 0;
  }

  stats(): ProbeStats {
    return {
      healthy: this.healthy,
      srttMs: this.srtt,
      clockDiffMs: this.clockDiff,
      total: this.total,
      failed: this.failed,
    };
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (!this.stopped) this.timer = setTimeout(this.probeTask, this.ctx.timeouts.probeInterval);
  }

  private probe(): void {
    const u = this.urls[this.picked]!;
    const start = performance.now();
    this.ctx.client.exchange(u, "GET", "/raft/probing", {}, null, this.stream).then(
      (r) => {
        let remote: number | undefined;
        if (r.status === 200) {
          try {
            const j = JSON.parse(r.body) as { OK?: unknown; Now?: unknown };
            if (j.OK === true && typeof j.Now === "string") remote = parseRfc3339(j.Now);
          } catch {
            remote = undefined;
          }
        }
        this.result(u, start, remote);
      },
      () => this.result(u, start, undefined),
    );
  }

  private result(u: URL, start: number, remote: number | undefined): void {
    if (this.stopped) return;
    this.total++;
    if (remote === undefined) {
      this.failed++;
      this.healthy = false;
      if (this.urls[this.picked] === u) this.picked = (this.picked + 1) % this.urls.length;
    } else {
      const rtt = performance.now() - start;
      this.srtt = this.srtt === 0 ? rtt : (7 * this.srtt + rtt) / 8;
      this.clockDiff = this.ctx.now() - remote - this.srtt / 2;
      this.healthy = true;
    }
    this.report();
    this.schedule();
  }

  private report(): void {
    const now = performance.now();
    if (now - this.lastReport < (this.healthy ? HEALTHY_LOG_MS : UNHEALTHY_LOG_MS)) return;
    this.lastReport = now;
    const log = this.ctx.logger;
    if (!this.healthy) {
      log.warning(`rafthttp: prober detected unhealthy status [${this.name}] for peer ${this.peerHex}`);
    } else if (Math.abs(this.clockDiff) > CLOCK_DRIFT_MS) {
      log.warning(
        `rafthttp: prober found high clock drift [${this.name}] for peer ${this.peerHex}: ${Math.round(this.clockDiff)} ms`,
      );
    }
  }
}
