// Shared fixtures for the rafthttp tests: a recording RaftReceiver, a capturing
// logger, and nodes listening on loopback. Waits are event-driven.

import * as http from "node:http";
import { type Logger, RaftPanicError } from "../../src/index.ts";
import type { SnapshotStatus } from "../../src/raft/index.ts";
import {
  type RaftHttpError,
  type RaftReceiver,
  Transport,
  type TransportOptions,
} from "../../src/rafthttp/index.ts";
import {
  ConfState,
  Entry,
  Message,
  type MessageInit,
  MessageType,
  Snapshot,
  SnapshotMetadata,
} from "../../src/raftpb/index.ts";

type Check = () => boolean;

/** Something that can be waited on: every change calls notify(). */
class Waitable {
  private waiters: Array<{ check: Check; resolve: () => void }> = [];

  notify(): void {
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (w.check()) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  /** Resolves once `check` holds (checked now and after every change). */
  until(check: Check): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise<void>((resolve) => this.waiters.push({ check, resolve }));
  }
}

export class RecordingRaft extends Waitable implements RaftReceiver {
  readonly received: Message[] = [];
  readonly unreachable: bigint[] = [];
  readonly snapshots: Array<{ id: bigint; status: SnapshotStatus }> = [];
  removed = new Set<bigint>();
  /** Optional reaction to each message (e.g. answer heartbeats). */
  onMessage: ((m: Message) => void | Promise<void>) | null = null;

  process(m: Message): void | Promise<void> {
    this.received.push(m);
    this.notify();
    return this.onMessage?.(m);
  }
  isIDRemoved(id: bigint): boolean {
    return this.removed.has(id);
  }
  reportUnreachable(id: bigint): void {
    this.unreachable.push(id);
    this.notify();
  }
  reportSnapshot(id: bigint, status: SnapshotStatus): void {
    this.snapshots.push({ id, status });
    this.notify();
  }

  count(type: number): number {
    let n = 0;
    for (const m of this.received) if (m.type === type) n++;
    return n;
  }
}

export class CapturingLogger extends Waitable implements Logger {
  readonly lines: string[] = [];
  private add(level: string, msg: string): void {
    this.lines.push(`${level} ${msg}`);
    if (process.env.RAFTHTTP_TEST_LOG) console.error(`${level} ${msg}`);
    this.notify();
  }
  debug(msg: string): void {
    this.add("DEBUG", msg);
  }
  info(msg: string): void {
    this.add("INFO", msg);
  }
  warning(msg: string): void {
    this.add("WARN", msg);
  }
  error(msg: string): void {
    this.add("ERROR", msg);
  }
  fatal(msg: string): never {
    this.add("FATAL", msg);
    throw new RaftPanicError(msg);
  }
  panic(msg: string): never {
    this.add("PANIC", msg);
    throw new RaftPanicError(msg);
  }
  /** Waits for a line containing `text`. */
  waitLine(text: string): Promise<void> {
    return this.until(() => this.lines.some((l) => l.includes(text)));
  }
  has(text: string): boolean {
    return this.lines.some((l) => l.includes(text));
  }
}

export const CLUSTER = 0x1000n;

const started = new Set<Transport>();

/**
 * Stops every transport a test started: registered with after() in each
 * file, so that even a test that timed out (and never reached its finally)
 * cannot keep the process alive.
 */
export async function stopEveryNode(): Promise<void> {
  await Promise.all([...started].map((t) => t.stop()));
  started.clear();
}

export interface Node {
  t: Transport;
  raft: RecordingRaft;
  log: CapturingLogger;
  url: string;
  id: bigint;
  critical: RaftHttpError[];
}

/** A transport listening on 127.0.0.1 (an ephemeral port unless `port` is given). */
export async function startNode(
  id: bigint,
  extra: Partial<TransportOptions> = {},
  port = 0,
  scheme = "http",
): Promise<Node> {
  const raft = new RecordingRaft();
  const log = new CapturingLogger();
  const critical: RaftHttpError[] = [];
  const t = new Transport({
    id,
    clusterId: CLUSTER,
    raft,
    logger: log,
    onCriticalError: (e) => {
      critical.push(e);
      raft.notify();
    },
    ...extra,
  });
  started.add(t);
  const addr = await t.listen(port, "127.0.0.1");
  const url = `${scheme}://127.0.0.1:${addr.port}`;
  t.start();
  return { t, raft, log, url, id, critical };
}

