// etcd's peer endpoints beyond /raft that etcd members call on each other:
// `GET /version` (the leader polls it every 4 s to decide the cluster
// version; a joining member checks it) and `GET /members` (a joining member
// learns the cluster ID and the membership there). The data comes from the
// transport's owner through the `versions` and `members` hooks; the status
// codes, headers and body bytes are etcd 3.4's. `/raft/probing` (probe.ts)
// is routed here too: it is the third endpoint that is not raft traffic.
//
// These endpoints carry no raft traffic and make no checks of the caller
// (etcd makes none: no cluster ID or version headers are required, and an
// etcd member calling them sends none). What they reveal — versions, the
// membership, the cluster ID — is what any member may know; the trust model
// (docs/rafthttp.md) does not rest on keeping it secret.

import type { IncomingMessage, ServerResponse } from "node:http";
import { compareIds } from "../raftpb/index.ts";
import { serveProbe } from "./probe.ts";
import { type HandlerHost, httpError } from "./request_checks.ts";
import type { PeerMember, PeerVersions } from "./types.ts";

/**
 * Serves `path` if it is one of the peer info endpoints — `/raft/probing`
 * (any method), `GET /version`, `GET /members` (when the owner gave a
 * membership) — and returns true; false for any other path.
 */
export function servePeerInfo(
  host: HandlerHost,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): boolean {
  if (path === "/raft/probing") serveProbe(res, host.ctx.now());
  else if (path === "/version") {
    if (allowMethod(req, res, "GET")) serveVersion(res, host.versions());
  } else if (path === "/members" && host.members !== undefined) {
    if (allowMethod(req, res, "GET")) serveMembers(res, host.ctx.clusterHex, host.members());
  } else return false;
  return true;
}

/** etcd's allowMethod: 405 with `Allow` when the method is not the one served. */
function allowMethod(req: IncomingMessage, res: ServerResponse, method: string): boolean {
  if (req.method === method) return true;
  res.setHeader("Allow", method);
  httpError(res, 405, "Method Not Allowed");
  return false;
}

/** What etcd answers while it has no cluster version yet. */
export const NOT_DECIDED = "not_decided";

/**
 * `{"etcdserver":"…","etcdcluster":"…"}`, without a trailing newline (etcd
 * writes json.Marshal's bytes).
 */
export function serveVersion(res: ServerResponse, v: Required<PeerVersions>): void {
  const body = JSON.stringify({ etcdserver: v.server, etcdcluster: v.cluster });
  res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

/**
 * The membership as etcd's `GET /members` writes it: a JSON array sorted by
 * ID, each member `{"id":<decimal uint64>,"peerURLs":[…],"isLearner":true,
 * "name":"…","clientURLs":[…]}` in that field order (Go's order for
 * membership.Member), with isLearner, name and clientURLs omitted when
 * false/empty. IDs are exact: they are written from the bigint, never
 * through a JS number (most are above 2^53). Ends with a newline (Go's
 * json.Encoder).
 */
export function encodeMembersJson(members: readonly PeerMember[]): string {
  const sorted = [...members].sort((a, b) => compareIds(a.id, b.id));
  const parts = sorted.map((m) => {
    let s = `{"id":${m.id.toString(10)},"peerURLs":${JSON.stringify(m.peerURLs)}`;
    if (m.isLearner) s += `,"isLearner":true`;
    if (m.name !== "") s += `,"name":${JSON.stringify(m.name)}`;
    if (m.clientURLs.length > 0) s += `,"clientURLs":${JSON.stringify(m.clientURLs)}`;
    return `${s}}`;
  });
  return `[${parts.join(",")}]\n`;
}

export function serveMembers(res: ServerResponse, clusterHex: string, members: readonly PeerMember[]): void {
  const body = encodeMembersJson(members);
  res.writeHead(200, {
    "X-Etcd-Cluster-ID": clusterHex,
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(body);
}

/**
 * Parses `GET /members` (etcd's or ours): the members' IDs, read as text
 * since JSON.parse would round IDs above 2^53, and peer URLs. Anything
 * unparsable yields no member.
 */
export function parseMembersList(text: string): Array<{ id: bigint; peerURLs: string[] }> {
  const out: Array<{ id: bigint; peerURLs: string[] }> = [];
  // Member objects hold no nested objects, only arrays of strings.
  for (const obj of text.match(/\{[^{}]*\}/g) ?? []) {
    const id = /"id"\s*:\s*([0-9]{1,20})/.exec(obj);
    if (id === null) continue;
    const v = BigInt(id[1]!);
    if (v === 0n || v > 0xffff_ffff_ffff_ffffn) continue;
    let urls: unknown;
    try {
      urls = (JSON.parse(obj.replace(id[0], '"id":0')) as { peerURLs?: unknown }).peerURLs;
    } catch {
      continue;
    }
    out.push({
      id: v,
      peerURLs: Array.isArray(urls) ? urls.filter((u): u is string => typeof u === "string") : [],
    });
  }
  return out;
}
