// One client port for both protocols, as etcd serves its client URL
// (spec §1.1). Plaintext: a connection that opens with the HTTP/2 client
// preface ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", h2c with prior knowledge, as
// every gRPC client sends) goes to gRPC; anything else to the HTTP/1.1
// server (the JSON gateway, the REST API). The first bytes are read, then
// pushed back (unshift) before the socket is handed over, so neither side
// sees a difference: HTTP/1.1 reads them from the stream, and Node's HTTP/2
// session (Node >= 15) feeds bytes already buffered in a socket to nghttp2
// before it reads the socket's native handle itself. TLS: ALPN decides per
// connection ("h2" → gRPC, "http/1.1" or none → HTTP/1.1). An HTTP/2 client
// that is not gRPC (curl over https negotiates h2 by default) therefore
// reaches gRPC, which refuses non-gRPC requests: such clients must use
// HTTP/1.1 (curl --http1.1).
//
// The :authority repair (h2_authority.ts: etcdctl sends a URL there, which
// Node's HTTP/2 refuses) needs the client's bytes before Node's: a Duplex
// around the socket, through which Node then reads and writes every byte
// via a JSStreamSocket — 10-15% of a busy leader's CPU when every gRPC
// connection went that way. Only the connection's first request can tell
// whether the repair is needed (clients send one authority per
// connection), so a gRPC connection is *probed* first: the listener sends
// the server's connection preface itself (an empty SETTINGS frame, i.e.
// all defaults: clients such as grpc-go wait for it before their first
// request), reads on until the first header block has been decoded, then
// either hands Node the raw socket with everything read pushed back (the
// authority was fine: every client but etcdctl's URL dialing), or the
// wrapper (it needed the repair, or no request came within PROBE_MS). Node
// sends its own SETTINGS when its session starts, which clients simply
// apply; the client's ACK of the listener's SETTINGS is dropped on the way
// in (nghttp2 would refuse an ACK for a SETTINGS it never sent), and the
// raw hand-over waits until it has been.

import type { Server as HttpServer } from "node:http";
import { createServer, type Server, type Socket } from "node:net";
import { Duplex } from "node:stream";
import { createServer as createTlsServer, type TLSSocket, type TlsOptions } from "node:tls";
import type { V3GrpcServer } from "./grpc_server.ts";
import { H2AuthorityRewriter } from "./h2_authority.ts";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** A client that sends nothing for this long is handed to HTTP/1.1 (whose own timeouts apply). */
const SNIFF_TIMEOUT_MS = 10_000;
/** An empty SETTINGS frame on stream 0: the server's connection preface, all settings at their defaults. */
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, 0x4, 0, 0, 0, 0, 0]);
/**
 * A gRPC connection whose first request (and ACK of the listener's SETTINGS)
 * has not arrived this long after its preface is handed over wrapped: still
 * correct, only slower (an idle connection must not wait for its first call).
 */
const PROBE_MS = 500;

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

/** How gRPC connections reached Node's HTTP/2 (see the file comment). */
export interface GrpcConnectionCounts {
  /** The socket itself: the first request's :authority was fine. */
  raw: number;
  /** Through the wrapper: the repair was needed, or no first request came within the probe time. */
  wrapped: number;
}

/** A bound client port: gRPC (HTTP/2) and HTTP/1.1 told apart by the connection preface. */
export interface ClientListener {
  /** The bound port. */
  readonly port: number;
  /** The underlying net or TLS server. */
  readonly server: Server;
  /** gRPC connections handed over so far: on their raw socket, or through the repairing wrapper. */
  readonly grpcConnections: GrpcConnectionCounts;
  /** Stops accepting and closes open connections. */
  close(): Promise<void>;
}

/**
 * A Duplex over a socket, starting with bytes already read from it and
 * passed through `rewriter` (`ready`). What the client sends next passes
 * through the same H2AuthorityRewriter (URL-shaped :authority values from
 * etcdctl, see h2_authority.ts) on its way to Node's HTTP/2.
 */
