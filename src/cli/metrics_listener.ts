// --listen-metrics-urls: a second listener that serves only GET /metrics and
// GET /health (etcd's metrics listener), so that monitoring can reach a
// member on an address where the client API is not exposed. It is bound
// before the member starts, like the other listeners, so a port in use
// leaves the data directory untouched.

import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { HostError, HostErrorCode } from "../host/index.ts";

/** What the listener asks the member. */
export interface MetricsSource {
  /** The Prometheus text for GET /metrics. */
  metricsText(): Promise<string>;
  /** Null when healthy (GET /health answers 200), else the reason (503). */
  unhealthyReason(): string | null;
}

/** TLS of an https metrics URL (the client API's certificate). */
export interface MetricsTls {
  /** Certificate file path. */
  certFile: string;
  /** Key file path. */
  keyFile: string;
}

/**
 * Binds `url` and answers /metrics and /health from `source` (which may be
 * set later: until then /health is 503 "starting"). Throws HostError
 * (ERR_HOST_LISTEN) when the port cannot be bound.
 */
export async function listenMetrics(
  url: string,
  tls: MetricsTls | undefined,
  getSource: () => MetricsSource | null,
): Promise<{ server: Server; url: string }> {
  const u = new URL(url);
  const https = u.protocol === "https:";
  if (https && tls === undefined) {
    throw new HostError(
      HostErrorCode.InvalidArgument,
      `--listen-metrics-urls ${url} is https: give --cert-file and --key-file`,
    );
  }
  const handler = (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0];
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { "Content-Type": type });
      res.end(body);
    };
    if (req.method !== "GET") {
      res.setHeader("Allow", "GET");
      send(405, "text/plain", "method not allowed\n");
      return;
    }
    const source = getSource();
    if (path === "/health") {
      const reason = source === null ? "starting" : source.unhealthyReason();
      if (reason === null) send(200, "application/json", '{"health":"true"}');
      else send(503, "application/json", JSON.stringify({ health: "false", reason }));
      return;
    }
    if (path === "/metrics") {
      if (source === null) {
        send(503, "text/plain", "starting\n");
        return;
      }
      source.metricsText().then(
        (text) => send(200, "text/plain; version=0.0.4; charset=utf-8", text),
        (err: unknown) => send(500, "text/plain", `${(err as Error).message}\n`),
      );
      return;
    }
    send(404, "text/plain", "only /metrics and /health here\n");
  };
  const server = https
    ? createHttpsServer({ cert: readFileSync(tls!.certFile), key: readFileSync(tls!.keyFile) }, handler)
    : createHttpServer(handler);
  const port = Number(u.port);
  try {
    const addr = await new Promise<AddressInfo>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, u.hostname, () => {
        server.off("error", reject);
        resolve(server.address() as AddressInfo);
      });
    });
    return { server, url: `${u.protocol}//${u.hostname}:${addr.port}` };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new HostError(
      HostErrorCode.Listen,
      e.code === "EADDRINUSE"
        ? `metrics URL ${url}: port ${port} is already in use`
        : `metrics URL ${url}: cannot listen: ${e.message}`,
      { cause: err },
    );
  }
}
