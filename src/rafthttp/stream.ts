// Long-lived streams. The peer dials GET /raft/stream/<type>/<its id> on us;
// we answer 200 and keep writing frames on that response for as long as it
// lives (StreamWriter). Symmetrically our StreamReader dials the peer and
// decodes what it writes to us, redialling after any failure.

import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Message } from "../raftpb/index.ts";
import { armTimeout } from "./client.ts";
import {
  FrameBuffer,
  type FrameSink,
  isLinkHeartbeat,
  LINK_HEARTBEAT,
  MessageDecoder,
  MessageEncoder,
  MsgAppV2Decoder,
  MsgAppV2Encoder,
  type StreamDecoder,
  type StreamEncoder,
} from "./codec.ts";
import type { Ctx } from "./context.ts";
import {
  memberRemovedError,
  networkError,
  RaftHttpError,
  RaftHttpErrorCode,
  stoppedError,
} from "./errors.ts";
import type { FollowerStats, PeerCounters } from "./stats.ts";
import type { PeerStatus, UrlPicker } from "./status.ts";
import { compareMajorMinor, parseSemver, streamSupported, V2_0_0 } from "./version.ts";

const EARLY_FLUSH_BYTES = 1024 * 1024;
/** Batches up to this size are copied with their chunk framing into one buffer (one write). */
const SMALL_FRAMED = 64 * 1024;

export const StreamType = { MsgAppV2: 0, Message: 1 } as const;
export type StreamType = (typeof StreamType)[keyof typeof StreamType];
export const streamTypeNames = ["stream MsgApp v2", "stream Message"] as const;
/** The path element of each stream type (the msgappv2 stream lives under "msgapp"). */
export const streamTypePaths = ["msgapp", "message"] as const;

/** The parts of a peer its streams use. */
export interface StreamOwner {
  readonly id: bigint;
  readonly hex: string;
  readonly status: PeerStatus;
  readonly picker: UrlPicker;
  readonly counters: PeerCounters;
  readonly follower: FollowerStats;
  readonly paused: boolean;
  /** A message decoded from a stream (link heartbeats already removed). */
  deliver(m: Message): void;
}

interface Conn {
  res: ServerResponse;
  socket: Socket | null;
  /** The response body is chunked (an HTTP/1.1 dialer): each write is framed as a chunk. */
  chunked: boolean;
}

const CRLF = Buffer.from("\r\n", "latin1");

/**
 * `src[0, n)` as one HTTP/1.1 chunk ("<hex length>\r\n<bytes>\r\n"), copied
 * with its framing into one buffer: one socket write, one syscall.
 */
function framedChunk(src: Buffer, n: number): Buffer {
  const hex = n.toString(16);
  const h = hex.length;
  const b = Buffer.allocUnsafe(h + 2 + n + 2);
  b.write(hex, 0, "latin1");
  b[h] = 13;
  b[h + 1] = 10;
  src.copy(b, h + 2, 0, n);
  b[h + 2 + n] = 13;
  b[h + 3 + n] = 10;
  return b;
}

/**
 * Writes one stream type to one peer. Messages are encoded as they are
 * queued, into one buffer that is written when the current tick ends (or
 * earlier past half the queue), so a burst of sends becomes one socket write.
 * While the socket pushes back, the queue fills up to its limits and then
 * drops (the caller reports the peer unreachable).
 */
export class StreamWriter {
  readonly type: StreamType;
  private readonly ctx: Ctx;
  private readonly peer: StreamOwner;
  private readonly enc: StreamEncoder;
  private readonly out = new FrameBuffer();
  /** Batches sealed while the socket pushed back, oldest first (so `out` never grows by copying). */
  private backlog: Buffer[] = [];
  private backlogBytes = 0;
  private conn: Conn | null = null;
  private pending = 0;
  private blocked = false;
  private blockedSince = 0;
  private scheduled = false;
  private stopped = false;
  private readonly flushTask = (): void => {
    this.scheduled = false;
    this.flush();
  };

  constructor(ctx: Ctx, peer: StreamOwner, type: StreamType) {
    this.ctx = ctx;
    this.peer = peer;
    this.type = type;
    this.enc =
      type === StreamType.MsgAppV2 ? new MsgAppV2Encoder(ctx.profile) : new MessageEncoder(ctx.profile);
  }

  get working(): boolean {
    return this.conn !== null;
  }

