// The checks every peer request passes before raft sees anything it carries,
// shared by the pipeline, snapshot and stream handlers, and the answers they
// give. This is where docs/rafthttp.md's trust model is enforced:
//
//   - Compatibility (etcd's checkClusterCompatibilityFromHeader): the
//     sender's X-Server-Version / X-Min-Cluster-Version must be compatible
//     with ours (412 "incompatible version") and X-Etcd-Cluster-ID must equal
//     ours exactly, as text (412 "cluster ID mismatch"). Both come first:
//     a request from another cluster or an incompatible version says nothing
//     else we may act on, not even its X-PeerURLs.
//   - Membership: a message from a removed member, or addressed to another
//     member, gets 403, as etcd answers both. etcd's senders read any 403 as
//     "you were removed" and stop for good, which is right only for the
//     first; ours stop only on the first one's body (checkPostResponse), so
//     a member is retired only by a peer that applied its removal. Removed
//     means in the removed set of the applied membership (isIDRemoved): a
//     member we do not know yet is never "removed" (see Identity).
//   - Identity: the sender must be a peer of this transport (a current
//     member), or a member one of our peers vouches for (it is in that
//     peer's GET /members), or any sender at all with acceptUnknownSenders.
//     X-Server-From, when present, must name the member the message is from,
//     and with verifyMemberIdentity the TLS client certificate must be the
//     one issued for that member's peer URLs. A failed identity check gets
//     404, never 403: the sender may be a legitimate member we do not know
//     yet (we are starting, or behind on membership), and it must retry
//     rather than stop.
//
// Nothing a peer sends can throw out of here: every refusal is an answer with
// etcd's status and body text (they are part of the protocol), logged with
// the typed error's code. Refusals because of the sender are counted and
// logged at most once a minute per (address, claimed sender, reason), so a
// forging or misconfigured peer cannot flood the log.

import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { certMatchesPeerURLs } from "../pki/index.ts";
import type { Message } from "../raftpb/index.ts";
import type { Ctx } from "./context.ts";
import {
  limitExceeded,
  ProcessError,
  RaftHttpError,
  RaftHttpErrorCode,
  removedSenderText,
} from "./errors.ts";
import { formatId, parseId } from "./ids.ts";
import type { Peer } from "./peer.ts";
import type { PeerCounters } from "./stats.ts";
import type { TlsPeerVerifier } from "./tls.ts";
import type { PeerMember, PeerVersions, SaveSnapshotData } from "./types.ts";
import { type Semver, versionsCompatible } from "./version.ts";

/** What the handlers need from the transport that owns them (the Transport's core implements it). */
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

/** Go's http.Error: plain text, nosniff, body + "\n". A response already under way is cut instead. */
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

/** etcd's 403 body for a refused message: `{"message":"…"}` and a newline. */
function jsonError(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(`${JSON.stringify({ message })}\n`);
}

/** A request header's (first) value. */
export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** How a request is named in log lines: method, target, claimed sender and address. */
export function describe(req: IncomingMessage): string {
  return `${req.method} ${req.url} from ${header(req, "x-server-from") ?? "?"} (${req.socket.remoteAddress ?? "?"})`;
}

/** Refusals are logged once per key per this interval (and always counted). */
const REFUSAL_LOG_MS = 60_000;
/** Keys remembered for that; the table is dropped whole beyond this (a flood of fresh keys costs one log line each). */
const REFUSAL_LOG_KEYS = 1024;

/** The shared checks and answers; one instance per handler (its refusal log is per handler). */
export class RequestChecks {
  private readonly host: HandlerHost;
  private readonly ctx: Ctx;
  private readonly lastLogged = new Map<string, number>();

  constructor(host: HandlerHost) {
    this.host = host;
    this.ctx = host.ctx;
  }

  /** Refuses a request with `status` and the error's message as the body, logging its code. */
  reject(req: IncomingMessage, res: ServerResponse, status: number, err: RaftHttpError): void {
    this.ctx.logger.warning(`rafthttp: rejected ${describe(req)}: [${err.code}] ${err.message}`);
    httpError(res, status, err.message);
  }

  /**
   * Version and cluster checks, the first thing pipeline, snapshot and
   * stream requests pass; false when the request was answered with 412.
   */
  compatible(req: IncomingMessage, res: ServerResponse): boolean {
    const ctx = this.ctx;
    if (
      !versionsCompatible(
        header(req, "x-server-version"),
        header(req, "x-min-cluster-version"),
        ctx.version,
        this.host.minVersion,
      )
    ) {
      this.reject(
        req,
        res,
        412,
        new RaftHttpError(RaftHttpErrorCode.IncompatibleVersion, "incompatible version", 412),
      );
      return false;
    }
    // Exact text comparison, as etcd does: IDs on the wire are canonical hex (ids.ts).
    const cid = header(req, "x-etcd-cluster-id");
    if (cid !== ctx.clusterHex) {
      ctx.logger.warning(
        `rafthttp: rejected ${describe(req)}: [${RaftHttpErrorCode.ClusterIdMismatch}] cluster ID mismatch (local ${ctx.clusterHex}, remote ${cid ?? "none"})`,
      );
      httpError(res, 412, "cluster ID mismatch");
      return false;
    }
    return true;
  }

