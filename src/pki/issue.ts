// A cluster CA and the certificates of its members, as PEM strings.
//
// Keys are ECDSA P-256 (small, fast, what every TLS stack accepts), made by
// Node's WebCrypto; the certificates are assembled by @peculiar/x509. That
// library needs a global Reflect metadata polyfill and takes 0.3-0.7 s to
// load, so it is imported lazily on the first call: importing this folder
// (as the transport does for peerIdentity) costs nothing and patches nothing.
//
// Validity: the CA 10 years, member and client certificates 1 year (what
// kubeadm does; etcd's self-signed certificates also last one year). Every
// notBefore is backdated 5 minutes so that members with slightly slow clocks
// accept a certificate issued a moment ago.
//
// What each certificate is for, and why it holds what it holds:
//   peer   - a member's peer (raft) server certificate and, for mTLS, its client
//            certificate when dialling other members: EKU serverAuth+clientAuth.
//            SANs: DNS localhost, IP 127.0.0.1, the hosts of the member's peer
//            and client URLs and any extra hosts; URI SANs: each peer URL and
//            urn:tsraft:member:<name> (see identity.ts for the check).
//   server - the member's client-API server certificate: EKU serverAuth only,
//            the same host SANs, and the member URN but no peer URL, so a
//            copy handed to a proxy in front of the client API can never pass
//            as the member on the peer port.
//   client - an operator's certificate for API clients (curl --cert) when the
//            client API requires client certificates: EKU clientAuth, no SAN.

import { createPrivateKey, createPublicKey, randomBytes, webcrypto, X509Certificate } from "node:crypto";
import type * as X509 from "@peculiar/x509";
import { PkiError, PkiErrorCode } from "./errors.ts";
import { isIpHost, memberUrn, normalizePeerURL, urlHost } from "./identity.ts";

/** A certificate and its private key, both PEM (the key PKCS#8, unencrypted). */
export interface PemPair {
  /** The certificate, PEM. */
  cert: string;
  /** Its private key, PKCS#8 PEM. */
  key: string;
}

/** A CA that can sign: its certificate and private key, PEM. */
export type CertificateAuthority = PemPair;

/** Options of createCa. */
export interface CaOptions {
  /** Subject CN of the CA (default "tsraft cluster CA"). */
  commonName?: string;
  /** Days the CA certificate is valid (default 3650). */
  validityDays?: number;
  /** The issuing time (default: now); tests inject it. */
  now?: Date;
}

/** A member as its certificates describe it. */
export interface MemberSpec {
  /** The member's --name (it goes into the URI SAN `urn:tsraft:member:<name>`). */
  name: string;
  /** The member's peer URLs exactly as --initial-cluster names them (at least one). */
  peerURLs: readonly string[];
  /** Its client URLs (their hosts go into the SANs). */
  clientURLs?: readonly string[];
  /** Further DNS names or IP addresses the member is reached by. */
  hosts?: readonly string[];
}

/** Options of the certificate issuers. */
export interface IssueOptions {
  /** Days the certificate is valid (default 365); it may not outlive the CA. */
  validityDays?: number;
  /** The issuing time (default: now); tests inject it. */
  now?: Date;
}

/** Both certificates of one member. */
export interface MemberCertificates {
  /** The member's name. */
  name: string;
  /** Peer server and peer client certificate (--peer-cert-file/--peer-key-file). */
  peer: PemPair;
  /** Client-API server certificate (--cert-file/--key-file). */
  server: PemPair;
}

/** Validity of a new CA certificate in days (about ten years). */
export const DEFAULT_CA_DAYS = 3650;
/** Validity of a new member or client certificate in days. */
export const DEFAULT_CERT_DAYS = 365;
const BACKDATE_MS = 5 * 60_000;
const DAY_MS = 86_400_000;
const MAX_DAYS = 100 * 365;

const P256 = { name: "ECDSA", namedCurve: "P-256" } as const;

type Lib = typeof X509;
/** Node's WebCrypto, typed as the provider the library expects (the DOM's Crypto, absent from our libs). */
const wc = webcrypto as unknown as Parameters<Lib["X509CertificateGenerator"]["create"]>[1];
let libPromise: Promise<Lib> | undefined;

/** Loads @peculiar/x509 (and the Reflect polyfill it requires) once, on first use. */
function lib(): Promise<Lib> {
  libPromise ??= (async () => {
    await import("reflect-metadata");
    const x = (await import("@peculiar/x509")) as Lib & { default?: Lib };
    // Node loads the CommonJS build; its named exports may sit on `default`.
    const l = (x.X509CertificateGenerator === undefined ? x.default : x) as Lib;
    l.cryptoProvider.set(wc);
    return l;
  })();
  return libPromise;
}