  /**
   * Takes over a stream response (already answered 200); false when stopped.
   * A new stream replaces the current one: the peer redialled, so the old
   * connection is dead to it even if our socket has not noticed yet.
   *
   * The msgappv2 encoding is stateful: a frame may say "the append after the
   * previous one", relative to the (term, index) the decoder at the other end
   * has seen on this connection. So the encoder starts afresh on every
   * connection (reset here), and whatever was encoded for a connection is
   * written on it or dropped with it (detach clears `out` and the backlog),
   * never carried over to the next one.
   */
  attach(res: ServerResponse): boolean {
    if (this.stopped) return false;
    const replaced = this.conn !== null;
    if (replaced) this.close();
    // Frames go straight to the socket (see flush), so back-pressure is the socket's.
    const conn: Conn = { res, socket: res.socket, chunked: res.chunkedEncoding };
    this.conn = conn;
    this.enc.reset();
    this.out.clear();
    this.pending = 0;
    this.blocked = false;
    const onDrain = () => {
      if (this.conn !== conn) return;
      this.blocked = false;
      this.flush();
    };
    if (conn.socket !== null) conn.socket.on("drain", onDrain);
    res.on("drain", onDrain);
    res.on("close", () => this.lost(conn, "connection closed by peer"));
    res.on("error", () => {});
    this.peer.status.activate();
    const name = streamTypeNames[this.type];
    if (replaced) this.ctx.logger.warning(`rafthttp: closed ${name} connection with peer ${this.peer.hex}`);
    this.ctx.logger.info(`rafthttp: established ${name} writer connection with peer ${this.peer.hex}`);
    return true;
  }

  /** Queues a message; false when the stream is down or its queue is full. */
  enqueue(m: Message): boolean {
    if (this.conn === null) return false;
    const limits = this.ctx.limits;
    if (
      this.pending >= limits.streamQueueLength ||
      this.backlogBytes + this.out.len >= limits.streamQueueBytes
    )
      return false;
    this.enc.encode(m, this.out);
    this.pending++;
    if (this.blocked) {
      if (this.out.len >= EARLY_FLUSH_BYTES) {
        const b = this.out.take();
        this.backlog.push(b);
        this.backlogBytes += b.length;
      }
    } else {
      // A burst within one tick is written early, before it fills the queue.
      // Large bursts go out in ~1 MiB writes, so the socket sends while we encode.
      if (
        this.pending > limits.streamQueueLength >>> 1 ||
        this.out.len > Math.min(EARLY_FLUSH_BYTES, limits.streamQueueBytes / 2)
      ) {
        this.flush();
      } else if (!this.scheduled) {
        this.scheduled = true;
        queueMicrotask(this.flushTask);
      }
    }
    return true;
  }

  /**
   * Writes what is queued. The frames go to the socket directly, framed as
   * HTTP/1.1 chunks here when the body is chunked: ServerResponse.write would
   * cork the socket, write the chunk's header, data and CRLF separately and
   * uncork on the next tick (a writev of four buffers and the stream
   * machinery around it, per write). A small batch is one buffer with its
   * framing, one write() syscall; a large one is corked around its three parts.
   */
  private flush(): void {
    const conn = this.conn;
    if (conn === null || this.blocked || this.backlogBytes + this.out.len === 0) return;
    const c = this.peer.counters;
    const sock = conn.socket;
    if (sock === null || sock.destroyed) return;
    let ok = true;
    for (const b of this.backlog) ok = this.writeChunk(sock, conn.chunked, b, undefined);
    c.sentBytes += this.backlogBytes;
    this.backlog = [];
    this.backlogBytes = 0;
    const out = this.out;
    if (out.len > 0) {
      c.sentBytes += out.len;
      if (conn.chunked && out.len <= SMALL_FRAMED) {
        ok = sock.write(framedChunk(out.buf, out.len));
        out.clear();
      } else {
        const buf = out.take();
        const full = out.handed;
        ok = this.writeChunk(sock, conn.chunked, buf, full === null ? undefined : () => out.recycle(full));
      }
    }
    c.sentMessages += this.pending;
    if (this.type === StreamType.MsgAppV2) c.msgAppV2Sent += this.pending;
    else c.messageSent += this.pending;
    this.pending = 0;
    if (!ok) {
      this.blocked = true;
      this.blockedSince = performance.now();
    }
  }

  /** Writes `b` as one chunk (or raw when the body is not chunked); false when the socket pushes back. */
  private writeChunk(sock: Socket, chunked: boolean, b: Buffer, done: (() => void) | undefined): boolean {
    if (!chunked) return sock.write(b, done);
    sock.cork();
    sock.write(`${b.length.toString(16)}\r\n`, "latin1");
    sock.write(b, done);
    const ok = sock.write(CRLF);
    sock.uncork();
    return ok;
  }

