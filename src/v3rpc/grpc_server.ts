// The v3 API as gRPC services: KV, Watch, Lease, Cluster, Maintenance,
// Lock and Election (concurrency.ts), and Auth (which answers "not
// supported"), plus the standard health service, on the package's own
// HTTP/2 gRPC server (src/h2grpc). Method paths and codecs come from the
// protobuf-es descriptors of etcdserverpb, so they are etcd's. The server
// is not bound to a port here: connections are injected (see listener.ts),
// which lets one port carry gRPC and HTTP/1.1 as etcd's client URL does.

import type { Duplex } from "node:stream";
import type { DescMessage, DescService, MessageShape } from "@bufbuild/protobuf";
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
  LeaderRequestSchema,
  Lease,
  LeaseKeepAliveRequestSchema,
  Lock,
  Maintenance,
  toBinary,
  Watch,
  WatchRequestSchema,
} from "../etcdpb/index.ts";
import { type GrpcCall, type GrpcMethod, GrpcServer, Status } from "../h2grpc/index.ts";
import { decodePutRequest } from "../mvcc/index.ts";
import { NO_CANCEL } from "./backend.ts";
import { V3Concurrency } from "./concurrency.ts";
import { toStatus, V3Errors } from "./errors.ts";
import { GRPC_OVERHEAD_BYTES, type V3Services, WatchSession } from "./services.ts";
import { type FrameSink, GrpcFrameWriter } from "./watch_writer.ts";

type Unary<Req, Resp> = (req: Req, signal: AbortSignal, raw: Uint8Array) => Promise<Resp> | Resp;
type Handlers = Record<string, GrpcMethod>;

/** Ends a call with the gRPC status etcd gives `err`. */
function fail(call: GrpcCall, err: unknown): void {
  const s = toStatus(err);
  call.end(s.code, s.message);
}

/**
 * etcd's interceptor checks (spec §1.3): a call with `hasleader: true`
 * metadata fails with "etcdserver: no leader" while the member knows no
 * leader; a learner serves only Status and serializable Range (no streams).
 */
function interceptorCheck(svc: V3Services, call: GrpcCall, req: object | undefined): void {
  const b = svc.backend;
  if (b.isLearner?.()) {
    const t = (req as { $typeName?: string } | undefined)?.$typeName;
    const ok =
      t === "etcdserverpb.StatusRequest" ||
      (t === "etcdserverpb.RangeRequest" && (req as { serializable: boolean }).serializable);
    if (!ok) throw V3Errors.notSupportedForLearner();
  }
  if (call.header("hasleader") === "true" && !b.hasLeader()) throw V3Errors.noLeader();
}

/** A request's bytes decoded, or the call ended as grpc-go ends it when they do not decode. */
function decodeOrFail<T>(call: GrpcCall, decode: (b: Uint8Array) => T, bytes: Uint8Array): T | undefined {
  try {
    return decode(bytes);
  } catch (e) {
    call.end(
      Status.INTERNAL,
      `grpc: error unmarshalling request: ${e instanceof Error ? e.message : String(e)}`,
    );
    return undefined;
  }
}

/** The codec of a method: its request decoder (KV.Put's by hand) and response encoder. */
function codec(svc: DescService, name: string) {
  const m = svc.methods.find((x) => x.name === name);
  if (m === undefined) throw new Error(`${svc.typeName} has no method ${name}`);
  const input = m.input as DescMessage;
  const output = m.output as DescMessage;
  const fast = FAST_ENCODERS[output.typeName];
  // KV.Put's request by hand (the reflective decoder is ~1% of a leader's CPU under puts).
  const fastDecode = input.typeName === "etcdserverpb.PutRequest" ? decodePutRequest : undefined;
  return {
    decode: (b: Uint8Array): object =>
      (fastDecode === undefined ? undefined : fastDecode(b)) ?? fromBinary(input, b),
    encode: (v: unknown): Uint8Array =>
      v instanceof Uint8Array
        ? v
        : fast === undefined
          ? toBinary(output, v as MessageShape<DescMessage>)
          : fast(v as never),
  };
}

