// The v3 API as gRPC services on @grpc/grpc-js: KV, Watch, Lease, Cluster,
// Maintenance, Lock and Election (concurrency.ts), and Auth (which answers
// "not supported"), plus the standard
// health service. Service definitions come from the protobuf-es descriptors
// of etcdserverpb, so method paths and codecs are etcd's. The server is not
// bound to a port here: connections are injected (see listener.ts), which
// lets one port carry gRPC and HTTP/1.1 as etcd's client URL does.

import { Duplex } from "node:stream";
import type { DescMessage, DescService, MessageShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  Auth,
  AuthDisableResponseSchema,
  AuthRoleListResponseSchema,
  AuthStatusResponseSchema,
  AuthUserListResponseSchema,
  Cluster,
  create,
  Election,
  encodeWatchResponse,
  FAST_ENCODERS,
  fromBinary,
  KV,
  type LeaderRequest,
  type LeaderResponse,
  Lease,
  type LeaseKeepAliveRequest,
  type LeaseKeepAliveResponse,
  Lock,
  Maintenance,
  toBinary,
  Watch,
  type WatchRequest,
  type WatchResponse,
} from "../etcdpb/index.ts";
import { decodePutRequest } from "../mvcc/index.ts";
import { NO_CANCEL } from "./backend.ts";
import { V3Concurrency } from "./concurrency.ts";
import { toStatus, V3Errors } from "./errors.ts";
import { GRPC_OVERHEAD_BYTES, type V3Services, WatchSession } from "./services.ts";
import { type FrameSink, GrpcFrameWriter } from "./watch_writer.ts";

/** Raw request bytes by decoded message, so writes can be proposed without re-encoding. */
const rawBytes = new WeakMap<object, Uint8Array>();

/**
 * A grpc-js service definition from a protobuf-es service descriptor (etcd's
 * method paths and codecs). Also what a grpc-js client needs:
 * grpc.makeGenericClientConstructor(etcdServiceDefinition(KV), "KV").
 */
export function etcdServiceDefinition(svc: DescService): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const m of svc.methods) {
    const input = m.input as DescMessage;
    const output = m.output as DescMessage;
    const fast = FAST_ENCODERS[output.typeName];
    // KV.Put's request by hand (the reflective decoder is ~1% of a leader's CPU under puts).
    const fastDecode = input.typeName === "etcdserverpb.PutRequest" ? decodePutRequest : undefined;
    def[m.name] = {
      path: `/${svc.typeName}/${m.name}`,
      requestStream: m.methodKind === "client_streaming" || m.methodKind === "bidi_streaming",
      responseStream: m.methodKind === "server_streaming" || m.methodKind === "bidi_streaming",
      requestSerialize: (v: MessageShape<DescMessage>) => Buffer.from(toBinary(input, v)),
      requestDeserialize: (b: Buffer) => {
        const msg = (fastDecode === undefined ? undefined : fastDecode(b)) ?? fromBinary(input, b);
        rawBytes.set(msg, b);
        return msg;
      },
      responseSerialize: (v: MessageShape<DescMessage> | Uint8Array) => {
        // Already encoded (the Watch stream's spliced event deliveries, watch_encode.ts).
        if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
        const out = fast === undefined ? toBinary(output, v) : fast(v as never);
        return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
      },
      responseDeserialize: (b: Buffer) => fromBinary(output, b),
      originalName: m.localName,
    } as grpc.MethodDefinition<unknown, unknown>;
  }
  return def as grpc.ServiceDefinition;
}

function grpcError(err: unknown): Partial<grpc.StatusObject> {
  const s = toStatus(err);
  return { code: s.code, details: s.message, metadata: new grpc.Metadata() };
}

type Unary<Req, Resp> = (req: Req, signal: AbortSignal, raw: Uint8Array | undefined) => Promise<Resp> | Resp;

/**
 * etcd's interceptor checks (spec §1.3): a call with `hasleader: true`
 * metadata fails with "etcdserver: no leader" while the member knows no
 * leader; a learner serves only Status and serializable Range (no streams).
 */
function interceptorCheck(svc: V3Services, md: grpc.Metadata, req: object | undefined): void {
  const b = svc.backend;
  if (b.isLearner?.()) {
    const t = (req as { $typeName?: string } | undefined)?.$typeName;
    const ok =
      t === "etcdserverpb.StatusRequest" ||
      (t === "etcdserverpb.RangeRequest" && (req as { serializable: boolean }).serializable);
    if (!ok) throw V3Errors.notSupportedForLearner();
  }
  if (md.get("hasleader")[0] === "true" && !b.hasLeader()) throw V3Errors.noLeader();
}

