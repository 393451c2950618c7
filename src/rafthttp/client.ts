// Outgoing HTTP(S): one keep-alive agent pair for pipeline/snapshot/probe
// POSTs and GETs (etcd's pipeline round tripper) and one without connection
// reuse for streams (etcd's stream round tripper). Every request is tracked so
// that close() can abort it and wait until its socket is gone.

import * as http from "node:http";
import * as https from "node:https";
import { networkError, RaftHttpError, RaftHttpErrorCode, stoppedError } from "./errors.ts";
import type { TlsMaterial } from "./tls.ts";

export interface HttpResult {
  status: number;
  statusText: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export class PeerClient {
  private readonly pipelineHttp = new http.Agent({ keepAlive: true, maxFreeSockets: 1024 });
  private readonly pipelineHttps = new https.Agent({ keepAlive: true, maxFreeSockets: 1024 });
  private readonly streamHttp = new http.Agent({ keepAlive: false });
  private readonly streamHttps = new https.Agent({ keepAlive: false });
  private readonly live = new Set<http.ClientRequest>();
  private readonly tls: TlsMaterial | null;
  private readonly dialTimeout: number;
  private closed = false;

  constructor(tls: TlsMaterial | null, dialTimeout: number) {
    this.tls = tls;
    this.dialTimeout = dialTimeout;
  }

  /**
   * Starts a request. The caller must attach 'error' and 'response' listeners.
   * The dial timeout applies until the caller changes it (req.setTimeout).
   */
  request(
    url: URL,
    method: string,
    path: string,
    headers: http.OutgoingHttpHeaders,
    stream: boolean,
  ): http.ClientRequest {
    const secure = url.protocol === "https:";
    const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    const opts: https.RequestOptions = {
      protocol: url.protocol,
      hostname: host,
      port: url.port === "" ? (secure ? 443 : 80) : Number(url.port),
      method,
      path,
      headers,
      timeout: this.dialTimeout,
      agent: secure
        ? stream
          ? this.streamHttps
          : this.pipelineHttps
        : stream
          ? this.streamHttp
          : this.pipelineHttp,
    };
    if (secure && this.tls !== null) Object.assign(opts, this.tls.clientOptions());
    const req = secure ? https.request(opts) : http.request(opts);
    if (this.closed) {
      req.on("error", () => {});
      req.destroy(stoppedError());
      return req;
    }
    req.setNoDelay(true);
    // The dial timeout covers connecting; then POSTs wait as long as the
    // peer's raft takes (no read deadline, as in etcd) and streams keep the
    // dial timeout until their response arrives and set a read timeout.
    const after = stream ? this.dialTimeout : 0;
    req.once("socket", (s) => {
      if (s.connecting) s.once("connect", () => s.setTimeout(after));
      else s.setTimeout(after);
    });
    this.live.add(req);
    req.once("close", () => this.live.delete(req));
    return req;
  }

  /**
   * A whole request/response exchange: sends `body`, reads the response text.
   * `timeout` bounds the exchange's inactivity (default: the dial timeout until
   * connected, then none).
   */
  exchange(
    url: URL,
    method: string,
    path: string,
    headers: http.OutgoingHttpHeaders,
    body: Uint8Array | null,
    stream = false,
  ): Promise<HttpResult> {
    return new Promise<HttpResult>((resolve, reject) => {
      const req = this.request(url, method, path, headers, stream);
      armTimeout(req);
      req.on("error", (err) => reject(networkError(err)));
      req.on("response", (res) => {
        readResponse(res, 0).then(resolve, reject);
      });
      if (body === null) req.end();
      else req.end(body);
    });
  }

  /** Aborts every request in flight, waits for their sockets, destroys idle sockets. */
  async close(): Promise<void> {
    this.closed = true;
    const waits: Promise<void>[] = [];
    for (const req of this.live) {
      waits.push(new Promise<void>((r) => req.once("close", () => r())));
      req.destroy(stoppedError());
    }
    await Promise.all(waits);
    this.pipelineHttp.destroy();
    this.pipelineHttps.destroy();
    this.streamHttp.destroy();
    this.streamHttps.destroy();
  }
}

/** Makes a request's inactivity timeout fail it with a typed error. */
export function armTimeout(req: http.ClientRequest): void {
  req.on("timeout", () => req.destroy(new RaftHttpError(RaftHttpErrorCode.Timeout, "i/o timeout")));
}

/** Strips Go's http.Error trailing newline. */
export function errorBody(body: string): string {
  return body.endsWith("\n") ? body.slice(0, -1) : body;
}

/** Reads a whole response; with `timeout` > 0 the body must arrive within that many ms. */
export function readResponse(res: http.IncomingMessage, timeout: number): Promise<HttpResult> {
  return new Promise<HttpResult>((resolve, reject) => {
    const timer =
      timeout > 0
        ? setTimeout(() => {
            res.destroy(new RaftHttpError(RaftHttpErrorCode.Timeout, "response read timeout"));
          }, timeout)
        : null;
    const stop = (): void => {
      if (timer !== null) clearTimeout(timer);
    };
    const parts: Buffer[] = [];
    res.on("data", (c: Buffer) => parts.push(c));
    res.on("error", (e) => {
      stop();
      reject(networkError(e));
    });
    res.on("close", stop);
    res.on("end", () => {
      stop();
      resolve({
        status: res.statusCode ?? 0,
        statusText: res.statusMessage ?? "",
        headers: res.headers,
        body: Buffer.concat(parts).toString("utf8"),
      });
    });
  });
}
