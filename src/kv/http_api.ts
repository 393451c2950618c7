// The client HTTP API of tsraft-kv: keys, ranges, compare-and-swap,
// membership, leadership transfer, status, health and metrics. Errors are
// JSON bodies with a stable `code`.
//
// Structure: clientRoutes() is the route table (method + path pattern →
// handler, see http_router.ts for the matching rules), one handler function
// per operation below it. Keys come from the raw request target (parseTarget),
// percent-decoded exactly once: no URL normalisation ever changes which key
// a request names. Every failure is a thrown KvError, answered in one place
// (createClientHandler → sendError).

import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { SharedDeadlines } from "./deadline.ts";
import { KvError, KvErrorCode } from "./errors.ts";
import { exact, type PathPattern, type RouteHandler, Router, route } from "./http_router.ts";
import { sendJson } from "./json_reply.ts";
import type { KeyValue, KvBackend, RangePage, ReadOptions } from "./types.ts";

export interface ApiLimits {
  /** Largest key in bytes (UTF-8). Default 1.5 KiB. */
  maxKeyBytes: number;
  /** Largest value in bytes. Default 1 MiB. */
  maxValueBytes: number;
  /** Largest JSON request body (membership calls). Default 64 KiB. */
  maxJsonBytes: number;
  /** How long a write or linearizable read may wait before 504. Default 5 s. */
  requestTimeoutMs: number;
  /** Keys per range page when the request names no limit. Default 1,000. */
  defaultRangeLimit: number;
  /** Largest `limit` a range request may ask for. Default 10,000. */
  maxRangeLimit: number;
  /** A range page stops (with `more`) once its reply reaches this many bytes. Default 4 MiB. */
  maxRangeBytes: number;
  /**
   * Range reply bytes being sent by this member at once; a read that would
   * exceed it gets 503 TOO_BUSY (retry later). Default 256 MiB.
   */
  maxInflightReplyBytes: number;
}

export const defaultLimits: ApiLimits = {
  maxKeyBytes: 1536,
  maxValueBytes: 1024 * 1024,
  maxJsonBytes: 64 * 1024,
  requestTimeoutMs: 5000,
  defaultRangeLimit: 1000,
  maxRangeLimit: 10_000,
  maxRangeBytes: 4 * 1024 * 1024,
  maxInflightReplyBytes: 256 * 1024 * 1024,
};

const utf8 = new TextDecoder("utf-8", { fatal: true });

export function sendError(res: ServerResponse, err: KvError, extra: Record<string, unknown> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string> = {};
  if (err.code === KvErrorCode.NoLeader) headers["Retry-After"] = "1";
  if (err instanceof MethodNotAllowedError) headers.Allow = err.allow;
  sendJson(res, err.status, { code: err.code, message: err.message, ...err.details, ...extra }, headers);
}

const badRequest = (msg: string) => new KvError(KvErrorCode.BadRequest, 400, msg);

/** Reads a request body, refusing (413) anything larger than `limit`. */
function readBody(req: IncomingMessage, limit: number, tooLarge: () => KvError): Promise<Buffer> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on("data", (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      if (!failed) resolve(Buffer.concat(chunks, size));
    });
    req.on("error", (e) => {
      if (!failed) {
        failed = true;
        reject(badRequest(`cannot read request body: ${e.message}`));
      }
    });
  });
}

async function readJson(req: IncomingMessage, limits: ApiLimits): Promise<Record<string, unknown>> {
  const body = await readBody(
    req,
    limits.maxJsonBytes,
    () => new KvError(KvErrorCode.ValueTooLarge, 413, `request body exceeds ${limits.maxJsonBytes} bytes`),
  );
  if (body.length === 0) return {};
  try {
    const v = JSON.parse(body.toString("utf8")) as unknown;
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not an object");
    return v as Record<string, unknown>;
  } catch (e) {
    throw badRequest(`malformed JSON body: ${(e as Error).message}`);
  }
}

/** A member ID in hex, as etcd prints it (`0x` optional); 400 for anything else. */
export function parseMemberId(s: string): bigint {
  const hex = s.startsWith("0x") ? s.slice(2) : s;
  if (!/^[0-9a-fA-F]{1,16}$/.test(hex))
    throw badRequest(`invalid member id ${JSON.stringify(s)} (expected up to 16 hex digits)`);
  const v = BigInt(`0x${hex}`);
  if (v === 0n) throw badRequest(`member id out of range: ${s}`);
  return v;
}

/**
 * A member named by its name or its hex ID. A name wins when both could
 * match, since names are what operators type; an unknown name that is not
 * hex either is a 400.
 */