/** A unary method: decode, etcd's interceptor checks, the service, the answer. */
function unaryMethod<Req extends object, Resp>(
  svc: V3Services | undefined,
  desc: DescService,
  name: string,
  fn: Unary<Req, Resp>,
  cancellable = false,
): GrpcMethod {
  const { decode, encode } = codec(desc, name);
  const answer = (call: GrpcCall, resp: Resp) => {
    let out: Uint8Array;
    try {
      out = encode(resp);
    } catch (e) {
      fail(call, e);
      return;
    }
    call.respond(out);
  };
  return {
    kind: "unary",
    start(call, bytes) {
      const req = decodeOrFail(call, decode, bytes!) as Req | undefined;
      if (req === undefined) return;
      if (svc !== undefined) {
        try {
          interceptorCheck(svc, call, req);
        } catch (e) {
          fail(call, e);
          return;
        }
      }
      // NO_CANCEL, not a signal per call: the backend bounds every wait by
      // its request timeout, and the answer of a cancelled call is dropped.
      // The calls that wait without bound (Lock, Campaign) get a signal that
      // fires when the call is cancelled: they must then give up their place.
      let signal = NO_CANCEL;
      if (cancellable) {
        const ac = new AbortController();
        call.onCancel(() => ac.abort());
        signal = ac.signal;
      }
      let r: Promise<Resp> | Resp;
      try {
        r = fn(req, signal, bytes!);
      } catch (e) {
        fail(call, e);
        return;
      }
      if (r instanceof Promise)
        r.then(
          (resp) => answer(call, resp),
          (e: unknown) => fail(call, e),
        );
      else answer(call, r);
    },
  };
}

/** A GrpcCall as GrpcFrameWriter's sink. */
class CallSink implements FrameSink {
  readonly writableHighWaterMark = 256 * 1024;
  constructor(private readonly call: GrpcCall) {}
  write(chunk: Uint8Array): boolean {
    return this.call.writeFramed(chunk);
  }
  once(_event: "drain", listener: () => void): unknown {
    this.call.onceDrain(listener);
    return this;
  }
  get destroyed(): boolean {
    return this.call.cancelled || this.call.closed;
  }
  get writableEnded(): boolean {
    return this.call.ended;
  }
  get writableLength(): number {
    return this.call.writableLength;
  }
}

/** Options of V3GrpcServer. */
export interface V3GrpcServerOptions {
  /** Interval of watch progress notifications (etcd default 10 min). */
  watchProgressIntervalMs?: number;
}

/** The gRPC side of the v3 API. Feed it connections with injectConnection(). */
export class V3GrpcServer {
  /** The gRPC server, with etcd's services registered. */
  readonly server: GrpcServer;
  private readonly sessions = new Set<WatchSession>();
  private readonly progressTimer: NodeJS.Timeout;

  constructor(
    readonly svc: V3Services,
    opts: V3GrpcServerOptions = {},
  ) {
    this.server = new GrpcServer({ maxReceiveBytes: svc.maxRequestBytes + GRPC_OVERHEAD_BYTES });
    this.addServices();
    const every = opts.watchProgressIntervalMs ?? 10 * 60 * 1000;
    this.progressTimer = setInterval(() => svc.backend.sm.hub.progressTick(), every);
    this.progressTimer.unref();
  }

  /**
   * Serves gRPC on a connection (plaintext HTTP/2 bytes: a TCP socket or a
   * decrypted TLS socket); `head`: bytes already read from it.
   */
  injectConnection(socket: Duplex, head?: Buffer): void {
    this.server.accept(socket, head);
  }

  /** Ends every stream and connection. */
  close(): Promise<void> {
    clearInterval(this.progressTimer);
    for (const s of this.sessions) s.close();
    this.sessions.clear();
    this.server.close();
    return Promise.resolve();
  }

  private register(desc: DescService, handlers: Handlers): void {
    for (const [name, h] of Object.entries(handlers)) {
      if (!desc.methods.some((m) => m.name === name))
        throw new Error(`${desc.typeName} has no method ${name}`);
      this.server.add(`/${desc.typeName}/${name}`, h);
    }
  }

