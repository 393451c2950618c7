// etcd's JSON gateway (spec §7) as a Node request handler: POST /v3/<path>
// with the request message as proto3 JSON (proto field names on output,
// both spellings on input, int64 as strings, bytes as base64, enum names,
// defaults omitted), the same services as gRPC behind it. /v3beta/ is
// rewritten to /v3/. Streams (watch, lease keep-alive, snapshot) take any
// number of JSON requests back to back in the body and answer with one
// `{"result": ...}` line per message; a watch outlives the end of the
// request body (as etcd's does), a keep-alive ends with it.

import type { IncomingMessage, ServerResponse } from "node:http";
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import {
  AlarmRequestSchema,
  AlarmResponseSchema,
  AuthDisableResponseSchema,
  AuthStatusResponseSchema,
  CampaignRequestSchema,
  CampaignResponseSchema,
  CompactionRequestSchema,
  CompactionResponseSchema,
  create,
  DefragmentResponseSchema,
  DeleteRangeRequestSchema,
  DeleteRangeResponseSchema,
  fromJson,
  HashKVRequestSchema,
  HashKVResponseSchema,
  HashResponseSchema,
  LeaderRequestSchema,
  LeaderResponseSchema,
  LeaseGrantRequestSchema,
  LeaseGrantResponseSchema,
  LeaseKeepAliveRequestSchema,
  LeaseKeepAliveResponseSchema,
  LeaseLeasesResponseSchema,
  LeaseRevokeRequestSchema,
  LeaseRevokeResponseSchema,
  LeaseTimeToLiveRequestSchema,
  LeaseTimeToLiveResponseSchema,
  LockRequestSchema,
  LockResponseSchema,
  MemberAddRequestSchema,
  MemberAddResponseSchema,
  MemberListResponseSchema,
  MemberPromoteRequestSchema,
  MemberPromoteResponseSchema,
  MemberRemoveRequestSchema,
  MemberRemoveResponseSchema,
  MemberUpdateRequestSchema,
  MemberUpdateResponseSchema,
  MoveLeaderRequestSchema,
  MoveLeaderResponseSchema,
  ProclaimRequestSchema,
  ProclaimResponseSchema,
  PutRequestSchema,
  PutResponseSchema,
  RangeRequestSchema,
  RangeResponseSchema,
  ResignRequestSchema,
  ResignResponseSchema,
  SnapshotResponseSchema,
  StatusResponseSchema,
  TxnRequestSchema,
  TxnResponseSchema,
  toJson,
  UnlockRequestSchema,
  UnlockResponseSchema,
  WatchRequestSchema,
  WatchResponseSchema,
} from "../etcdpb/index.ts";
import { V3Concurrency } from "./concurrency.ts";
import { GrpcCode, toStatus, V3Errors, V3RpcError } from "./errors.ts";
import { type V3Services, WatchSession } from "./services.ts";

/** HTTP status for a gRPC code, as grpc-gateway v1.9.5 (etcd 3.4) maps them (FAILED_PRECONDITION: 412). */
const HTTP_STATUS: Record<number, number> = {
  [GrpcCode.OK]: 200,
  [GrpcCode.CANCELLED]: 408,
  [GrpcCode.UNKNOWN]: 500,
  [GrpcCode.INVALID_ARGUMENT]: 400,
  [GrpcCode.DEADLINE_EXCEEDED]: 504,
  [GrpcCode.NOT_FOUND]: 404,
  [GrpcCode.ALREADY_EXISTS]: 409,
  [GrpcCode.PERMISSION_DENIED]: 403,
  [GrpcCode.UNAUTHENTICATED]: 401,
  [GrpcCode.RESOURCE_EXHAUSTED]: 429,
  [GrpcCode.FAILED_PRECONDITION]: 412,
  [GrpcCode.ABORTED]: 409,
  [GrpcCode.OUT_OF_RANGE]: 400,
  [GrpcCode.UNIMPLEMENTED]: 501,
  [GrpcCode.INTERNAL]: 500,
  [GrpcCode.UNAVAILABLE]: 503,
  [GrpcCode.DATA_LOSS]: 500,
};

const HTTP_TEXT: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  408: "Request Timeout",
  409: "Conflict",
  412: "Precondition Failed",
  429: "Too Many Requests",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** Largest request body accepted (etcd: max-request-bytes + gRPC allowance). */
const MAX_BODY = 2 * 1024 * 1024;

interface UnaryRoute {
  kind: "unary";
  req?: DescMessage;
  resp: DescMessage;
  call: (svc: V3Services, req: never, signal: AbortSignal) => Promise<unknown> | unknown;
}
interface StreamRoute {
  kind: "watch" | "keepalive" | "snapshot" | "observe";
}
type Route = UnaryRoute | StreamRoute;

