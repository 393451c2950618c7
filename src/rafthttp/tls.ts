// TLS for peer traffic. Certificates come from files (re-read when they
// change on disk, so rotation needs no restart) or from PEM values given in
// the options (replace them with Transport.updateTls). Server side: the peer
// certificate, client certificates required and verified when a CA is
// configured or clientCertAuth is on, optional CRL, allowed CN / hostnames and
// etcd's client SAN check. Client side: the same (or a dedicated) certificate
// as client certificate, the CA, server name override, insecure mode.

import { promises as dns } from "node:dns";
import { readFileSync, statSync } from "node:fs";
import { isIP } from "node:net";
import * as tls from "node:tls";
import { TransportConfigError } from "./errors.ts";

type Pem = string | Buffer;

export interface PeerTlsOptions {
  /** Certificate presented by the server, and by the client unless clientCert* are given. */
  certFile?: string;
  keyFile?: string;
  cert?: Pem;
  key?: Pem;
  /** A dedicated client certificate for outgoing connections. */
  clientCertFile?: string;
  clientKeyFile?: string;
  clientCert?: Pem;
  clientKey?: Pem;
  /** CA that verifies peers (both directions). Without it the system roots verify servers. */
  trustedCAFile?: string;
  ca?: Pem;
  /** Require and verify client certificates (implied when a CA is configured, as in etcd). */
  clientCertAuth?: boolean;
  /** Certificate revocation list (PEM). */
  crlFile?: string;
  /** Accept only client certificates with one of these CommonNames. */
  allowedCN?: string[];
  /**
   * Require a peer's client certificate to belong to the member it claims to
   * be: its URI SANs must include one of that member's peer URLs (as
   * `tsraft certs` issues them). Without this, any holder of a certificate
   * from the cluster CA can speak for any member.
   */
  verifyMemberIdentity?: boolean;
  /** Accept only client certificates valid for one of these host names. */
  allowedHostnames?: string[];
  /** Skip etcd's check that a client certificate's SANs match the connecting address. */
  skipClientSANVerify?: boolean;
  /** Name to verify the server certificate against (default: the URL's host). */
  serverName?: string;
  /** Do not verify server certificates (testing only). */
  insecureSkipVerify?: boolean;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  /** OpenSSL cipher list. */
  ciphers?: string;
}

interface Sources {
  cert?: Pem;
  key?: Pem;
  clientCert?: Pem;
  clientKey?: Pem;
  ca?: Pem;
  crl?: Pem;
}

const FILE_FIELDS: Array<[keyof PeerTlsOptions, keyof Sources]> = [
  ["certFile", "cert"],
  ["keyFile", "key"],
  ["clientCertFile", "clientCert"],
  ["clientKeyFile", "clientKey"],
  ["trustedCAFile", "ca"],
  ["crlFile", "crl"],
];

/** The certificates in force, reloaded from disk when the files change. */
export class TlsMaterial {
  readonly opts: PeerTlsOptions;
  private readonly reloadInterval: number;
  private signature = "";
  private lastCheck = Number.NEGATIVE_INFINITY;
  private src: Sources = {};
  private clientCtx: tls.SecureContext | null = null;
  /** Bumped on every reload. */
  generation = 0;

  constructor(opts: PeerTlsOptions, reloadInterval: number) {
    if ((opts.allowedCN?.length ?? 0) > 0 && (opts.allowedHostnames?.length ?? 0) > 0) {
      throw new TransportConfigError("tls", "tls: allowedCN and allowedHostnames are mutually exclusive");
    }
    this.opts = opts;
    this.reloadInterval = reloadInterval;
    this.refresh(true);
  }

  get requireClientCert(): boolean {
    return this.opts.clientCertAuth === true || this.src.ca !== undefined;
  }

  get hasServerCert(): boolean {
    return this.src.cert !== undefined && this.src.key !== undefined;
  }

  /** Re-reads changed files (at most once per reload interval unless forced); true when something changed. */
  refresh(force = false): boolean {
    const now = performance.now();
    if (!force && now - this.lastCheck < this.reloadInterval) return false;
    this.lastCheck = now;
    const o = this.opts;
    let sig = "";
    for (const [f] of FILE_FIELDS) {
      const p = o[f] as string | undefined;
      if (p === undefined) continue;
      try {
        const st = statSync(p);
        sig += `${p}:${st.ino}:${st.size}:${st.mtimeMs};`;
      } catch (err) {
        if (force) throw new TransportConfigError(`tls.${f}`, `tls: cannot read ${p}: ${String(err)}`);
        return false; // mid-rotation: keep what we have
      }
    }
    if (!force && sig === this.signature) return false;
    const src: Sources = {
      cert: o.cert,
      key: o.key,
      clientCert: o.clientCert,
      clientKey: o.clientKey,
      ca: o.ca,
    };
    try {
      for (const [f, s] of FILE_FIELDS) {
        const p = o[f] as string | undefined;
        if (p !== undefined) src[s] = readFileSync(p);
      }
      // Validate before swapping in, so a half-written file never replaces good material.
      tls.createSecureContext(this.serverContextOf(src));
      const cctx = tls.createSecureContext(this.clientContextOf(src));
      this.src = src;
      this.clientCtx = cctx;
    } catch (err) {
      if (force) throw new TransportConfigError("tls", `tls: invalid certificate material: ${String(err)}`);
      return false;
    }
    this.signature = sig;
    this.generation++;
    return true;
  }

