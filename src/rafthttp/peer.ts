// A peer: a member we exchange raft messages with. It owns two stream writers
// (fed by the peer's GETs), two stream readers (our GETs), a pipeline, a
// snapshot sender, two probers and two receive lanes. A remote is a member
// known by URL only: it gets a pipeline and nothing else.

import type { ServerResponse } from "node:http";
import { SnapshotStatus } from "../raft/index.ts";
import { type Message, MessageType } from "../raftpb/index.ts";
import type { Ctx } from "./context.ts";
import { formatId } from "./ids.ts";
import { Pipeline, type PostOwner, SnapshotSender } from "./pipeline.ts";
import { Prober } from "./probe.ts";
import { FollowerStats, PeerCounters, type PeerStats } from "./stats.ts";
import { PeerStatus, ProcessLane, UrlPicker } from "./status.ts";
import { type StreamOwner, StreamReader, StreamType, StreamWriter } from "./stream.ts";
import type { SnapshotMessage, SnapshotSendResult } from "./types.ts";

const DROP_LOG_MS = 1000;

const routeNames = ["pipeline", "stream MsgApp v2", "stream Message"] as const;

/** Drop logging, at most once a second per peer and direction, with a count. */
class DropLog {
  private last = Number.NEGATIVE_INFINITY;
  private count = 0;

  note(ctx: Ctx, what: string): void {
    this.count++;
    const now = performance.now();
    if (now - this.last < DROP_LOG_MS) return;
    ctx.logger.warning(`rafthttp: ${what} (${this.count} dropped since last report)`);
    this.last = now;
    this.count = 0;
  }
}

/** The stats every peer and remote has. */
function statsOf(o: PostOwner, isPeer: boolean): PeerStats {
  const c = o.counters;
  return {
    id: o.hex,
    isPeer,
    active: o.status.active,
    activeSince: o.status.since,
    streams: { msgappv2: false, message: false },
    sentMessages: c.sentMessages,
    sentBytes: c.sentBytes,
    receivedMessages: c.receivedMessages,
    receivedBytes: c.receivedBytes,
    sendDrops: c.sendDrops,
    sendFailures: c.sendFailures,
    receiveDrops: c.receiveDrops,
    paths: {
      pipeline: { sent: c.pipelineSent, received: c.pipelineReceived },
      msgappv2: { sent: c.msgAppV2Sent, received: c.msgAppV2Received },
      message: { sent: c.messageSent, received: c.messageReceived },
      snapshot: { sent: c.snapshotSent, received: c.snapshotReceived },
    },
    follower: o.follower.snapshot(),
  };
}

export class Peer implements StreamOwner, PostOwner {
  readonly id: bigint;
  readonly hex: string;
  readonly status: PeerStatus;
  readonly picker: UrlPicker;
  readonly counters = new PeerCounters();
  readonly follower = new FollowerStats();
  paused = false;
  private readonly ctx: Ctx;
  private readonly msgAppWriter: StreamWriter;
  private readonly writer: StreamWriter;
  private readonly msgAppReader: StreamReader;
  private readonly reader: StreamReader;
  private readonly pipeline: Pipeline;
  private readonly snapSender: SnapshotSender;
  private readonly recv: ProcessLane;
  private readonly prop: ProcessLane;
  private readonly probers: [Prober, Prober];
  private readonly sendDrops = new DropLog();
  private readonly recvDrops = new DropLog();
  private heartbeatSentAt = 0;
  private started = false;

  constructor(ctx: Ctx, id: bigint, urls: URL[]) {
    this.ctx = ctx;
    this.id = id;
    this.hex = formatId(id);
    this.status = new PeerStatus(ctx, this.hex);
    this.picker = new UrlPicker(urls);
    this.msgAppWriter = new StreamWriter(ctx, this, StreamType.MsgAppV2);
    this.writer = new StreamWriter(ctx, this, StreamType.Message);
    this.msgAppReader = new StreamReader(ctx, this, StreamType.MsgAppV2);
    this.reader = new StreamReader(ctx, this, StreamType.Message);
    this.pipeline = new Pipeline(ctx, this, ctx.limits.pipelineQueueLength);
    this.snapSender = new SnapshotSender(ctx, this);
    this.recv = new ProcessLane(ctx, ctx.limits.receiveQueueLength);
    this.prop = new ProcessLane(ctx, ctx.limits.receiveQueueLength);
    this.probers = [new Prober(ctx, this.hex, urls, false), new Prober(ctx, this.hex, urls, true)];
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.ctx.logger.info(`rafthttp: starting remote peer ${this.hex}`);
    this.msgAppReader.start();
    this.reader.start();
    for (const p of this.probers) p.start();
  }