const u = (
  req: DescMessage | undefined,
  resp: DescMessage,
  call: (svc: V3Services, req: never, signal: AbortSignal) => Promise<unknown> | unknown,
): UnaryRoute => ({ kind: "unary", req, resp, call });

const notEnabled = () => {
  throw V3Errors.authNotEnabled();
};
const notSupported = () => {
  throw V3Errors.authNotSupported();
};

const ROUTES: Record<string, Route> = {
  "/v3/kv/range": u(RangeRequestSchema, RangeResponseSchema, (s, r, sig) => s.range(r, sig)),
  "/v3/kv/put": u(PutRequestSchema, PutResponseSchema, (s, r, sig) => s.put(r, sig)),
  "/v3/kv/deleterange": u(DeleteRangeRequestSchema, DeleteRangeResponseSchema, (s, r, sig) =>
    s.deleteRange(r, sig),
  ),
  "/v3/kv/txn": u(TxnRequestSchema, TxnResponseSchema, (s, r, sig) => s.txn(r, sig)),
  "/v3/kv/compaction": u(CompactionRequestSchema, CompactionResponseSchema, (s, r, sig) => s.compact(r, sig)),
  "/v3/watch": { kind: "watch" },
  "/v3/lease/grant": u(LeaseGrantRequestSchema, LeaseGrantResponseSchema, (s, r, sig) =>
    s.leaseGrant(r, sig),
  ),
  "/v3/lease/revoke": u(LeaseRevokeRequestSchema, LeaseRevokeResponseSchema, (s, r, sig) =>
    s.leaseRevoke(r, sig),
  ),
  "/v3/kv/lease/revoke": u(LeaseRevokeRequestSchema, LeaseRevokeResponseSchema, (s, r, sig) =>
    s.leaseRevoke(r, sig),
  ),
  "/v3/lease/keepalive": { kind: "keepalive" },
  "/v3/lease/timetolive": u(LeaseTimeToLiveRequestSchema, LeaseTimeToLiveResponseSchema, (s, r, sig) =>
    s.leaseTimeToLive(r, sig),
  ),
  "/v3/kv/lease/timetolive": u(LeaseTimeToLiveRequestSchema, LeaseTimeToLiveResponseSchema, (s, r, sig) =>
    s.leaseTimeToLive(r, sig),
  ),
  "/v3/lease/leases": u(undefined, LeaseLeasesResponseSchema, (s) => s.leaseLeases()),
  "/v3/kv/lease/leases": u(undefined, LeaseLeasesResponseSchema, (s) => s.leaseLeases()),
  "/v3/cluster/member/add": u(MemberAddRequestSchema, MemberAddResponseSchema, (s, r, sig) =>
    s.memberAdd(r, sig),
  ),
  "/v3/cluster/member/remove": u(MemberRemoveRequestSchema, MemberRemoveResponseSchema, (s, r, sig) =>
    s.memberRemove(r, sig),
  ),
  "/v3/cluster/member/update": u(MemberUpdateRequestSchema, MemberUpdateResponseSchema, (s, r, sig) =>
    s.memberUpdate(r, sig),
  ),
  "/v3/cluster/member/list": u(undefined, MemberListResponseSchema, (s, _r, sig) => s.memberList(sig)),
  "/v3/cluster/member/promote": u(MemberPromoteRequestSchema, MemberPromoteResponseSchema, (s, r, sig) =>
    s.memberPromote(r, sig),
  ),
  "/v3/maintenance/alarm": u(AlarmRequestSchema, AlarmResponseSchema, (s, r, sig) => s.alarm(r, sig)),
  "/v3/maintenance/status": u(undefined, StatusResponseSchema, (s) => s.status()),
  "/v3/maintenance/defragment": u(undefined, DefragmentResponseSchema, (s) => s.defragment()),
  // 3.4 maps both Hash and HashKV here; Hash wins (HashKV is unreachable), as in etcd.
  "/v3/maintenance/hash": u(undefined, HashResponseSchema, (s) => s.hash()),
  "/v3/maintenance/hashkv": u(HashKVRequestSchema, HashKVResponseSchema, (s, r) => s.hashKV(r)),
  "/v3/maintenance/snapshot": { kind: "snapshot" },
  "/v3/maintenance/transfer-leadership": u(MoveLeaderRequestSchema, MoveLeaderResponseSchema, (s, r, sig) =>
    s.moveLeader(r, sig),
  ),
  "/v3/lock/lock": u(LockRequestSchema, LockResponseSchema, (s, r, sig) => new V3Concurrency(s).lock(r, sig)),
  "/v3/lock/unlock": u(UnlockRequestSchema, UnlockResponseSchema, (s, r, sig) =>
    new V3Concurrency(s).unlock(r, sig),
  ),
  "/v3/election/campaign": u(CampaignRequestSchema, CampaignResponseSchema, (s, r, sig) =>
    new V3Concurrency(s).campaign(r, sig),
  ),
  "/v3/election/proclaim": u(ProclaimRequestSchema, ProclaimResponseSchema, (s, r, sig) =>
    new V3Concurrency(s).proclaim(r, sig),
  ),
  "/v3/election/leader": u(LeaderRequestSchema, LeaderResponseSchema, (s, r, sig) =>
    new V3Concurrency(s).leader(r, sig),
  ),
  "/v3/election/observe": { kind: "observe" },
  "/v3/election/resign": u(ResignRequestSchema, ResignResponseSchema, (s, r, sig) =>
    new V3Concurrency(s).resign(r, sig),
  ),
  "/v3/auth/authenticate": u(undefined, AuthStatusResponseSchema, notEnabled),
  "/v3/auth/disable": u(undefined, AuthDisableResponseSchema, (s) =>
    create(AuthDisableResponseSchema, { header: s.header(s.backend.sm.rev) }),
  ),
  "/v3/auth/status": u(undefined, AuthStatusResponseSchema, (s) =>
    create(AuthStatusResponseSchema, { header: s.header(s.backend.sm.rev), enabled: false }),
  ),
};
for (const p of [
  "enable",
  "user/add",
  "user/get",
  "user/list",
  "user/delete",
  "user/changepw",
  "user/grant",
  "user/revoke",
  "role/add",
  "role/get",
  "role/list",
  "role/delete",
  "role/grant",
  "role/revoke",
])
  ROUTES[`/v3/auth/${p}`] = u(undefined, AuthStatusResponseSchema, notSupported);

