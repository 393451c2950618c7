// Short-lived POSTs: the pipeline (one raft message per POST /raft, used while
// no stream is up, for remotes and for MsgSnap) and the snapshot sender
// (POST /raft/snapshot: the MsgSnap frame followed by the application's data).

import { once } from "node:events";
import type { ClientRequest, IncomingMessage } from "node:http";
import { SnapshotStatus } from "../raft/index.ts";
import { encodeMessage, type Message, MessageType } from "../raftpb/index.ts";
import { armTimeout, errorBody, type HttpResult, readResponse } from "./client.ts";
import { FrameBuffer, MessageEncoder } from "./codec.ts";
import type { Ctx } from "./context.ts";
import {
  memberRemovedError,
  networkError,
  RaftHttpError,
  RaftHttpErrorCode,
  removedSenderText,
  stoppedError,
} from "./errors.ts";
import type { FollowerStats, PeerCounters } from "./stats.ts";
import type { PeerStatus, UrlPicker } from "./status.ts";
import { preconditionError } from "./stream.ts";
import type { SnapshotMessage, SnapshotSendResult } from "./types.ts";

/** The parts of a peer or remote its POSTs use. */
export interface PostOwner {
  readonly id: bigint;
  readonly hex: string;
  readonly status: PeerStatus;
  readonly picker: UrlPicker;
  readonly counters: PeerCounters;
  readonly follower: FollowerStats;
}

/**
 * etcd's interpretation of a pipeline or snapshot POST's response (null =
 * success), narrowed for 403. etcd's senders read every 403 as "you were
 * removed" and stop for good; here only a 403 whose body is the refusal of a
 * removed sender (removedSenderText) does: the peer that answered applied our
 * removal. Any other 403 — etcd's "to mismatch member" (the URL now reaches
 * another member: one that replaced the member we address, or a peer we still
 * know by an old URL), or one from a proxy or an older tsraft that refused
 * senders it did not know yet — says nothing about our membership; it is an
 * unexpected status like any other: the peer is reported unreachable and the
 * message is retried by raft, never a reason to retire.
 */
export function checkPostResponse(r: HttpResult, u: URL): RaftHttpError | null {
  switch (r.status) {
    case 204:
      return null;
    case 412:
      return preconditionError(r.body);
    case 403:
      if (r.body.includes(removedSenderText)) return memberRemovedError();
      return new RaftHttpError(
        RaftHttpErrorCode.UnexpectedStatus,
        `peer refused the message without saying we were removed (403 Forbidden) while posting to "${u.href}" (${errorBody(r.body)})`,
        403,
      );
    default:
      return new RaftHttpError(
        RaftHttpErrorCode.UnexpectedStatus,
        `unexpected http status ${r.status} ${r.statusText} while posting to "${u.href}" (${errorBody(r.body)})`,
        r.status,
      );
  }
}

/** Up to `pipelineConcurrency` POSTs in flight per peer, fed from a bounded queue. */
export class Pipeline {
  private readonly ctx: Ctx;
  private readonly owner: PostOwner;
  private readonly ring: Array<Message | undefined>;
  private head = 0;
  private size = 0;
  private inflight = 0;
  private stopped = false;

  constructor(ctx: Ctx, owner: PostOwner, capacity: number) {
    this.ctx = ctx;
    this.owner = owner;
    this.ring = new Array<Message | undefined>(capacity).fill(undefined);
  }

  /** False when the queue is full (the message is dropped). */
  enqueue(m: Message): boolean {
    if (this.stopped) return false;
    const cap = this.ring.length;
    if (this.size === cap) return false;
    this.ring[(this.head + this.size) % cap] = m;
    this.size++;
    this.pump();
    return true;
  }

  private pump(): void {
    const cap = this.ring.length;
    while (this.inflight < this.ctx.limits.pipelineConcurrency && this.size > 0 && !this.stopped) {
      const m = this.ring[this.head]!;
      this.ring[this.head] = undefined;
      this.head = (this.head + 1) % cap;
      this.size--;
      this.post(m);
    }
  }

  private post(m: Message): void {
    this.inflight++;
    const ctx = this.ctx;
    const body = encodeMessage(m, ctx.profile);
    const u = this.owner.picker.pick();
    const start = performance.now();
    ctx.client.exchange(u, "POST", "/raft", ctx.pipelineHeaders, body).then(
      (r) => this.done(m, u, body.length, start, checkPostResponse(r, u)),
      (err: unknown) => this.done(m, u, body.length, start, networkError(err)),
    );
  }

