// tsraft-kv through etcd's v3 gRPC API (the KV service, @grpc/grpc-js), as
// an etcd client uses it, behind the same interface as the REST client
// (client.ts), with each answer classified the way the checker needs:
//   read   Range of the one key, linearizable (serializable=false; true for
//          the final local reads); the value is kvs[0] (none: absent), its
//          mod_revision is the revision;
//   write  Put; the response header's revision is the write's revision;
//   cas    Txn: compare the key's mod_revision with the one the client last
//          saw (0: the key is absent, which etcd's MOD compare treats as
//          mod_revision 0), then Put; else Range the key. A Txn that is not
//          `succeeded` is a refused CAS: the else-branch read ran atomically
//          with the failed compare, so its mod_revision (0: absent) is the
//          revision that made it fail, recorded as `seenRevision`, as the
//          REST client records a 412's.
// The mod_revision compare rather than a value compare: it is what the
// history states (`expectRevision`) and what the REST mode sends
// (If-Match), so both modes ask the same question; with values unique per
// write the two compares are equivalent.
//
// Outcomes (classifyGrpcError has the whole table):
//   ok    an answer (for a CAS: succeeded);
//   fail  certainly not applied: a Txn whose compare failed; a call that
//         never left this process (grpc-js's picker found no connection:
//         "No connection established ...", e.g. ECONNREFUSED while a member
//         is down); a status etcd gives only for a request it refused
//         before proposing it (INVALID_ARGUMENT, NOT_FOUND, ..., and a
//         learner's "rpc not supported for learner");
//   info  everything else: DEADLINE_EXCEEDED, UNAVAILABLE once the call may
//         have reached the member (connection dropped or reset mid-call, and
//         the server's own "etcdserver: no leader / leader changed / request
//         timed out / server stopped", which it can say after proposing),
//         UNKNOWN, INTERNAL, CANCELLED, ...: the write may still apply.
//
// One attempt per operation: grpc-js's retries (even its transparent ones)
// are off, so an operation is exactly one request or none. One channel per
// member, shared by the client loops (one HTTP/2 connection per member, as
// an etcd client keeps), reconnecting quickly after a member restarts.

import * as grpc from "@grpc/grpc-js";
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  create,
  fromBinary,
  KV,
  type PutResponse,
  type RangeResponse,
  type TxnResponse,
  toBinary,
} from "../src/etcdpb/index.ts";
import type { KvApiClient, Outcome } from "./client.ts";
import { JepsenConfigError } from "./errors.ts";
import { CAS_MISMATCH } from "./history.ts";

type UnaryMethod = (typeof KV.method)[keyof typeof KV.method];

function methodDefinition(m: UnaryMethod): grpc.MethodDefinition<unknown, unknown> {
  const input = m.input;
  const output = m.output;
  return {
    path: `/${KV.typeName}/${m.name}`,
    requestStream: false,
    responseStream: false,
    // The harness's own encoding (protobuf-es from etcd's .proto), not the
    // server's: a bug in one is not hidden by the same bug in the other.
    requestSerialize: (v: unknown) => Buffer.from(toBinary(input, v as never)),
    requestDeserialize: (b: Buffer) => fromBinary(input, b),
    responseSerialize: (v: unknown) => Buffer.from(toBinary(output, v as never)),
    responseDeserialize: (b: Buffer) => fromBinary(output, b),
    originalName: m.localName,
  };
}

/**
 * The three KV methods the workload uses, as a grpc-js service definition
 * (also what a test's fake server implements).
 */
export const KV_SERVICE: grpc.ServiceDefinition = {
  Range: methodDefinition(KV.method.range),
  Put: methodDefinition(KV.method.put),
  Txn: methodDefinition(KV.method.txn),
};

const KvStub = grpc.makeGenericClientConstructor(KV_SERVICE, "KV");
type Stub = InstanceType<typeof KvStub>;
type Callback<T> = (err: grpc.ServiceError | null, resp?: T) => void;

/**
 * Channel options: no retries (an operation is one request or none), and a
 * reconnect backoff of 100 ms-1 s instead of grpc-js's 1 s-120 s, so a
 * member that restarts gets requests as soon as it listens.
 */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  "grpc.enable_retries": 0,
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.min_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1000,
};

/**
 * Statuses etcd answers only for a request it refused before proposing it
 * (a bad request, a missing lease, an unimplemented method, auth): the
 * operation certainly did not take effect.
 */
const DEFINITE = new Set<number>([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.NOT_FOUND,
  grpc.status.ALREADY_EXISTS,
  grpc.status.PERMISSION_DENIED,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.OUT_OF_RANGE,
  grpc.status.UNIMPLEMENTED,
  grpc.status.UNAUTHENTICATED,
]);

/** etcd's answer of a learner to a linearizable read or a write (its interceptor's). */
const LEARNER_REFUSAL = "etcdserver: rpc not supported for learner";

/** grpc-js's picker's words when a call failed without a connection to send it on. */
const NOT_SENT = "No connection established";

/** Keeps error strings in the history short (grpc-js's details carry timestamps and notes). */
function short(s: string): string {
  const one = s.replace(/\s+/g, " ").trim();
  return one.length > 120 ? `${one.slice(0, 117)}...` : one;
}

/**
 * The outcome of a failed call, from its gRPC status (code and details), for
 * reads and writes alike (a read's fail and info both leave it out of the
 * check). `error` is "ECONNREFUSED" when the member refused the connection
 * (as the REST client reports it: the workload backs off, the run counts it
 * apart), else the status name and details.
 */