function jsonOut(schema: DescMessage, msg: unknown): unknown {
  return toJson(schema, msg as MessageShape<DescMessage>, { useProtoFieldName: true });
}

function parseReq(schema: DescMessage | undefined, text: string): unknown {
  if (schema === undefined) return undefined;
  const json = text.trim() === "" ? {} : JSON.parse(text);
  return fromJson(schema, json, { ignoreUnknownFields: true });
}

function sendError(res: ServerResponse, err: unknown): void {
  const s = toStatus(err);
  const status = HTTP_STATUS[s.code] ?? 500;
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: s.message, message: s.message, code: s.code }));
}

function badRequest(message: string): V3RpcError {
  return new V3RpcError(GrpcCode.INVALID_ARGUMENT, message);
}

/** Splits a byte stream of back-to-back JSON objects into whole objects (strings and escapes respected). */
class JsonSplitter {
  private buf = "";
  private depth = 0;
  private inStr = false;
  private esc = false;
  private start = -1;
  push(text: string): string[] {
    const out: string[] = [];
    const base = this.buf.length;
    this.buf += text;
    for (let i = base; i < this.buf.length; i++) {
      const c = this.buf[i]!;
      if (this.inStr) {
        if (this.esc) this.esc = false;
        else if (c === "\\") this.esc = true;
        else if (c === '"') this.inStr = false;
        continue;
      }
      if (c === '"') this.inStr = true;
      else if (c === "{") {
        if (this.depth++ === 0) this.start = i;
      } else if (c === "}") {
        if (--this.depth === 0) out.push(this.buf.slice(this.start, i + 1));
        if (this.depth < 0) throw badRequest("unbalanced JSON");
      } else if (this.depth === 0 && !/\s/.test(c))
        throw badRequest(`unexpected ${JSON.stringify(c)} between messages`);
    }
    if (this.depth === 0) this.buf = "";
    else if (this.start > 0) {
      this.buf = this.buf.slice(this.start);
      this.start = 0;
    }
    return out;
  }
}

/**
 * Returns a handler for /v3/ and /v3beta/ paths. It answers and returns
 * true for those, and returns false (untouched) for any other path, so it
 * can sit in front of another API on the same HTTP server.
 */
