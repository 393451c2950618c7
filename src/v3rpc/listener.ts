// One client port for both protocols, as etcd serves its client URL
// (spec §1.1). Plaintext: a connection that opens with the HTTP/2 client
// preface ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", h2c with prior knowledge, as
// every gRPC client sends) goes to gRPC; anything else to the HTTP/1.1
// server (the JSON gateway, the REST API). The bytes read to decide go
// with the socket: the gRPC server takes them as its first input, and
// HTTP/1.1 reads them back from the stream (unshift). TLS: ALPN decides
// per connection ("h2" → gRPC, "http/1.1" or none → HTTP/1.1). An HTTP/2
// client that is not gRPC (curl over https negotiates h2 by default)
// therefore reaches gRPC, which refuses non-gRPC requests (415): such
// clients must use HTTP/1.1 (curl --http1.1).
//
// etcdctl 3.4 dials a member's client URL as found in MemberList
// (`endpoint status --cluster`, `move-leader`), so the :authority it sends
// is the whole URL, "http://127.0.0.1:2379". Node's HTTP/2 refused that;
// the gRPC server here (src/h2grpc) does not look at :authority at all.

import type { Server as HttpServer } from "node:http";
import { createServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket, type TlsOptions } from "node:tls";
import type { V3GrpcServer } from "./grpc_server.ts";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** A client that sends nothing for this long is handed to HTTP/1.1 (whose own timeouts apply). */
const SNIFF_TIMEOUT_MS = 10_000;
/** Options of listenClient. */
export interface ClientListenerOptions {
  /** Address to bind (default: Node's, all interfaces). */
  host?: string;
  /** 0 = any free port. */
  port: number;
  /** Receives every HTTP/2 connection (gRPC). */
  grpc: V3GrpcServer;
  /** Receives every connection that is not gRPC (its 'connection' event is emitted). */
  http: HttpServer;
  /** Serve TLS (ALPN h2 / http/1.1) instead of plaintext. */
  tls?: TlsOptions;
}

/** Connections the listener handed over. */
export interface GrpcConnectionCounts {
  /** Connections handed to the gRPC server (HTTP/2 preface, or ALPN h2). */
  grpc: number;
}

/** A bound client port: gRPC (HTTP/2) and HTTP/1.1 told apart by the connection preface. */
export interface ClientListener {
  /** The bound port. */
  readonly port: number;
  /** The underlying net or TLS server. */
  readonly server: Server;
  /** gRPC connections handed over so far. */
  readonly grpcConnections: GrpcConnectionCounts;
  /** Stops accepting and closes open connections. */
  close(): Promise<void>;
}

function sniff(socket: Socket, grpc: V3GrpcServer, http: HttpServer, counts: GrpcConnectionCounts): void {
  let got: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => handOver(false), SNIFF_TIMEOUT_MS);
  timer.unref();
  function handOver(isGrpc: boolean): void {
    clearTimeout(timer);
    socket.removeListener("data", onData);
    socket.removeListener("end", onEnd);
    socket.removeListener("error", onError);
    socket.pause();
    if (isGrpc) {
      counts.grpc++;
      socket.setNoDelay(true);
      grpc.injectConnection(socket, got);
      socket.resume();
      return;
    }
    if (got.length > 0) socket.unshift(got);
    http.emit("connection", socket);
    socket.resume();
  }
  function onData(chunk: Buffer): void {
    got = got.length === 0 ? chunk : Buffer.concat([got, chunk]);
    const n = Math.min(got.length, PREFACE.length);
    if (got.subarray(0, n).compare(PREFACE.subarray(0, n)) !== 0) {
      handOver(false);
      return;
    }
    if (got.length >= PREFACE.length) handOver(true);
  }
  function onEnd(): void {
    clearTimeout(timer);
    socket.destroy();
  }
  function onError(): void {
    clearTimeout(timer);
    socket.destroy();
  }
  socket.on("data", onData);
  socket.on("end", onEnd);
  socket.on("error", onError);
}

/** Binds the client port; rejects with Node's listen error (e.g. EADDRINUSE). */
export function listenClient(opts: ClientListenerOptions): Promise<ClientListener> {
  const counts: GrpcConnectionCounts = { grpc: 0 };
  const server: Server = opts.tls
    ? createTlsServer({ ...opts.tls, ALPNProtocols: ["h2", "http/1.1"] }, (s: TLSSocket) => {
        if (s.alpnProtocol === "h2") {
          counts.grpc++;
          opts.grpc.injectConnection(s);
        } else opts.http.emit("connection", s);
      })
    : createServer((s) => sniff(s, opts.grpc, opts.http, counts));
  const sockets = new Set<Socket>();
  server.on(opts.tls ? "secureConnection" : "connection", (s: Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host ?? "127.0.0.1", () => {
      server.removeListener("error", reject);
      const addr = server.address();
      resolve({
        port: typeof addr === "object" && addr !== null ? addr.port : opts.port,
        server,
        grpcConnections: counts,
        close: () =>
          new Promise<void>((res) => {
            server.close(() => res());
            for (const s of sockets) s.destroy();
          }),
      });
    });
  });
}
