// The client HTTP API over a scripted backend: routing, limits, status codes
// and JSON error codes, on a real loopback socket.
import assert from "node:assert/strict";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { KvError, KvErrorCode } from "../../src/kv/errors.ts";
import { createClientHandler, defaultLimits } from "../../src/kv/http_api.ts";
import type { KeyValue, KvBackend, MemberInfo, ServerStatus, WriteOptions } from "../../src/kv/types.ts";

/** A map with etcd-like revisions, enough to script the HTTP layer. */
class TinyStore {
  revision = 0;
  private readonly data = new Map<string, KeyValue>();
  get(key: string): KeyValue | undefined {
    return this.data.get(key);
  }
  write(key: string, value: Uint8Array | null, expected: number | undefined) {
    const cur = this.data.get(key);
    const prevRevision = cur?.modRevision ?? 0;
    if (expected !== undefined && expected !== prevRevision) {
      throw new KvError(KvErrorCode.RevisionMismatch, 412, `revision mismatch (current ${prevRevision})`);
    }
    if (value === null) {
      if (cur === undefined) throw new KvError(KvErrorCode.NotFound, 404, "key not found");
      this.data.delete(key);
      return { revision: ++this.revision, prevRevision };
    }
    const rev = ++this.revision;
    this.data.set(key, {
      key,
      value,
      createRevision: cur?.createRevision ?? rev,
      modRevision: rev,
      version: (cur?.version ?? 0) + 1,
    });
    return { revision: rev, prevRevision };
  }
  range(prefix: string, limit: number, after?: string) {
    const all = [...this.data.values()]
      .filter((kv) => kv.key.startsWith(prefix) && (after === undefined || kv.key > after))
      .sort((a, b) => (a.key < b.key ? -1 : 1));
    return { kvs: all.slice(0, limit), more: all.length > limit, revision: this.revision };
  }
}

// A single-process backend: writes apply at once; `mode` simulates failures.
class FakeBackend implements KvBackend {
  store = new TinyStore();
  mode: "ok" | "noleader" | "hang" = "ok";
  membersList: MemberInfo[] = [
    { id: 0x1an, name: "m1", peerURLs: ["http://127.0.0.1:1"], clientURLs: [], isLearner: false },
  ];
  transferred = -1n;

  private async gate(signal?: AbortSignal): Promise<void> {
    if (this.mode === "noleader") throw new KvError(KvErrorCode.NoLeader, 503, "no leader");
    if (this.mode === "hang") {
      await new Promise((_, reject) =>
        signal?.addEventListener("abort", () =>
          reject(new KvError(KvErrorCode.Timeout, 504, "request timed out")),
        ),
      );
    }
  }
  async put(key: string, value: Uint8Array, o: WriteOptions) {
    await this.gate(o.signal);
    return this.store.write(key, value, o.expectedRevision);
  }
  async delete(key: string, o: WriteOptions) {
    await this.gate(o.signal);
    return this.store.write(key, null, o.expectedRevision);
  }
  async get(key: string) {
    return { kv: this.store.get(key), revision: this.store.revision };
  }
  async range(prefix: string, page: { limit: number; after?: string }) {
    return this.store.range(prefix, page.limit, page.after);
  }
  members() {
    return this.membersList;
  }
  clusterIdHex() {
    return "c1";
  }
  async addMember(peerURLs: string[], o: { name?: string; learner: boolean; clientURLs?: string[] }) {
    const m = {
      id: 0x2bn,
      name: o.name ?? "",
      peerURLs,
      clientURLs: o.clientURLs ?? [],
      isLearner: o.learner,
    };
    this.membersList.push(m);
    return m;
  }
  async removeMember(id: bigint) {
    this.membersList = this.membersList.filter((m) => m.id !== id);
  }
  async promoteMember(id: bigint) {
    for (const m of this.membersList) if (m.id === id) m.isLearner = false;
  }
  async transferLeader(to: bigint) {
    this.transferred = to;
  }
  status(): ServerStatus {
    throw new Error("unused");
  }
  unhealthyReason() {
    return this.mode === "ok" ? null : "no leader";
  }
  async metricsText() {
    return "etcd_server_has_leader 1\n";
  }
}