  private serverContextOf(s: Sources): tls.SecureContextOptions {
    const o = this.opts;
    const c: tls.SecureContextOptions = { minVersion: o.minVersion ?? "TLSv1.2" };
    if (o.maxVersion !== undefined) c.maxVersion = o.maxVersion;
    if (o.ciphers !== undefined) c.ciphers = o.ciphers;
    if (s.cert !== undefined) c.cert = s.cert;
    if (s.key !== undefined) c.key = s.key;
    if (s.ca !== undefined) c.ca = s.ca;
    if (s.crl !== undefined) c.crl = s.crl;
    return c;
  }

  private clientContextOf(s: Sources): tls.SecureContextOptions {
    const c = this.serverContextOf(s);
    const cert = s.clientCert ?? s.cert;
    const key = s.clientCert !== undefined ? s.clientKey : s.key;
    if (cert !== undefined) c.cert = cert;
    else delete c.cert;
    if (key !== undefined) c.key = key;
    else delete c.key;
    return c;
  }

  /** Options for https.createServer / server.setSecureContext. */
  serverOptions(): tls.TlsOptions {
    const req = this.requireClientCert;
    return { ...this.serverContextOf(this.src), requestCert: req, rejectUnauthorized: req };
  }

  /** Per-request options for outgoing https requests. */
  clientOptions(): tls.ConnectionOptions {
    this.refresh();
    const o: tls.ConnectionOptions = {
      secureContext: this.clientCtx!,
      rejectUnauthorized: this.opts.insecureSkipVerify !== true,
    };
    if (this.opts.serverName !== undefined) o.servername = this.opts.serverName;
    return o;
  }
}

/** The CN / hostname / SAN checks on client certificates, cached per connection. */
export class TlsPeerVerifier {
  private readonly opts: PeerTlsOptions;
  private readonly cache = new WeakMap<object, boolean | Promise<boolean>>();
  readonly enabled: boolean;

  constructor(opts: PeerTlsOptions) {
    this.opts = opts;
    this.enabled =
      (opts.allowedCN?.length ?? 0) > 0 ||
      (opts.allowedHostnames?.length ?? 0) > 0 ||
      opts.skipClientSANVerify !== true;
  }

  /** True (or a promise of it) when the connection's client certificate is acceptable. */
  check(socket: tls.TLSSocket): boolean | Promise<boolean> {
    let v = this.cache.get(socket);
    if (v === undefined) {
      v = this.verify(socket);
      this.cache.set(socket, v);
    }
    return v;
  }

  private verify(socket: tls.TLSSocket): boolean | Promise<boolean> {
    const cert = socket.getPeerCertificate();
    if (cert === null || cert === undefined || Object.keys(cert).length === 0) {
      // No client certificate: the handshake already enforced whether one was required.
      return (this.opts.allowedCN?.length ?? 0) === 0 && (this.opts.allowedHostnames?.length ?? 0) === 0;
    }
    const cns = this.opts.allowedCN;
    if (cns !== undefined && cns.length > 0) {
      const cn = cert.subject?.CN;
      if (typeof cn !== "string" || !cns.includes(cn)) return false;
    }
    const hosts = this.opts.allowedHostnames;
    if (hosts !== undefined && hosts.length > 0) {
      if (!hosts.some((h) => tls.checkServerIdentity(h, cert) === undefined)) return false;
    }
    if (this.opts.skipClientSANVerify === true) return true;
    return checkClientSAN(cert.subjectaltname, socket.remoteAddress);
  }
}

function normalizeIp(ip: string): string {
  return ip.startsWith("::ffff:") && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip.toLowerCase();
}

/**
 * etcd's client SAN check: a certificate without SANs passes; one with IP
 * SANs passes if one is the connecting address; one with DNS SANs passes if a
 * reverse lookup of the connecting address gives one of them.
 */
export function checkClientSAN(
  san: string | undefined,
  remote: string | undefined,
): boolean | Promise<boolean> {
  if (san === undefined || san === "" || remote === undefined) return true;
  const ip = normalizeIp(remote);
  const ips: string[] = [];
  const names: string[] = [];
  for (const part of san.split(", ")) {
    if (part.startsWith("IP Address:")) ips.push(normalizeIp(part.slice(11)));
    else if (part.startsWith("DNS:")) names.push(part.slice(4).toLowerCase());
  }
  if (ips.length === 0 && names.length === 0) return true;
  if (ips.includes(ip)) return true;
  if (names.length === 0) return false;
  return dns.lookupService(ip, 0).then(
    (r) => names.includes(r.hostname.replace(/\.$/, "").toLowerCase()),
    () => false,
  );
}

/** TLS options for a one-off client request to a peer (e.g. a joining member reading `/members`). */
export function peerClientTlsOptions(opts: PeerTlsOptions): tls.ConnectionOptions {
  return new TlsMaterial(opts, Number.POSITIVE_INFINITY).clientOptions();
}
