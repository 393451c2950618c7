// POST /raft: etcd's pipelineHandler. One raft message per request, sent by a
// peer while its streams to us are down, by a member that knows us only as a
// remote, and for a MsgSnap given to send() (a snapshot with application data
// goes to POST /raft/snapshot instead).
//
// Order of checks (each one answers and stops):
//   405 not a POST → 412 version / cluster ID (RequestChecks.compatible) →
//   learn X-PeerURLs → 413 declared or read size above maxMessageBytes /
//   socket dropped when the shared body budget is full or the body stalls →
//   400 unreadable or undecodable body → 403 from a removed member or to
//   another member / 404 unknown or unproven sender (refuseMessage) →
//   raft.process → 204, or the process error's answer.
//
// The answer is written only after raft.process settled, so a 204 means raft
// has taken the message (etcd answers after Process returns too); the sender
// counts it delivered and, for a MsgSnap, reports the snapshot finished. A
// message is processed at most once per request; a pipeline gives no ordering
// between requests (a peer runs up to pipelineConcurrency POSTs at once), which
// raft tolerates: every message carries its term and indexes.

import type { IncomingMessage, ServerResponse } from "node:http";
import { decodeMessage, type Message } from "../raftpb/index.ts";
import { type BodyBudget, readBody } from "./body_budget.ts";
import { RaftHttpError, RaftHttpErrorCode } from "./errors.ts";
import { describe, type HandlerHost, httpError, type RequestChecks } from "./request_checks.ts";

export class PipelineHandler {
  private readonly host: HandlerHost;
  private readonly checks: RequestChecks;
  private readonly budget: BodyBudget;

  constructor(host: HandlerHost, checks: RequestChecks, budget: BodyBudget) {
    this.host = host;
    this.checks = checks;
    this.budget = budget;
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
    const limit = ctx.limits.maxMessageBytes;
    if (checks.declaredTooLarge(req, res, limit)) return;
    let body: Buffer;
    try {
      body = await readBody(req, limit, this.budget, ctx.timeouts.bodyIdleTimeout);
    } catch (err) {
      if (err instanceof RaftHttpError && err.code === RaftHttpErrorCode.Busy) {
        // Over budget or stalled: no answer is owed to a sender that is
        // flooding or stalling us, and closing frees the connection at once.
        checks.logRefusal(req, err.code, err.message);
        req.socket.destroy();
      } else if (err instanceof RaftHttpError && err.code === RaftHttpErrorCode.LimitExceeded)
        checks.tooLarge(req, res, err);
      else
        checks.reject(
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
      ctx.logger.error(
        `rafthttp: bad pipeline body from ${describe(req)}: [${RaftHttpErrorCode.BadFrame}] ${String((err as Error).message)}`,
      );
      httpError(res, 400, "error unmarshalling raft message");
      return;
    }
    if (checks.refuseMessage(req, res, m)) return;
    const c = this.host.counters(m.from);
    if (c !== undefined) {
      c.receivedMessages++;
      c.pipelineReceived++;
      c.receivedBytes += body.length;
    }
    this.host.peer(m.from)?.observe(m);
    try {
      await ctx.raft.process(m);
    } catch (err) {
      checks.processError(req, res, err, "error processing raft message");
      return;
    }
    res.writeHead(204);
    res.end();
  }
}