function unaryCall<Req extends object, Resp>(
  fn: Unary<Req, Resp>,
  svc?: V3Services,
  cancellable = false,
): grpc.handleUnaryCall<Req, Resp> {
  return (call, callback) => {
    if (svc !== undefined) {
      try {
        interceptorCheck(svc, call.metadata, call.request);
      } catch (e) {
        callback(grpcError(e));
        return;
      }
    }
    // NO_CANCEL, not a signal per call: the backend bounds every wait by its
    // request timeout, and grpc-js drops the answer of a cancelled call. The
    // calls that wait without bound (Lock, Campaign) get a signal that fires
    // when the call is cancelled: they must then give up their place.
    let signal = NO_CANCEL;
    if (cancellable) {
      const ac = new AbortController();
      call.on("cancelled", () => ac.abort());
      signal = ac.signal;
    }
    let p: Promise<Resp>;
    try {
      p = Promise.resolve(fn(call.request, signal, rawBytes.get(call.request)));
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (resp) => callback(null, resp),
      (err) => callback(grpcError(err)),
    );
  };
}

/** Options of V3GrpcServer. */
export interface V3GrpcServerOptions {
  /** Interval of watch progress notifications (etcd default 10 min). */
  watchProgressIntervalMs?: number;
  /**
   * Write Watch responses as gathered gRPC frames on the HTTP/2 stream
   * (watch_writer.ts; default true). False, or a grpc-js that does not keep
   * its HTTP/2 stream where 1.14 does, sends each through grpc-js.
   */
  watchFrameWriter?: boolean;
}

/** How the Watch streams opened so far send their responses. */
export interface WatchStreamCounts {
  /** Gathered gRPC frames written on the HTTP/2 stream (watch_writer.ts). */
  framed: number;
  /** One grpc-js write per response. */
  perMessage: number;
}

/** The gRPC side of the v3 API. Feed it connections with injectConnection(). */
export class V3GrpcServer {
  /** grpc-js's server, with etcd's services registered. */
  readonly server: grpc.Server;
  private readonly injector: grpc.ConnectionInjector;
  private readonly sessions = new Set<WatchSession>();
  private readonly streams = new Set<
    grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>
  >();
  private readonly progressTimer: NodeJS.Timeout;
  private readonly frameWriter: boolean;
  /** How the Watch streams opened so far send their responses. */
  readonly watchStreams: WatchStreamCounts = { framed: 0, perMessage: 0 };

  constructor(
    readonly svc: V3Services,
    opts: V3GrpcServerOptions = {},
  ) {
    this.frameWriter = opts.watchFrameWriter ?? true;
    this.server = new grpc.Server({
      "grpc.max_receive_message_length": svc.maxRequestBytes + GRPC_OVERHEAD_BYTES,
      "grpc.max_send_message_length": -1,
      "grpc.max_concurrent_streams": 2 ** 31 - 1,
      // channelz bookkeeping (call counters and timestamps per call) costs
      // ~1% of a loaded leader's CPU and nothing here reads it.
      "grpc.enable_channelz": 0,
    });
    this.addServices();
    this.injector = this.server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    const every = opts.watchProgressIntervalMs ?? 10 * 60 * 1000;
    this.progressTimer = setInterval(() => svc.backend.sm.hub.progressTick(), every);
    this.progressTimer.unref();
  }

  /** Hands a connection (plaintext HTTP/2 bytes: a TCP socket or a decrypted TLS socket) to gRPC. */
  injectConnection(socket: import("node:stream").Duplex): void {
    this.injector.injectConnection(socket);
  }

  /** Ends every stream and connection. */
  close(): Promise<void> {
    clearInterval(this.progressTimer);
    for (const s of this.sessions) s.close();
    for (const st of this.streams) st.destroy();
    this.injector.drain(0);
    this.injector.destroy();
    return new Promise((res) => this.server.tryShutdown(() => res()));
  }

