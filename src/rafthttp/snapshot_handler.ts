// POST /raft/snapshot: etcd's snapshotHandler, receiving a "merged snapshot
// message": u64be(n) + a MsgSnap of n bytes, followed by the application's
// snapshot data (for etcd, the backend database) up to the end of the body.
//
// Order of checks (each one answers and stops):
//   405 not a POST → 412 version / cluster ID → learn X-PeerURLs → 413 declared
//   size above 8 + maxSnapshotEnvelopeBytes + maxSnapshotBytes → 400 envelope
//   unreadable, too large or not a MsgSnap → 403 / 404 sender checks
//   (refuseMessage) → data saved (413 above maxSnapshotBytes, 500 when saving
//   fails) → raft.process → 204, or the process error's answer.
//
// Invariant: raft sees the MsgSnap only after saveSnapshotData resolved, i.e.
// once the data it refers to is durable. raft's answer to the snapshot (and
// the application's restore) may then rely on the data being there; a
// transfer that fails at any point before leaves raft untouched, and the
// sender's raft retries the snapshot later. The sender is checked on the
// envelope, before any data reaches saveSnapshotData (the request is paused
// after the envelope), so an unknown or removed member cannot make us write
// anything.

import type { IncomingMessage, ServerResponse } from "node:http";
import { PassThrough, type Readable } from "node:stream";
import { decodeMessage, type Message, MessageType } from "../raftpb/index.ts";
import { ByteQueue } from "./codec.ts";
import { limitExceeded, RaftHttpError, RaftHttpErrorCode } from "./errors.ts";
import { describe, type HandlerHost, httpError, type RequestChecks } from "./request_checks.ts";

export class SnapshotHandler {
  private readonly host: HandlerHost;
  private readonly checks: RequestChecks;

  constructor(host: HandlerHost, checks: RequestChecks) {
    this.host = host;
    this.checks = checks;
  }

  async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ctx = this.host.ctx;
    const checks = this.checks;
    if (req.method !== "POST") {
      res.setHeader("Allow", "POST");
      httpError(res, 405, "Method Not Allowed");
      return;
    }
    res.setHeader("X-Etcd-Cluster-ID", ctx.clusterHex);
    if (!checks.compatible(req, res)) return;
    checks.learnSender(req);
    const limits = ctx.limits;
    if (checks.declaredTooLarge(req, res, 8 + limits.maxSnapshotEnvelopeBytes + limits.maxSnapshotBytes))
      return;
    const env = await this.readSnapshotMessage(req, res);
    if (env === undefined) return;
    const m = env.message;
    if (checks.refuseMessage(req, res, m)) {
      req.resume();
      return;
    }
    const dataBytes = await this.saveData(req, res, env);
    if (dataBytes === undefined) return;
    const c = this.host.counters(m.from);
    if (c !== undefined) {
      c.receivedMessages++;
      c.snapshotReceived++;
      c.receivedBytes += env.size + dataBytes;
    }
    ctx.logger.info(
      `rafthttp: received and saved database snapshot from ${describe(req)} [index ${m.snapshot?.metadata.index ?? 0}, ${dataBytes} bytes]`,
    );
    try {
      await ctx.raft.process(m);
    } catch (err) {
      checks.processError(
        req,
        res,
        err,
        `failed to process raft message (${String((err as Error)?.message ?? err)})`,
      );
      return;
    }
    res.writeHead(204);
    res.end();
  }

  /** The envelope, which must hold a MsgSnap; undefined when the request was answered 400. */
  private async readSnapshotMessage(
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<Envelope | undefined> {
    const log = this.host.ctx.logger;
    let env: Envelope;
    try {
      env = await readEnvelope(req, this.host.ctx.limits.maxSnapshotEnvelopeBytes);
    } catch (err) {
      const e =
        err instanceof RaftHttpError ? err : new RaftHttpError(RaftHttpErrorCode.BadFrame, String(err));
      log.error(`rafthttp: bad snapshot from ${describe(req)}: [${e.code}] ${e.message}`);
      req.resume();
      httpError(res, 400, `failed to decode raft message (${e.message})`);
      return undefined;
    }
    if (env.message.type !== MessageType.MsgSnap) {
      log.error(
        `rafthttp: bad snapshot from ${describe(req)}: [${RaftHttpErrorCode.BadFrame}] wrong raft message type`,
      );
      req.resume();
      httpError(res, 400, "wrong raft message type");
      return undefined;
    }
    return env;
  }

  /**
   * Hands the data part to saveSnapshotData and reads it to its end; the
   * number of data bytes once it is saved, or undefined when the request was
   * answered (413 over maxSnapshotBytes, 500 when saving failed).
   */
  private async saveData(
    req: IncomingMessage,
    res: ServerResponse,
    env: Envelope,
  ): Promise<number | undefined> {
    const body = snapshotData(req, env.rest, this.host.ctx.limits.maxSnapshotBytes);
    const data = body.stream;
    try {
      const save = this.host.saveSnapshotData;
      if (save === undefined) {
        // Without a hook only an empty data part can be accepted: raft must
        // not be told of a snapshot whose data went nowhere.
        await drain(data);
        if (body.bytes > 0) throw new Error("no saveSnapshotData hook is configured");
      } else {
        await save(env.message, data);
        // The hook may stop reading early; the rest is read so the size limit
        // and an aborted upload are still noticed before raft sees the message.
        await drain(data);
      }
    } catch (err) {
      const e = data.errored ?? err;
      req.resume();
      if (e instanceof RaftHttpError && e.code === RaftHttpErrorCode.LimitExceeded) {
        this.checks.tooLarge(req, res, e);
        return undefined;
      }
      this.host.ctx.logger.error(
        `rafthttp: failed to save snapshot data from ${describe(req)}: ${String(e)}`,
      );
      httpError(res, 500, `failed to save KV snapshot (${e instanceof Error ? e.message : String(e)})`);
      return undefined;
    }
    return body.bytes;
  }
}