  /** Called every heartbeat interval: keeps the link alive, detects a stuck socket. */
  tick(): void {
    if (this.conn === null) return;
    if (this.blocked) {
      if (performance.now() - this.blockedSince > this.ctx.timeouts.writeTimeout) {
        this.fail("write timeout");
      }
      return;
    }
    this.enc.encode(LINK_HEARTBEAT, this.out);
    this.flush();
  }

  /** The connection failed under us. */
  private lost(conn: Conn, reason: string): void {
    if (this.conn !== conn) return;
    this.fail(reason);
  }

  private fail(reason: string): void {
    const conn = this.conn!;
    this.detach();
    this.peer.counters.sendFailures++;
    this.peer.status.deactivate(`${streamTypeNames[this.type]} write`, reason);
    this.ctx.logger.warning(
      `rafthttp: lost ${streamTypeNames[this.type]} writer connection with peer ${this.peer.hex}: ${reason}`,
    );
    conn.res.destroy();
  }

  /** Forgets the connection; queued messages are dropped and raft told once. */
  private detach(): void {
    this.conn = null;
    if (this.pending > 0) this.ctx.raft.reportUnreachable(this.peer.id);
    this.pending = 0;
    this.out.clear();
    this.backlog = [];
    this.backlogBytes = 0;
    this.blocked = false;
  }

  /**
   * Ends the current connection (gracefully, unless `now`: a peer that stopped
   * reading could hold a graceful end forever); resolves when its socket is closed.
   */
  close(now = false): Promise<void> {
    const conn = this.conn;
    if (conn === null) return Promise.resolve();
    this.detach();
    const s = conn.socket;
    const done =
      s === null || s.destroyed ? Promise.resolve() : new Promise<void>((r) => s.once("close", () => r()));
    conn.res.end();
    // The response carries "Connection: close", so the server closes the socket after it.
    if (now) s?.destroy();
    else s?.destroySoon();
    return done;
  }

  stop(): Promise<void> {
    this.stopped = true;
    return this.close(true);
  }
}

/**
 * Dials one stream type of one peer and feeds what it decodes to the peer's
 * receive lanes; redials (at most once per dialRetryInterval) until stopped.
 */
export class StreamReader implements FrameSink {
  readonly type: StreamType;
  private readonly ctx: Ctx;
  private readonly peer: StreamOwner;
  private readonly headers: OutgoingHttpHeaders;
  private readonly path: string;
  private req: ClientRequest | null = null;
  private decoder: StreamDecoder | null = null;
  private connected = false;
  private error: RaftHttpError | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastDial = Number.NEGATIVE_INFINITY;
  private stopped = false;
  private readonly dialTask = (): void => {
    this.timer = null;
    this.dial();
  };

  constructor(ctx: Ctx, peer: StreamOwner, type: StreamType) {
    this.ctx = ctx;
    this.peer = peer;
    this.type = type;
    this.headers = { ...ctx.commonHeaders, "X-Raft-To": peer.hex };
    this.path = `/raft/stream/${streamTypePaths[type]}/${ctx.hex}`;
  }

  get isConnected(): boolean {
    return this.connected;
  }

  start(): void {
    this.dial();
  }

  private dial(): void {
    if (this.stopped) return;
    this.lastDial = performance.now();
    const u = this.peer.picker.pick();
    this.connected = false;
    this.error = null;
    this.decoder = null;
    const req = this.ctx.client.request(u, "GET", this.path, this.headers, true);
    this.req = req;
    armTimeout(req);
    req.on("error", (err) => this.setError(networkError(err), u));
    req.on("response", (res) => this.onResponse(req, u, res));
    req.on("close", () => this.onClose(req));
    req.end();
  }

  private setError(err: RaftHttpError, u: URL | null): void {
    if (this.error === null) this.error = err;
    if (u !== null && !this.connected) this.peer.picker.unreachable(u);
  }