/** Makes every node a peer of every other. */
export function mesh(nodes: Node[]): void {
  for (const a of nodes) for (const b of nodes) if (a !== b) a.t.addPeer(b.id, [b.url]);
}

/** Resolves when both stream writers of `a` towards `b` are attached (b dialled a). */
export function streamsUp(a: Node, b: Node): Promise<void> {
  return a.log.until(() => {
    const s = a.t.stats().peers[b.id.toString(16)];
    return s?.streams.msgappv2 === true && s.streams.message;
  });
}

/** Polls stats on every log line (connection events are logged) until `check` holds. */
export function untilLogged(n: Node, check: () => boolean): Promise<void> {
  return n.log.until(check);
}

export function msg(init: MessageInit): Message {
  return Message.create(init);
}

export function entries(first: number, n: number, term: number, size: number): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < n; i++) {
    const data = new Uint8Array(size);
    data.fill((first + i) & 0xff);
    out.push(new Entry(term, first + i, 0, data));
  }
  return out;
}

export { MessageType };

/** The fields a transport must carry, for comparing sent and received messages. */
export function summary(m: Message): string {
  // IDs as hex (JSON has no bigint), as etcd prints them.
  return JSON.stringify({
    type: m.type,
    to: m.to.toString(16),
    from: m.from.toString(16),
    term: m.term,
    logTerm: m.logTerm,
    index: m.index,
    commit: m.commit,
    vote: m.vote.toString(16),
    reject: m.reject,
    rejectHint: m.rejectHint,
    context: Buffer.from(m.context).toString("hex"),
    entries: m.entries.map((e) => [e.term, e.index, e.type, Buffer.from(e.data).toString("hex")]),
    snap: m.snapshot === null ? null : [m.snapshot.metadata.index, m.snapshot.metadata.term],
  });
}

/** One message of every type, from → to, with the fields each type typically carries. */
export function everyType(from: bigint, to: bigint, term: number): Message[] {
  const out: Message[] = [];
  for (const t of Object.values(MessageType)) {
    const m = Message.create({ type: t, from, to, term, logTerm: term, index: 10 + t, commit: 9 });
    if (t === MessageType.MsgApp || t === MessageType.MsgProp) m.entries = entries(11 + t, 3, term, 32);
    if (t === MessageType.MsgAppResp) m.reject = true;
    if (t === MessageType.MsgAppResp) m.rejectHint = 7;
    if (t === MessageType.MsgVote) m.vote = from;
    if (t === MessageType.MsgHeartbeat || t === MessageType.MsgReadIndex)
      m.context = new Uint8Array([1, 2, 3]);
    if (t === MessageType.MsgSnap) {
      m.snapshot = new Snapshot(
        new Uint8Array([9, 9]),
        new SnapshotMetadata(new ConfState([1n, 2n]), 8, term),
      );
    }
    out.push(m);
  }
  return out;
}

export interface RawResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A plain request on a fresh connection, for poking at the handler. */
export function raw(
  url: string,
  method: string,
  path: string,
  headers: http.OutgoingHttpHeaders,
  body?: Uint8Array,
): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}${path}`, { method, headers, agent: false });
    req.on("error", reject);
    req.on("response", (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("error", reject);
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }),
      );
    });
    req.end(body);
  });
}

/** Headers a well-behaved peer `from` sends (override any). */
export function peerHeaders(from: number, extra: http.OutgoingHttpHeaders = {}): http.OutgoingHttpHeaders {
  return {
    "X-Server-From": from.toString(16),
    "X-Server-Version": "3.6.0",
    "X-Min-Cluster-Version": "3.0.0",
    "X-Etcd-Cluster-ID": CLUSTER.toString(16),
    ...extra,
  };
}

/** Resources (sockets, servers, timers) currently open, as sorted names. */
export function openResources(): string[] {
  return process
    .getActiveResourcesInfo()
    .filter((r) => r !== "PipeWrap" && r !== "TTYWrap")
    .sort();
}

/** Lets pending close callbacks run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}
