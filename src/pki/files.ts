// The cluster PKI on disk, and re-running it safely.
//
// Layout (all PEM; keys PKCS#8, mode 0600; directories 0700):
//   DIR/ca.crt             the cluster CA: --peer-trusted-ca-file and --trusted-ca-file of every member
//   DIR/ca.key             the CA's key: needed only to issue more certificates; keep it off the members
//   DIR/client.crt, .key   an operator's client certificate for the client API (curl --cert/--key)
//   DIR/<name>/peer.crt    member <name>'s peer certificate: --peer-cert-file
//   DIR/<name>/peer.key    --peer-key-file
//   DIR/<name>/server.crt  member <name>'s client-API server certificate: --cert-file
//   DIR/<name>/server.key  --key-file
// (etcd's documentation names these two server.crt and peer.crt too; the
// client-API certificate is a *server* certificate, hence not "client.crt".)
//
// writeClusterPki never overwrites a file. It reuses an existing CA, keeps a
// member's existing certificates when they still fit (signed by this CA,
// unexpired, the same name and peer URLs, at least the requested hosts) and
// issues only what is missing, so `tsraft certs` can run before every start
// and can add a member to an existing cluster. Anything else already there
// (half a key pair, another CA's certificate, other URLs) is a Conflict
// naming the file to remove. Each file is written to a temporary name and
// linked into place, so a crash never leaves a half-written certificate.

import { createPrivateKey, createPublicKey, type KeyObject, randomBytes, X509Certificate } from "node:crypto";
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import { PkiError, PkiErrorCode } from "./errors.ts";
import { normalizePeerURL, parseSubjectAltName, peerIdentity, urlHost } from "./identity.ts";
import {
  type CaOptions,
  type CertificateAuthority,
  checkHost,
  checkMemberName,
  createCa,
  type IssueOptions,
  issueClientCert,
  issueMemberCert,
  type MemberSpec,
  type PemPair,
} from "./issue.ts";

/** Where each file of the layout lives. */
export function pkiPaths(dir: string) {
  return {
    caCert: join(dir, "ca.crt"),
    caKey: join(dir, "ca.key"),
    clientCert: join(dir, "client.crt"),
    clientKey: join(dir, "client.key"),
    member(name: string) {
      const d = join(dir, name);
      return {
        dir: d,
        peerCert: join(d, "peer.crt"),
        peerKey: join(d, "peer.key"),
        serverCert: join(d, "server.crt"),
        serverKey: join(d, "server.key"),
      };
    },
  };
}

/** Options of writeClusterPki (validity and time as for each issued certificate). */
export interface WriteClusterPkiOptions extends IssueOptions {
  /** For a new CA: its CN and validity. */
  ca?: Omit<CaOptions, "now">;
  /** Also issue DIR/client.crt (default true). */
  clientCert?: boolean;
}

/** What writeClusterPki found and did, file by file. */
export interface ClusterPkiResult {
  /** The PKI directory, as given. */
  dir: string;
  /** The CA's files, and whether this call created them (false: an existing CA was used). */
  ca: { cert: string; key: string; created: boolean };
  /** The client certificate's files, when asked for, and whether this call issued them. */
  client?: { cert: string; key: string; issued: boolean };
  /** Each member's files, in the order given. */
  members: Array<{
    name: string;
    peerCert: string;
    peerKey: string;
    serverCert: string;
    serverKey: string;
    /** false when valid certificates were already there and were kept. */
    issued: boolean;
  }>;
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new PkiError(PkiErrorCode.Io, `cannot read ${path}: ${(err as Error).message}`, {
      path,
      cause: err,
    });
  }
}