/** The MsgSnap at the start of a snapshot POST. */
interface Envelope {
  message: Message;
  /** Frame size without the 8-byte prefix (etcd's accounting). */
  size: number;
  /** Bytes read past the frame: the start of the snapshot data. */
  rest: Uint8Array;
}

/**
 * Reads the u64be length + Message at the start of a snapshot POST, then
 * pauses the request (the data is read only once the sender was checked).
 */
function readEnvelope(req: IncomingMessage, limit: number): Promise<Envelope> {
  return new Promise<Envelope>((resolve, reject) => {
    const q = new ByteQueue();
    let need = -1;
    const done = (err: Error | null, env?: Envelope): void => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.pause();
      if (err !== null) reject(err);
      else resolve(env!);
    };
    const onData = (c: Buffer): void => {
      q.push(c);
      if (need < 0) {
        if (q.length < 8) return;
        need = q.u64();
        if (need < 0 || need > limit) {
          done(limitExceeded("snapshot message", need < 0 ? Infinity : need, limit));
          return;
        }
      }
      if (q.length < need) return;
      let m: Message;
      try {
        m = decodeMessage(q.take(need), { copy: true });
      } catch (err) {
        done(new RaftHttpError(RaftHttpErrorCode.BadFrame, (err as Error).message, 400, err));
        return;
      }
      done(null, { message: m, size: need, rest: q.length > 0 ? q.take(q.length) : new Uint8Array(0) });
    };
    const onEnd = (): void => done(new RaftHttpError(RaftHttpErrorCode.UnexpectedEof, "unexpected EOF"));
    const onError = (err: Error): void => done(err);
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
  });
}

interface SnapshotBody {
  stream: PassThrough;
  /** Data bytes received so far. */
  bytes: number;
}

/**
 * The snapshot data: what followed the envelope, then the rest of the
 * request, capped at `limit`. Going past the limit or an aborted upload
 * destroys the stream with the error, so the saving hook fails rather than
 * keeping a truncated snapshot.
 */
function snapshotData(req: IncomingMessage, rest: Uint8Array, limit: number): SnapshotBody {
  const out = new PassThrough({ highWaterMark: 1024 * 1024 });
  const body: SnapshotBody = { stream: out, bytes: rest.length };
  const fail = (err: Error): void => {
    req.unpipe(out);
    out.destroy(err);
  };
  if (body.bytes > limit) {
    queueMicrotask(() => fail(limitExceeded("snapshot data", body.bytes, limit)));
    return body;
  }
  if (body.bytes > 0) out.write(rest);
  req.on("data", (c: Buffer) => {
    body.bytes += c.length;
    if (body.bytes > limit) fail(limitExceeded("snapshot data", body.bytes, limit));
  });
  req.on("close", () => {
    if (!req.complete) fail(new RaftHttpError(RaftHttpErrorCode.UnexpectedEof, "snapshot upload aborted"));
  });
  req.pipe(out);
  req.resume();
  return body;
}

/** Reads what is left of a stream (resolves at its end, rejects on its error). */
function drain(s: Readable): Promise<void> {
  if (s.readableEnded) return Promise.resolve();
  if (s.errored) return Promise.reject(s.errored);
  return new Promise<void>((resolve, reject) => {
    s.once("end", resolve);
    s.once("error", reject);
    s.once("close", () => (s.readableEnded ? resolve() : reject(s.errored ?? new Error("stream closed"))));
    s.resume();
  });
}