function resolveMember(backend: KvBackend, s: string): bigint {
  const byName = backend.members().find((m) => m.name === s && s !== "");
  return byName !== undefined ? byName.id : parseMemberId(s);
}

function stringArray(v: unknown, field: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string"))
    throw badRequest(`${field} must be an array of URLs`);
  for (const u of v) {
    try {
      const url = new URL(u);
      if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("scheme");
    } catch {
      throw badRequest(`${field}: invalid URL ${JSON.stringify(u)}`);
    }
  }
  return v;
}

function kvJson(kv: KeyValue): Record<string, unknown> {
  const out: Record<string, unknown> = {
    key: kv.key,
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
  };
  try {
    out.value = utf8.decode(kv.value);
  } catch {
    out.valueBase64 = Buffer.from(kv.value).toString("base64");
  }
  return out;
}

/** Bytes of range replies being sent; a member refuses new large replies beyond its budget. */
class ReplyBudget {
  inFlight = 0;
  constructor(readonly max: number) {}
}

/**
 * Writes a range page as JSON, a key at a time, waiting for the socket to
 * drain: a large page never becomes one string in memory. The page stops
 * early (with `more`) once it reaches maxRangeBytes, and the member's budget
 * of reply bytes in flight bounds what many concurrent large reads can hold.
 */
