// The server side: etcd's /raft handlers. Every rejection is answered the way
// etcd answers it (status and body text are part of the protocol) and logged
// with the typed error's code; nothing a peer sends can throw out of here.

import type { IncomingMessage, ServerResponse } from "node:http";
import { PassThrough, type Readable } from "node:stream";
import type { TLSSocket } from "node:tls";
import { certMatchesPeerURLs } from "../pki/index.ts";
import { decodeMessage, type Message, MessageType } from "../raftpb/index.ts";
import { ByteQueue } from "./codec.ts";
import type { Ctx } from "./context.ts";
import { limitExceeded, ProcessError, RaftHttpError, RaftHttpErrorCode } from "./errors.ts";
import { formatId, parseId } from "./ids.ts";
import type { Peer } from "./peer.ts";
import { allowMethod, serveMembers, serveVersion } from "./peer_api.ts";
import { serveProbe } from "./probe.ts";
import type { PeerCounters } from "./stats.ts";
import { StreamType, streamTypePaths } from "./stream.ts";
import type { TlsPeerVerifier } from "./tls.ts";
import type { PeerMember, PeerVersions, SaveSnapshotData } from "./types.ts";
import { type Semver, versionsCompatible } from "./version.ts";

export interface HandlerHost {
  readonly ctx: Ctx;
  readonly minVersion: Semver;
  readonly stopped: boolean;
  readonly verifier: TlsPeerVerifier | null;
  readonly saveSnapshotData: SaveSnapshotData | undefined;
  peer(id: bigint): Peer | undefined;
  /** Counters of the peer or remote `id`, if known. */
  counters(id: bigint): PeerCounters | undefined;
  /** Registers a sender learnt from X-PeerURLs as a remote (if neither peer nor remote yet). */
  learnRemote(id: bigint, urls: string[]): void;
  /** The owner's membership for `GET /members`; undefined: not served (404). */
  readonly members: (() => readonly PeerMember[]) | undefined;
  /** What `GET /version` answers. */
  versions(): Required<PeerVersions>;
  /** Counts a message or request refused because of who sent it (metrics). */
  noteRefused(): void;
  /** Whether a sender we have no peer for is vouched for by our peers (see Transport). */
  vouched(id: bigint): boolean;
}

/** Go's http.Error: plain text, nosniff, body + "\n". */
export function httpError(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    "Content-Type": "text/plain; charset=utf-8",
    "X-Content-Type-Options": "nosniff",
  });
  res.end(`${text}\n`);
}

