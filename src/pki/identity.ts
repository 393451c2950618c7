// Who a TLS peer is, read from its certificate.
//
// A member certificate names its member twice in the subject alternative
// names: one URI per peer URL of the member (exactly as --initial-cluster
// gives it, normalised by normalizePeerURL) and `urn:tsraft:member:<name>`.
// The transport checks the peer URLs: a request that claims to come from
// member X must present a certificate whose URI SANs include one of X's peer
// URLs. Peer URLs, unlike names, are what the cluster's membership records,
// so a certificate of one member can never pass as another member's, even
// when both come from the same CA. Certificates without such URIs (the
// client-API server certificates, the operator's client certificate) are no
// member at all.
//
// This file uses Node's X509Certificate only: the transport imports it on
// its hot path without loading the certificate-generation library.

import type { X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { PkiError, PkiErrorCode } from "./errors.ts";

/** URN prefix of the member-name SAN. */
export const MEMBER_URN_PREFIX = "urn:tsraft:member:";

/** What a certificate says about the member presenting it. */
export interface PeerIdentity {
  /** The member name from `urn:tsraft:member:<name>`; undefined when there is none, or several. */
  name?: string;
  /** The peer URLs among the URI SANs (http/https, normalised), in certificate order. */
  peerURLs: string[];
}

/**
 * The canonical form of a peer or client URL, as written into and compared
 * with URI SANs: `scheme://host:port`, lower-case host, no trailing slash.
 * Throws PkiError(ERR_PKI_INVALID) for anything but a bare http(s) origin.
 */
export function normalizePeerURL(u: string): string {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw new PkiError(PkiErrorCode.Invalid, `not a URL: ${JSON.stringify(u)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new PkiError(PkiErrorCode.Invalid, `${JSON.stringify(u)}: only http and https URLs name members`);
  }
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    throw new PkiError(PkiErrorCode.Invalid, `${JSON.stringify(u)}: a member URL is scheme://host:port only`);
  }
  if (url.pathname !== "/" && url.pathname !== "") {
    throw new PkiError(PkiErrorCode.Invalid, `${JSON.stringify(u)}: a member URL has no path`);
  }
  return `${url.protocol}//${url.host}`;
}

/** The host of a URL as it goes into a DNS or IP SAN (IPv6 without brackets). */
export function urlHost(u: string): string {
  const h = new URL(u).hostname;
  return h.startsWith("[") && h.endsWith("]") ? h.slice(1, -1) : h;
}

/** `urn:tsraft:member:<name>`, the name percent-encoded so that any name is one URI. */
export function memberUrn(name: string): string {
  return MEMBER_URN_PREFIX + encodeURIComponent(name);
}

/** One entry of a certificate's subjectAltName, as Node prints it ("DNS", "IP Address", "URI", ...). */
export interface AltName {
  /** The kind as Node prints it: "DNS", "IP Address", "URI", "email"... */
  type: string;
  /** The value, unquoted. */
  value: string;
}

/**
 * Parses Node's `subjectAltName` string ("DNS:a, IP Address:127.0.0.1,
 * URI:http://x:1"). Since Node 17.3.1 (CVE-2021-44532) a value holding a
 * separator or quote is printed as a JSON string literal, so that a crafted
 * SAN cannot smuggle in a second entry: such values are decoded here rather
 * than split on ", ". Returns [] for undefined or "". A string that does not
 * follow the format yields the entries before the damage (never a guess).
 */
export function parseSubjectAltName(san: string | undefined): AltName[] {
  const out: AltName[] = [];
  if (san === undefined) return out;
  let i = 0;
  while (i < san.length) {
    const colon = san.indexOf(":", i);
    if (colon < 0) break;
    const type = san.slice(i, colon);
    let j = colon + 1;
    let value: string;
    if (san[j] === '"') {
      // A JSON string: find the closing quote that is not escaped.
      let k = j + 1;
      while (k < san.length && san[k] !== '"') k += san[k] === "\\" ? 2 : 1;
      if (k >= san.length) break;
      try {
        value = JSON.parse(san.slice(j, k + 1)) as string;
      } catch {
        break;
      }
      j = k + 1;
    } else {
      const sep = san.indexOf(", ", j);
      const end = sep < 0 ? san.length : sep;
      value = san.slice(j, end);
      j = end;
    }
    out.push({ type, value });
    if (j >= san.length) break;
    if (!san.startsWith(", ", j)) break;
    i = j + 2;
  }
  return out;
}

/**
 * The member a certificate identifies: its `urn:tsraft:member:` name (only
 * when exactly one distinct name is present) and its http(s) URI SANs,
 * normalised. URIs that are not bare http(s) origins are ignored.
 */
export function peerIdentity(cert: X509Certificate): PeerIdentity {
  const names = new Set<string>();
  const peerURLs: string[] = [];
  for (const { type, value } of parseSubjectAltName(cert.subjectAltName)) {
    if (type !== "URI") continue;
    if (value.startsWith(MEMBER_URN_PREFIX)) {
      try {
        names.add(decodeURIComponent(value.slice(MEMBER_URN_PREFIX.length)));
      } catch {
        // Malformed percent-encoding: not a name we issued.
      }
      continue;
    }
    let u: string;
    try {
      u = normalizePeerURL(value);
    } catch {
      continue;
    }
    if (!peerURLs.includes(u)) peerURLs.push(u);
  }
  const id: PeerIdentity = { peerURLs };
  if (names.size === 1) id.name = [...names][0]!;
  return id;
}

/**
 * The transport's check: true when the certificate's URI SANs include one of
 * `peerURLs` (the peer URLs of the member the request claims to come from).
 * Both sides are normalised; a URL in `peerURLs` that does not parse matches
 * nothing.
 */
export function certMatchesPeerURLs(cert: X509Certificate, peerURLs: readonly string[]): boolean {
  const have = peerIdentity(cert).peerURLs;
  if (have.length === 0) return false;
  for (const p of peerURLs) {
    let n: string;
    try {
      n = normalizePeerURL(p);
    } catch {
      continue;
    }
    if (have.includes(n)) return true;
  }
  return false;
}

/** True when `h` is an IP address (v4 or v6), i.e. belongs in an IP SAN rather than a DNS SAN. */
export function isIpHost(h: string): boolean {
  return isIP(h) !== 0;
}