  private addServices(): void {
    const s = this.svc;
    const u = <Req extends object, Resp>(desc: DescService, name: string, fn: Unary<Req, Resp>) =>
      unaryMethod(s, desc, name, fn);
    this.register(KV, {
      Range: u(KV, "Range", (r, sig) => s.range(r as never, sig)),
      Put: u(KV, "Put", (r, sig, raw) => s.put(r as never, sig, raw)),
      DeleteRange: u(KV, "DeleteRange", (r, sig, raw) => s.deleteRange(r as never, sig, raw)),
      Txn: u(KV, "Txn", (r, sig, raw) => s.txn(r as never, sig, raw)),
      Compact: u(KV, "Compact", (r, sig, raw) => s.compact(r as never, sig, raw)),
    });
    this.register(Watch, { Watch: { kind: "bidi", start: (call) => this.watch(call) } });
    this.register(Lease, {
      LeaseGrant: u(Lease, "LeaseGrant", (r, sig) => s.leaseGrant(r as never, sig)),
      LeaseRevoke: u(Lease, "LeaseRevoke", (r, sig, raw) => s.leaseRevoke(r as never, sig, raw)),
      LeaseKeepAlive: { kind: "bidi", start: (call) => this.keepAlive(call) },
      LeaseTimeToLive: u(Lease, "LeaseTimeToLive", (r, sig) => s.leaseTimeToLive(r as never, sig)),
      LeaseLeases: u(Lease, "LeaseLeases", () => s.leaseLeases()),
    });
    this.register(Cluster, {
      MemberAdd: u(Cluster, "MemberAdd", (r, sig) => s.memberAdd(r as never, sig)),
      MemberRemove: u(Cluster, "MemberRemove", (r, sig) => s.memberRemove(r as never, sig)),
      MemberUpdate: u(Cluster, "MemberUpdate", (r, sig) => s.memberUpdate(r as never, sig)),
      MemberList: u(Cluster, "MemberList", (_r, sig) => s.memberList(sig)),
      MemberPromote: u(Cluster, "MemberPromote", (r, sig) => s.memberPromote(r as never, sig)),
    });
    this.register(Maintenance, {
      Alarm: u(Maintenance, "Alarm", (r, sig) => s.alarm(r as never, sig)),
      Status: u(Maintenance, "Status", () => s.status()),
      Defragment: u(Maintenance, "Defragment", () => s.defragment()),
      Hash: u(Maintenance, "Hash", () => s.hash()),
      HashKV: u(Maintenance, "HashKV", (r) => s.hashKV(r as never)),
      Snapshot: { kind: "server_stream", start: (call) => this.snapshot(call) },
      MoveLeader: u(Maintenance, "MoveLeader", (r, sig) => s.moveLeader(r as never, sig)),
      // Downgrade (3.5+) is left unimplemented: UNIMPLEMENTED, as etcd 3.4 answers.
    });
    const c = new V3Concurrency(s);
    this.register(Lock, {
      Lock: unaryMethod(s, Lock, "Lock", (r, sig) => c.lock(r as never, sig), true),
      Unlock: u(Lock, "Unlock", (r, sig) => c.unlock(r as never, sig)),
    });
    this.register(Election, {
      Campaign: unaryMethod(s, Election, "Campaign", (r, sig) => c.campaign(r as never, sig), true),
      Proclaim: u(Election, "Proclaim", (r, sig) => c.proclaim(r as never, sig)),
      Leader: u(Election, "Leader", (r, sig) => c.leader(r as never, sig)),
      Observe: { kind: "server_stream", start: (call, req) => this.observe(c, call, req!) },
      Resign: u(Election, "Resign", (r, sig) => c.resign(r as never, sig)),
    });
    this.register(Auth, this.authHandlers());
    this.server.add("/grpc.health.v1.Health/Check", {
      kind: "unary",
      start: (call) => call.respond(SERVING),
    });
  }

  /**
   * Auth is not supported: the server runs with auth disabled, and says so
   * with etcd's own answers where they exist (Authenticate: "authentication
   * is not enabled", which clientv3 and etcdctl accept and go on without a
   * token; AuthDisable succeeds; AuthStatus reports disabled; user and role
   * lists are empty), and UNIMPLEMENTED for every change.
   */
  private authHandlers(): Handlers {
    const s = this.svc;
    const u = <Req extends object, Resp>(name: string, fn: Unary<Req, Resp>) =>
      unaryMethod(s, Auth, name, fn);
    const impl: Handlers = {};
    for (const m of Auth.methods)
      impl[m.name] = u(m.name, () => {
        throw V3Errors.authNotSupported();
      });
    impl.Authenticate = u("Authenticate", () => {
      throw V3Errors.authNotEnabled();
    });
    impl.AuthDisable = u("AuthDisable", () =>
      create(AuthDisableResponseSchema, { header: s.header(s.backend.sm.rev) }),
    );
    impl.AuthStatus = u("AuthStatus", () =>
      create(AuthStatusResponseSchema, { header: s.header(s.backend.sm.rev), enabled: false }),
    );
    impl.UserList = u("UserList", () =>
      create(AuthUserListResponseSchema, { header: s.header(s.backend.sm.rev) }),
    );
    impl.RoleList = u("RoleList", () =>
      create(AuthRoleListResponseSchema, { header: s.header(s.backend.sm.rev) }),
    );
    return impl;
  }

