// Putting the pieces together on one client port: gRPC (V3GrpcServer) and
// HTTP/1.1 (the JSON gateway, /health, /version, then an optional handler
// of the embedding application) behind the connection sniffer of listener.ts.

import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createNetServer, type Server as NetServer } from "node:net";
import type { TlsOptions } from "node:tls";
import { createServer as createTlsServer } from "node:tls";
import type { V3Backend } from "./backend.ts";
import { createGatewayHandler } from "./gateway.ts";
import { V3GrpcServer, type V3GrpcServerOptions } from "./grpc_server.ts";
import { type ClientListener, listenClient } from "./listener.ts";
import { API_VERSION, type V3ServiceOptions, V3Services } from "./services.ts";

/** Options of startV3Server. */
export interface V3ServerOptions extends V3ServiceOptions, V3GrpcServerOptions {
  /** The cluster behind the API. */
  backend: V3Backend;
  /** Address to bind (default: all interfaces). */
  host?: string;
  /** 0 = any free port. */
  port: number;
  /** Serve TLS on the client port (ALPN h2 and http/1.1). */
  tls?: TlsOptions;
  /**
   * Also serve gRPC on this port alone (0 = any free port): connections
   * there skip the one-port sniffer. With `tls`, TLS there too (ALPN h2).
   */
  grpcPort?: number;
  /**
   * Why this member cannot serve, or null (GET /health): default, etcd's
   * rule (no leader, or an alarm raised). An embedding server adds its own
   * conditions (e.g. the state machine stuck behind the commit index).
   */
  health?: () => string | null;
  /** Requests the gateway does not take (anything outside /v3/, /health, /version). Default: 404. */
  fallback?: (req: IncomingMessage, res: ServerResponse) => void;
}

/** A running v3 API server: gRPC, the JSON gateway and /health on one client port. */
export interface V3Server {
  /** The bound client port. */
  readonly port: number;
  /** The dedicated gRPC port, when `grpcPort` was given. */
  readonly grpcPort: number | undefined;
  /** The services behind both protocols. */
  readonly services: V3Services;
  /** The gRPC server. */
  readonly grpc: V3GrpcServer;
  /** The HTTP/1.1 server (gateway, /health, `fallback`). */
  readonly http: Server;
  /** The client port listener. */
  readonly listener: ClientListener;
  /** Closes the listeners, the gRPC server and open streams. */
  close(): Promise<void>;
}

/** Starts the v3 API on `port` (0: any free one); rejects with Node's listen error. */
export async function startV3Server(opts: V3ServerOptions): Promise<V3Server> {
  const services = new V3Services(opts.backend, opts);
  const grpc = new V3GrpcServer(services, opts);
  const gateway = createGatewayHandler(services);
  const http = createHttpServer((req, res) => {
    if (gateway(req, res)) return;
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/health" && req.method === "GET") {
      const alarms = opts.backend.sm.alarmList().length > 0;
      const reason =
        opts.health?.() ?? (!opts.backend.hasLeader() ? "no leader" : alarms ? "alarm raised" : null);
      const why = reason ?? (alarms ? "alarm raised" : null);
      // etcd's body, plus the reason when unhealthy (etcd clients read only "health").
      res.writeHead(why === null ? 200 : 503, { "content-type": "application/json" });
      res.end(JSON.stringify(why === null ? { health: "true" } : { health: "false", reason: why }));
      return;
    }
    if (path === "/version" && req.method === "GET") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ etcdserver: services.version ?? API_VERSION, etcdcluster: "3.4.0" }));
      return;
    }
    if (opts.fallback) return opts.fallback(req, res);
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("404 page not found\n");
  });
  const listener = await listenClient({ host: opts.host, port: opts.port, grpc, http, tls: opts.tls });
  let grpcPort: number | undefined;
  let grpcOnly: NetServer | undefined;
  if (opts.grpcPort !== undefined) {
    // Every connection here is gRPC: no sniffing (TLS: h2 by ALPN).
    grpcOnly = opts.tls
      ? createTlsServer({ ...opts.tls, ALPNProtocols: ["h2"] }, (s) => grpc.injectConnection(s))
      : createNetServer({ noDelay: true }, (s) => grpc.injectConnection(s));
    const srv = grpcOnly;
    grpcPort = await new Promise<number>((res, rej) => {
      srv.once("error", rej);
      srv.listen(opts.grpcPort, opts.host ?? "127.0.0.1", () => {
        srv.removeListener("error", rej);
        const a = srv.address();
        res(typeof a === "object" && a !== null ? a.port : opts.grpcPort!);
      });
    });
  }
  return {
    port: listener.port,
    grpcPort,
    services,
    grpc,
    http,
    listener,
    async close() {
      await grpc.close();
      if (grpcOnly !== undefined) await new Promise<void>((r) => grpcOnly.close(() => r()));
      http.closeAllConnections();
      await listener.close();
    },
  };
}