  private addServices(): void {
    const s = this.svc;
    const unary = <Req extends object, Resp>(fn: Unary<Req, Resp>) => unaryCall(fn, s);
    this.server.addService(etcdServiceDefinition(KV), {
      Range: unary((r, sig) => s.range(r as never, sig)),
      Put: unary((r, sig, raw) => s.put(r as never, sig, raw)),
      DeleteRange: unary((r, sig, raw) => s.deleteRange(r as never, sig, raw)),
      Txn: unary((r, sig, raw) => s.txn(r as never, sig, raw)),
      Compact: unary((r, sig, raw) => s.compact(r as never, sig, raw)),
    });
    this.server.addService(etcdServiceDefinition(Watch), {
      Watch: (call: grpc.ServerDuplexStream<WatchRequest, WatchResponse>) => this.watch(call),
    });
    this.server.addService(etcdServiceDefinition(Lease), {
      LeaseGrant: unary((r, sig) => s.leaseGrant(r as never, sig)),
      LeaseRevoke: unary((r, sig, raw) => s.leaseRevoke(r as never, sig, raw)),
      LeaseKeepAlive: (call: grpc.ServerDuplexStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse>) =>
        this.keepAlive(call),
      LeaseTimeToLive: unary((r, sig) => s.leaseTimeToLive(r as never, sig)),
      LeaseLeases: unary(() => s.leaseLeases()),
    });
    this.server.addService(etcdServiceDefinition(Cluster), {
      MemberAdd: unary((r, sig) => s.memberAdd(r as never, sig)),
      MemberRemove: unary((r, sig) => s.memberRemove(r as never, sig)),
      MemberUpdate: unary((r, sig) => s.memberUpdate(r as never, sig)),
      MemberList: unary((_r, sig) => s.memberList(sig)),
      MemberPromote: unary((r, sig) => s.memberPromote(r as never, sig)),
    });
    this.server.addService(etcdServiceDefinition(Maintenance), {
      Alarm: unary((r, sig) => s.alarm(r as never, sig)),
      Status: unary(() => s.status()),
      Defragment: unary(() => s.defragment()),
      Hash: unary(() => s.hash()),
      HashKV: unary((r) => s.hashKV(r as never)),
      Snapshot: (call: grpc.ServerWritableStream<unknown, unknown>) => this.snapshot(call),
      MoveLeader: unary((r, sig) => s.moveLeader(r as never, sig)),
      // Downgrade (3.5+) is left unimplemented: grpc-js answers UNIMPLEMENTED, as etcd 3.4 does.
    });
    const c = new V3Concurrency(s);
    const waiting = <Req extends object, Resp>(fn: Unary<Req, Resp>) => unaryCall(fn, s, true);
    this.server.addService(etcdServiceDefinition(Lock), {
      Lock: waiting((r, sig) => c.lock(r as never, sig)),
      Unlock: unary((r, sig) => c.unlock(r as never, sig)),
    });
    this.server.addService(etcdServiceDefinition(Election), {
      Campaign: waiting((r, sig) => c.campaign(r as never, sig)),
      Proclaim: unary((r, sig) => c.proclaim(r as never, sig)),
      Leader: unary((r, sig) => c.leader(r as never, sig)),
      Observe: (call: grpc.ServerWritableStream<LeaderRequest, LeaderResponse>) => this.observe(c, call),
      Resign: unary((r, sig) => c.resign(r as never, sig)),
    });
    this.server.addService(etcdServiceDefinition(Auth), this.authHandlers());
    this.server.addService(healthDefinition(), {
      Check: (_call: unknown, cb: grpc.sendUnaryData<Uint8Array>) => cb(null, new Uint8Array([0x08, 0x01])),
    });
  }

  /**
   * Auth is not supported: the server runs with auth disabled, and says so
   * with etcd's own answers where they exist (Authenticate: "authentication
   * is not enabled", which clientv3 and etcdctl accept and go on without a
   * token; AuthDisable succeeds; AuthStatus reports disabled; user and role
   * lists are empty), and UNIMPLEMENTED for every change.
   */
  private authHandlers(): grpc.UntypedServiceImplementation {
    const s = this.svc;
    const unary = <Req extends object, Resp>(fn: Unary<Req, Resp>) => unaryCall(fn, s);
    const notSupported = unary(() => {
      throw V3Errors.authNotSupported();
    });
    const impl: grpc.UntypedServiceImplementation = {};
    for (const m of Auth.methods) impl[m.name] = notSupported;
    impl.Authenticate = unary(() => {
      throw V3Errors.authNotEnabled();
    });
    impl.AuthDisable = unary(() => create(AuthDisableResponseSchema, { header: s.header(s.backend.sm.rev) }));
    impl.AuthStatus = unary(() =>
      create(AuthStatusResponseSchema, { header: s.header(s.backend.sm.rev), enabled: false }),
    );
    impl.UserList = unary(() => create(AuthUserListResponseSchema, { header: s.header(s.backend.sm.rev) }));
    impl.RoleList = unary(() => create(AuthRoleListResponseSchema, { header: s.header(s.backend.sm.rev) }));
    return impl;
  }

  /** Streams get the interceptor checks once, at the start (etcd also ends them after a long leaderless spell). */
  private refuseStream(
    call: grpc.ServerDuplexStream<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>,
  ): boolean {
    try {
      if (this.svc.backend.isLearner?.()) throw V3Errors.notSupportedForLearner();
      interceptorCheck(this.svc, call.metadata, undefined);
      return false;
    } catch (e) {
      call.emit("error", grpcError(e));
      return true;
    }
  }