const backend = new FakeBackend();
let server: Server;
let base = "";
before(async () => {
  server = createServer(
    createClientHandler(backend, { ...defaultLimits, maxValueBytes: 1000, requestTimeoutMs: 100 }),
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

async function req(
  method: string,
  path: string,
  body?: string | Uint8Array,
  headers: Record<string, string> = {},
) {
  const res = await fetch(base + path, { method, body, headers });
  const text = await res.text();
  return { status: res.status, text, headers: res.headers, json: () => JSON.parse(text) };
}

test("PUT then GET returns the value with its revisions; DELETE removes it", async () => {
  backend.mode = "ok";
  const p = await req("PUT", "/kv/greeting", "hello");
  assert.equal(p.status, 200);
  assert.deepEqual(p.json(), { revision: 1, prevRevision: 0 });
  const g = await req("GET", "/kv/greeting");
  assert.equal(g.status, 200);
  assert.equal(g.text, "hello");
  assert.equal(g.headers.get("etag"), '"1"');
  assert.equal(g.headers.get("x-version"), "1");
  assert.equal((await req("DELETE", "/kv/greeting")).status, 200);
  const missing = await req("GET", "/kv/greeting");
  assert.equal(missing.status, 404);
  assert.equal(missing.json().code, "KEY_NOT_FOUND");
});

test("keys with slashes and percent-encoding; range by prefix", async () => {
  await req("PUT", "/kv/app/a%20b", "1");
  await req("PUT", "/kv/app/c", "2");
  await req("PUT", "/kv/other", "3");
  const r = await req("GET", "/kv?prefix=app/");
  assert.equal(r.status, 200);
  assert.deepEqual(
    r.json().kvs.map((kv: { key: string; value: string }) => [kv.key, kv.value]),
    [
      ["app/a b", "1"],
      ["app/c", "2"],
    ],
  );
  assert.equal((await req("GET", "/kv?prefix=app/&limit=1")).json().count, 1);
});

test("If-Match compare-and-swap: 412 with the current revision on mismatch", async () => {
  const first = (await req("PUT", "/kv/cas", "v1")).json();
  const stale = await req("PUT", "/kv/cas", "v2", { "If-Match": String(first.revision + 100) });
  assert.equal(stale.status, 412);
  assert.equal(stale.json().code, "REVISION_MISMATCH");
  const ok = await req("PUT", "/kv/cas", "v2", { "If-Match": `"${first.revision}"` });
  assert.equal(ok.status, 200);
  assert.equal((await req("PUT", "/kv/cas", "v3", { "If-None-Match": "*" })).status, 412);
  assert.equal((await req("PUT", "/kv/fresh", "v", { "If-None-Match": "*" })).status, 200);
});

test("limits: a key over 1.5 KiB or a value over the limit is 413", async () => {
  const bigKey = await req("PUT", `/kv/${"k".repeat(1537)}`, "v");
  assert.equal(bigKey.status, 413);
  assert.equal(bigKey.json().code, "KEY_TOO_LARGE");
  const bigValue = await req("PUT", "/kv/v", new Uint8Array(1001));
  assert.equal(bigValue.status, 413);
  assert.equal(bigValue.json().code, "VALUE_TOO_LARGE");
  assert.equal((await req("PUT", "/kv/v", new Uint8Array(1000))).status, 200);
});

test("malformed requests are 400 with a code", async () => {
  for (const [method, path, headers] of [
    ["GET", "/kv/%E0%A4%A", {}],
    ["PUT", "/kv/x", { "If-Match": "abc" }],
    ["GET", "/kv/x?consistency=eventual", {}],
    ["GET", "/kv?limit=-1", {}],
    ["POST", "/members", {}],
    ["DELETE", "/members/zz", {}],
  ] as const) {
    const r = await req(method, path, method === "POST" ? "{not json" : undefined, headers);
    assert.equal(r.status, 400, `${method} ${path}`);
    assert.equal(r.json().code, "BAD_REQUEST");
  }
  const m = await req("PATCH", "/kv/x");
  assert.equal(m.status, 405);
  assert.equal(m.headers.get("allow"), "GET, PUT, DELETE");
  assert.equal((await req("GET", "/nowhere")).status, 404);
});

test("query parameters a request does not take are 400, not ignored: ?rev is no past read, ?ttl no expiry", async () => {
  await req("PUT", "/kv/q", "v1");
  for (const [method, path, hint] of [
    ["GET", "/kv/q?rev=1", "etcdctl get --rev"],
    ["PUT", "/kv/q?ttl=5", "etcdctl put --lease"],
    ["DELETE", "/kv/q?prefix=true", ""],
    ["GET", "/kv?prefix=q&revision=1", "etcdctl get --rev"],
    ["GET", "/members?verbose=1", ""],
    ["POST", "/leader/transfer?to=1&force=1", ""],
  ] as const) {
    const r = await req(method, path, method === "PUT" ? "v2" : undefined);
    assert.equal(r.status, 400, `${method} ${path}`);
    assert.equal(r.json().code, "BAD_REQUEST");
    assert.match(r.json().message, /^unknown query parameter/);
    if (hint !== "") assert.ok(r.json().message.includes(hint), r.json().message);
  }
  // Nothing was written or deleted by the refused requests.
  const g = await req("GET", "/kv/q?consistency=serializable");
  assert.equal(g.status, 200);
  assert.equal(g.text, "v1");
  // The lenient routes: monitoring adds its own parameters.
  assert.equal((await req("GET", "/health?serializable=true")).status, 200);
});

test("routes: other methods get 405 with the route's Allow list; a bad key or member ID is 400 first", async () => {
  for (const [method, path, allow] of [
    ["PUT", "/kv", "GET"],
    ["DELETE", "/kv/", "GET"],
    ["POST", "/kv/x", "GET, PUT, DELETE"],
    ["DELETE", "/members", "GET, POST"],
    ["GET", "/members/1a/promote", "POST"],
    ["GET", "/members/1a", "DELETE"],
    ["GET", "/leader/transfer", "POST"],
    ["POST", "/status", "GET"],
    ["PUT", "/health", "GET"],
    ["DELETE", "/metrics", "GET"],
  ] as const) {
    const r = await req(method, path);
    assert.equal(r.status, 405, `${method} ${path}`);
    assert.equal(r.headers.get("allow"), allow, `${method} ${path}`);
    assert.equal(r.json().code, "METHOD_NOT_ALLOWED");
  }
  // The key and the member ID are read from the path before the method is looked at.
  for (const [method, path] of [
    ["POST", "/kv/%E0%A4%A"],
    ["GET", "/members/zz"],
    ["GET", "/members/zz/promote"],
  ] as const) {
    const r = await req(method, path);
    assert.equal(r.status, 400, `${method} ${path}`);
    assert.equal(r.json().code, "BAD_REQUEST");
  }
  const big = await req("POST", `/kv/${"k".repeat(2000)}`);
  assert.equal(big.status, 413);
  assert.equal(big.json().code, "KEY_TOO_LARGE");
  for (const path of ["/kvx", "/members/1a/promote/x", "/members/1a/demote", "/leader", "/status/"]) {
    const r = await req("GET", path);
    assert.equal(r.status, 404, path);
    assert.equal(r.json().code, "NOT_FOUND");
  }
});

test("no leader is 503 with Retry-After; a write that times out is 504", async () => {
  backend.mode = "noleader";
  const r = await req("PUT", "/kv/x", "1");
  assert.equal(r.status, 503);
  assert.equal(r.headers.get("retry-after"), "1");
  assert.equal(r.json().code, "NO_LEADER");
  assert.equal((await req("GET", "/health")).status, 503);
  backend.mode = "hang";
  const t = await req("PUT", "/kv/x", "1");
  assert.equal(t.status, 504);
  assert.equal(t.json().code, "TIMEOUT");
  backend.mode = "ok";
  assert.equal((await req("GET", "/health")).status, 200);
});

test("membership and leadership transfer routes", async () => {
  const add = await req(
    "POST",
    "/members",
    JSON.stringify({ peerURLs: ["http://127.0.0.1:9"], learner: true, name: "m2" }),
  );
  assert.equal(add.status, 201);
  assert.equal(add.json().member.id, "2b");
  assert.equal(add.json().member.isLearner, true);
  assert.equal(add.json().clusterId, "c1");
  assert.equal((await req("POST", "/members/2b/promote")).status, 200);
  assert.equal(backend.membersList.find((m) => m.id === 0x2bn)?.isLearner, false);
  assert.equal((await req("POST", "/members", JSON.stringify({ peerURLs: ["ftp://x"] }))).status, 400);
  assert.equal((await req("DELETE", "/members/2b")).status, 200);
  assert.equal((await req("GET", "/members")).json().members.length, 1);
  assert.equal((await req("POST", "/leader/transfer", JSON.stringify({ to: "1a" }))).status, 200);
  assert.equal(backend.transferred, 0x1an);
  backend.transferred = -1n;
  // The dashboard's form: the target in the query, by name or by hex ID.
  const byName = await req("POST", "/leader/transfer?to=m1");
  assert.equal(byName.status, 200);
  assert.equal(byName.json().leader, "1a");
  assert.equal(backend.transferred, 0x1an);
  assert.equal((await req("POST", "/leader/transfer?to=zz")).status, 400);
  assert.match((await req("GET", "/metrics")).text, /etcd_server_has_leader 1/);
});

/** A request whose target is sent byte for byte (fetch would normalise it first). */
function rawReq(method: string, target: string, body = ""): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const r = httpRequest(`${base}/`, { method, path: target }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    r.on("error", reject);
    r.end(body);
  });
}

test("keys are exactly what the client sent: no dot-segment, backslash or fragment rewriting", async () => {
  backend.mode = "ok";
  await rawReq("PUT", "/kv/b", "original-b");
  await rawReq("PUT", "/kv/w", "original-w");
  for (const [target, key] of [
    ["/kv/a/../b", "a/../b"],
    ["/kv/q/%2e%2e/w", "q/../w"],
    ["/kv/bs\\x", "bs\\x"],
    ["/kv/./dot", "./dot"],
    ["/kv/h2%23frag", "h2#frag"],
  ] as const) {
    const put = await rawReq("PUT", target, `v:${key}`);
    assert.equal(put.status, 200, `${target}: ${put.text}`);
    assert.equal(backend.store.get(key)?.value !== undefined, true, `${target} wrote ${JSON.stringify(key)}`);
  }
  assert.equal((await rawReq("GET", "/kv/b")).text, "original-b", "a/../b did not overwrite b");
  assert.equal((await rawReq("GET", "/kv/w")).text, "original-w", "q/%2e%2e/w did not overwrite w");
  assert.equal(backend.store.get("bs/x"), undefined, "a backslash is not a slash");
  // A raw '#' cannot be part of a key the client meant: refused, not truncated.
  const frag = await rawReq("PUT", "/kv/h2#frag", "v");
  assert.equal(frag.status, 400);
  assert.equal(JSON.parse(frag.text).code, "BAD_REQUEST");
  assert.equal((await rawReq("PUT", "/kv/bad%zz", "v")).status, 400, "malformed percent-encoding");
});

test("range reads are bounded: default and maximum page size, more/next continuation, byte cap", async () => {
  backend.mode = "ok";
  for (let i = 0; i < 30; i++) await req("PUT", `/kv/page/${String(i).padStart(2, "0")}`, "x".repeat(100));
  const first = (await req("GET", "/kv?prefix=page/&limit=10")).json();
  assert.equal(first.count, 10);
  assert.equal(first.more, true);
  assert.equal(first.next, "page/09");
  const second = (
    await req("GET", `/kv?prefix=page/&limit=25&after=${encodeURIComponent(first.next)}`)
  ).json();
  assert.equal(second.count, 20);
  assert.equal(second.more, false);
  assert.equal(second.kvs[0].key, "page/10");
  assert.equal((await req("GET", "/kv?prefix=page/&limit=0")).status, 400);
  assert.equal((await req("GET", `/kv?prefix=page/&limit=${defaultLimits.maxRangeLimit + 1}`)).status, 400);
  assert.equal((await req("GET", "/kv?prefix=page/&after=other")).status, 400, "after outside the prefix");

  // A page stops at maxRangeBytes even below its limit.
  const small = createServer(createClientHandler(backend, { ...defaultLimits, maxRangeBytes: 1000 }));
  await new Promise<void>((r) => small.listen(0, "127.0.0.1", r));
  try {
    const url = `http://127.0.0.1:${(small.address() as AddressInfo).port}/kv?prefix=page/&limit=30`;
    const r = (await (await fetch(url)).json()) as { count: number; more: boolean; next: string };
    assert.ok(r.count >= 1 && r.count < 30, `stopped early at ${r.count}`);
    assert.equal(r.more, true);
    assert.equal(r.next, `page/${String(r.count - 1).padStart(2, "0")}`);
  } finally {
    await new Promise<void>((r) => small.close(() => r()));
  }
});
