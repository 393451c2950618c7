// GET /raft/stream/{msgapp,message}/<from>: etcd's streamHandler.
//
// Who dials whom: a stream carries messages one way, from the member that
// answers the GET to the member that dialed it. Peer `from` dials us to
// receive what we send it; we answer 200 and the response becomes our
// StreamWriter of that type towards `from` for as long as it lives. Our own
// StreamReaders dial `from` the same way for its messages to us. So the
// handler hands out a channel for *our* outgoing traffic: only `from` itself
// may open it (RequestChecks.senderRefusal), or another party could read
// what we send to `from` or cut it off by replacing its stream.
//
// Order of checks (each one answers and stops):
//   405 not a GET → 412 version / cluster ID → 404 unknown stream type
//   ("invalid path") or unparsable sender ("invalid from") → 410 removed
//   sender → 404 no peer for the sender ("error sender not found"; its
//   X-PeerURLs are learnt so it can at least be answered over the pipeline)
//   → 412 X-Raft-To is not us → 404 identity checks → 200, stream attached.
// A stream is only ever attached for a peer (never for a remote or a
// vouched-for sender): stream writers exist per peer, and an unknown sender's
// traffic goes by pipeline until membership makes it a peer.
//
// Every answer, errors included, carries X-Server-Version and
// X-Etcd-Cluster-ID: etcd's dialers read the version before the status.

import type { IncomingMessage, ServerResponse } from "node:http";
import { RaftHttpError, RaftHttpErrorCode } from "./errors.ts";
import { parseId } from "./ids.ts";
import { type HandlerHost, header, httpError, type RequestChecks } from "./request_checks.ts";
import { StreamType, streamTypePaths } from "./stream.ts";

export class StreamHandler {
  private readonly host: HandlerHost;
  private readonly checks: RequestChecks;

  constructor(host: HandlerHost, checks: RequestChecks) {
    this.host = host;
    this.checks = checks;
  }

  /** `path`: the request path without its query. */
  serve(req: IncomingMessage, res: ServerResponse, path: string): void {
    const ctx = this.host.ctx;
    const checks = this.checks;
    if (req.method !== "GET") {
      res.setHeader("Allow", "GET");
      httpError(res, 405, "Method Not Allowed");
      return;
    }
    res.setHeader("X-Server-Version", ctx.serverVersionText);
    res.setHeader("X-Etcd-Cluster-ID", ctx.clusterHex);
    if (!checks.compatible(req, res)) return;
    const target = parseStreamPath(path);
    if (typeof target === "string") {
      checks.reject(req, res, 404, new RaftHttpError(RaftHttpErrorCode.UnexpectedStatus, target, 404));
      return;
    }
    const { type, from } = target;
    if (ctx.raft.isIDRemoved(from)) {
      // 410 is how the dialer learns it was removed (it stops for good).
      checks.reject(req, res, 410, new RaftHttpError(RaftHttpErrorCode.MemberRemoved, "removed member", 410));
      return;
    }
    const p = this.host.peer(from);
    if (p === undefined) {
      checks.learnSender(req);
      checks.reject(
        req,
        res,
        404,
        new RaftHttpError(RaftHttpErrorCode.UnexpectedStatus, "error sender not found", 404),
      );
      return;
    }
    if (header(req, "x-raft-to") !== ctx.hex) {
      checks.reject(
        req,
        res,
        412,
        new RaftHttpError(RaftHttpErrorCode.UnexpectedStatus, "to field mismatch", 412),
      );
      return;
    }
    // Our messages to `from` go down this stream: only `from` may open it.
    const why = checks.senderRefusal(req, from);
    if (why !== undefined) {
      checks.logRefusal(req, RaftHttpErrorCode.UnknownSender, why);
      httpError(res, 404, why);
      return;
    }
    // "Connection: close" makes ending the response close the socket too.
    res.writeHead(200, { Connection: "close" });
    res.flushHeaders();
    req.socket.setNoDelay(true);
    // A second stream of the same type replaces the first (the peer redialled);
    // a stopped writer refuses it and the connection is cut.
    if (!p.attach(type, res)) res.destroy();
  }
}

/**
 * `/raft/stream/<msgapp|message>/<from>` → the stream type and the dialer's
 * member ID, or etcd's 404 text: "invalid path" for another type, "invalid
 * from" for an ID that is not base-16 of at most 64 bits (parseId).
 */
function parseStreamPath(path: string): { type: StreamType; from: bigint } | string {
  const slash = path.lastIndexOf("/");
  const dir = path.slice(0, slash);
  let type: StreamType;
  if (dir === `/raft/stream/${streamTypePaths[0]}`) type = StreamType.MsgAppV2;
  else if (dir === `/raft/stream/${streamTypePaths[1]}`) type = StreamType.Message;
  else return "invalid path";
  const from = parseId(path.slice(slash + 1));
  return from === undefined ? "invalid from" : { type, from };
}
