// One client connection of the gRPC server: HTTP/2 framing, flow control
// and the calls (streams) on it.
//
// Why not node:http2: every request there is an Http2Stream (a Duplex), its
// headers become objects twice over, nghttp2 calls into JavaScript several
// times per stream, and a unary response leaves in two socket writes — the
// trailers, which end the call, are submitted from a setImmediate after the
// data's write completed. Measured on this project's 2-vCPU machines, one
// request at a time per connection: a bare node:http2 server spent ~110 µs of
// CPU per request, this framing ~35 µs (docs/benchmarks.md). Here a unary
// answer is one buffer (HEADERS, DATA, trailers) and every answer produced in
// one job goes out in one write per connection.
//
// The server implements what gRPC clients use (RFC 9113): the connection
// preface and SETTINGS (the client's initial window and frame size are
// honoured, ours acknowledged), PING, WINDOW_UPDATE and flow control in both
// directions, HEADERS with CONTINUATION, padding and priority fields, DATA,
// RST_STREAM and GOAWAY. Header blocks are decoded with the connection's
// HPACK table; the server's own blocks use no dynamic table, so the client's
// table size never matters. A violation of the protocol ends the connection
// with GOAWAY; nothing a client sends throws past the connection.

import type { Duplex } from "node:stream";
import {
  DEFAULT_MAX_FRAME,
  DEFAULT_WINDOW,
  E_CANCEL,
  E_COMPRESSION_ERROR,
  E_ENHANCE_YOUR_CALM,
  E_FLOW_CONTROL_ERROR,
  E_FRAME_SIZE_ERROR,
  E_INTERNAL_ERROR,
  E_NO_ERROR,
  E_PROTOCOL_ERROR,
  F_ACK,
  F_END_HEADERS,
  F_END_STREAM,
  F_PADDED,
  F_PRIORITY,
  FRAME_HEADER,
  frame,
  goaway,
  httpStatusBlock,
  MAX_WINDOW,
  parseTimeout,
  putFrameHeader,
  RESPONSE_HEADERS,
  rstStream,
  S_INITIAL_WINDOW_SIZE,
  S_MAX_FRAME_SIZE,
  statusBlock,
  T_CONTINUATION,
  T_DATA,
  T_GOAWAY,
  T_HEADERS,
  T_PING,
  T_PRIORITY,
  T_PUSH_PROMISE,
  T_RST_STREAM,
  T_SETTINGS,
  T_WINDOW_UPDATE,
  TRAILERS_OK,
  u32,
  windowUpdate,
} from "./frames.ts";
import { type HeaderField, HpackDecoder } from "./hpack.ts";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** The window this server grants each stream (SETTINGS_INITIAL_WINDOW_SIZE) and the connection. */
const STREAM_WINDOW = 1 << 20;
const CONNECTION_WINDOW = 16 << 20;
/** Received bytes are credited back once this many (of a stream, of the connection) were consumed. */
const STREAM_REPLENISH = STREAM_WINDOW / 4;
const CONNECTION_REPLENISH = CONNECTION_WINDOW / 4;
/** A header block (HEADERS and its CONTINUATIONs) larger than this ends the connection. */
const MAX_HEADER_BLOCK = 64 * 1024;
/** write() answers false once a call has this many bytes queued (flow control) or the socket is congested. */
const HIGH_WATER = 256 * 1024;
/** Bytes written to a connection's socket and not yet taken by the kernel beyond which it is closed. */
const MAX_UNREAD_BYTES = 64 << 20;
/** gRPC's message prefix: compressed flag, 4-byte big-endian length. */
const PREFIX = 5;

