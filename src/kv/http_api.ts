// The client HTTP API of tsraft-kv: keys, ranges, compare-and-swap,
// membership, leadership transfer, status, health and metrics. Errors are
// JSON bodies with a stable `code`.

import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { SharedDeadlines } from "./deadline.ts";
import { KvError, KvErrorCode } from "./errors.ts";
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

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

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

/** Parses a member ID as the API shows it: hexadecimal, optionally prefixed with 0x. */
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
  return (req, res) => {
    if (backend.observeRequest !== undefined) {
      const t0 = performance.now();
      res.once("finish", () =>
        backend.observeRequest!(opName(req), res.statusCode, (performance.now() - t0) / 1000),
      );
    }
    handle(backend, limits, replies, req, res, deadlines.signal()).catch((err: unknown) => {
      if (err instanceof KvError) sendError(res, err);
      else sendError(res, new KvError(KvErrorCode.Internal, 500, (err as Error)?.message ?? String(err)));
    });
  };
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

async function handle(
  backend: KvBackend,
  limits: ApiLimits,
  replies: ReplyBudget,
  req: IncomingMessage,
  res: ServerResponse,
  signal: AbortSignal,
): Promise<void> {
  const url = parseTarget(req.url ?? "/");
  const path = url.pathname;
  const method = req.method ?? "GET";

  if (path === "/kv" || path === "/kv/") {
    if (method !== "GET") throw methodNotAllowed("GET");
    const prefix = url.searchParams.get("prefix") ?? "";
    const after = url.searchParams.get("after") ?? undefined;
    const limitParam = url.searchParams.get("limit");
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
    if (after !== undefined && !after.startsWith(prefix))
      throw badRequest("after must start with the prefix");
    const r = await backend.range(prefix, { limit, after }, readOptions(url, signal));
    await sendRangePage(res, r, limits, replies);
    return;
  }

  if (path.startsWith("/kv/")) {
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
    switch (method) {
      case "GET": {
        const r = await backend.get(key, readOptions(url, signal));
        if (r.kv === undefined) throw new KvError(KvErrorCode.NotFound, 404, `key not found: ${key}`);
        const kv = r.kv;
        res.writeHead(200, {
          "Content-Type": "application/octet-stream",
          "Content-Length": kv.value.length,
          ETag: `"${kv.modRevision}"`,
          "X-Revision": String(r.revision),
          "X-Create-Revision": String(kv.createRevision),
          "X-Mod-Revision": String(kv.modRevision),
          "X-Version": String(kv.version),
        });
        res.end(kv.value);
        return;
      }
      case "PUT": {
        const expected = expectedRevision(req);
        const value = await readBody(
          req,
          limits.maxValueBytes,
          () => new KvError(KvErrorCode.ValueTooLarge, 413, `value exceeds ${limits.maxValueBytes} bytes`),
        );
        const r = await backend.put(key, value, { expectedRevision: expected, signal });
        sendJson(res, 200, { revision: r.revision, prevRevision: r.prevRevision });
        return;
      }
      case "DELETE": {
        const r = await backend.delete(key, { expectedRevision: expectedRevision(req), signal });
        sendJson(res, 200, { revision: r.revision, prevRevision: r.prevRevision });
        return;
      }
      default:
        throw methodNotAllowed("GET, PUT, DELETE");
    }
  }

  if (path === "/members") {
    if (method === "GET") {
      sendJson(res, 200, { members: backend.members().map(memberJson), clusterId: backend.clusterIdHex() });
      return;
    }
    if (method === "POST") {
      const body = await readJson(req, limits);
      const peerURLs = stringArray(body.peerURLs, "peerURLs");
      if (peerURLs.length === 0) throw badRequest("peerURLs must name at least one URL");
      const clientURLs = stringArray(body.clientURLs, "clientURLs");
      if (body.name !== undefined && typeof body.name !== "string") throw badRequest("name must be a string");
      if (body.learner !== undefined && typeof body.learner !== "boolean")
        throw badRequest("learner must be a boolean");
      const m = await backend.addMember(peerURLs, {
        name: body.name as string | undefined,
        learner: body.learner === true,
        clientURLs,
      });
      sendJson(res, 201, {
        member: memberJson(m),
        members: backend.members().map(memberJson),
        clusterId: backend.clusterIdHex(),
      });
      return;
    }
    throw methodNotAllowed("GET, POST");
  }

  const memberPath = /^\/members\/([^/]+)(\/promote)?$/.exec(path);
  if (memberPath !== null) {
    const id = parseMemberId(memberPath[1]!);
    if (memberPath[2] !== undefined) {
      if (method !== "POST") throw methodNotAllowed("POST");
      await backend.promoteMember(id);
    } else {
      if (method !== "DELETE") throw methodNotAllowed("DELETE");
      await backend.removeMember(id);
    }
    sendJson(res, 200, { members: backend.members().map(memberJson) });
    return;
  }

  if (path === "/leader/transfer") {
    if (method !== "POST") throw methodNotAllowed("POST");
    const q = url.searchParams.get("to");
    const body = q === null ? await readJson(req, limits) : { to: q };
    if (body.to === undefined) throw badRequest('missing target member: {"to": <id>}');
    const to = resolveMember(backend, String(body.to));
    await backend.transferLeader(to, signal);
    sendJson(res, 200, { leader: to.toString(16) });
    return;
  }

  if (path === "/status") {
    if (method !== "GET") throw methodNotAllowed("GET");
    sendJson(res, 200, backend.status());
    return;
  }

  if (path === "/health") {
    if (method !== "GET") throw methodNotAllowed("GET");
    const reason = backend.unhealthyReason();
    if (reason === null) sendJson(res, 200, { health: "true" });
    else sendJson(res, 503, { health: "false", code: KvErrorCode.Unhealthy, reason });
    return;
  }

  if (path === "/metrics") {
    if (method !== "GET") throw methodNotAllowed("GET");
    const text = await backend.metricsText();
    res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
    res.end(text);
    return;
  }

  if (backend.serveDashboard?.(req, res)) return;

  throw new KvError(KvErrorCode.RouteNotFound, 404, `no route for ${method} ${path}`);
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