function days(v: number | undefined, dflt: number, what: string): number {
  const d = v ?? dflt;
  if (!Number.isInteger(d) || d < 1 || d > MAX_DAYS) {
    throw new PkiError(PkiErrorCode.Invalid, `${what}: validity must be 1..${MAX_DAYS} days, got ${d}`);
  }
  return d;
}

/** A random positive 128-bit serial (RFC 5280: positive, at most 20 octets; 64+ bits of entropy). */
function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x40; // positive, and no leading zero octet to strip
  return b.toString("hex");
}

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** Checks a DNS name or IP address for a SAN; throws ERR_PKI_INVALID. */
export function checkHost(h: string): string {
  if (isIpHost(h) || DNS_NAME.test(h)) return h.toLowerCase();
  throw new PkiError(PkiErrorCode.Invalid, `${JSON.stringify(h)} is neither a DNS name nor an IP address`);
}

/** Member names become directory names and certificate CNs: printable, no path separators. */
export function checkMemberName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name)) {
    throw new PkiError(
      PkiErrorCode.Invalid,
      `member name ${JSON.stringify(name)}: use 1-63 of A-Z a-z 0-9 . _ - (starting with a letter or digit)`,
    );
  }
  return name;
}

function keyToPem(der: ArrayBuffer): string {
  return createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" })
    .export({ type: "pkcs8", format: "pem" })
    .toString();
}

async function newKeyPair(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(P256, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
}

/** Creates a self-signed CA (pathlen 0: it signs member certificates, never other CAs). */
export async function createCa(opts: CaOptions = {}): Promise<CertificateAuthority> {
  const x = await lib();
  const now = opts.now ?? new Date();
  const validity = days(opts.validityDays, DEFAULT_CA_DAYS, "CA");
  const cn = opts.commonName ?? "tsraft cluster CA";
  if (cn === "" || cn.length > 64)
    throw new PkiError(PkiErrorCode.Invalid, "CA common name: 1-64 characters");
  const keys = await newKeyPair();
  const cert = await x.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial(),
      name: [{ CN: [cn] }],
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: new Date(now.getTime() + validity * DAY_MS),
      keys,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      extensions: [
        new x.BasicConstraintsExtension(true, 0, true),
        new x.KeyUsagesExtension(x.KeyUsageFlags.keyCertSign | x.KeyUsageFlags.cRLSign, true),
        await x.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    },
    wc,
  );
  return {
    cert: cert.toString("pem"),
    key: keyToPem(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)),
  };
}

interface LoadedCa {
  lib: Lib;
  cert: X509.X509Certificate;
  node: X509Certificate;
  signingKey: webcrypto.CryptoKey;
  hash: "SHA-256" | "SHA-384";
}

