// Serves the dashboard of one member: the page (`GET /ui`), its event stream
// (`GET /ui/events`, server-sent events) and the member's own report
// (`GET /ui/member`, which the other members' dashboards fetch).
//
// While at least one browser is connected, one aggregation loop per member
// gathers the cluster view every `intervalMs` (this member's report plus the
// others' over their client URLs) and pushes the same snapshot to every
// browser. The loop, its timers and its in-flight requests stop when the last
// browser leaves and when the member stops (`close()`).

import { createHash } from "node:crypto";
import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { KvError, KvErrorCode } from "../errors.ts";
import { sendKvError } from "../json_reply.ts";
import type { ServerStatus } from "../types.ts";
import {
  aggregate,
  type DashboardSnapshot,
  type LeaderEventView,
  loadSeconds,
  type MemberReport,
  type MemberResult,
} from "./aggregate.ts";
import { PAGE_SCRIPT, renderPage } from "./page.ts";

/** What the dashboard reads from its member (KvMember provides all of it). */
export interface DashboardSource {
  status(): ServerStatus;
  readonly leaderEvents: readonly LeaderEventView[];
  readonly recentWrites: ReadonlyArray<{ at: number; seconds: number }>;
}

export interface DashboardOptions {
  /** How often the cluster view is gathered and pushed. */
  intervalMs: number;
  /** How long another member has to answer before it is shown as down. */
  peerTimeoutMs: number;
  /** Length of the load sparklines, in seconds. */
  seriesSec: number;
  /** Window of the headline proposal rate and p99, in seconds. */
  windowSec: number;
  /** The clock (tests replace it). */
  now: () => number;
}

export const dashboardDefaults: DashboardOptions = {
  intervalMs: 500,
  peerTimeoutMs: 400,
  seriesSec: 60,
  windowSec: 10,
  now: Date.now,
};

/** Largest report accepted from another member. */
const MAX_REPORT_BYTES = 1024 * 1024;
/** Unsent event-stream bytes after which a browser is dropped (it reconnects when it can). */
const MAX_BACKLOG_BYTES = 4 * 1024 * 1024;
/** Leader events a member reports (the member keeps at most 200). */
const MAX_EVENTS = 200;

/** Why another member's report could not be had. */
export class PeerReportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PeerReportError";
  }
}

// The page is fixed, so its inline script is allowed by hash and nothing else
// may load or run: the page works offline and cannot pull in outside code.
const scriptHash = createHash("sha256").update(PAGE_SCRIPT).digest("base64");
const PAGE_HEADERS = {
  "Content-Type": "text/html; charset=utf-8",
  "Cache-Control": "no-cache",
  "X-Content-Type-Options": "nosniff",
  "Content-Security-Policy": `default-src 'none'; script-src 'sha256-${scriptHash}'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'`,
};