function jsonError(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(`${JSON.stringify({ message })}\n`);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function describe(req: IncomingMessage): string {
  return `${req.method} ${req.url} from ${header(req, "x-server-from") ?? "?"} (${req.socket.remoteAddress ?? "?"})`;
}

export function createHandler(host: HandlerHost): (req: IncomingMessage, res: ServerResponse) => void {
  const ctx = host.ctx;
  const log = ctx.logger;
  const budget: BodyBudget = { inFlight: 0, max: ctx.limits.maxInflightBodyBytes };

  const reject = (req: IncomingMessage, res: ServerResponse, status: number, err: RaftHttpError): void => {
    log.warning(`rafthttp: rejected ${describe(req)}: [${err.code}] ${err.message}`);
    httpError(res, status, err.message);
  };

  // Version and cluster checks shared by pipeline, snapshot and stream requests.
  const checkCommon = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (
      !versionsCompatible(
        header(req, "x-server-version"),
        header(req, "x-min-cluster-version"),
        ctx.version,
        host.minVersion,
      )
    ) {
      reject(
        req,
        res,
        412,
        new RaftHttpError(RaftHttpErrorCode.IncompatibleVersion, "incompatible version", 412),
      );
      return false;
    }
    const cid = header(req, "x-etcd-cluster-id");
    if (cid !== ctx.clusterHex) {
      log.warning(
        `rafthttp: rejected ${describe(req)}: [${RaftHttpErrorCode.ClusterIdMismatch}] cluster ID mismatch (local ${ctx.clusterHex}, remote ${cid ?? "none"})`,
      );
      httpError(res, 412, "cluster ID mismatch");
      return false;
    }
    return true;
  };

  const learnSender = (req: IncomingMessage): void => {
    const from = header(req, "x-server-from");
    const urls = header(req, "x-peerurls");
    if (from === undefined || urls === undefined || urls === "") return;
    const id = parseId(from);
    if (id !== undefined && id !== 0n && id !== ctx.id) host.learnRemote(id, urls.split(","));
  };

  const tooLarge = (req: IncomingMessage, res: ServerResponse, err: RaftHttpError): void => {
    // The rest of the body is read and discarded by Node, so the client sees the answer.
    req.resume();
    reject(req, res, 413, err);
  };

  // Declared size above the limit: refuse before reading anything.
  const declaredTooLarge = (req: IncomingMessage, res: ServerResponse, limit: number): boolean => {
    const cl = header(req, "content-length");
    if (cl === undefined) return false;
    const n = Number(cl);
    if (!(n > limit)) return false;
    tooLarge(req, res, limitExceeded("request body", n, limit));
    return true;
  };

  const processError = (req: IncomingMessage, res: ServerResponse, err: unknown, text: string): void => {
    if (err instanceof ProcessError) {
      log.warning(`rafthttp: raft refused ${describe(req)}: ${err.message}`);
      httpError(res, err.status, err.message);
      return;
    }
    log.warning(`rafthttp: failed to process raft message from ${describe(req)}: ${String(err)}`);
    // etcd aborts the connection here; we answer 500 and close it.
    res.setHeader("Connection", "close");
    httpError(res, 500, text);
  };

  // etcd's Process checks: removed senders and messages meant for another member get 403.
  // Refusals are logged once per sender per minute: a forging or misconfigured
  // peer must not flood the log.
  const lastLogged = new Map<string, number>();
  const logRefusal = (req: IncomingMessage, code: string, why: string): void => {
    host.noteRefused();
    const key = `${req.socket.remoteAddress}|${header(req, "x-server-from") ?? "?"}|${why}`;
    const now = ctx.now();
    if (now - (lastLogged.get(key) ?? Number.NEGATIVE_INFINITY) < 60_000) return;
    if (lastLogged.size > 1024) lastLogged.clear();
    lastLogged.set(key, now);
    log.warning(`rafthttp: rejected ${describe(req)}: [${code}] ${why} (repeats logged once a minute)`);
  };

  /**
   * Why a request speaking for member `from` must be refused, or undefined:
   * the sender must be a current member (a peer of this transport), its
   * X-Server-From header must name the same member, and with
   * verifyMemberIdentity its TLS certificate must be that member's.
   */
  const senderRefusal = (req: IncomingMessage, from: bigint): string | undefined => {
    const claimed = header(req, "x-server-from");
    if (claimed !== undefined && parseId(claimed) !== from) {
      return `sender mismatch: X-Server-From ${claimed} but the message is from ${formatId(from)}`;
    }
    const p = host.peer(from);
    if (p === undefined) {
      // A member the cluster added while we were behind may speak for itself;
      // its identity is then proved by the cluster CA alone (no peer URLs yet).
      if (ctx.acceptUnknownSenders || host.vouched(from)) return undefined;
      return `cannot process message from unknown member ${formatId(from)}`;
    }
    if (ctx.verifyMemberIdentity) {
      const sock = req.socket as TLSSocket;
      const cert = sock.encrypted === true ? sock.getPeerX509Certificate() : undefined;
      if (
        cert === undefined ||
        !certMatchesPeerURLs(
          cert,
          p.picker.urls.map((u) => u.href),
        )
      ) {
        return `the client certificate does not belong to member ${formatId(from)}`;
      }
    }
    return undefined;
  };

  const refuseMember = (req: IncomingMessage, res: ServerResponse, m: Message): boolean => {
    let why: string | undefined;
    if (ctx.raft.isIDRemoved(m.from)) why = "cannot process message from removed member";
    else if (m.to !== ctx.id) why = "cannot process message to mismatch member";
    if (why !== undefined) {
      logRefusal(req, RaftHttpErrorCode.MemberRemoved, why);
      jsonError(res, 403, why);
      return true;
    }
    why = senderRefusal(req, m.from);
    if (why === undefined) return false;
    // 404, not 403: etcd's senders (and ours) read a 403 as "you were removed"
    // and stop for good, while a legitimate sender we do not know yet (we are
    // starting, or behind on membership) must simply retry.
    logRefusal(req, RaftHttpErrorCode.UnknownSender, why);
    httpError(res, 404, why);
    return true;
  };

  const servePipeline = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== "POST") {
      res.setHeader("Allow", "POST");
      httpError(res, 405, "Method Not Allowed");
      return;
    }
    res.setHeader("X-Etcd-Cluster-ID", ctx.clusterHex);
    if (!checkCommon(req, res)) return;
    learnSender(req);
    const limit = ctx.limits.maxMessageBytes;
    if (declaredTooLarge(req, res, limit)) return;
    let body: Buffer;
    try {
      body = await readBody(req, limit, budget, ctx.timeouts.bodyIdleTimeout);
    } catch (err) {
      if (err instanceof RaftHttpError && err.code === RaftHttpErrorCode.Busy) {
        logRefusal(req, err.code, err.message);
        req.socket.destroy();
      } else if (err instanceof RaftHttpError && err.code === RaftHttpErrorCode.LimitExceeded)
        tooLarge(req, res, err);
      else
        reject(
          req,
          res,
          400,
          new RaftHttpError(RaftHttpErrorCode.Network, "error reading raft message", 400, err),
        );
      return;
    }
    let m: Message;
    try {
      m = decodeMessage(body);
    } catch (err) {
      log.error(
        `rafthttp: bad pipeline body from ${describe(req)}: [${RaftHttpErrorCode.BadFrame}] ${String((err as Error).message)}`,
      );
      httpError(res, 400, "error unmarshalling raft message");
      return;
    }
    if (refuseMember(req, res, m)) return;
    const c = host.counters(m.from);
    if (c !== undefined) {
      c.receivedMessages++;
      c.pipelineReceived++;
      c.receivedBytes += body.length;
    }
    host.peer(m.from)?.observe(m);
    try {
      await ctx.raft.process(m);
    } catch (err) {
      processError(req, res, err, "error processing raft message");
      return;
    }
    res.writeHead(204);
    res.end();
  };

  const serveSnapshot = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== "POST") {
      res.setHeader("Allow", "POST");
      httpError(res, 405, "Method Not Allowed");
      return;
    }
    res.setHeader("X-Etcd-Cluster-ID", ctx.clusterHex);
    if (!checkCommon(req, res)) return;
    learnSender(req);
    const limits = ctx.limits;
    if (declaredTooLarge(req, res, 8 + limits.maxSnapshotEnvelopeBytes + limits.maxSnapshotBytes)) return;
    let env: Envelope;
    try {
      env = await readEnvelope(req, limits.maxSnapshotEnvelopeBytes);
    } catch (err) {
      const e =
        err instanceof RaftHttpError ? err : new RaftHttpError(RaftHttpErrorCode.BadFrame, String(err));
      log.error(`rafthttp: bad snapshot from ${describe(req)}: [${e.code}] ${e.message}`);
      req.resume();
      httpError(res, 400, `failed to decode raft message (${e.message})`);
      return;
    }
    const m = env.message;
    if (m.type !== MessageType.MsgSnap) {
      log.error(
        `rafthttp: bad snapshot from ${describe(req)}: [${RaftHttpErrorCode.BadFrame}] wrong raft message type`,
      );
      req.resume();
      httpError(res, 400, "wrong raft message type");
      return;
    }
    if (refuseMember(req, res, m)) {
      req.resume();
      return;
    }
    const body = snapshotData(req, env.rest, limits.maxSnapshotBytes);
    const data = body.stream;
    try {
      const save = host.saveSnapshotData;
      if (save === undefined) {
        await drain(data);
        if (body.bytes > 0) throw new Error("no saveSnapshotData hook is configured");
      } else {
        await save(m, data);
        await drain(data);
      }
    } catch (err) {
      const e = data.errored ?? err;
      req.resume();
      if (e instanceof RaftHttpError && e.code === RaftHttpErrorCode.LimitExceeded) {
        tooLarge(req, res, e);
        return;
      }
      log.error(`rafthttp: failed to save snapshot data from ${describe(req)}: ${String(e)}`);
      httpError(res, 500, `failed to save KV snapshot (${e instanceof Error ? e.message : String(e)})`);
      return;
    }
    const c = host.counters(m.from);
    if (c !== undefined) {
      c.receivedMessages++;
      c.snapshotReceived++;
      c.receivedBytes += env.size + body.bytes;
    }
    log.info(
      `rafthttp: received and saved database snapshot from ${describe(req)} [index ${m.snapshot?.metadata.index ?? 0}, ${body.bytes} bytes]`,
    );
    try {
      await ctx.raft.process(m);
    } catch (err) {
      processError(
        req,
        res,
        err,
        `failed to process raft message (${String((err as Error)?.message ?? err)})`,
      );
      return;
    }
    res.writeHead(204);
    res.end();
  };

  const serveStream = (req: IncomingMessage, res: ServerResponse, path: string): void => {
    if (req.method !== "GET") {
      res.setHeader("Allow", "GET");
      httpError(res, 405, "Method Not Allowed");
      return;
    }
    // On every stream answer, errors included: etcd dialers read the version first.
    res.setHeader("X-Server-Version", ctx.serverVersionText);
    res.setHeader("X-Etcd-Cluster-ID", ctx.clusterHex);
    if (!checkCommon(req, res)) return;
    const slash = path.lastIndexOf("/");
    const dir = path.slice(0, slash);
    let type: StreamType;
    if (dir === `/raft/stream/${streamTypePaths[0]}`) type = StreamType.MsgAppV2;
    else if (dir === `/raft/stream/${streamTypePaths[1]}`) type = StreamType.Message;
    else {
      reject(req, res, 404, new RaftHttpError(RaftHttpErrorCode.UnexpectedStatus, "invalid path", 404));
      return;
    }
    const fromId = parseId(path.slice(slash + 1));
    if (fromId === undefined) {
      reject(req, res, 404, new RaftHttpError(RaftHttpErrorCode.UnexpectedStatus, "invalid from", 404));
      return;
    }
    const from = fromId;
    if (ctx.raft.isIDRemoved(from)) {
      reject(req, res, 410, new RaftHttpError(RaftHttpErrorCode.MemberRemoved, "removed member", 410));
      return;
    }
    const p = host.peer(from);
    if (p === undefined) {
      learnSender(req);
      reject(
        req,
        res,
        404,
        new RaftHttpError(RaftHttpErrorCode.UnexpectedStatus, "error sender not found", 404),
      );
      return;
    }
    if (header(req, "x-raft-to") !== ctx.hex) {
      reject(req, res, 412, new RaftHttpError(RaftHttpErrorCode.UnexpectedStatus, "to field mismatch", 412));
      return;
    }
    // Our messages to `from` go down this stream: only `from` may open it.
    const why = senderRefusal(req, from);
    if (why !== undefined) {
      logRefusal(req, RaftHttpErrorCode.UnknownSender, why);
      httpError(res, 404, why);
      return;
    }
    // "Connection: close" makes ending the response close the socket too.
    res.writeHead(200, { Connection: "close" });
    res.flushHeaders();
    req.socket.setNoDelay(true);
    if (!p.attach(type, res)) res.destroy();
  };

  const route = (req: IncomingMessage, res: ServerResponse, path: string): void => {
    if (path === "/raft") servePipeline(req, res).catch((err) => internal(req, res, err));
    else if (path === "/raft/probing") serveProbe(res, ctx.now());
    else if (path === "/raft/snapshot") serveSnapshot(req, res).catch((err) => internal(req, res, err));
    else if (path.startsWith("/raft/stream/")) serveStream(req, res, path);
    else if (path === "/version") {
      if (allowMethod(req, res, "GET", httpError)) serveVersion(res, host.versions());
    } else if (path === "/members" && host.members !== undefined) {
      if (allowMethod(req, res, "GET", httpError)) serveMembers(res, ctx.clusterHex, host.members());
    } else httpError(res, 404, "404 page not found");
  };

  const internal = (req: IncomingMessage, res: ServerResponse, err: unknown): void => {
    log.error(`rafthttp: internal error serving ${describe(req)}: ${String(err)}`);
    if (!res.headersSent) httpError(res, 500, "internal error");
    else res.destroy();
  };

  return (req: IncomingMessage, res: ServerResponse): void => {
    try {
      req.on("error", () => {});
      const url = req.url ?? "/";
      const q = url.indexOf("?");
      const path = q < 0 ? url : url.slice(0, q);
      if (host.stopped) {
        httpError(res, 503, "transport stopped");
        return;
      }
      const v = host.verifier;
      const sock = req.socket as TLSSocket;
      if (v !== null && sock.encrypted === true) {
        const ok = v.check(sock);
        if (ok === true) route(req, res, path);
        else if (ok === false) refuseTls(req);
        else ok.then((good) => (good ? route(req, res, path) : refuseTls(req)));
        return;
      }
      route(req, res, path);
    } catch (err) {
      internal(req, res, err);
    }
  };

  function refuseTls(req: IncomingMessage): void {
    log.warning(
      `rafthttp: rejected ${describe(req)}: [${RaftHttpErrorCode.TlsRejected}] client certificate failed the CN/hostname/SAN checks`,
    );
    req.socket.destroy();
  }
}

