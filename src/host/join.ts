// Joining an existing cluster (initial cluster state "existing"), as a new
// etcd member does: the operator has added this member already (its ID was
// derived by whoever ran the add); the member asks the other members' peer
// endpoints for the membership, finds itself by its peer URLs, and learns
// the cluster ID from the X-Etcd-Cluster-ID header.

import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { type PeerTlsOptions, peerClientTlsOptions } from "../rafthttp/index.ts";
import { parseHexId } from "../raftpb/index.ts";
import { HostError, HostErrorCode } from "./errors.ts";
import { decodeMemberContext } from "./membership.ts";
import type { MemberInfo } from "./types.ts";

const enc = new TextEncoder();

export interface Joined {
  id: bigint;
  clusterId: bigint;
  members: MemberInfo[];
}

/**
 * Parses etcd's peer `/members` answer: a JSON array of members whose `id`
 * is a decimal uint64 (above 2^53 JSON.parse would round it, so each member
 * object is parsed on its own with the ID read as text).
 */
export function parseMembersJson(text: string): MemberInfo[] {
  const t = text.trim();
  const body = t.startsWith("{") ? (/"members"\s*:\s*(\[[\s\S]*\])/.exec(t)?.[1] ?? "[]") : t;
  const out: MemberInfo[] = [];
  // Member objects hold no nested objects, only arrays of strings.
  for (const obj of body.match(/\{[^{}]*\}/g) ?? []) {
    const hex = /"id"\s*:\s*"([0-9a-fA-F]+)"/.exec(obj);
    const fixed = hex !== null ? obj.replace(hex[0], `"id":${BigInt(`0x${hex[1]}`).toString(10)}`) : obj;
    const m = decodeMemberContext(enc.encode(fixed));
    if (m !== undefined) out.push(m);
  }
  return out;
}

function get(
  url: string,
  tls: PeerTlsOptions | undefined,
): Promise<{ status: number; clusterId: string; body: string }> {
  const u = new URL("/members", url);
  const req = u.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const r = req(
      u,
      {
        method: "GET",
        timeout: 2000,
        ...(u.protocol === "https:" && tls !== undefined ? peerClientTlsOptions(tls) : {}),
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
          if (body.length > 4 << 20) res.destroy(new Error("members answer too large"));
        });
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            clusterId: String(res.headers["x-etcd-cluster-id"] ?? ""),
            body,
          }),
        );
        res.on("error", reject);
      },
    );
    r.on("timeout", () => r.destroy(new Error("timed out")));
    r.on("error", reject);
    r.end();
  });
}

/** Asks each peer URL in turn for the membership; the first answer that lists us wins. */
export async function joinFromPeers(
  peerURLs: readonly string[],
  ownPeerURLs: readonly string[],
  tls: PeerTlsOptions | undefined,
): Promise<Joined> {
  const errors: string[] = [];
  if (peerURLs.length === 0) {
    throw new HostError(HostErrorCode.Join, "joining an existing cluster needs the other members' peer URLs");
  }
  for (const url of peerURLs) {
    try {
      const r = await get(url, tls);
      if (r.status !== 200) {
        errors.push(`${url}: HTTP ${r.status}`);
        continue;
      }
      const members = parseMembersJson(r.body);
      const me = members.find((m) => m.peerURLs.some((u) => ownPeerURLs.includes(u)));
      if (me === undefined) {
        errors.push(`${url}: this member (${ownPeerURLs.join(",")}) is not in the membership; add it first`);
        continue;
      }
      return { id: me.id, clusterId: parseHexId(r.clusterId), members };
    } catch (err) {
      errors.push(`${url}: ${(err as Error).message}`);
    }
  }
  throw new HostError(HostErrorCode.Join, `cannot join the cluster: ${errors.join("; ")}`);
}