class SocketDuplex extends Duplex {
  constructor(
    private readonly sock: Socket,
    ready: readonly Buffer[],
    private readonly rewriter: H2AuthorityRewriter,
  ) {
    super({ allowHalfOpen: false });
    for (const p of ready) if (p.length > 0) this.push(p);
    sock.on("data", (d: Buffer) => {
      if (!this.forward(d)) sock.pause();
    });
    // Node's HTTP/2 session reads this Duplex through a JSStreamSocket, which
    // asserts (ERR_INTERNAL_ASSERTION, an uncaught exception that ended the
    // member) when the session writes while a shutdown of it is pending or a
    // write is unfinished. Both states arose from this wrapper: a client's
    // FIN ended the Duplex, the JSStreamSocket shut itself down (it does not
    // allow half-open), and ending the real socket, which Node had already
    // ended on the FIN (ERR_STREAM_ALREADY_FINISHED), or a socket error,
    // became an 'error' that made the session write its GOAWAY into the
    // pending shutdown; a failed write did the same into the unfinished one.
    // So this Duplex never ends or fails: whatever happens to the socket
    // (the client's FIN, a reset, a failed write), it is destroyed without
    // an error, which the JSStreamSocket handles as a close (pending writes
    // and shutdowns cancelled, no further writes). A client that half-closes
    // is therefore treated as gone: gRPC clients never half-close the
    // connection (a call's end is END_STREAM, not FIN), and the session
    // could not have answered through a shut-down socket anyway.
    sock.on("end", () => this.destroy());
    sock.on("error", () => this.destroy());
    sock.on("close", () => this.destroy());
  }
  /** Hands client bytes on (repaired where needed); false when the reader is full. */
  private forward(d: Buffer): boolean {
    if (this.rewriter.passthrough) return this.push(d);
    let parts: Buffer[];
    try {
      parts = this.rewriter.push(d);
    } catch {
      // A header block that cannot be re-encoded (HpackError): the connection is dropped (see above).
      this.destroy();
      return false;
    }
    let ok = true;
    for (const p of parts) if (p.length > 0) ok = this.push(p);
    return ok;
  }

  get remoteAddress(): string | undefined {
    return this.sock.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.sock.remotePort;
  }
  get localAddress(): string | undefined {
    return this.sock.localAddress;
  }
  get localPort(): number | undefined {
    return this.sock.localPort;
  }
  setNoDelay(noDelay?: boolean): this {
    this.sock.setNoDelay(noDelay);
    return this;
  }
  setKeepAlive(enable?: boolean, delay?: number): this {
    this.sock.setKeepAlive(enable, delay);
    return this;
  }
  setTimeout(ms: number, cb?: () => void): this {
    this.sock.setTimeout(ms, cb);
    return this;
  }
  override _read(): void {
    this.sock.resume();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    // Completed when the socket took the bytes (backpressure); a failed write closes (see above).
    this.sock.write(chunk, (err) => {
      if (err) this.destroy();
      cb();
    });
  }
  override _final(cb: (err?: Error | null) => void): void {
    // The session ends the connection only once it has written everything: the shutdown it waits
    // for is done at once, so that no later socket error can find it pending.
    this.sock.end();
    cb();
  }
  override _destroy(_err: Error | null, cb: (err?: Error | null) => void): void {
    this.sock.destroy();
    cb(null);
  }
}

/**
 * A gRPC connection, its client preface (and maybe more) already read into
 * `head`: sends the server preface, reads up to the first request, and hands
 * the connection to gRPC raw or wrapped (see the file comment).
 */
function probe(socket: Socket, head: Buffer, grpc: V3GrpcServer, counts: GrpcConnectionCounts): void {
  const rewriter = new H2AuthorityRewriter({ dropFirstSettingsAck: true });
  const ready: Buffer[] = [];
  let settled = false;
  const timer = setTimeout(() => handOver(), PROBE_MS);
  timer.unref();
  function handOver(): void {
    settled = true;
    clearTimeout(timer);
    socket.removeListener("data", onData);
    socket.removeListener("end", onGone);
    socket.removeListener("error", onGone);
    socket.removeListener("close", onGone);
    socket.pause();
    socket.setNoDelay(true);
    if (rewriter.passthrough) {
      // Node's session reads these from the socket's buffer, then its handle. Not resumed:
      // a flowing socket would emit them as 'data' events nobody listens to.
      const got = Buffer.concat(ready);
      if (got.length > 0) socket.unshift(got);
      counts.raw++;
      grpc.injectConnection(socket);
    } else {
      counts.wrapped++;
      grpc.injectConnection(new SocketDuplex(socket, ready, rewriter));
      socket.resume();
    }
  }
  function onData(chunk: Buffer): void {
    try {
      for (const p of rewriter.push(chunk)) ready.push(p);
    } catch {
      // A header block that cannot be re-encoded (HpackError): the connection is dropped.
      onGone();
      return;
    }
    if (rewriter.passthrough || rewriter.rewriting) handOver();
  }
  function onGone(): void {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    socket.destroy();
  }
  socket.on("end", onGone);
  socket.on("error", onGone);
  socket.on("close", onGone);
  socket.write(EMPTY_SETTINGS);
  if (head.length > 0) onData(head);
  if (!settled) {
    socket.on("data", onData);
    socket.resume();
  }
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
      probe(socket, got, grpc, counts);
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
  const counts: GrpcConnectionCounts = { raw: 0, wrapped: 0 };
  const server: Server = opts.tls
    ? createTlsServer({ ...opts.tls, ALPNProtocols: ["h2", "http/1.1"] }, (s: TLSSocket) => {
        // Probed like a plaintext connection, for the :authority repair (h2_authority.ts).
        if (s.alpnProtocol === "h2") probe(s, Buffer.alloc(0), opts.grpc, counts);
        else opts.http.emit("connection", s);
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