/** Pipeline body bytes held by all requests being read. */
interface BodyBudget {
  inFlight: number;
  max: number;
}

/**
 * Reads a whole body, failing past `limit` bytes, when the bodies being
 * read together would exceed the budget, or when the body stalls for
 * `idleMs`. Whatever it held is given back to the budget when it settles.
 */
function readBody(req: IncomingMessage, limit: number, budget: BodyBudget, idleMs: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    let held = 0;
    let idle = setTimeout(() => onStall(), idleMs);
    const onStall = (): void => {
      cleanup();
      reject(new RaftHttpError(RaftHttpErrorCode.Busy, `request body stalled for ${idleMs} ms`));
    };
    const onData = (c: Buffer): void => {
      n += c.length;
      if (n > limit) {
        cleanup();
        reject(limitExceeded("request body", n, limit));
        return;
      }
      if (budget.inFlight + c.length > budget.max) {
        cleanup();
        reject(
          new RaftHttpError(
            RaftHttpErrorCode.Busy,
            `pipeline bodies in flight would exceed ${budget.max} bytes; refusing this one`,
          ),
        );
        return;
      }
      budget.inFlight += c.length;
      held += c.length;
      clearTimeout(idle);
      idle = setTimeout(() => onStall(), idleMs);
      parts.push(c);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(parts.length === 1 ? parts[0]! : Buffer.concat(parts, n));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onAborted = (): void => onError(new Error("request aborted"));
    const cleanup = (): void => {
      clearTimeout(idle);
      budget.inFlight -= held;
      held = 0;
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    const onClose = (): void => {
      if (!req.complete) onAborted();
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}

interface Envelope {
  message: Message;
  /** Frame size without the 8-byte prefix (etcd's accounting). */
  size: number;
  /** Bytes read past the frame: the start of the snapshot data. */
  rest: Uint8Array;
}

/** Reads the u64be length + Message at the start of a snapshot POST, then pauses the request. */
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

/** The snapshot data: what followed the envelope, then the rest of the request, capped at `limit`. */
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
