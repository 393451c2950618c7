// The clients' interface (KvApiClient, one implementation per API), and
// tsraft-kv's REST API as the harness's clients use it (etcd's v3 gRPC API
// is grpc_client.ts), with each answer classified the way the checker needs:
//   ok    200 (or 404 KEY_NOT_FOUND for a read: the key is absent);
//   fail  certainly not applied: the connection was refused (nothing was
//         sent), a 4xx (the request was refused before it was proposed), or
//         412 REVISION_MISMATCH (the CAS was applied and found another
//         revision; the 412 names the key's mod revision, kept as
//         `seenRevision`);
//   info  anything else (timeout, reset, 5xx): the write may still apply.

import { Agent, request } from "node:http";
import { CAS_MISMATCH, type OpType } from "./history.ts";

export interface Outcome {
  type: OpType;
  /** Read: the value (null: absent). */
  value?: string | null;
  /** Read: the key's mod revision; write: the revision it created. */
  revision?: number;
  /** Refused CAS: the key's mod revision the server reported. */
  seenRevision?: number;
  error?: string;
}

/**
 * What the workload and the final checks need of a client, whichever API it
 * speaks: `base` is a member's client URL (REST and gRPC share the port).
 */
export interface KvApiClient {
  /** A linearizable read (serializable, from the member's own state, with `local`). */
  read(base: string, key: string, local?: boolean): Promise<Outcome>;
  /**
   * A write; with `expect` a compare-and-swap on the key's mod revision
   * (0: the key must be absent).
   */
  write(base: string, key: string, value: string, expect?: number): Promise<Outcome>;
  close(): void;
}

/** The APIs the clients can use: tsraft-kv's REST API, or etcd's v3 gRPC KV API (grpc_client.ts). */
export type ClientApi = "rest" | "grpc";
export const CLIENT_APIS: readonly ClientApi[] = ["rest", "grpc"];

/**
 * A client of the given API whose requests give up (info) after `timeoutMs`.
 * The gRPC client's module (grpc-js, etcd's protobuf messages: seconds to
 * load on a busy machine) is loaded only when asked for.
 */
export async function newKvClient(api: ClientApi, timeoutMs: number): Promise<KvApiClient> {
  if (api === "rest") return new KvClient(timeoutMs);
  const { GrpcKvClient } = await import("./grpc_client.ts");
  return new GrpcKvClient(timeoutMs);
}

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export class KvClient implements KvApiClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  readonly timeoutMs: number;

  constructor(timeoutMs: number) {
    this.timeoutMs = timeoutMs;
  }

  close(): void {
    this.agent.destroy();
  }

  private send(
    url: string,
    method: string,
    body?: string,
    headers: Record<string, string> = {},
  ): Promise<Raw | { error: string }> {
    return new Promise((resolve) => {
      let settled = false;
      const done = (v: Raw | { error: string }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(v);
      };
      const req = request(url, { method, agent: this.agent, headers });
      const timer = setTimeout(() => {
        done({ error: "timeout" });
        req.destroy();
      }, this.timeoutMs);
      req.on("error", (e: NodeJS.ErrnoException) => done({ error: e.code ?? e.message }));
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (e: NodeJS.ErrnoException) => done({ error: e.code ?? e.message }));
        res.on("aborted", () => done({ error: "response aborted" }));
        res.on("end", () =>
          done({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
        );
      });
      req.end(body);
    });
  }

  /** A linearizable read (serializable with `local`). */
  async read(base: string, key: string, local = false): Promise<Outcome> {
    const r = await this.send(
      `${base}/kv/${encodeURIComponent(key)}${local ? "?consistency=serializable" : ""}`,
      "GET",
    );
    if ("error" in r) return { type: r.error === "ECONNREFUSED" ? "fail" : "info", error: r.error };
    if (r.status === 200) {
      const rev = Number(r.headers["x-mod-revision"]);
      return { type: "ok", value: r.body, revision: Number.isSafeInteger(rev) ? rev : undefined };
    }
    const code = errorCode(r);
    if (r.status === 404 && code === "KEY_NOT_FOUND") return { type: "ok", value: null };
    return { type: r.status >= 400 && r.status < 500 ? "fail" : "info", error: `${r.status} ${code}` };
  }

  /**
   * A write; with `expect` a compare-and-swap on the key's mod revision
   * (0: the key must be absent, sent as If-None-Match: *).
   */
  async write(base: string, key: string, value: string, expect?: number): Promise<Outcome> {
    const headers: Record<string, string> = { "Content-Type": "application/octet-stream" };
    if (expect !== undefined) {
      if (expect === 0) headers["If-None-Match"] = "*";
      else headers["If-Match"] = String(expect);
    }
    const r = await this.send(`${base}/kv/${encodeURIComponent(key)}`, "PUT", value, headers);
    if ("error" in r) return { type: r.error === "ECONNREFUSED" ? "fail" : "info", error: r.error };
    if (r.status === 200) {
      try {
        const j = JSON.parse(r.body) as { revision?: unknown };
        if (Number.isSafeInteger(j.revision)) return { type: "ok", revision: j.revision as number };
      } catch {
        // fall through: a 200 without a revision is reported as such
      }
      return { type: "ok", error: "200 without a revision" };
    }
    const code = errorCode(r);
    if (r.status === 412 && code === CAS_MISMATCH) {
      return { type: "fail", error: CAS_MISMATCH, seenRevision: seenRevision(r.body) };
    }
    return { type: r.status >= 400 && r.status < 500 ? "fail" : "info", error: `${r.status} ${code}` };
  }
}

function errorCode(r: Raw): string {
  try {
    const j = JSON.parse(r.body) as { code?: unknown };
    return typeof j.code === "string" ? j.code : "?";
  } catch {
    return "?";
  }
}

/**
 * The key's mod revision from a 412: a numeric `modRevision` field if the
 * server sends one, else the number in today's message ("... the key's mod
 * revision is N").
 */
function seenRevision(body: string): number | undefined {
  try {
    const j = JSON.parse(body) as { modRevision?: unknown; message?: unknown };
    if (Number.isSafeInteger(j.modRevision)) return j.modRevision as number;
    const m = typeof j.message === "string" ? /mod revision is (\d+)/.exec(j.message) : null;
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}