export function classifyGrpcError(e: { code: number; details?: string }): Outcome {
  const details = e.details ?? "";
  const name = grpc.status[e.code] ?? `code ${e.code}`;
  const error = short(`${name}${details === "" ? "" : ` ${details}`}`);
  if (e.code === grpc.status.UNAVAILABLE && details.startsWith(NOT_SENT)) {
    // The picker failed the call before any stream existed: nothing was sent.
    return { type: "fail", error: details.includes("ECONNREFUSED") ? "ECONNREFUSED" : error };
  }
  if (DEFINITE.has(e.code)) return { type: "fail", error };
  // A learner refuses what it cannot serve in etcd's interceptor, before
  // the request reaches the server.
  if (e.code === grpc.status.UNAVAILABLE && details === LEARNER_REFUSAL) return { type: "fail", error };
  // etcd's "too many requests" is refused before the proposal; grpc-js's own
  // RESOURCE_EXHAUSTED (a response over its size limit) comes after the
  // server applied the request.
  if (e.code === grpc.status.RESOURCE_EXHAUSTED && details.startsWith("etcdserver:"))
    return { type: "fail", error };
  return { type: "info", error };
}

/** An answered Range of one key: its value (null: absent) and mod revision. */
export function rangeOutcome(r: RangeResponse): Outcome {
  const kv = r.kvs[0];
  if (kv === undefined) return { type: "ok", value: null };
  return { type: "ok", value: decoder.decode(kv.value), revision: safeNumber(kv.modRevision) };
}

/** An answered Put: the revision it created (the header's). */
export function putOutcome(r: PutResponse): Outcome {
  const rev = r.header === undefined ? undefined : safeNumber(r.header.revision);
  return rev === undefined || rev <= 0
    ? { type: "ok", error: "Put answered without a revision" }
    : { type: "ok", revision: rev };
}

/**
 * An answered CAS Txn: succeeded is a write at the header's revision; not
 * succeeded is a refusal, with the mod revision the else-branch Range saw
 * (0: the key was absent; none if the response lacks the Range).
 */
export function txnOutcome(r: TxnResponse): Outcome {
  if (r.succeeded) {
    const rev = r.header === undefined ? undefined : safeNumber(r.header.revision);
    return rev === undefined || rev <= 0
      ? { type: "ok", error: "Txn succeeded without a revision" }
      : { type: "ok", revision: rev };
  }
  const resp = r.responses[0]?.response;
  if (resp?.case !== "responseRange") return { type: "fail", error: CAS_MISMATCH };
  const kv = resp.value.kvs[0];
  return {
    type: "fail",
    error: CAS_MISMATCH,
    seenRevision: kv === undefined ? 0 : safeNumber(kv.modRevision),
  };
}

function safeNumber(v: bigint): number | undefined {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class GrpcKvClient implements KvApiClient {
  readonly timeoutMs: number;
  /** One stub (channel) per member, by host:port. */
  private readonly stubs = new Map<string, Stub>();

  constructor(timeoutMs: number) {
    this.timeoutMs = timeoutMs;
  }

  close(): void {
    for (const s of this.stubs.values()) s.close();
    this.stubs.clear();
  }

  /** The stub for a member's client URL (http://host:port: gRPC and REST share the port). */
  private stub(base: string): Stub {
    let s = this.stubs.get(base);
    if (s !== undefined) return s;
    const u = new URL(base);
    if (u.protocol !== "http:")
      throw new JepsenConfigError(`the grpc client speaks plaintext HTTP/2 only, got ${base}`);
    s = new KvStub(u.host, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    this.stubs.set(base, s);
    return s;
  }

  private call<T>(base: string, method: "Range" | "Put" | "Txn", req: unknown): Promise<T | Outcome> {
    const stub = this.stub(base);
    return new Promise((resolve) => {
      const fn = stub[method] as (
        req: unknown,
        opts: grpc.CallOptions,
        cb: Callback<T>,
      ) => grpc.ClientUnaryCall;
      fn.call(stub, req, { deadline: Date.now() + this.timeoutMs }, (err, resp) => {
        if (err !== null || resp === undefined)
          resolve(classifyGrpcError(err ?? { code: grpc.status.INTERNAL, details: "no response" }));
        else resolve(resp);
      });
    });
  }

  /** A linearizable Range of the key (serializable with `local`). */
  async read(base: string, key: string, local = false): Promise<Outcome> {
    const req = create(KV.method.range.input, { key: encoder.encode(key), serializable: local });
    const r = await this.call<RangeResponse>(base, "Range", req);
    return isOutcome(r) ? r : rangeOutcome(r);
  }

  /**
   * A Put; with `expect` a compare-and-swap: Txn(mod_revision == expect)
   * then Put, else Range the key.
   */
  async write(base: string, key: string, value: string, expect?: number): Promise<Outcome> {
    const k = encoder.encode(key);
    const put = create(KV.method.put.input, { key: k, value: encoder.encode(value) });
    if (expect === undefined) {
      const r = await this.call<PutResponse>(base, "Put", put);
      return isOutcome(r) ? r : putOutcome(r);
    }
    const txn = create(KV.method.txn.input, {
      compare: [
        {
          key: k,
          target: Compare_CompareTarget.MOD,
          result: Compare_CompareResult.EQUAL,
          targetUnion: { case: "modRevision", value: BigInt(expect) },
        },
      ],
      success: [{ request: { case: "requestPut", value: put } }],
      failure: [{ request: { case: "requestRange", value: { key: k } } }],
    });
    const r = await this.call<TxnResponse>(base, "Txn", txn);
    return isOutcome(r) ? r : txnOutcome(r);
  }
}

/** Outcomes are plain objects with a `type`; responses are protobuf-es messages (`$typeName`). */
function isOutcome(v: object): v is Outcome {
  return !("$typeName" in v);
}