  private watch(call: grpc.ServerDuplexStream<WatchRequest, WatchResponse>): void {
    if (this.refuseStream(call as never)) return;
    const h2 = this.frameWriter ? http2StreamOf(call) : undefined;
    let session: WatchSession;
    if (h2 !== undefined) {
      const writer = new GrpcFrameWriter(h2, () => session.drained());
      session = new WatchSession(
        this.svc,
        (resp) => writer.push(encodeWatchResponse(resp)),
        (encoded) => writer.push(encoded),
      );
      this.watchStreams.framed++;
    } else {
      session = new WatchSession(
        this.svc,
        (resp) => call.write(resp),
        (encoded) => call.write(encoded as never),
      );
      call.on("drain", () => session.drained());
      this.watchStreams.perMessage++;
    }
    this.sessions.add(session);
    this.streams.add(call as never);
    call.on("data", (req: WatchRequest) => session.handle(req));
    // Half-close does not end a watch stream (spec §3.8): only cancellation or an error does.
    const done = () => {
      session.close();
      this.sessions.delete(session);
      this.streams.delete(call as never);
    };
    call.on("cancelled", done);
    call.on("error", done);
    call.on("close", done);
  }

  private keepAlive(call: grpc.ServerDuplexStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse>): void {
    if (this.refuseStream(call as never)) return;
    const ac = new AbortController();
    let chain: Promise<void> = Promise.resolve();
    let failed = false;
    this.streams.add(call as never);
    call.on("data", (req: LeaseKeepAliveRequest) => {
      chain = chain.then(async () => {
        if (failed) return;
        try {
          call.write(await this.svc.leaseKeepAlive(req, ac.signal));
        } catch (e) {
          failed = true;
          call.emit("error", grpcError(e));
        }
      });
    });
    // Half-close ends the keep-alive stream once the pending renewals are answered.
    call.on("end", () => {
      void chain.then(() => {
        if (!failed) call.end();
      });
    });
    const done = () => {
      ac.abort();
      this.streams.delete(call as never);
    };
    call.on("cancelled", done);
    call.on("close", done);
  }

  /** Election.Observe: the leader's key-value as it changes, until the call ends. */
  private observe(c: V3Concurrency, call: grpc.ServerWritableStream<LeaderRequest, LeaderResponse>): void {
    if (this.refuseStream(call as never)) return;
    const ac = new AbortController();
    this.streams.add(call as never);
    const done = () => {
      ac.abort();
      this.streams.delete(call as never);
    };
    call.on("cancelled", done);
    call.on("close", done);
    c.observe(
      call.request,
      (resp) => call.write(resp),
      () => new Promise<void>((r) => call.once("drain", () => r())),
      ac.signal,
    ).catch((e: unknown) => {
      if (!ac.signal.aborted) call.emit("error", grpcError(e));
    });
  }

  private snapshot(call: grpc.ServerWritableStream<unknown, unknown>): void {
    if (this.refuseStream(call)) return;
    this.streams.add(call);
    let cancelled = false;
    call.on("cancelled", () => {
      cancelled = true;
    });
    void (async () => {
      try {
        for await (const msg of this.svc.snapshot()) {
          if (cancelled) return;
          if (!call.write(msg)) await new Promise((r) => call.once("drain", r));
        }
        call.end();
      } catch (e) {
        call.emit("error", grpcError(e));
      } finally {
        this.streams.delete(call);
      }
    })();
  }
}

/** grpc.health.v1.Health/Check answering SERVING (encoded by hand: one enum field). */
function healthDefinition(): grpc.ServiceDefinition {
  return {
    Check: {
      path: "/grpc.health.v1.Health/Check",
      requestStream: false,
      responseStream: false,
      requestSerialize: (v: Uint8Array) => Buffer.from(v),
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (v: Uint8Array) => Buffer.from(v),
      responseDeserialize: (b: Buffer) => b,
    },
  };
}

/**
 * The HTTP/2 stream under a grpc-js server call, with the response headers
 * sent (grpc-js's public sendMetadata), for GrpcFrameWriter; undefined when
 * this grpc-js does not keep it where 1.14 does (the call's `call.stream`,
 * not public API): the caller then writes through grpc-js, which is slower
 * but the same on the wire. test/v3rpc/watch_writer.test.ts checks that
 * the installed grpc-js takes the framed path.
 */
function http2StreamOf(call: grpc.ServerDuplexStream<unknown, unknown>): FrameSink | undefined {
  const stream = (call as unknown as { call?: { stream?: unknown } }).call?.stream;
  if (!(stream instanceof Duplex) || typeof (stream as { respond?: unknown }).respond !== "function")
    return undefined;
  call.sendMetadata(new grpc.Metadata());
  if ((stream as { headersSent?: unknown }).headersSent !== true) return undefined;
  return stream as unknown as FrameSink;
}