export function createGatewayHandler(
  svc: V3Services,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const url = req.url ?? "/";
    let path = url.split("?")[0]!;
    if (path.startsWith("/v3beta/")) path = `/v3/${path.slice("/v3beta/".length)}`;
    if (!path.startsWith("/v3/")) return false;
    const route = ROUTES[path];
    if (route === undefined) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "Not Found", message: "Not Found", code: GrpcCode.NOT_FOUND }));
      return true;
    }
    if (req.method !== "POST") {
      res.writeHead(405, { "content-type": "application/json", allow: "POST" });
      res.end(
        JSON.stringify({
          error: "Method Not Allowed",
          message: "Method Not Allowed",
          code: GrpcCode.UNIMPLEMENTED,
        }),
      );
      return true;
    }
    if (route.kind === "unary") serveUnary(svc, route, req, res);
    else serveStream(svc, route.kind, req, res);
    return true;
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on("data", (c: Buffer) => {
      n += c.length;
      if (n > MAX_BODY) {
        reject(V3Errors.requestTooLarge());
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function serveUnary(svc: V3Services, route: UnaryRoute, req: IncomingMessage, res: ServerResponse): void {
  const ac = new AbortController();
  res.on("close", () => ac.abort());
  void (async () => {
    try {
      const text = await readBody(req);
      let msg: unknown;
      try {
        msg = parseReq(route.req, text);
      } catch (e) {
        throw badRequest((e as Error).message);
      }
      const out = await route.call(svc, msg as never, ac.signal);
      const body = JSON.stringify(jsonOut(route.resp, out));
      res.writeHead(200, { "content-type": "application/json" });
      res.end(body);
    } catch (e) {
      if (!res.headersSent) sendError(res, e);
      else res.destroy();
    }
  })();
}

function streamError(res: ServerResponse, e: unknown): void {
  const s = toStatus(e);
  const http = HTTP_STATUS[s.code] ?? 500;
  res.end(
    `${JSON.stringify({ error: { grpc_code: s.code, http_code: http, message: s.message, http_status: HTTP_TEXT[http] ?? "" } })}\n`,
  );
}

function serveStream(
  svc: V3Services,
  kind: "watch" | "keepalive" | "snapshot" | "observe",
  req: IncomingMessage,
  res: ServerResponse,
): void {
  res.writeHead(200, { "content-type": "application/json" });
  const write = (schema: DescMessage, msg: unknown): boolean =>
    res.write(`${JSON.stringify({ result: jsonOut(schema, msg) })}\n`);
  const splitter = new JsonSplitter();
  const ac = new AbortController();
  res.on("close", () => ac.abort());

  if (kind === "observe") {
    // One LeaderRequest as the body, then the leader's key-value as it changes.
    void (async () => {
      try {
        const text = await readBody(req);
        let r: unknown;
        try {
          r = parseReq(LeaderRequestSchema, text);
        } catch (e) {
          throw badRequest((e as Error).message);
        }
        await new V3Concurrency(svc).observe(
          r as never,
          (m) => write(LeaderResponseSchema, m),
          () => new Promise<void>((ok) => res.once("drain", () => ok())),
          ac.signal,
        );
      } catch (e) {
        if (!ac.signal.aborted) streamError(res, e);
      }
    })();
    return;
  }

  req.setEncoding("utf8");

  if (kind === "snapshot") {
    req.resume();
    void (async () => {
      try {
        for await (const m of svc.snapshot()) {
          if (ac.signal.aborted) return;
          if (!write(SnapshotResponseSchema, m)) await new Promise((r) => res.once("drain", r));
        }
        res.end();
      } catch (e) {
        streamError(res, e);
      }
    })();
    return;
  }

  if (kind === "watch") {
    const session = new WatchSession(svc, (m) => write(WatchResponseSchema, m));
    res.on("drain", () => session.drained());
    res.on("close", () => session.close());
    req.on("data", (text: string) => {
      try {
        for (const obj of splitter.push(text)) session.handle(parseReq(WatchRequestSchema, obj) as never);
      } catch (e) {
        session.close();
        streamError(res, badRequest((e as Error).message));
      }
    });
    // The end of the request body does not end the watch.
    return;
  }

  let chain: Promise<void> = Promise.resolve();
  let failed = false;
  req.on("data", (text: string) => {
    let objs: string[];
    try {
      objs = splitter.push(text);
    } catch (e) {
      failed = true;
      streamError(res, e);
      return;
    }
    for (const obj of objs) {
      chain = chain.then(async () => {
        if (failed) return;
        try {
          const r = parseReq(LeaseKeepAliveRequestSchema, obj);
          write(LeaseKeepAliveResponseSchema, await svc.leaseKeepAlive(r as never, ac.signal));
        } catch (e) {
          failed = true;
          streamError(res, e);
        }
      });
    }
  });
  req.on("end", () => {
    void chain.then(() => {
      if (!failed) res.end();
    });
  });
}