  private onResponse(req: ClientRequest, u: URL, res: IncomingMessage): void {
    res.on("error", (err) => this.setError(networkError(err), null));
    const hv = res.headers["x-server-version"];
    const rv = typeof hv === "string" ? (parseSemver(hv) ?? V2_0_0) : V2_0_0;
    if (compareMajorMinor(rv, this.ctx.version) < 0 && !streamSupported(rv)) {
      this.setError(new RaftHttpError(RaftHttpErrorCode.UnsupportedStreamType, "unsupported stream type"), u);
      res.destroy();
      return;
    }
    const status = res.statusCode ?? 0;
    if (status === 200) {
      this.connected = true;
      req.setTimeout(this.ctx.timeouts.readTimeout);
      const ctx = this.ctx;
      const limit = ctx.limits.maxMessageBytes;
      const dec =
        this.type === StreamType.MsgAppV2
          ? new MsgAppV2Decoder(this, limit, ctx.id, this.peer.id)
          : new MessageDecoder(this, limit);
      this.decoder = dec;
      this.peer.status.activate();
      ctx.logger.info(
        `rafthttp: established ${streamTypeNames[this.type]} reader connection with peer ${this.peer.hex}`,
      );
      res.on("data", (chunk: Buffer) => {
        if (this.decoder !== dec) return;
        try {
          dec.push(chunk);
        } catch (err) {
          this.decoder = null;
          const e = err instanceof RaftHttpError ? err : networkError(err);
          ctx.logger.error(
            `rafthttp: closing ${streamTypeNames[this.type]} from peer ${this.peer.hex}: [${e.code}] ${e.message}`,
          );
          this.setError(e, null);
          res.destroy();
        }
      });
      res.on("end", () => {
        if (!dec.atBoundary) {
          this.setError(new RaftHttpError(RaftHttpErrorCode.UnexpectedEof, "unexpected EOF"), null);
        }
      });
      return;
    }
    if (status === 410) {
      const err = memberRemovedError();
      this.setError(err, u);
      this.ctx.critical(err);
      res.destroy();
      return;
    }
    if (status === 404) {
      this.setError(
        new RaftHttpError(
          RaftHttpErrorCode.UnexpectedStatus,
          `peer ${this.peer.hex} failed to find local node ${this.ctx.hex}`,
          404,
        ),
        u,
      );
      res.destroy();
      return;
    }
    if (status === 412) {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => this.setError(preconditionError(Buffer.concat(parts).toString("utf8")), u));
      return;
    }
    this.setError(
      new RaftHttpError(RaftHttpErrorCode.UnexpectedStatus, `unhandled http status ${status}`, status),
      u,
    );
    res.destroy();
  }

  /** A decoded frame from the peer. */
  onFrame(m: Message, bytes: number): void {
    const c = this.peer.counters;
    c.receivedBytes += bytes;
    if (this.peer.paused || isLinkHeartbeat(m)) return;
    // The peer we dialed speaks only for itself on its streams.
    if (m.from !== this.peer.id || m.to !== this.ctx.id) {
      c.receiveDrops++;
      this.ctx.logger.warning(
        `rafthttp: dropped a message from ${m.from.toString(16)} to ${m.to.toString(16)} on ${this.peer.hex}'s stream`,
      );
      return;
    }
    c.receivedMessages++;
    if (this.type === StreamType.MsgAppV2) c.msgAppV2Received++;
    else c.messageReceived++;
    this.peer.deliver(m);
  }

  private onClose(req: ClientRequest): void {
    if (this.req !== req) return;
    this.req = null;
    this.decoder = null;
    const name = streamTypeNames[this.type];
    const err = this.error;
    if (this.stopped) {
      this.connected = false;
      return;
    }
    if (this.connected) {
      this.connected = false;
      this.ctx.logger.warning(
        `rafthttp: lost ${name} reader connection with peer ${this.peer.hex}${err === null ? " (EOF)" : `: ${err.message}`}`,
      );
      if (err !== null) this.peer.status.deactivate(`${name} read`, err.message);
    } else {
      const e = err ?? new RaftHttpError(RaftHttpErrorCode.Network, "connection closed");
      this.ctx.logger.debug(`rafthttp: failed to dial ${name} of peer ${this.peer.hex}: ${e.message}`);
      if (e.code !== RaftHttpErrorCode.UnsupportedStreamType)
        this.peer.status.deactivate(`${name} dial`, e.message);
    }
    const wait = Math.max(0, this.lastDial + this.ctx.timeouts.dialRetryInterval - performance.now());
    this.timer = setTimeout(this.dialTask, wait);
  }

  stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const req = this.req;
    if (req === null) return Promise.resolve();
    const done = new Promise<void>((r) => req.once("close", () => r()));
    req.destroy(stoppedError());
    return done;
  }
}

/** etcd's reading of a 412 body. */
export function preconditionError(body: string): RaftHttpError {
  const text = body.endsWith("\n") ? body.slice(0, -1) : body;
  if (text === "incompatible version") {
    return new RaftHttpError(RaftHttpErrorCode.IncompatibleVersion, "incompatible version", 412);
  }
  if (text === "cluster ID mismatch") {
    return new RaftHttpError(RaftHttpErrorCode.ClusterIdMismatch, "cluster ID mismatch", 412);
  }
  return new RaftHttpError(
    RaftHttpErrorCode.UnexpectedStatus,
    `unhandled error "${text}" when precondition failed`,
    412,
  );
}