  private done(m: Message, u: URL, bytes: number, start: number, err: RaftHttpError | null): void {
    this.inflight--;
    if (this.stopped) return;
    const o = this.owner;
    const raft = this.ctx.raft;
    if (err === null) {
      o.status.activate();
      o.follower.succ(performance.now() - start);
      o.counters.sentMessages++;
      o.counters.pipelineSent++;
      o.counters.sentBytes += bytes;
      if (m.type === MessageType.MsgSnap) raft.reportSnapshot(m.to, SnapshotStatus.SnapshotFinish);
    } else {
      o.picker.unreachable(u);
      o.status.deactivate("pipeline", err.message);
      o.follower.fail++;
      o.counters.sendFailures++;
      raft.reportUnreachable(m.to);
      if (m.type === MessageType.MsgSnap) raft.reportSnapshot(m.to, SnapshotStatus.SnapshotFailure);
      if (err.code === RaftHttpErrorCode.MemberRemoved) this.ctx.critical(err);
    }
    this.pump();
  }

  stop(): void {
    this.stopped = true;
    this.ring.fill(undefined);
    this.size = 0;
  }
}

function sizeError(text: string): RaftHttpError {
  return new RaftHttpError(RaftHttpErrorCode.SnapshotSize, text);
}

/** Streams merged snapshot messages to one peer. */
export class SnapshotSender {
  private readonly ctx: Ctx;
  private readonly owner: PostOwner;
  private readonly live = new Set<ClientRequest>();
  private stopped = false;

  constructor(ctx: Ctx, owner: PostOwner) {
    this.ctx = ctx;
    this.owner = owner;
  }

  async send(snap: SnapshotMessage): Promise<SnapshotSendResult> {
    const ctx = this.ctx;
    const o = this.owner;
    const m = snap.message;
    const fb = new FrameBuffer(256);
    const headerBytes = new MessageEncoder(ctx.profile).encode(m, fb);
    const header = fb.take();
    const u = o.picker.pick();
    const total = headerBytes + snap.size;
    const req = ctx.client.request(
      u,
      "POST",
      "/raft/snapshot",
      { ...ctx.snapshotHeaders, "Content-Length": String(total) },
      false,
    );
    this.live.add(req);
    let err: RaftHttpError | null = null;
    req.on("error", (e) => {
      err ??= networkError(e);
    });
    armTimeout(req);
    const resP = once(req, "response").then((a) => a[0] as IncomingMessage);
    resP.catch(() => {});
    try {
      if (this.stopped) throw stoppedError();
      await writeBody(req, header, snap);
      req.end();
      const res = await resP;
      const r = await readResponse(res, ctx.timeouts.snapshotResponseTimeout);
      err = checkPostResponse(r, u);
    } catch (e) {
      err ??= networkError(e);
      req.destroy(err);
      const b = snap.body as { destroy?: (e?: Error) => void };
      if (typeof b.destroy === "function") b.destroy();
    } finally {
      this.live.delete(req);
    }
    const to = m.to;
    if (err === null) {
      o.status.activate();
      o.counters.sentMessages++;
      o.counters.snapshotSent++;
      o.counters.sentBytes += total - 8;
      ctx.logger.info(
        `rafthttp: sent database snapshot to peer ${o.hex} [index ${snapIndex(m)}, ${snap.size} bytes]`,
      );
      ctx.raft.reportSnapshot(to, SnapshotStatus.SnapshotFinish);
      return { ok: true };
    }
    const e = err as RaftHttpError;
    o.picker.unreachable(u);
    o.status.deactivate("snapshot", e.message);
    o.counters.sendFailures++;
    ctx.logger.warning(
      `rafthttp: failed to send database snapshot to peer ${o.hex}: [${e.code}] ${e.message}`,
    );
    ctx.raft.reportUnreachable(to);
    ctx.raft.reportSnapshot(to, SnapshotStatus.SnapshotFailure);
    if (e.code === RaftHttpErrorCode.MemberRemoved) ctx.critical(e);
    return { ok: false, error: e };
  }

  /** Aborts the transfers in flight. */
  stop(): void {
    this.stopped = true;
    for (const req of this.live) req.destroy(stoppedError());
  }
}

function snapIndex(m: Message): number {
  return m.snapshot?.metadata.index ?? 0;
}

async function writeBody(req: ClientRequest, header: Buffer, snap: SnapshotMessage): Promise<void> {
  if (!req.write(header)) await once(req, "drain");
  const body = snap.body;
  let n = 0;
  if (body instanceof Uint8Array) {
    n = body.length;
    if (n === snap.size && !req.write(body)) await once(req, "drain");
  } else {
    for await (const chunk of body as AsyncIterable<Uint8Array>) {
      n += chunk.length;
      if (n > snap.size) break;
      if (!req.write(chunk)) await once(req, "drain");
    }
  }
  if (n > snap.size) throw sizeError("ioutil: expect EOF");
  if (n < snap.size) throw sizeError("ioutil: short read");
}
