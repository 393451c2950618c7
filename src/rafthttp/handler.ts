// The server side: etcd's peer handler, the mux in front of /raft and the
// peer info endpoints. It routes each request to the handler for its path:
//
//   POST /raft                    PipelineHandler  (pipeline_handler.ts)
//   GET  /raft/stream/<type>/<id> StreamHandler    (stream_handler.ts)
//   POST /raft/snapshot           SnapshotHandler  (snapshot_handler.ts)
//   /raft/probing, GET /version, GET /members      servePeerInfo (peer_api.ts)
//
// and answers everything else 404. The checks those handlers share (cluster
// ID, versions, sender identity, refusal logging) are RequestChecks
// (request_checks.ts); the pipeline body budget is body_budget.ts.
//
// Before routing: a stopped transport answers 503 to everything, and with
// peer TLS client verification (allowedCN / allowedHostnames / SAN checks)
// a connection whose certificate fails them is closed without an answer,
// whatever the path. Nothing a peer sends can throw out of here: a handler
// that fails unexpectedly gets a 500 (or a cut connection) and a log line.

import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { BodyBudget } from "./body_budget.ts";
import { RaftHttpErrorCode } from "./errors.ts";
import { servePeerInfo } from "./peer_api.ts";
import { PipelineHandler } from "./pipeline_handler.ts";
import { describe, type HandlerHost, httpError, RequestChecks } from "./request_checks.ts";
import { SnapshotHandler } from "./snapshot_handler.ts";
import { StreamHandler } from "./stream_handler.ts";

/** Routes peer requests to the pipeline, stream, snapshot and peer info handlers. */
class PeerHandler {
  private readonly host: HandlerHost;
  private readonly checks: RequestChecks;
  private readonly pipeline: PipelineHandler;
  private readonly snapshot: SnapshotHandler;
  private readonly stream: StreamHandler;

  constructor(host: HandlerHost) {
    this.host = host;
    this.checks = new RequestChecks(host);
    // One budget for every pipeline body this transport reads at once.
    const budget = new BodyBudget(host.ctx.limits.maxInflightBodyBytes);
    this.pipeline = new PipelineHandler(host, this.checks, budget);
    this.snapshot = new SnapshotHandler(host, this.checks);
    this.stream = new StreamHandler(host, this.checks);
  }

  /** The request listener: never throws, answers every request (or closes its connection). */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    try {
      // A client error mid-body surfaces in the handler reading it; unheard, it would crash the process.
      req.on("error", () => {});
      const url = req.url ?? "/";
      const q = url.indexOf("?");
      const path = q < 0 ? url : url.slice(0, q);
      if (this.host.stopped) {
        httpError(res, 503, "transport stopped");
        return;
      }
      const v = this.host.verifier;
      const sock = req.socket as TLSSocket;
      if (v !== null && sock.encrypted === true) {
        const ok = v.check(sock);
        if (ok === true) this.route(req, res, path);
        else if (ok === false) this.refuseTls(req);
        else ok.then((good) => (good ? this.route(req, res, path) : this.refuseTls(req)));
        return;
      }
      this.route(req, res, path);
    } catch (err) {
      this.checks.internal(req, res, err);
    }
  };

  private route(req: IncomingMessage, res: ServerResponse, path: string): void {
    if (path === "/raft") this.pipeline.serve(req, res).catch((err) => this.checks.internal(req, res, err));
    else if (path === "/raft/snapshot")
      this.snapshot.serve(req, res).catch((err) => this.checks.internal(req, res, err));
    else if (path.startsWith("/raft/stream/")) this.stream.serve(req, res, path);
    else if (!servePeerInfo(this.host, req, res, path)) httpError(res, 404, "404 page not found");
  }

  private refuseTls(req: IncomingMessage): void {
    this.host.ctx.logger.warning(
      `rafthttp: rejected ${describe(req)}: [${RaftHttpErrorCode.TlsRejected}] client certificate failed the CN/hostname/SAN checks`,
    );
    req.socket.destroy();
  }
}

/** The request listener for a transport's peer port (see PeerHandler). */
export function createHandler(host: HandlerHost): (req: IncomingMessage, res: ServerResponse) => void {
  return new PeerHandler(host).handle;
}