async function sendRangePage(
  res: ServerResponse,
  page: RangePage,
  limits: ApiLimits,
  replies: ReplyBudget,
): Promise<void> {
  const parts: string[] = [];
  let bytes = 0;
  let more = page.more;
  for (let i = 0; i < page.kvs.length; i++) {
    const part = JSON.stringify(kvJson(page.kvs[i]!));
    if (i > 0 && bytes + part.length > limits.maxRangeBytes) {
      more = true;
      break;
    }
    parts.push(part);
    bytes += part.length + 1;
  }
  if (replies.inFlight + bytes > replies.max && replies.inFlight > 0) {
    throw new KvError(
      KvErrorCode.TooBusy,
      503,
      "too many large reads in flight on this member; retry shortly",
    );
  }
  replies.inFlight += bytes;
  try {
    const n = parts.length;
    const last = n > 0 ? page.kvs[n - 1]!.key : undefined;
    res.writeHead(200, { "Content-Type": "application/json" });
    if (!res.write(`{"revision":${page.revision},"count":${n},"more":${more},`)) await drained(res);
    if (more && last !== undefined && !res.write(`"next":${JSON.stringify(last)},`)) await drained(res);
    if (!res.write('"kvs":[')) await drained(res);
    for (let i = 0; i < n; i++) {
      if (!res.write(i === 0 ? parts[i]! : `,${parts[i]!}`)) await drained(res);
    }
    res.end("]}\n");
  } finally {
    replies.inFlight -= bytes;
  }
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

/** Builds the request listener of the client API over a backend (one member). */
export function createClientHandler(backend: KvBackend, limits: ApiLimits = defaultLimits): RequestListener {
  const deadlines = new SharedDeadlines(limits.requestTimeoutMs);
  const replies = new ReplyBudget(limits.maxInflightReplyBytes);
  const router = clientRoutes(limits);
  return (req, res) => {
    if (backend.observeRequest !== undefined) {
      const t0 = performance.now();
      res.once("finish", () =>
        backend.observeRequest!(opName(req), res.statusCode, (performance.now() - t0) / 1000),
      );
    }
    serve(router, backend, limits, replies, req, res, deadlines.signal()).catch((err: unknown) => {
      if (err instanceof KvError) sendError(res, err);
      else sendError(res, new KvError(KvErrorCode.Internal, 500, (err as Error)?.message ?? String(err)));
    });
  };
}

/** Parses the target (a malformed one is a 400 like any other failure) and serves the request. */
async function serve(
  router: Router<ApiCall, PathParams>,
  backend: KvBackend,
  limits: ApiLimits,
  replies: ReplyBudget,
  req: IncomingMessage,
  res: ServerResponse,
  signal: AbortSignal,
): Promise<void> {
  const target = parseTarget(req.url ?? "/");
  await handle(router, { backend, limits, replies, req, res, target, signal });
}

/** A low-cardinality label for a request, for metrics. */
function opName(req: IncomingMessage): string {
  const url = req.url ?? "/";
  if (url.startsWith("/kv/")) return `${(req.method ?? "GET").toLowerCase()}`;
  if (url.startsWith("/kv")) return "range";
  const path = url.split("?")[0]!;
  if (path.startsWith("/members")) return "members";
  return path === "/status" || path === "/health" || path === "/metrics" || path.startsWith("/leader")
    ? path.slice(1).split("/")[0]!
    : "other";
}

function parseRevisionHeader(v: string | string[] | undefined): number | undefined {
  if (v === undefined) return undefined;
  const s = (Array.isArray(v) ? v[0]! : v)
    .trim()
    .replace(/^W\//, "")
    .replace(/^"(.*)"$/, "$1");
  if (!/^[0-9]+$/.test(s) || !Number.isSafeInteger(Number(s))) {
    throw badRequest(`If-Match must be a revision number, got ${JSON.stringify(s)}`);
  }
  return Number(s);
}

function readOptions(url: Target, signal: AbortSignal): ReadOptions {
  const c = url.searchParams.get("consistency");
  if (c !== null && c !== "linearizable" && c !== "serializable") {
    throw badRequest(`consistency must be linearizable or serializable, got ${JSON.stringify(c)}`);
  }
  return { linearizable: c !== "serializable", signal };
}

/** The request target as sent: the path untouched, the query parsed. */
interface Target {
  pathname: string;
  searchParams: URLSearchParams;
}

/**
 * Splits the request target without normalising it. WHATWG URL parsing
 * would resolve `a/../b` to `b`, turn `\` into `/` and drop what follows a
 * raw `#`, silently writing a different key than the client named; keys
 * come from the raw path instead, percent-decoded exactly once.
 */
export function parseTarget(raw: string): Target {
  if (!raw.startsWith("/")) throw badRequest("the request target must be a path (origin-form)");
  if (raw.includes("#")) throw badRequest("a raw '#' is not allowed in a request target; send it as %23");
  const q = raw.indexOf("?");
  return {
    pathname: q < 0 ? raw : raw.slice(0, q),
    searchParams: new URLSearchParams(q < 0 ? "" : raw.slice(q + 1)),
  };
}

/** A request being served: everything a route handler needs. */
interface ApiCall {
  readonly backend: KvBackend;
  readonly limits: ApiLimits;
  readonly replies: ReplyBudget;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The raw target: keys come from its path, never from a normalised URL. */
  readonly target: Target;
  /** Aborts when the request's deadline (requestTimeoutMs) passes. */
  readonly signal: AbortSignal;
}

/** What a route's path pattern extracts: the key (key routes) or the member ID (member routes). */
interface PathParams {
  readonly key: string;
  readonly member: bigint;
}

const NO_PARAMS: PathParams = { key: "", member: 0n };

/**
 * `/kv/<key>`: the key is the rest of the raw path, percent-decoded once.
 * A malformed encoding or an empty key is a 400, a key above maxKeyBytes a
 * 413, whatever the method (the router checks parameters first).
 */
function keyPath(limits: ApiLimits): PathPattern<PathParams> {
  return (path) => {
    if (!path.startsWith("/kv/")) return undefined;
    let key: string;
    try {
      key = decodeURIComponent(path.slice(4));
    } catch {
      throw badRequest("malformed percent-encoding in key");
    }
    if (key.length === 0) throw badRequest("empty key");
    if (Buffer.byteLength(key) > limits.maxKeyBytes) {
      throw new KvError(KvErrorCode.KeyTooLarge, 413, `key exceeds ${limits.maxKeyBytes} bytes`);
    }
    return { key, member: 0n };
  };
}

/** `/members/<hex id><suffix>`; an ID that is not hex is a 400 whatever the method. */
function memberPath(suffix: "" | "/promote"): PathPattern<PathParams> {
  const re = suffix === "" ? /^\/members\/([^/]+)$/ : /^\/members\/([^/]+)\/promote$/;
  return (path) => {
    const m = re.exec(path);
    return m === null ? undefined : { key: "", member: parseMemberId(m[1]!) };
  };
}

/** What to use instead, for query parameters clients of other stores send. */
const PARAM_HINTS: Record<string, string> = {
  ttl: " (keys here never expire: use a lease through etcd's v3 API, e.g. etcdctl put --lease)",
  lease: " (use a lease through etcd's v3 API, e.g. etcdctl put --lease)",
  rev: " (reads at a past revision: etcd's v3 API, e.g. etcdctl get --rev)",
  revision: " (reads at a past revision: etcd's v3 API, e.g. etcdctl get --rev)",
};

/**
 * A handler that refuses query parameters it does not read (400
 * BAD_REQUEST): `?rev=1` must not quietly return the current value, nor
 * `?ttl=5` store a key forever. The status, health and metrics routes stay
 * lenient (monitoring tools add their own parameters; they change nothing).
 */
function takes(
  names: readonly string[],
  handler: RouteHandler<ApiCall, PathParams>,
): RouteHandler<ApiCall, PathParams> {
  return (c, p) => {
    for (const k of c.target.searchParams.keys()) {
      if (!names.includes(k)) {
        const accepted = names.length === 0 ? "none" : names.join(", ");
        throw badRequest(
          `unknown query parameter ${JSON.stringify(k)} (this request takes ${accepted})${PARAM_HINTS[k] ?? ""}`,
        );
      }
    }
    return handler(c, p);
  };
}

/**
 * The client API's route table. Order matters only where patterns overlap:
 * `/kv` and `/kv/` (a range) come before `/kv/<key>`.
 */
function clientRoutes(limits: ApiLimits): Router<ApiCall, PathParams> {
  return new Router<ApiCall, PathParams>([
    route(exact(NO_PARAMS, "/kv", "/kv/"), {
      GET: takes(["prefix", "after", "limit", "consistency"], readRange),
    }),
    route(keyPath(limits), {
      GET: takes(["consistency"], getKey),
      PUT: takes([], putKey),
      DELETE: takes([], deleteKey),
    }),
    route(exact(NO_PARAMS, "/members"), { GET: takes([], listMembers), POST: takes([], addMember) }),
    route(memberPath("/promote"), { POST: takes([], promoteMember) }),
    route(memberPath(""), { DELETE: takes([], removeMember) }),
    route(exact(NO_PARAMS, "/leader/transfer"), { POST: takes(["to"], transferLeader) }),
    route(exact(NO_PARAMS, "/status"), { GET: sendStatus }),
    route(exact(NO_PARAMS, "/health"), { GET: sendHealth }),
    route(exact(NO_PARAMS, "/metrics"), { GET: sendMetrics }),
  ]);
}

/**
 * Serves one request: the route table first, then the dashboard (it owns
 * its own paths), then 404. Every failure is thrown as a KvError and
 * answered by the caller.
 */
async function handle(router: Router<ApiCall, PathParams>, call: ApiCall): Promise<void> {
  const method = call.req.method ?? "GET";
  const path = call.target.pathname;
  const found = router.find(method, path);
  if (found.kind === "handler") return found.handler(call, found.params);
  if (found.kind === "method not allowed") throw methodNotAllowed(found.allow);
  if (call.backend.serveDashboard?.(call.req, call.res)) return;
  throw new KvError(KvErrorCode.RouteNotFound, 404, `no route for ${method} ${path}`);
}

/** GET /kv?prefix=&after=&limit=: one page of keys in order, paged with `more` and `next`. */
async function readRange(c: ApiCall): Promise<void> {
  const q = c.target.searchParams;
  const limits = c.limits;
  const prefix = q.get("prefix") ?? "";
  const after = q.get("after") ?? undefined;
  const limitParam = q.get("limit");
  let limit = limits.defaultRangeLimit;
  if (limitParam !== null) {
    if (
      !/^[0-9]{1,9}$/.test(limitParam) ||
      Number(limitParam) < 1 ||
      Number(limitParam) > limits.maxRangeLimit
    ) {
      throw badRequest(`limit must be an integer from 1 to ${limits.maxRangeLimit}`);
    }
    limit = Number(limitParam);
  }
  if (after !== undefined && !after.startsWith(prefix)) throw badRequest("after must start with the prefix");
  const r = await c.backend.range(prefix, { limit, after }, readOptions(c.target, c.signal));
  await sendRangePage(c.res, r, limits, c.replies);
}

/** GET /kv/<key>: the raw value, its revisions in headers (ETag = mod revision, for If-Match). */
async function getKey(c: ApiCall, p: PathParams): Promise<void> {
  const r = await c.backend.get(p.key, readOptions(c.target, c.signal));
  if (r.kv === undefined) throw new KvError(KvErrorCode.NotFound, 404, `key not found: ${p.key}`);
  const kv = r.kv;
  c.res.writeHead(200, {
    "Content-Type": "application/octet-stream",
    "Content-Length": kv.value.length,
    ETag: `"${kv.modRevision}"`,
    "X-Revision": String(r.revision),
    "X-Create-Revision": String(kv.createRevision),
    "X-Mod-Revision": String(kv.modRevision),
    "X-Version": String(kv.version),
  });
  c.res.end(kv.value);
}

/** PUT /kv/<key>: writes the body (If-Match / If-None-Match: * make it a compare-and-swap). */
async function putKey(c: ApiCall, p: PathParams): Promise<void> {
  const expected = expectedRevision(c.req);
  const max = c.limits.maxValueBytes;
  const value = await readBody(
    c.req,
    max,
    () => new KvError(KvErrorCode.ValueTooLarge, 413, `value exceeds ${max} bytes`),
  );
  const r = await c.backend.put(p.key, value, { expectedRevision: expected, signal: c.signal });
  sendJson(c.res, 200, { revision: r.revision, prevRevision: r.prevRevision });
}

/** DELETE /kv/<key> (If-Match makes it conditional). */
async function deleteKey(c: ApiCall, p: PathParams): Promise<void> {
  const r = await c.backend.delete(p.key, { expectedRevision: expectedRevision(c.req), signal: c.signal });
  sendJson(c.res, 200, { revision: r.revision, prevRevision: r.prevRevision });
}

/** GET /members: the membership and the cluster ID. */
function listMembers(c: ApiCall): void {
  sendJson(c.res, 200, { members: c.backend.members().map(memberJson), clusterId: c.backend.clusterIdHex() });
}

/** POST /members {peerURLs, clientURLs?, name?, learner?}: adds a member (201 with it and the new membership). */
async function addMember(c: ApiCall): Promise<void> {
  const body = await readJson(c.req, c.limits);
  const peerURLs = stringArray(body.peerURLs, "peerURLs");
  if (peerURLs.length === 0) throw badRequest("peerURLs must name at least one URL");
  const clientURLs = stringArray(body.clientURLs, "clientURLs");
  if (body.name !== undefined && typeof body.name !== "string") throw badRequest("name must be a string");
  if (body.learner !== undefined && typeof body.learner !== "boolean")
    throw badRequest("learner must be a boolean");
  const m = await c.backend.addMember(peerURLs, {
    name: body.name as string | undefined,
    learner: body.learner === true,
    clientURLs,
  });
  sendJson(c.res, 201, {
    member: memberJson(m),
    members: c.backend.members().map(memberJson),
    clusterId: c.backend.clusterIdHex(),
  });
}

/** POST /members/<id>/promote: makes a learner a voter. */
async function promoteMember(c: ApiCall, p: PathParams): Promise<void> {
  await c.backend.promoteMember(p.member);
  sendJson(c.res, 200, { members: c.backend.members().map(memberJson) });
}

/** DELETE /members/<id>: removes a member. */
async function removeMember(c: ApiCall, p: PathParams): Promise<void> {
  await c.backend.removeMember(p.member);
  sendJson(c.res, 200, { members: c.backend.members().map(memberJson) });
}

/** POST /leader/transfer?to=<name or id> (or a JSON body {"to": …}): moves leadership. */
async function transferLeader(c: ApiCall): Promise<void> {
  const q = c.target.searchParams.get("to");
  const body = q === null ? await readJson(c.req, c.limits) : { to: q };
  if (body.to === undefined) throw badRequest('missing target member: {"to": <id>}');
  const to = resolveMember(c.backend, String(body.to));
  await c.backend.transferLeader(to, c.signal);
  sendJson(c.res, 200, { leader: to.toString(16) });
}

/** GET /status: raft state and the leader's view of its followers. */
function sendStatus(c: ApiCall): void {
  sendJson(c.res, 200, c.backend.status());
}

/** GET /health: 200 while the member can serve, 503 UNHEALTHY with the reason otherwise. */
function sendHealth(c: ApiCall): void {
  const reason = c.backend.unhealthyReason();
  if (reason === null) sendJson(c.res, 200, { health: "true" });
  else sendJson(c.res, 503, { health: "false", code: KvErrorCode.Unhealthy, reason });
}

/** GET /metrics: Prometheus text. */
async function sendMetrics(c: ApiCall): Promise<void> {
  const text = await c.backend.metricsText();
  c.res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
  c.res.end(text);
}

function expectedRevision(req: IncomingMessage): number | undefined {
  const noneMatch = req.headers["if-none-match"];
  if (noneMatch !== undefined) {
    if (String(noneMatch).trim() !== "*") throw badRequest("If-None-Match only supports *");
    return 0;
  }
  return parseRevisionHeader(req.headers["if-match"]);
}

class MethodNotAllowedError extends KvError {
  readonly allow: string;
  constructor(allow: string) {
    super(KvErrorCode.MethodNotAllowed, 405, `method not allowed; use ${allow}`);
    this.allow = allow;
  }
}

function methodNotAllowed(allow: string): KvError {
  return new MethodNotAllowedError(allow);
}

function memberJson(m: {
  id: bigint;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}) {
  return {
    id: m.id.toString(16),
    name: m.name,
    peerURLs: m.peerURLs,
    clientURLs: m.clientURLs,
    isLearner: m.isLearner,
  };
}