/** gRPC status codes this layer answers with itself. */
export const Status = {
  OK: 0,
  CANCELLED: 1,
  DEADLINE_EXCEEDED: 4,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/** How a method's messages flow (etcd has no client-streaming method). */
export type MethodKind = "unary" | "server_stream" | "bidi";

/** A method: for unary and server-streaming ones `start` gets the request, for bidi ones undefined (messages follow via onMessage). */
export interface GrpcMethod {
  readonly kind: MethodKind;
  start(call: GrpcCall, request: Uint8Array | undefined): void;
}

/** What a connection needs of its server. */
export interface ConnectionHost {
  method(path: string): GrpcMethod | undefined;
  readonly maxReceiveBytes: number;
  trackDeadline(call: GrpcCall): void;
  untrackDeadline(call: GrpcCall): void;
  closed(conn: H2Connection): void;
}

/**
 * One call: an HTTP/2 stream carrying a gRPC method. The handler answers a
 * unary call with respond() or end() with a status; a streaming one writes
 * messages and ends. Once the call is cancelled (RST_STREAM from the client,
 * its deadline, the connection lost) writes are dropped.
 */
export class GrpcCall {
  readonly conn: H2Connection;
  readonly id: number;
  readonly path: string;
  /** The request's header fields (names lower case; pseudo-headers included). */
  readonly headers: readonly HeaderField[];
  /** performance.now() after which the call is answered DEADLINE_EXCEEDED; Infinity when none. */
  deadline = Number.POSITIVE_INFINITY;
  readonly method: GrpcMethod | undefined;
  /** A message of a bidi call. */
  onMessage: ((msg: Uint8Array) => void) | null = null;
  /** The client half-closed (bidi). */
  onHalfClose: (() => void) | null = null;
  /** The call ended without the server ending it: RST_STREAM, deadline, connection lost. */
  private cancelListeners: Array<() => void> | null = null;
  private drainListeners: Array<() => void> | null = null;

  headersSent = false;
  /** The server sent (or queued) its END_STREAM. */
  ended = false;
  /** The client sent END_STREAM. */
  remoteEnded = false;
  cancelled = false;
  /** Removed from the connection. */
  closed = false;

  sendWindow: number;
  recvUnacked = 0;
  private inBuf: Buffer | null = null;
  private request: Uint8Array | undefined = undefined;
  private gotRequest = false;
  /** DATA payload waiting for flow-control window, and trailers to send after it. */
  private queue: Uint8Array[] = [];
  private queueHead = 0;
  queued = 0;
  private pendingTrailers: Uint8Array | null = null;
  wantsDrain = false;

  constructor(
    conn: H2Connection,
    id: number,
    path: string,
    headers: readonly HeaderField[],
    method: GrpcMethod | undefined,
  ) {
    this.conn = conn;
    this.id = id;
    this.path = path;
    this.headers = headers;
    this.method = method;
    this.sendWindow = conn.peerInitialWindow;
  }

  /** A request header's value (the first), or undefined. */
  header(name: string): string | undefined {
    for (const f of this.headers) if (f.name === name) return f.value;
    return undefined;
  }

  /** Runs `fn` when the call is cancelled (at once if it already was). */
  onCancel(fn: () => void): void {
    if (this.cancelled) {
      fn();
      return;
    }
    (this.cancelListeners ??= []).push(fn);
  }

  /** Runs `fn` once, when a write() that answered false may be retried. */
  onceDrain(fn: () => void): void {
    (this.drainListeners ??= []).push(fn);
  }

  /** Bytes this call has queued and not yet written to the socket. */
  get writableLength(): number {
    return this.queued;
  }

  // ---------------------------------------------------------------- answering

  /** Answers a unary call with one message: headers, message and trailers in one buffer. */
  respond(msg: Uint8Array): void {
    if (this.ended || this.cancelled) return;
    const c = this.conn;
    const n = PREFIX + msg.length;
    if (this.headersSent || n > this.sendWindow || n > c.sendWindow || n > c.peerMaxFrame) {
      this.write(msg);
      this.end(Status.OK, "");
      return;
    }
    const h = RESPONSE_HEADERS.length;
    const t = TRAILERS_OK.length;
    const out = Buffer.allocUnsafe(3 * FRAME_HEADER + h + n + t);
    let p = 0;
    putFrameHeader(out, p, h, T_HEADERS, F_END_HEADERS, this.id);
    out.set(RESPONSE_HEADERS, p + FRAME_HEADER);
    p += FRAME_HEADER + h;
    putFrameHeader(out, p, n, T_DATA, 0, this.id);
    p += FRAME_HEADER;
    out[p] = 0;
    out.writeUInt32BE(msg.length, p + 1);
    out.set(msg, p + PREFIX);
    p += n;
    putFrameHeader(out, p, t, T_HEADERS, F_END_HEADERS | F_END_STREAM, this.id);
    out.set(TRAILERS_OK, p + FRAME_HEADER);
    this.sendWindow -= n;
    c.sendWindow -= n;
    this.headersSent = true;
    this.ended = true;
    c.emit(out);
    this.finish();
  }

  /** Sends the response headers now (before the first message otherwise). */
  sendHeaders(): void {
    if (this.headersSent || this.ended || this.cancelled) return;
    this.headersSent = true;
    this.conn.emit(frame(T_HEADERS, F_END_HEADERS, this.id, RESPONSE_HEADERS));
  }

  /** Writes one message; false when the caller should wait for onceDrain. */
  write(msg: Uint8Array): boolean {
    const framed = Buffer.allocUnsafe(PREFIX + msg.length);
    framed[0] = 0;
    framed.writeUInt32BE(msg.length, 1);
    framed.set(msg, PREFIX);
    return this.writeFramed(framed);
  }

  /** Writes bytes that are already gRPC messages (each with its 5-byte prefix). */
  writeFramed(bytes: Uint8Array): boolean {
    if (this.ended || this.cancelled) return false;
    this.sendHeaders();
    this.queue.push(bytes);
    this.queued += bytes.length;
    this.pump();
    const ok = this.queued < HIGH_WATER && !this.conn.congested;
    if (!ok) {
      this.wantsDrain = true;
      this.conn.wantDrain(this);
    }
    return ok;
  }

  /** Ends the call with a status (after every message written before it). */
  end(code: number, message: string): void {
    if (this.ended || this.cancelled) return;
    this.ended = true;
    const block = statusBlock(code, message, !this.headersSent);
    this.headersSent = true;
    this.pendingTrailers = block;
    this.pump();
  }

  /** Sends what the windows allow; the trailers once everything before them went. */
  pump(): void {
    const c = this.conn;
    while (this.queueHead < this.queue.length) {
      const chunk = this.queue[this.queueHead]!;
      const room = Math.min(this.sendWindow, c.sendWindow, c.peerMaxFrame);
      if (room <= 0) {
        c.blocked.add(this);
        return;
      }
      if (chunk.length <= room) {
        c.emit(frame(T_DATA, 0, this.id, chunk));
        this.sendWindow -= chunk.length;
        c.sendWindow -= chunk.length;
        this.queued -= chunk.length;
        this.queue[this.queueHead++] = EMPTY;
      } else {
        c.emit(frame(T_DATA, 0, this.id, chunk.subarray(0, room)));
        this.sendWindow -= room;
        c.sendWindow -= room;
        this.queued -= room;
        this.queue[this.queueHead] = chunk.subarray(room);
      }
    }
    this.queue.length = 0;
    this.queueHead = 0;
    if (this.pendingTrailers !== null) {
      c.emit(frame(T_HEADERS, F_END_HEADERS | F_END_STREAM, this.id, this.pendingTrailers));
      this.pendingTrailers = null;
      this.finish();
    }
  }

  /** The server's side is done: the stream closes (a client still sending is told to stop). */
  private finish(): void {
    if (!this.remoteEnded) this.conn.emit(rstStream(this.id, E_NO_ERROR));
    this.conn.remove(this);
  }

  /** Forgets the DATA still waiting for window (the call is failing or gone). */
  private dropOutput(): void {
    this.queue.length = 0;
    this.queueHead = 0;
    this.queued = 0;
  }

  /** Fails the call with a status (used by this layer for protocol-level problems). */
  fail(code: number, message: string): void {
    if (this.ended || this.cancelled) return;
    this.dropOutput();
    this.end(code, message);
  }

  /** Cancelled by the client, the deadline or the connection: listeners run, output is dropped. */
  cancel(rst: boolean): void {
    if (this.cancelled || this.closed) return;
    this.cancelled = true;
    this.dropOutput();
    this.pendingTrailers = null;
    if (rst) this.conn.emit(rstStream(this.id, E_CANCEL));
    this.conn.remove(this);
    const ls = this.cancelListeners;
    this.cancelListeners = null;
    if (ls !== null) for (const fn of ls) runSafely(fn);
  }

  /** The deadline passed: DEADLINE_EXCEEDED to the client, cancellation to the handler. */
  expire(): void {
    if (this.ended || this.cancelled) return;
    this.dropOutput();
    const ls = this.cancelListeners;
    this.cancelListeners = null;
    this.end(Status.DEADLINE_EXCEEDED, "Deadline exceeded");
    this.cancelled = true;
    if (ls !== null) for (const fn of ls) runSafely(fn);
  }

  drained(): void {
    if (!this.wantsDrain || this.queued >= HIGH_WATER || this.conn.congested) return;
    this.wantsDrain = false;
    const ls = this.drainListeners;
    this.drainListeners = null;
    if (ls !== null) for (const fn of ls) runSafely(fn);
  }

  // ---------------------------------------------------------------- receiving

  /** DATA payload from the client. */
  receive(data: Uint8Array): void {
    if (this.cancelled || this.ended) return;
    let buf: Buffer;
    if (this.inBuf === null) buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    else buf = Buffer.concat([this.inBuf, data]);
    this.inBuf = null;
    let p = 0;
    while (buf.length - p >= PREFIX) {
      const compressed = buf[p]!;
      const len = buf.readUInt32BE(p + 1);
      if (len > this.conn.host.maxReceiveBytes) {
        this.fail(
          Status.RESOURCE_EXHAUSTED,
          `Received message larger than max (${len} vs. ${this.conn.host.maxReceiveBytes})`,
        );
        return;
      }
      if (compressed !== 0) {
        this.fail(Status.UNIMPLEMENTED, "compressed messages are not supported");
        return;
      }
      if (buf.length - p - PREFIX < len) break;
      // A copy: the message may be kept (a proposal's bytes), the socket's chunk must not be.
      const msg = Uint8Array.prototype.slice.call(buf, p + PREFIX, p + PREFIX + len);
      p += PREFIX + len;
      this.deliver(msg);
      if (this.cancelled || this.ended) return;
    }
    if (p < buf.length) this.inBuf = Buffer.from(buf.subarray(p));
  }

  private deliver(msg: Uint8Array): void {
    const m = this.method!;
    if (m.kind === "bidi") {
      this.guard(this.onMessage, msg);
      return;
    }
    if (this.gotRequest) {
      this.fail(Status.INTERNAL, "grpc: a second request message on a unary or server-streaming call");
      return;
    }
    this.gotRequest = true;
    this.request = msg;
  }

  /** Runs a handler's callback; its exception fails this call, not the connection. */
  private guard<T>(fn: ((arg: T) => void) | null, arg: T): void {
    if (fn === null) return;
    try {
      fn(arg);
    } catch (err) {
      this.fail(Status.INTERNAL, err instanceof Error ? err.message : String(err));
    }
  }

  /** The client sent END_STREAM. */
  halfClose(): void {
    this.remoteEnded = true;
    if (this.cancelled || this.ended) return;
    if (this.inBuf !== null) {
      this.fail(Status.INTERNAL, "grpc: the request ended inside a message");
      return;
    }
    const m = this.method!;
    if (m.kind === "bidi") {
      this.guard(this.onHalfClose, undefined);
      return;
    }
    if (!this.gotRequest) {
      this.fail(Status.INTERNAL, "grpc: no request message");
      return;
    }
    const req = this.request!;
    this.request = undefined;
    this.conn.startCall(this, req);
  }

  /** Removed from the connection (closed both ways, or cancelled). */
  detach(): void {
    this.closed = true;
    this.inBuf = null;
    if (this.deadline !== Number.POSITIVE_INFINITY) this.conn.host.untrackDeadline(this);
  }
}

const EMPTY = new Uint8Array(0);

function runSafely(fn: () => void): void {
  try {
    fn();
  } catch {
    // A listener's failure must not break the connection's bookkeeping.
  }
}

class ConnectionError extends Error {
  constructor(
    readonly h2code: number,
    message: string,
  ) {
    super(message);
  }
}

/** One HTTP/2 connection of a client. */
export class H2Connection {
  readonly host: ConnectionHost;
  private readonly socket: Duplex;
  private readonly streams = new Map<number, GrpcCall>();
  private readonly decoder = new HpackDecoder();
  private buf: Buffer = Buffer.alloc(0);
  private prefaceSeen = 0;
  private lastStreamId = 0;
  /** The header block being collected: its stream, END_STREAM flag and fragments. */
  private hbStream = 0;
  private hbEndStream = false;
  private hbParts: Buffer[] = [];
  private hbBytes = 0;
  peerInitialWindow = DEFAULT_WINDOW;
  peerMaxFrame = DEFAULT_MAX_FRAME;
  sendWindow = DEFAULT_WINDOW;
  private recvUnacked = 0;
  readonly blocked = new Set<GrpcCall>();
  private readonly drainWaiters = new Set<GrpcCall>();
  congested = false;
  private out: Buffer[] = [];
  private flushQueued = false;
  private dead = false;
  private goingAway = false;
  private readonly flushFn = () => this.flush();

  constructor(host: ConnectionHost, socket: Duplex, head: Buffer) {
    this.host = host;
    this.socket = socket;
    socket.on("data", (d: Buffer) => this.onData(d));
    socket.on("drain", () => this.onSocketDrain());
    socket.on("error", () => this.destroy());
    socket.on("close", () => this.destroy());
    socket.on("end", () => this.destroy());
    // The server's preface: our SETTINGS, and the connection window raised.
    const settings = new Uint8Array(6);
    settings[1] = S_INITIAL_WINDOW_SIZE;
    settings.set(u32(STREAM_WINDOW), 2);
    this.emit(frame(T_SETTINGS, 0, 0, settings));
    this.emit(windowUpdate(0, CONNECTION_WINDOW - DEFAULT_WINDOW));
    if (head.length > 0) this.onData(head);
  }

  /** Open calls on this connection. */
  get calls(): number {
    return this.streams.size;
  }

  // ---------------------------------------------------------------- output

  emit(bytes: Buffer): void {
    if (this.dead) return;
    this.out.push(bytes);
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flushFn);
    }
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.dead || this.out.length === 0) return;
    const chunk = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out);
    this.out = [];
    if (!this.socket.write(chunk)) this.congested = true;
    // A client that keeps sending requests but does not read the answers
    // would make the socket buffer grow without bound: unary answers do not
    // wait for 'drain' (streams do, through write()'s false).
    if (this.socket.writableLength > MAX_UNREAD_BYTES) {
      this.dead = true;
      this.cancelAll();
      this.socket.destroy();
      this.host.closed(this);
    }
  }

  wantDrain(call: GrpcCall): void {
    this.drainWaiters.add(call);
  }

  private onSocketDrain(): void {
    this.congested = false;
    this.notifyDrain();
  }

  private notifyDrain(): void {
    if (this.drainWaiters.size === 0) return;
    const ws = [...this.drainWaiters];
    this.drainWaiters.clear();
    for (const c of ws) {
      c.drained();
      if (c.wantsDrain && !c.closed) this.drainWaiters.add(c);
    }
  }

  remove(call: GrpcCall): void {
    if (call.closed) return;
    this.streams.delete(call.id);
    this.blocked.delete(call);
    this.drainWaiters.delete(call);
    call.detach();
  }

  startCall(call: GrpcCall, req: Uint8Array | undefined): void {
    try {
      call.method!.start(call, req);
    } catch (err) {
      call.fail(Status.INTERNAL, err instanceof Error ? err.message : String(err));
    }
  }

  /** Ends the connection: GOAWAY, every call cancelled, the socket closed once written. */
  close(): void {
    if (this.dead) return;
    this.goingAway = true;
    this.emit(goaway(this.lastStreamId, E_NO_ERROR));
    this.flush();
    this.cancelAll();
    this.dead = true;
    // The GOAWAY goes out before the FIN; a client that does not close its
    // side soon is cut off.
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 500).unref();
    this.host.closed(this);
  }

  private destroy(): void {
    if (this.dead) return;
    this.dead = true;
    this.cancelAll();
    this.socket.destroy();
    this.host.closed(this);
  }

  private cancelAll(): void {
    for (const c of [...this.streams.values()]) c.cancel(false);
  }

  private protocolError(code: number, message: string): void {
    if (this.dead) return;
    const detail = Buffer.from(message.slice(0, 200), "utf8");
    this.out.push(goaway(this.lastStreamId, code, detail));
    this.flush();
    this.destroy();
  }

  // ---------------------------------------------------------------- input

  private onData(chunk: Buffer): void {
    if (this.dead) return;
    try {
      this.parse(chunk);
    } catch (err) {
      if (err instanceof ConnectionError) this.protocolError(err.h2code, err.message);
      else this.protocolError(E_INTERNAL_ERROR, err instanceof Error ? err.message : String(err));
    }
  }

  private parse(chunk: Buffer): void {
    let buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    let p = 0;
    if (this.prefaceSeen < PREFACE.length) {
      const n = Math.min(PREFACE.length - this.prefaceSeen, buf.length);
      if (buf.compare(PREFACE, this.prefaceSeen, this.prefaceSeen + n, 0, n) !== 0) {
        throw new ConnectionError(E_PROTOCOL_ERROR, "bad connection preface");
      }
      this.prefaceSeen += n;
      p = n;
    }
    let replenish = 0;
    while (!this.dead && buf.length - p >= FRAME_HEADER) {
      const len = (buf[p]! << 16) | (buf[p + 1]! << 8) | buf[p + 2]!;
      if (len > DEFAULT_MAX_FRAME) throw new ConnectionError(E_FRAME_SIZE_ERROR, `frame of ${len} bytes`);
      if (buf.length - p - FRAME_HEADER < len) break;
      const type = buf[p + 3]!;
      const flags = buf[p + 4]!;
      const id = buf.readUInt32BE(p + 5) & 0x7fffffff;
      const payload = buf.subarray(p + FRAME_HEADER, p + FRAME_HEADER + len);
      p += FRAME_HEADER + len;
      if (this.hbStream !== 0 && type !== T_CONTINUATION) {
        throw new ConnectionError(E_PROTOCOL_ERROR, "expected CONTINUATION");
      }
      switch (type) {
        case T_DATA:
          replenish += len;
          this.onDataFrame(id, flags, payload);
          break;
        case T_HEADERS:
          this.onHeaders(id, flags, payload);
          break;
        case T_CONTINUATION:
          this.onContinuation(id, flags, payload);
          break;
        case T_PRIORITY:
          if (len !== 5) throw new ConnectionError(E_FRAME_SIZE_ERROR, "PRIORITY of a wrong size");
          break;
        case T_RST_STREAM:
          if (len !== 4) throw new ConnectionError(E_FRAME_SIZE_ERROR, "RST_STREAM of a wrong size");
          if (id === 0) throw new ConnectionError(E_PROTOCOL_ERROR, "RST_STREAM on stream 0");
          this.streams.get(id)?.cancel(false);
          break;
        case T_SETTINGS:
          this.onSettings(id, flags, payload);
          break;
        case T_PING:
          if (len !== 8 || id !== 0) throw new ConnectionError(E_PROTOCOL_ERROR, "bad PING");
          if ((flags & F_ACK) === 0) this.emit(frame(T_PING, F_ACK, 0, payload));
          break;
        case T_GOAWAY:
          this.goingAway = true;
          if (this.streams.size === 0) this.close();
          break;
        case T_WINDOW_UPDATE:
          this.onWindowUpdate(id, payload);
          break;
        case T_PUSH_PROMISE:
          throw new ConnectionError(E_PROTOCOL_ERROR, "PUSH_PROMISE from a client");
        default:
          break; // unknown frame types are ignored (RFC 9113 §4.1)
      }
    }
    this.buf = p >= buf.length ? EMPTY_BUF : Buffer.from(buf.subarray(p));
    if (this.buf.length > DEFAULT_MAX_FRAME + FRAME_HEADER) {
      throw new ConnectionError(E_FRAME_SIZE_ERROR, "frame too large");
    }
    buf = EMPTY_BUF;
    if (replenish > 0) {
      this.recvUnacked += replenish;
      if (this.recvUnacked >= CONNECTION_REPLENISH) {
        this.emit(windowUpdate(0, this.recvUnacked));
        this.recvUnacked = 0;
      }
    }
  }

  private onDataFrame(id: number, flags: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(E_PROTOCOL_ERROR, "DATA on stream 0");
    const call = this.streams.get(id);
    if (call === undefined) {
      if (id > this.lastStreamId) throw new ConnectionError(E_PROTOCOL_ERROR, "DATA on an idle stream");
      return; // a stream closed or reset already: its window is credited with the connection's
    }
    if (call.remoteEnded) {
      this.emit(rstStream(id, 0x5)); // STREAM_CLOSED
      call.cancel(false);
      return;
    }
    const data = unpad(flags, payload);
    call.receive(data);
    if ((flags & F_END_STREAM) !== 0) call.halfClose();
    else if (!call.closed) {
      call.recvUnacked += payload.length;
      if (call.recvUnacked >= STREAM_REPLENISH) {
        this.emit(windowUpdate(id, call.recvUnacked));
        call.recvUnacked = 0;
      }
    }
  }

  private onHeaders(id: number, flags: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(E_PROTOCOL_ERROR, "HEADERS on stream 0");
    let block = unpad(flags, payload);
    if ((flags & F_PRIORITY) !== 0) {
      if (block.length < 5) throw new ConnectionError(E_PROTOCOL_ERROR, "short HEADERS");
      block = block.subarray(5);
    }
    this.hbStream = id;
    this.hbEndStream = (flags & F_END_STREAM) !== 0;
    this.hbParts = [Buffer.from(block)];
    this.hbBytes = block.length;
    if ((flags & F_END_HEADERS) !== 0) this.endHeaderBlock();
  }

  private onContinuation(id: number, flags: number, payload: Buffer): void {
    if (this.hbStream === 0 || id !== this.hbStream) {
      throw new ConnectionError(E_PROTOCOL_ERROR, "unexpected CONTINUATION");
    }
    this.hbBytes += payload.length;
    if (this.hbBytes > MAX_HEADER_BLOCK)
      throw new ConnectionError(E_ENHANCE_YOUR_CALM, "header block too large");
    this.hbParts.push(Buffer.from(payload));
    if ((flags & F_END_HEADERS) !== 0) this.endHeaderBlock();
  }

  private endHeaderBlock(): void {
    const id = this.hbStream;
    const endStream = this.hbEndStream;
    const block = this.hbParts.length === 1 ? this.hbParts[0]! : Buffer.concat(this.hbParts);
    this.hbStream = 0;
    this.hbParts = [];
    let fields: HeaderField[];
    try {
      fields = this.decoder.decode(block);
    } catch (err) {
      throw new ConnectionError(E_COMPRESSION_ERROR, err instanceof Error ? err.message : String(err));
    }
    const existing = this.streams.get(id);
    if (existing !== undefined) {
      // Trailers from the client: they must end the stream; gRPC sends none.
      if (!endStream) throw new ConnectionError(E_PROTOCOL_ERROR, "second HEADERS without END_STREAM");
      existing.halfClose();
      return;
    }
    if (id <= this.lastStreamId) return; // a stream we closed already
    if ((id & 1) === 0) throw new ConnectionError(E_PROTOCOL_ERROR, "even stream ID from a client");
    this.lastStreamId = id;
    if (this.goingAway) {
      this.emit(rstStream(id, 0x7)); // REFUSED_STREAM
      return;
    }
    this.newCall(id, fields, endStream);
  }

  private newCall(id: number, fields: HeaderField[], endStream: boolean): void {
    let path = "";
    let method = "";
    let contentType = "";
    let timeout = "";
    for (const f of fields) {
      const n = f.name;
      if (n === ":path") path = f.value;
      else if (n === ":method") method = f.value;
      else if (n === "content-type") contentType = f.value;
      else if (n === "grpc-timeout") timeout = f.value;
    }
    if (method !== "POST" || !contentType.startsWith("application/grpc")) {
      // Not a gRPC request (grpc-go and grpc-js answer 415 as well).
      this.emit(
        frame(T_HEADERS, F_END_HEADERS | F_END_STREAM, id, httpStatusBlock(method === "POST" ? 415 : 405)),
      );
      if (!endStream) this.emit(rstStream(id, E_NO_ERROR));
      return;
    }
    const m = this.host.method(path);
    const call = new GrpcCall(this, id, path, fields, m);
    this.streams.set(id, call);
    if (m === undefined) {
      if (endStream) call.remoteEnded = true;
      call.end(Status.UNIMPLEMENTED, `The server does not implement the method ${path}`);
      return;
    }
    if (timeout !== "") {
      const ms = parseTimeout(timeout);
      if (ms !== undefined) {
        call.deadline = performance.now() + ms;
        this.host.trackDeadline(call);
      }
    }
    if (m.kind === "bidi") this.startCall(call, undefined);
    if (endStream && !call.closed) call.halfClose();
  }

  private onSettings(id: number, flags: number, payload: Buffer): void {
    if (id !== 0) throw new ConnectionError(E_PROTOCOL_ERROR, "SETTINGS on a stream");
    if ((flags & F_ACK) !== 0) return;
    if (payload.length % 6 !== 0) throw new ConnectionError(E_FRAME_SIZE_ERROR, "SETTINGS of a wrong size");
    for (let p = 0; p < payload.length; p += 6) {
      const key = payload.readUInt16BE(p);
      const v = payload.readUInt32BE(p + 2);
      if (key === S_INITIAL_WINDOW_SIZE) {
        if (v > MAX_WINDOW) throw new ConnectionError(E_FLOW_CONTROL_ERROR, "initial window too large");
        const delta = v - this.peerInitialWindow;
        this.peerInitialWindow = v;
        for (const c of this.streams.values()) c.sendWindow += delta;
      } else if (key === S_MAX_FRAME_SIZE) {
        if (v < DEFAULT_MAX_FRAME || v > 16_777_215)
          throw new ConnectionError(E_PROTOCOL_ERROR, "bad max frame size");
        this.peerMaxFrame = v;
      }
    }
    this.emit(frame(T_SETTINGS, F_ACK, 0, EMPTY));
    this.unblock();
  }

  private onWindowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ConnectionError(E_FRAME_SIZE_ERROR, "WINDOW_UPDATE of a wrong size");
    const inc = payload.readUInt32BE(0) & 0x7fffffff;
    if (inc === 0) {
      if (id === 0) throw new ConnectionError(E_PROTOCOL_ERROR, "WINDOW_UPDATE of 0");
      this.streams.get(id)?.fail(Status.INTERNAL, "WINDOW_UPDATE of 0");
      return;
    }
    if (id === 0) {
      this.sendWindow += inc;
      if (this.sendWindow > MAX_WINDOW)
        throw new ConnectionError(E_FLOW_CONTROL_ERROR, "connection window overflow");
      this.unblock();
      return;
    }
    const c = this.streams.get(id);
    if (c === undefined) return;
    c.sendWindow += inc;
    if (c.sendWindow > MAX_WINDOW) {
      c.cancel(true);
      return;
    }
    c.pump();
    if (c.queued === 0) this.blocked.delete(c);
    c.drained();
  }

  private unblock(): void {
    if (this.blocked.size === 0) return;
    const bs = [...this.blocked];
    this.blocked.clear();
    for (const c of bs) {
      c.pump();
      c.drained();
    }
  }
}

const EMPTY_BUF = Buffer.alloc(0);

function unpad(flags: number, payload: Buffer): Buffer {
  if ((flags & F_PADDED) === 0) return payload;
  if (payload.length < 1) throw new ConnectionError(E_PROTOCOL_ERROR, "padded frame without its pad length");
  const pad = payload[0]!;
  if (pad >= payload.length) throw new ConnectionError(E_PROTOCOL_ERROR, "padding longer than the frame");
  return payload.subarray(1, payload.length - pad);
}