/** Parses a CA pair and checks that it can sign: a CA certificate, the matching EC key. */
async function loadCa(ca: CertificateAuthority): Promise<LoadedCa> {
  const x = await lib();
  let node: X509Certificate;
  let key: ReturnType<typeof createPrivateKey>;
  try {
    node = new X509Certificate(ca.cert);
    key = createPrivateKey(ca.key);
  } catch (err) {
    throw new PkiError(
      PkiErrorCode.Invalid,
      `CA: cannot parse the certificate or key: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  if (!node.ca) throw new PkiError(PkiErrorCode.Invalid, "CA: the certificate is not a CA certificate");
  const spki = (k: ReturnType<typeof createPublicKey>) => k.export({ type: "spki", format: "der" });
  if (!spki(createPublicKey(key)).equals(spki(node.publicKey))) {
    throw new PkiError(PkiErrorCode.Conflict, "CA: the key does not belong to the certificate");
  }
  const curve = key.asymmetricKeyType === "ec" ? key.asymmetricKeyDetails?.namedCurve : undefined;
  const params =
    curve === "prime256v1"
      ? { namedCurve: "P-256", hash: "SHA-256" as const }
      : curve === "secp384r1"
        ? { namedCurve: "P-384", hash: "SHA-384" as const }
        : undefined;
  if (params === undefined) {
    throw new PkiError(
      PkiErrorCode.UnsupportedKey,
      `CA: a ${key.asymmetricKeyType} key${curve ? ` on ${curve}` : ""} cannot sign here (ECDSA P-256 or P-384 only)`,
    );
  }
  const signingKey = await webcrypto.subtle.importKey(
    "pkcs8",
    key.export({ type: "pkcs8", format: "der" }),
    { name: "ECDSA", namedCurve: params.namedCurve },
    false,
    ["sign"],
  );
  return { lib: x, cert: new x.X509Certificate(ca.cert), node, signingKey, hash: params.hash };
}

interface LeafSpec {
  cn: string;
  dns: string[];
  ips: string[];
  uris: string[];
  usages: string[];
}

async function issueLeaf(ca: LoadedCa, spec: LeafSpec, opts: IssueOptions): Promise<PemPair> {
  const x = ca.lib;
  const now = opts.now ?? new Date();
  const validity = days(opts.validityDays, DEFAULT_CERT_DAYS, spec.cn);
  const notAfter = new Date(now.getTime() + validity * DAY_MS);
  const caEnd = new Date(ca.node.validTo);
  if (notAfter > caEnd) {
    throw new PkiError(
      PkiErrorCode.Invalid,
      `${spec.cn}: a ${validity}-day certificate would outlive the CA, which expires ${caEnd.toISOString()}`,
    );
  }
  const keys = await newKeyPair();
  const caSki = ca.cert.getExtension<X509.SubjectKeyIdentifierExtension>(
    x.SubjectKeyIdentifierExtension.NAME,
  );
  const names: X509.JsonGeneralName[] = [
    ...spec.dns.map((value) => ({ type: "dns" as const, value })),
    ...spec.ips.map((value) => ({ type: "ip" as const, value })),
    ...spec.uris.map((value) => ({ type: "url" as const, value })),
  ];
  const extensions: X509.Extension[] = [
    new x.BasicConstraintsExtension(false, undefined, true),
    new x.KeyUsagesExtension(x.KeyUsageFlags.digitalSignature, true),
    new x.ExtendedKeyUsageExtension(spec.usages),
    await x.SubjectKeyIdentifierExtension.create(keys.publicKey),
    caSki !== null
      ? new x.AuthorityKeyIdentifierExtension(caSki.keyId)
      : await x.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
  ];
  if (names.length > 0) extensions.push(new x.SubjectAlternativeNameExtension(names));
  const cert = await x.X509CertificateGenerator.create(
    {
      serialNumber: serial(),
      subject: [{ CN: [spec.cn] }],
      issuer: ca.cert.subjectName,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter,
      publicKey: keys.publicKey,
      signingKey: ca.signingKey,
      signingAlgorithm: { name: "ECDSA", hash: ca.hash },
      extensions,
    },
    wc,
  );
  return {
    cert: cert.toString("pem"),
    key: keyToPem(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)),
  };
}

function uniq(xs: string[]): string[] {
  return [...new Set(xs)];
}

/**
 * Issues a member's peer and client-API server certificates (new keys for
 * each). Throws PkiError(ERR_PKI_INVALID) for a bad name, URL or host.
 */
export async function issueMemberCert(
  ca: CertificateAuthority,
  member: MemberSpec,
  opts: IssueOptions = {},
): Promise<MemberCertificates> {
  const name = checkMemberName(member.name);
  if (member.peerURLs.length === 0) {
    throw new PkiError(PkiErrorCode.Invalid, `member ${name}: at least one peer URL is needed`);
  }
  const peerURLs = uniq(member.peerURLs.map(normalizePeerURL));
  const clientURLs = uniq((member.clientURLs ?? []).map(normalizePeerURL));
  const hosts = uniq([
    "localhost",
    "127.0.0.1",
    ...[...peerURLs, ...clientURLs].map((u) => urlHost(u).toLowerCase()),
    ...(member.hosts ?? []).map(checkHost),
  ]);
  const dns = hosts.filter((h) => !isIpHost(h));
  const ips = hosts.filter(isIpHost);
  const ca2 = await loadCa(ca);
  const x = ca2.lib;
  const urn = memberUrn(name);
  const peer = await issueLeaf(
    ca2,
    {
      cn: name,
      dns,
      ips,
      uris: [...peerURLs, urn],
      usages: [x.ExtendedKeyUsage.serverAuth, x.ExtendedKeyUsage.clientAuth],
    },
    opts,
  );
  const server = await issueLeaf(
    ca2,
    { cn: name, dns, ips, uris: [urn], usages: [x.ExtendedKeyUsage.serverAuth] },
    opts,
  );
  return { name, peer, server };
}

/** Issues an operator's client certificate for the client API (EKU clientAuth, no SAN, no member). */
export async function issueClientCert(
  ca: CertificateAuthority,
  commonName = "tsraft-client",
  opts: IssueOptions = {},
): Promise<PemPair> {
  if (commonName === "" || commonName.length > 64) {
    throw new PkiError(PkiErrorCode.Invalid, "client certificate common name: 1-64 characters");
  }
  const ca2 = await loadCa(ca);
  return issueLeaf(
    ca2,
    { cn: commonName, dns: [], ips: [], uris: [], usages: [ca2.lib.ExtendedKeyUsage.clientAuth] },
    opts,
  );
}