export class DashboardHub {
  private readonly source: DashboardSource;
  private readonly opts: DashboardOptions;
  private readonly page = renderPage();
  private readonly clients = new Set<ServerResponse>();
  /** The pending next round, when idle between rounds. */
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** The round in progress; aborting it cancels its requests to other members. */
  private round: AbortController | null = null;
  /** The last frame sent, replayed to browsers that connect between rounds. */
  private latest: string | null = null;
  private closed = false;
  // Keep-alive connections to the other members, closed with the hub.
  private readonly httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 2 });
  private readonly httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 2 });

  constructor(source: DashboardSource, opts: Partial<DashboardOptions> = {}) {
    this.source = source;
    this.opts = { ...dashboardDefaults, ...opts };
  }

  /** Whether the aggregation loop is running (some browser is connected). */
  get running(): boolean {
    return this.timer !== null || this.round !== null;
  }

  /** Number of connected browsers. */
  get clientCount(): number {
    return this.clients.size;
  }

  /** Serves a dashboard path; false if `req` is not for the dashboard. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    let path: string;
    try {
      path = new URL(req.url ?? "/", "http://localhost").pathname;
    } catch {
      return false;
    }
    if (path !== "/ui" && path !== "/ui/" && path !== "/ui/events" && path !== "/ui/member") return false;
    // HEAD is answered like GET without the body (node drops it), except for the stream.
    const isHead = req.method === "HEAD" && path !== "/ui/events";
    if (req.method !== "GET" && !isHead) {
      res.setHeader("Allow", path === "/ui/events" ? "GET" : "GET, HEAD");
      sendKvError(res, new KvError(KvErrorCode.MethodNotAllowed, 405, "method not allowed; use GET"));
      return true;
    }
    if (path === "/ui/events") this.subscribe(req, res);
    else if (path === "/ui/member") this.sendReport(res);
    else {
      res.writeHead(200, { ...PAGE_HEADERS, "Content-Length": Buffer.byteLength(this.page) });
      res.end(this.page);
    }
    return true;
  }

  /** This member's own report. */
  report(): MemberReport {
    const now = this.opts.now();
    return {
      status: this.source.status(),
      leaderEvents: this.source.leaderEvents.slice(-MAX_EVENTS),
      // One spare second in case the other member's clock runs a little ahead.
      load: loadSeconds(this.source.recentWrites, now + 1000, this.opts.seriesSec + 1),
    };
  }

  /** Gathers the cluster view once: this member's report and every other member's. */
  async snapshot(signal?: AbortSignal): Promise<DashboardSnapshot> {
    const self = this.report();
    const peers = new Map<string, MemberResult>();
    await Promise.all(
      self.status.members
        .filter((m) => m.id !== self.status.id && m.clientURLs.length > 0)
        .map(async (m) => {
          try {
            const report = await this.fetchReport(m.clientURLs[0]!, signal);
            if (report.status.id !== m.id)
              throw new PeerReportError(`answered as member ${report.status.id}`);
            peers.set(m.id, { ok: true, report });
          } catch (err) {
            peers.set(m.id, { ok: false, error: (err as Error).message });
          }
        }),
    );
    return aggregate({
      nowMs: this.opts.now(),
      self,
      peers,
      seriesSec: this.opts.seriesSec,
      windowSec: this.opts.windowSec,
    });
  }

  /** Ends every event stream and stops the loop for good (the member is stopping). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopLoop();
    for (const res of this.clients) res.end();
    this.clients.clear();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  // ------------------------------------------------------------------ event stream

  private subscribe(req: IncomingMessage, res: ServerResponse): void {
    if (this.closed) {
      sendKvError(res, new KvError(KvErrorCode.Stopped, 503, "member is stopping"));
      return;
    }
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-cache, no-transform",
      Connection: "keep-alive",
    });
    // Browsers reconnect by themselves; ask them to do so quickly.
    res.write("retry: 1000\n\n");
    if (this.latest !== null) res.write(this.latest);
    this.clients.add(res);
    const leave = () => {
      if (!this.clients.delete(res)) return;
      if (this.clients.size === 0) this.stopLoop();
    };
    req.once("close", leave);
    res.once("close", leave);
    if (!this.running) void this.tick();
  }

  private broadcast(frame: string): void {
    for (const res of this.clients) {
      // A browser that stopped reading would make its frames pile up here: drop it.
      if (res.writableLength > MAX_BACKLOG_BYTES) res.destroy();
      else res.write(frame);
    }
  }

  /** One round: gather, push, schedule the next while anyone listens. */
  private async tick(): Promise<void> {
    this.timer = null;
    const round = new AbortController();
    this.round = round;
    const started = this.opts.now();
    try {
      const snap = await this.snapshot(round.signal);
      if (!round.signal.aborted) {
        this.latest = `data: ${JSON.stringify(snap)}\n\n`;
        this.broadcast(this.latest);
      }
    } catch (err) {
      // E.g. the member is not started yet: tell the page, try again next round.
      if (!round.signal.aborted) {
        this.broadcast(`event: problem\ndata: ${JSON.stringify({ message: (err as Error).message })}\n\n`);
      }
    }
    if (this.round !== round) return; // stopped (and maybe restarted) meanwhile
    this.round = null;
    if (this.closed || this.clients.size === 0) return;
    const wait = Math.max(0, this.opts.intervalMs - (this.opts.now() - started));
    this.timer = setTimeout(() => void this.tick(), wait);
  }

  private stopLoop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.latest = null; // stale by the time anyone connects again
    this.round?.abort();
    this.round = null;
  }

  // ------------------------------------------------------------------ member reports

  private sendReport(res: ServerResponse): void {
    let body: string;
    try {
      body = JSON.stringify(this.report());
    } catch (err) {
      sendKvError(res, new KvError(KvErrorCode.Internal, 500, (err as Error).message));
      return;
    }
    res.writeHead(200, {
      "Content-Type": "application/json",
      "Cache-Control": "no-cache",
      "Content-Length": Buffer.byteLength(body),
    });
    res.end(body);
  }

  /** GETs another member's `/ui/member`, within `peerTimeoutMs` and until `signal` aborts. */
  private fetchReport(clientURL: string, signal?: AbortSignal): Promise<MemberReport> {
    const url = new URL("/ui/member", clientURL);
    const https = url.protocol === "https:";
    const ctrl = new AbortController();
    const onAbort = () => ctrl.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(() => ctrl.abort(), this.opts.peerTimeoutMs);
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    return new Promise<MemberReport>((resolve, reject) => {
      const req = (https ? httpsRequest : httpRequest)(url, {
        agent: https ? this.httpsAgent : this.httpAgent,
        signal: ctrl.signal,
      });
      req.on("error", (err) => {
        done();
        reject(new PeerReportError(ctrl.signal.aborted ? "no answer in time" : describe(err)));
      });
      req.on("response", (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          done();
          reject(new PeerReportError(`answered HTTP ${res.statusCode}`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_REPORT_BYTES) req.destroy(new PeerReportError("report too large"));
          else chunks.push(c);
        });
        res.on("end", () => {
          done();
          try {
            resolve(parseReport(Buffer.concat(chunks).toString("utf8")));
          } catch (err) {
            reject(err);
          }
        });
      });
      req.end();
    });
  }
}

function describe(err: Error & { code?: string }): string {
  if (err.code === "ECONNREFUSED") return "connection refused";
  return err.code ?? err.message;
}

/** Parses a report with just enough checking that the aggregation cannot trip over it. */
export function parseReport(text: string): MemberReport {
  let v: Partial<MemberReport>;
  try {
    v = JSON.parse(text) as Partial<MemberReport>;
  } catch {
    throw new PeerReportError("malformed report");
  }
  const s = v?.status;
  if (
    typeof s !== "object" ||
    s === null ||
    typeof s.id !== "string" ||
    !Array.isArray(s.members) ||
    !Array.isArray(v.leaderEvents) ||
    !Array.isArray(v.load)
  ) {
    throw new PeerReportError("malformed report");
  }
  return v as MemberReport;
}