  /** Streams get the interceptor checks once, at the start (etcd also ends them after a long leaderless spell). */
  private refuseStream(call: GrpcCall): boolean {
    try {
      if (this.svc.backend.isLearner?.()) throw V3Errors.notSupportedForLearner();
      interceptorCheck(this.svc, call, undefined);
      return false;
    } catch (e) {
      fail(call, e);
      return true;
    }
  }

  private watch(call: GrpcCall): void {
    if (this.refuseStream(call)) return;
    let session: WatchSession;
    // Every response goes through one writer, so their order is kept (watch_writer.ts).
    const writer = new GrpcFrameWriter(new CallSink(call), () => session.drained());
    session = new WatchSession(
      this.svc,
      (resp) => writer.push(encodeWatchResponse(resp)),
      (encoded) => writer.push(encoded),
    );
    this.sessions.add(session);
    call.onMessage = (bytes) => {
      const req = decodeOrFail(call, (b) => fromBinary(WatchRequestSchema, b), bytes);
      if (req !== undefined) session.handle(req);
      else done();
    };
    // Half-close does not end a watch stream (spec §3.8): only cancellation or an error does.
    const done = () => {
      session.close();
      this.sessions.delete(session);
    };
    call.onCancel(done);
  }

  private keepAlive(call: GrpcCall): void {
    if (this.refuseStream(call)) return;
    const { encode } = codec(Lease, "LeaseKeepAlive");
    const ac = new AbortController();
    let chain: Promise<void> = Promise.resolve();
    let failed = false;
    call.onMessage = (bytes) => {
      const req = decodeOrFail(call, (b) => fromBinary(LeaseKeepAliveRequestSchema, b), bytes);
      if (req === undefined) {
        failed = true;
        ac.abort();
        return;
      }
      chain = chain.then(async () => {
        if (failed) return;
        try {
          call.write(encode(await this.svc.leaseKeepAlive(req, ac.signal)));
        } catch (e) {
          failed = true;
          fail(call, e);
        }
      });
    };
    // Half-close ends the keep-alive stream once the pending renewals are answered.
    call.onHalfClose = () => {
      void chain.then(() => {
        if (!failed) call.end(Status.OK, "");
      });
    };
    call.onCancel(() => ac.abort());
  }

  /** Election.Observe: the leader's key-value as it changes, until the call ends. */
  private observe(c: V3Concurrency, call: GrpcCall, bytes: Uint8Array): void {
    if (this.refuseStream(call)) return;
    const req = decodeOrFail(call, (b) => fromBinary(LeaderRequestSchema, b), bytes);
    if (req === undefined) return;
    const { encode } = codec(Election, "Observe");
    const ac = new AbortController();
    call.onCancel(() => ac.abort());
    c.observe(
      req,
      (resp) => call.write(encode(resp)),
      () => new Promise<void>((r) => call.onceDrain(r)),
      ac.signal,
    ).then(
      () => call.end(Status.OK, ""),
      (e: unknown) => {
        if (!ac.signal.aborted) fail(call, e);
      },
    );
  }

  private snapshot(call: GrpcCall): void {
    if (this.refuseStream(call)) return;
    const { encode } = codec(Maintenance, "Snapshot");
    void (async () => {
      try {
        for await (const msg of this.svc.snapshot()) {
          if (call.cancelled) return;
          if (!call.write(encode(msg))) await new Promise<void>((r) => call.onceDrain(r));
        }
        call.end(Status.OK, "");
      } catch (e) {
        fail(call, e);
      }
    })();
  }
}

/** grpc.health.v1.HealthCheckResponse{status: SERVING}, encoded by hand (one enum field). */
const SERVING = new Uint8Array([0x08, 0x01]);
