// JSON replies of tsraft-kv's HTTP endpoints: one body shape for every error,
// `{ code, message, ...details }` with the KvError's status, so a client reads
// errors the same way whichever endpoint (REST API or dashboard) answered. A
// leaf of the kv folder: the dashboard uses it without depending on the REST
// API's request handling (kv/http_api.ts), which sends the same shape.

import type { ServerResponse } from "node:http";
import { type KvError, KvErrorCode } from "./errors.ts";

/** Sends `body` as one JSON line with an exact Content-Length. */
export function sendJson(
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

/**
 * Sends a KvError as its JSON body. A reply whose headers already went out
 * (a stream that failed half-way) cannot change its status any more: the
 * connection is destroyed instead, so the client sees a broken reply rather
 * than a success. NO_LEADER carries `Retry-After: 1` (an election is short).
 */
export function sendKvError(
  res: ServerResponse,
  err: KvError,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const h = err.code === KvErrorCode.NoLeader ? { "Retry-After": "1", ...headers } : headers;
  sendJson(res, err.status, { code: err.code, message: err.message, ...err.details, ...extra }, h);
}