  /**
   * Routes one outgoing message (etcd's pick); drops and reports when the chosen queue is full.
   *
   * MsgSnap always takes the pipeline: on a stream, a large snapshot would
   * hold up every message queued behind it (heartbeats included, and the
   * peer would call an election). MsgApp takes the msgappv2 stream when it is
   * up (its frames encode a run of appends relative to the previous one, the
   * cheapest form of the commonest message); everything else, and MsgApp
   * while msgappv2 is down, takes the message stream when it is up. With no
   * stream up — the peer has not dialed us yet, or its stream broke — the
   * pipeline carries everything. A message is never sent twice on two
   * routes: a drop is reported to raft, which decides what to resend.
   */
  send(m: Message): void {
    if (this.paused) {
      this.counters.sendDrops++;
      return;
    }
    const t = m.type;
    let ok: boolean;
    let route: number;
    if (t === MessageType.MsgSnap) {
      route = 0;
      ok = this.pipeline.enqueue(m);
    } else if (t === MessageType.MsgApp && this.msgAppWriter.working) {
      route = 1;
      ok = this.msgAppWriter.enqueue(m);
    } else if (this.writer.working) {
      route = 2;
      ok = this.writer.enqueue(m);
    } else {
      route = 0;
      ok = this.pipeline.enqueue(m);
    }
    if (!ok) {
      this.counters.sendDrops++;
      this.ctx.raft.reportUnreachable(m.to);
      if (t === MessageType.MsgSnap) this.ctx.raft.reportSnapshot(m.to, SnapshotStatus.SnapshotFailure);
      this.sendDrops.note(
        this.ctx,
        `dropped internal raft message to ${this.hex} since ${routeNames[route]} sending buffer is full`,
      );
      return;
    }
    if (t === MessageType.MsgHeartbeat) {
      // Latency sample: time until the follower's MsgHeartbeatResp (a stale stamp is restarted).
      const now = performance.now();
      if (this.heartbeatSentAt === 0 || now - this.heartbeatSentAt > this.ctx.timeouts.readTimeout) {
        this.heartbeatSentAt = now;
      }
    }
  }

  sendSnapshot(s: SnapshotMessage): Promise<SnapshotSendResult> {
    return this.snapSender.send(s);
  }

  /** A message from this peer (stream or POST), before it is handed to raft. */
  observe(m: Message): void {
    if (m.type === MessageType.MsgHeartbeatResp && this.heartbeatSentAt !== 0) {
      this.follower.sample(performance.now() - this.heartbeatSentAt);
      this.heartbeatSentAt = 0;
    }
  }

  /** A message decoded from one of our stream readers. */
  deliver(m: Message): void {
    this.observe(m);
    const lane = m.type === MessageType.MsgProp ? this.prop : this.recv;
    if (!lane.push(m)) {
      this.counters.receiveDrops++;
      this.recvDrops.note(this.ctx, `dropped raft message from ${this.hex} since receiving buffer is full`);
    }
  }

  /** Hands a stream response from this peer to the writer of that type. */
  attach(type: StreamType, res: ServerResponse): boolean {
    return (type === StreamType.MsgAppV2 ? this.msgAppWriter : this.writer).attach(res);
  }

  tick(): void {
    this.msgAppWriter.tick();
    this.writer.tick();
  }

  update(urls: URL[]): void {
    this.picker.update(urls);
    for (const p of this.probers) p.update(urls);
  }

  stats(): PeerStats {
    const s = statsOf(this, true);
    s.streams = { msgappv2: this.msgAppWriter.working, message: this.writer.working };
    s.probe = { pipeline: this.probers[0].stats(), stream: this.probers[1].stats() };
    return s;
  }

  async stop(): Promise<void> {
    this.ctx.logger.info(`rafthttp: stopping remote peer ${this.hex}`);
    for (const p of this.probers) p.stop();
    this.pipeline.stop();
    this.snapSender.stop();
    this.recv.stop();
    this.prop.stop();
    await Promise.all([
      this.msgAppWriter.stop(),
      this.writer.stop(),
      this.msgAppReader.stop(),
      this.reader.stop(),
    ]);
    this.ctx.logger.info(`rafthttp: stopped remote peer ${this.hex}`);
  }
}

/** A member known only by URL (e.g. from X-PeerURLs): pipeline only, to help it catch up. */
export class Remote implements PostOwner {
  readonly id: bigint;
  readonly hex: string;
  readonly status: PeerStatus;
  readonly picker: UrlPicker;
  readonly counters = new PeerCounters();
  readonly follower = new FollowerStats();
  paused = false;
  private readonly ctx: Ctx;
  private readonly pipeline: Pipeline;
  private readonly drops = new DropLog();

  constructor(ctx: Ctx, id: bigint, urls: URL[]) {
    this.ctx = ctx;
    this.id = id;
    this.hex = formatId(id);
    this.status = new PeerStatus(ctx, this.hex);
    this.picker = new UrlPicker(urls);
    this.pipeline = new Pipeline(ctx, this, ctx.limits.pipelineQueueLength);
  }

  send(m: Message): void {
    if (this.paused) return;
    if (!this.pipeline.enqueue(m)) {
      this.counters.sendDrops++;
      this.drops.note(this.ctx, `dropped raft message to remote ${this.hex} since sending buffer is full`);
    }
  }

  stats(): PeerStats {
    return statsOf(this, false);
  }

  stop(): void {
    this.pipeline.stop();
  }
}
