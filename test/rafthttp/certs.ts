// Test certificates made in-process: a tiny DER writer and X.509 v3 with
// ECDSA P-256 keys signed by node:crypto. No openssl binary, no dependency.

import { createPrivateKey, generateKeyPairSync, type KeyObject, randomBytes, sign } from "node:crypto";

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x100) return Buffer.from([0x81, n]);
  return Buffer.from([0x82, n >> 8, n & 0xff]);
}
function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
}
const seq = (...p: Buffer[]): Buffer => tlv(0x30, ...p);
function oid(text: string): Buffer {
  const [a, b, ...rest] = text.split(".").map(Number);
  const bytes = [40 * a! + b!];
  for (const v of rest) {
    const enc = [v & 0x7f];
    for (let x = v >>> 7; x > 0; x >>>= 7) enc.unshift((x & 0x7f) | 0x80);
    bytes.push(...enc);
  }
  return tlv(0x06, Buffer.from(bytes));
}
function utcTime(d: Date): Buffer {
  const p = (n: number): string => String(n).padStart(2, "0");
  const s = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return tlv(0x17, Buffer.from(s, "ascii"));
}
function name(cn: string): Buffer {
  return seq(tlv(0x31, seq(oid("2.5.4.3"), tlv(0x0c, Buffer.from(cn, "utf8")))));
}
function ext(id: string, critical: boolean, value: Buffer): Buffer {
  return critical
    ? seq(oid(id), tlv(0x01, Buffer.from([0xff])), tlv(0x04, value))
    : seq(oid(id), tlv(0x04, value));
}

const ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"));

export interface Issued {
  cert: string;
  key: string;
  keyObject: KeyObject;
  subject: string;
}

export interface CertOptions {
  cn: string;
  ca?: boolean;
  dns?: string[];
  ips?: string[];
  /** Signer; self-signed when absent. */
  issuer?: Issued;
}

export function makeCert(o: CertOptions): Issued {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const serial = randomBytes(8);
  // A positive DER INTEGER in minimal form: top bit clear and a non-zero first byte.
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const now = Date.now();
  const exts: Buffer[] = [
    ext("2.5.29.19", true, o.ca === true ? seq(tlv(0x01, Buffer.from([0xff]))) : seq()),
  ];
  if (o.ca === true) exts.push(ext("2.5.29.15", true, tlv(0x03, Buffer.from([0x01, 0x06]))));
  const san: Buffer[] = [];
  for (const d of o.dns ?? []) san.push(tlv(0x82, Buffer.from(d, "ascii")));
  for (const ip of o.ips ?? []) san.push(tlv(0x87, Buffer.from(ip.split(".").map(Number))));
  if (san.length > 0) exts.push(ext("2.5.29.17", false, seq(...san)));
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))),
    tlv(0x02, serial),
    ECDSA_SHA256,
    name(o.issuer?.subject ?? o.cn),
    seq(utcTime(new Date(now - 3600_000)), utcTime(new Date(now + 86400_000))),
    name(o.cn),
    publicKey.export({ type: "spki", format: "der" }),
    tlv(0xa3, seq(...exts)),
  );
  const signer = o.issuer?.keyObject ?? privateKey;
  const sig = sign("sha256", tbs, signer);
  const der = seq(tbs, ECDSA_SHA256, tlv(0x03, Buffer.from([0]), sig));
  const b64 = der.toString("base64").replace(/.{1,64}/g, "$&\n");
  return {
    cert: `-----BEGIN CERTIFICATE-----\n${b64}-----END CERTIFICATE-----\n`,
    key: privateKey.export({ type: "pkcs8", format: "pem" }) as string,
    keyObject: createPrivateKey(privateKey.export({ type: "pkcs8", format: "pem" })),
    subject: o.cn,
  };
}