/** Writes a new file atomically and without replacing anything: temp file, link into place. */
function writeNew(path: string, data: string, mode: number): void {
  const tmp = `${path}.tmp-${randomBytes(6).toString("hex")}`;
  try {
    writeFileSync(tmp, data, { mode, flag: "wx" });
    linkSync(tmp, path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw e.code === "EEXIST"
      ? new PkiError(PkiErrorCode.Conflict, `${path} appeared while writing it; not replacing it`, { path })
      : new PkiError(PkiErrorCode.Io, `cannot write ${path}: ${e.message}`, { path, cause: err });
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
  }
}

function mkdirPrivate(d: string): void {
  try {
    mkdirSync(d, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new PkiError(PkiErrorCode.Io, `cannot create ${d}: ${(err as Error).message}`, {
      path: d,
      cause: err,
    });
  }
}

/** Which of a pair of files exist: both, none, or a Conflict naming the lone one. */
function pairState(certPath: string, keyPath: string): boolean {
  const c = existsSync(certPath);
  const k = existsSync(keyPath);
  if (c !== k) {
    const [have, lack] = c ? [certPath, keyPath] : [keyPath, certPath];
    throw new PkiError(PkiErrorCode.Conflict, `${have} exists without ${lack}; remove it to start over`, {
      path: have,
    });
  }
  return c;
}

function parseCert(path: string): X509Certificate {
  try {
    return new X509Certificate(readText(path));
  } catch (err) {
    if (err instanceof PkiError) throw err;
    throw new PkiError(PkiErrorCode.Conflict, `${path} is not a PEM certificate; remove it to reissue`, {
      path,
      cause: err,
    });
  }
}

function spkiOf(k: KeyObject): Buffer {
  return k.export({ type: "spki", format: "der" });
}

/** Checks an existing certificate: issued by the CA, unexpired at `now`, and its key file matches. */
function checkExisting(certPath: string, keyPath: string, ca: X509Certificate, now: Date): X509Certificate {
  const cert = parseCert(certPath);
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    throw new PkiError(PkiErrorCode.Conflict, `${certPath} was not issued by this CA; remove it to reissue`, {
      path: certPath,
    });
  }
  if (new Date(cert.validTo) <= now) {
    throw new PkiError(
      PkiErrorCode.Conflict,
      `${certPath} expired on ${cert.validTo}; remove it to reissue`,
      {
        path: certPath,
      },
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(readText(keyPath));
  } catch (err) {
    if (err instanceof PkiError) throw err;
    throw new PkiError(
      PkiErrorCode.Conflict,
      `${keyPath} is not a PEM private key; remove the pair to reissue`,
      {
        path: keyPath,
        cause: err,
      },
    );
  }
  if (!spkiOf(createPublicKey(key)).equals(spkiOf(cert.publicKey))) {
    throw new PkiError(
      PkiErrorCode.Conflict,
      `${keyPath} does not belong to ${certPath}; remove both to reissue`,
      {
        path: keyPath,
      },
    );
  }
  return cert;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const sa = new Set(a);
  const sb = new Set(b);
  return sa.size === sb.size && [...sa].every((x) => sb.has(x));
}

/** One spelling per address: Node prints IPv6 SANs expanded ("0:0:0:0:0:0:0:1"), URLs use "::1". */
function canonicalHost(h: string): string {
  h = h.toLowerCase();
  if (isIP(h) !== 6) return h;
  const [head = "", tail] = h.split("::");
  const parts = (s: string) => (s === "" ? [] : s.split(":"));
  const hs = parts(head);
  const ts = tail === undefined ? [] : parts(tail);
  const groups = tail === undefined ? hs : [...hs, ...Array(8 - hs.length - ts.length).fill("0"), ...ts];
  return groups.map((g) => Number.parseInt(g, 16).toString(16)).join(":");
}

function sanHosts(cert: X509Certificate): string[] {
  return parseSubjectAltName(cert.subjectAltName)
    .filter((n) => n.type === "DNS" || n.type === "IP Address")
    .map((n) => canonicalHost(n.value));
}

/** The host SANs issueMemberCert gives a member (kept in step with it). */
function expectedHosts(m: MemberSpec): string[] {
  return [
    "localhost",
    "127.0.0.1",
    ...[...m.peerURLs, ...(m.clientURLs ?? [])].map((u) => urlHost(normalizePeerURL(u))),
    ...(m.hosts ?? []).map(checkHost),
  ].map(canonicalHost);
}

function uniqHosts(m: MemberSpec): string[] {
  return [...new Set(expectedHosts(m))];
}

/** Reads DIR/ca.crt and DIR/ca.key. */
export function readClusterCa(dir: string): CertificateAuthority {
  const p = pkiPaths(dir);
  return { cert: readText(p.caCert), key: readText(p.caKey) };
}

/**
 * Creates (or completes) the PKI of a cluster under `dir`: the CA if absent,
 * certificates for each member that lacks them, and an operator client
 * certificate. See the header for what is kept and what is refused.
 */
export async function writeClusterPki(
  dir: string,
  members: readonly MemberSpec[],
  opts: WriteClusterPkiOptions = {},
): Promise<ClusterPkiResult> {
  const now = opts.now ?? new Date();
  const seen = new Set<string>();
  for (const m of members) {
    checkMemberName(m.name);
    if (seen.has(m.name)) throw new PkiError(PkiErrorCode.Invalid, `member ${m.name} is listed twice`);
    seen.add(m.name);
    if (m.peerURLs.length === 0) {
      throw new PkiError(PkiErrorCode.Invalid, `member ${m.name}: at least one peer URL is needed`);
    }
    m.peerURLs.forEach(normalizePeerURL);
    m.clientURLs?.forEach(normalizePeerURL);
    m.hosts?.forEach(checkHost);
  }
  const p = pkiPaths(dir);
  mkdirPrivate(dir);

  let ca: CertificateAuthority;
  let caCreated = false;
  if (pairState(p.caCert, p.caKey)) {
    ca = readClusterCa(dir);
  } else {
    ca = await createCa({ ...opts.ca, now });
    // The key first: a crash between the two leaves a lone key, which the next run reports.
    writeNew(p.caKey, ca.key, 0o600);
    writeNew(p.caCert, ca.cert, 0o644);
    caCreated = true;
  }
  const caCert = new X509Certificate(ca.cert);
  const issue: IssueOptions = { now };
  if (opts.validityDays !== undefined) issue.validityDays = opts.validityDays;

  const result: ClusterPkiResult = {
    dir,
    ca: { cert: p.caCert, key: p.caKey, created: caCreated },
    members: [],
  };

  for (const m of members) {
    const mp = p.member(m.name);
    const havePeer = pairState(mp.peerCert, mp.peerKey);
    const haveServer = pairState(mp.serverCert, mp.serverKey);
    if (havePeer !== haveServer) {
      const [have, lack] = havePeer ? [mp.peerCert, mp.serverCert] : [mp.serverCert, mp.peerCert];
      throw new PkiError(
        PkiErrorCode.Conflict,
        `${have} exists without ${lack}; remove ${mp.dir} to reissue`,
        {
          path: have,
        },
      );
    }
    if (havePeer) {
      const peer = checkExisting(mp.peerCert, mp.peerKey, caCert, now);
      checkExisting(mp.serverCert, mp.serverKey, caCert, now);
      const id = peerIdentity(peer);
      const want = m.peerURLs.map(normalizePeerURL);
      if (id.name !== m.name || !sameSet(id.peerURLs, want)) {
        throw new PkiError(
          PkiErrorCode.Conflict,
          `${mp.peerCert} is for ${id.name ?? "no member"} at ${id.peerURLs.join(",") || "no peer URL"}, ` +
            `not ${m.name} at ${want.join(",")}; remove ${mp.dir} to reissue`,
          { path: mp.peerCert },
        );
      }
      // Hosts may have been added by an earlier run (--client-hosts); only missing ones need a new certificate.
      const have = new Set(sanHosts(peer));
      if (!expectedHosts(m).every((h) => have.has(h))) {
        throw new PkiError(
          PkiErrorCode.Conflict,
          `${mp.peerCert} names hosts ${sanHosts(peer).join(",")}, not all of ${uniqHosts(m).join(",")}; ` +
            `remove ${mp.dir} to reissue`,
          { path: mp.peerCert },
        );
      }
      result.members.push({ name: m.name, ...pick(mp), issued: false });
      continue;
    }
    const certs = await issueMemberCert(ca, m, issue);
    mkdirPrivate(mp.dir);
    writePair(mp.peerCert, mp.peerKey, certs.peer);
    writePair(mp.serverCert, mp.serverKey, certs.server);
    result.members.push({ name: m.name, ...pick(mp), issued: true });
  }

  if (opts.clientCert !== false) {
    let issued = false;
    if (pairState(p.clientCert, p.clientKey)) {
      checkExisting(p.clientCert, p.clientKey, caCert, now);
    } else {
      writePair(p.clientCert, p.clientKey, await issueClientCert(ca, "tsraft-client", issue));
      issued = true;
    }
    result.client = { cert: p.clientCert, key: p.clientKey, issued };
  }
  return result;
}

function pick(mp: ReturnType<ReturnType<typeof pkiPaths>["member"]>) {
  return { peerCert: mp.peerCert, peerKey: mp.peerKey, serverCert: mp.serverCert, serverKey: mp.serverKey };
}

function writePair(certPath: string, keyPath: string, pair: PemPair): void {
  writeNew(keyPath, pair.key, 0o600);
  writeNew(certPath, pair.cert, 0o644);
}