  /**
   * etcd's "add remote from X-PeerURLs": a sender we neither peer with nor
   * know as a remote gets a pipeline-only remote, so our answers (vote
   * responses, append responses) can reach a member that joined while we
   * were behind. Learning an address grants nothing: whether the sender's
   * messages are processed is still decided by senderRefusal.
   */
  learnSender(req: IncomingMessage): void {
    const from = header(req, "x-server-from");
    const urls = header(req, "x-peerurls");
    if (from === undefined || urls === undefined || urls === "") return;
    const id = parseId(from);
    if (id !== undefined && id !== 0n && id !== this.ctx.id) this.host.learnRemote(id, urls.split(","));
  }

  /** 413 for a body above a limit. The rest of the body is read and discarded, so the client sees the answer. */
  tooLarge(req: IncomingMessage, res: ServerResponse, err: RaftHttpError): void {
    req.resume();
    this.reject(req, res, 413, err);
  }

  /** A declared Content-Length above `limit`: refused (413) before a byte of the body is read. */
  declaredTooLarge(req: IncomingMessage, res: ServerResponse, limit: number): boolean {
    const cl = header(req, "content-length");
    if (cl === undefined) return false;
    const n = Number(cl);
    if (!(n > limit)) return false;
    this.tooLarge(req, res, limitExceeded("request body", n, limit));
    return true;
  }

  /**
   * Answers a POST whose message raft.process refused: a ProcessError picks
   * the status; anything else is 500 with the connection closed (etcd aborts
   * the connection mid-response instead).
   */
  processError(req: IncomingMessage, res: ServerResponse, err: unknown, text: string): void {
    const log = this.ctx.logger;
    if (err instanceof ProcessError) {
      log.warning(`rafthttp: raft refused ${describe(req)}: ${err.message}`);
      httpError(res, err.status, err.message);
      return;
    }
    log.warning(`rafthttp: failed to process raft message from ${describe(req)}: ${String(err)}`);
    res.setHeader("Connection", "close");
    httpError(res, 500, text);
  }

  /** Counts a refusal because of the sender and logs it, once a minute per (address, sender, reason). */
  logRefusal(req: IncomingMessage, code: string, why: string): void {
    this.host.noteRefused();
    const key = `${req.socket.remoteAddress}|${header(req, "x-server-from") ?? "?"}|${why}`;
    const now = this.ctx.now();
    if (now - (this.lastLogged.get(key) ?? Number.NEGATIVE_INFINITY) < REFUSAL_LOG_MS) return;
    if (this.lastLogged.size > REFUSAL_LOG_KEYS) this.lastLogged.clear();
    this.lastLogged.set(key, now);
    this.ctx.logger.warning(
      `rafthttp: rejected ${describe(req)}: [${code}] ${why} (repeats logged once a minute)`,
    );
  }

  /**
   * Why a request speaking for member `from` must be refused, or undefined:
   * the sender must be a current member (a peer of this transport), its
   * X-Server-From header must name the same member, and with
   * verifyMemberIdentity its TLS certificate must be that member's.
   */
  senderRefusal(req: IncomingMessage, from: bigint): string | undefined {
    const ctx = this.ctx;
    const claimed = header(req, "x-server-from");
    if (claimed !== undefined && parseId(claimed) !== from) {
      return `sender mismatch: X-Server-From ${claimed} but the message is from ${formatId(from)}`;
    }
    const p = this.host.peer(from);
    if (p === undefined) {
      // A member the cluster added while we were behind may speak for itself;
      // its identity is then proved by the cluster CA alone (no peer URLs yet).
      if (ctx.acceptUnknownSenders || this.host.vouched(from)) return undefined;
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
  }

  /**
   * etcd's Process checks for a POSTed message, then the identity checks;
   * true when the request was answered (403 removed / to another member,
   * 404 unknown or unproven sender) and the message must not reach raft.
   */
  refuseMessage(req: IncomingMessage, res: ServerResponse, m: Message): boolean {
    let why: string | undefined;
    if (this.ctx.raft.isIDRemoved(m.from)) why = removedSenderText;
    else if (m.to !== this.ctx.id) why = "cannot process message to mismatch member";
    if (why !== undefined) {
      this.logRefusal(req, RaftHttpErrorCode.MemberRemoved, why);
      jsonError(res, 403, why);
      return true;
    }
    why = this.senderRefusal(req, m.from);
    if (why === undefined) return false;
    // 404, not 403: see the header comment (a 403 would stop a legitimate sender for good).
    this.logRefusal(req, RaftHttpErrorCode.UnknownSender, why);
    httpError(res, 404, why);
    return true;
  }

  /** A handler failed unexpectedly: 500 if nothing was answered yet, else the response is cut. */
  internal(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    this.ctx.logger.error(`rafthttp: internal error serving ${describe(req)}: ${String(err)}`);
    if (!res.headersSent) httpError(res, 500, "internal error");
    else res.destroy();
  }
}
