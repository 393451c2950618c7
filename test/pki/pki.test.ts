// The cluster PKI: certificates that real TLS stacks accept for peer mTLS,
// refusal of anything from another CA or of the wrong kind, the identity the
// transport reads back, and the on-disk layout that never overwrites.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import * as tls from "node:tls";
import {
  type CertificateAuthority,
  certMatchesPeerURLs,
  createCa,
  issueClientCert,
  issueMemberCert,
  type MemberCertificates,
  normalizePeerURL,
  PkiError,
  PkiErrorCode,
  parseSubjectAltName,
  peerIdentity,
  pkiPaths,
  writeClusterPki,
} from "../../src/pki/index.ts";

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "tsraft-pki-"));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const M1 = { name: "m1", peerURLs: ["https://127.0.0.1:22380"], clientURLs: ["https://127.0.0.1:22379"] };
const M2 = { name: "m2", peerURLs: ["https://127.0.0.1:22390"] };

let ca: CertificateAuthority;
let otherCa: CertificateAuthority;
let m1: MemberCertificates;
let m2: MemberCertificates;
let m2Other: MemberCertificates;

before(async () => {
  ca = await createCa();
  otherCa = await createCa({ commonName: "someone else's CA" });
  m1 = await issueMemberCert(ca, M1);
  m2 = await issueMemberCert(ca, M2);
  m2Other = await issueMemberCert(otherCa, M2);
});

/** Listens on a random port in 20000-32000 (outside the ephemeral range), retrying a taken one. */
async function listenTls(server: tls.Server): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const ok = await new Promise<boolean>((resolve, reject) => {
      const onErr = (e: NodeJS.ErrnoException) => (e.code === "EADDRINUSE" ? resolve(false) : reject(e));
      server.once("error", onErr);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", onErr);
        resolve(true);
      });
    });
    if (ok) return port;
  }
}

interface Handshake {
  /** The server accepted the client and the client read the server's reply. */
  ok: boolean;
  serverError?: Error;
  clientError?: Error;
  /** The client certificate as the server saw it. */
  clientCert?: X509Certificate;
  /** With reject=false: OpenSSL's verdict on the client certificate. */
  authorizationError?: string;
}

/** One mTLS connection: server and client as a peer server and a dialling peer configure them. */
async function handshake(
  server: { cert: string; key: string; ca: string },
  client: tls.ConnectionOptions,
  reject = true,
) {
  const res: Handshake = { ok: false };
  const srv = tls.createServer({
    ...server,
    requestCert: true,
    rejectUnauthorized: reject,
    minVersion: "TLSv1.2",
  });
  srv.on("secureConnection", (s) => {
    res.clientCert = s.getPeerX509Certificate();
    if (s.authorizationError) res.authorizationError = String(s.authorizationError);
    s.end("ok");
  });
  srv.on("tlsClientError", (e) => {
    res.serverError = e;
  });
  const port = await listenTls(srv);
  try {
    const got = await new Promise<string>((resolve) => {
      let data = "";
      const c = tls.connect({ host: "127.0.0.1", port, ...client });
      c.setEncoding("utf8");
      c.on("data", (d: string) => {
        data += d;
      });
      c.on("error", (e) => {
        res.clientError = e;
        resolve(data);
      });
      c.on("close", () => resolve(data));
    });
    res.ok = got === "ok" && res.serverError === undefined && res.clientError === undefined;
  } finally {
    await new Promise((r) => srv.close(r));
  }
  return res;
}

test("two members' peer certificates complete an mTLS handshake on loopback; the server reads the client's identity", async () => {
  const r = await handshake(
    { cert: m1.peer.cert, key: m1.peer.key, ca: ca.cert },
    { cert: m2.peer.cert, key: m2.peer.key, ca: ca.cert },
  );
  assert.equal(r.serverError, undefined);
  assert.equal(r.clientError, undefined);
  assert.ok(r.ok);
  assert.ok(r.clientCert);
  assert.deepEqual(peerIdentity(r.clientCert), { name: "m2", peerURLs: ["https://127.0.0.1:22390"] });
  assert.ok(certMatchesPeerURLs(r.clientCert, ["https://127.0.0.1:22390/"]));
  assert.ok(!certMatchesPeerURLs(r.clientCert, M1.peerURLs), "m2's certificate does not pass as m1");
  // Dialling by name verifies the DNS SAN too.
  const byName = await handshake(
    { cert: m1.peer.cert, key: m1.peer.key, ca: ca.cert },
    { cert: m2.peer.cert, key: m2.peer.key, ca: ca.cert, servername: "localhost" },
  );
  assert.ok(byName.ok);
});

test("a client certificate from another CA is refused by the peer server", async () => {
  const r = await handshake(
    { cert: m1.peer.cert, key: m1.peer.key, ca: ca.cert },
    { cert: m2Other.peer.cert, key: m2Other.peer.key, ca: ca.cert },
  );
  assert.ok(!r.ok);
  assert.ok(r.serverError, "the server reports the refused handshake");
  assert.equal(r.clientCert, undefined, "the connection never reached the application");
  // Why, as OpenSSL says it when the server inspects instead of refusing.
  const why = await handshake(
    { cert: m1.peer.cert, key: m1.peer.key, ca: ca.cert },
    { cert: m2Other.peer.cert, key: m2Other.peer.key, ca: ca.cert },
    false,
  );
  assert.equal(why.authorizationError, "UNABLE_TO_VERIFY_LEAF_SIGNATURE");
});

test("a peer server with a certificate from another CA is refused by the dialling member", async () => {
  const r = await handshake(
    { cert: m2Other.peer.cert, key: m2Other.peer.key, ca: otherCa.cert },
    { cert: m1.peer.cert, key: m1.peer.key, ca: ca.cert },
  );
  assert.ok(!r.ok);
  // The server sends its CA along (OpenSSL completes the chain from `ca`); that one is not ours either.
  assert.match(
    String((r.clientError as NodeJS.ErrnoException | undefined)?.code),
    /^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/,
  );
});

test("a client-API server certificate cannot act as a peer: no clientAuth usage, no peer URL", async () => {
  const r = await handshake(
    { cert: m1.peer.cert, key: m1.peer.key, ca: ca.cert },
    { cert: m2.server.cert, key: m2.server.key, ca: ca.cert },
  );
  assert.ok(!r.ok, "OpenSSL refuses a client certificate without the clientAuth extended key usage");
  const why = await handshake(
    { cert: m1.peer.cert, key: m1.peer.key, ca: ca.cert },
    { cert: m2.server.cert, key: m2.server.key, ca: ca.cert },
    false,
  );
  assert.equal(why.authorizationError, "INVALID_PURPOSE");
  const server = new X509Certificate(m2.server.cert);
  assert.deepEqual(peerIdentity(server), { name: "m2", peerURLs: [] });
  assert.ok(!certMatchesPeerURLs(server, M2.peerURLs));
  // It does serve the client API, to clients that trust the CA.
  const api = await handshake(
    { cert: m1.server.cert, key: m1.server.key, ca: ca.cert },
    { cert: m2.peer.cert, key: m2.peer.key, ca: ca.cert },
  );
  assert.ok(api.ok);
});

test("what was issued is in the certificates: SANs, usages, validity, key type", async () => {
  // Certificates keep whole seconds; a day ahead shows that `now` is what counts.
  const now = new Date(Math.floor(Date.now() / 1000) * 1000 + 86_400_000);
  const m = await issueMemberCert(
    ca,
    {
      name: "db-1",
      peerURLs: ["https://10.0.0.7:22380", "https://[::1]:22381"],
      clientURLs: ["https://db-1.example.com:22379"],
      hosts: ["lb.example.com", "192.0.2.5"],
    },
    { now },
  );
  const peer = new X509Certificate(m.peer.cert);
  const sans = parseSubjectAltName(peer.subjectAltName);
  const of = (t: string) => sans.filter((s) => s.type === t).map((s) => s.value);
  assert.deepEqual(of("DNS").sort(), ["db-1.example.com", "lb.example.com", "localhost"]);
  assert.deepEqual(of("IP Address").sort(), ["0:0:0:0:0:0:0:1", "10.0.0.7", "127.0.0.1", "192.0.2.5"]);
  assert.deepEqual(of("URI"), ["https://10.0.0.7:22380", "https://[::1]:22381", "urn:tsraft:member:db-1"]);
  assert.equal(peer.subject, "CN=db-1");
  assert.deepEqual(peer.keyUsage?.sort(), ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
  assert.equal(peer.ca, false);
  assert.equal(peer.publicKey.asymmetricKeyType, "ec");
  assert.equal(peer.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
  assert.equal(new Date(peer.validFrom).getTime(), now.getTime() - 5 * 60_000);
  assert.equal(new Date(peer.validTo).getTime(), now.getTime() + 365 * 86_400_000);
  assert.ok(peer.checkIssued(new X509Certificate(ca.cert)));
  const server = new X509Certificate(m.server.cert);
  assert.deepEqual(server.keyUsage, ["1.3.6.1.5.5.7.3.1"]);
  assert.deepEqual(
    parseSubjectAltName(server.subjectAltName).filter((s) => s.type === "URI"),
    [{ type: "URI", value: "urn:tsraft:member:db-1" }],
  );
  const caCert = new X509Certificate(ca.cert);
  assert.equal(caCert.ca, true);
  assert.ok(new Date(caCert.validTo).getTime() - Date.now() > 3649 * 86_400_000);
  const client = new X509Certificate((await issueClientCert(ca)).cert);
  assert.deepEqual(client.keyUsage, ["1.3.6.1.5.5.7.3.2"]);
  assert.equal(client.subjectAltName, undefined);
  assert.deepEqual(peerIdentity(client), { peerURLs: [] });
});

test("bad input is refused with typed errors before anything is signed", async () => {
  const cases: Array<[Promise<unknown>, string, RegExp]> = [
    [issueMemberCert(ca, { name: "../etc", peerURLs: M1.peerURLs }), PkiErrorCode.Invalid, /member name/],
    [issueMemberCert(ca, { name: "", peerURLs: M1.peerURLs }), PkiErrorCode.Invalid, /member name/],
    [issueMemberCert(ca, { name: "a", peerURLs: [] }), PkiErrorCode.Invalid, /at least one peer URL/],
    [issueMemberCert(ca, { name: "a", peerURLs: ["ftp://x:1"] }), PkiErrorCode.Invalid, /http and https/],
    [issueMemberCert(ca, { name: "a", peerURLs: ["http://x:1/raft"] }), PkiErrorCode.Invalid, /no path/],
    [issueMemberCert(ca, { name: "a", peerURLs: ["nope"] }), PkiErrorCode.Invalid, /not a URL/],
    [
      issueMemberCert(ca, { name: "a", peerURLs: M1.peerURLs, hosts: ["bad host"] }),
      PkiErrorCode.Invalid,
      /neither a DNS name nor an IP/,
    ],
    [
      issueMemberCert(ca, { name: "a", peerURLs: M1.peerURLs }, { validityDays: 0 }),
      PkiErrorCode.Invalid,
      /validity/,
    ],
    [
      issueMemberCert(ca, { name: "a", peerURLs: M1.peerURLs }, { validityDays: 4000 }),
      PkiErrorCode.Invalid,
      /outlive the CA/,
    ],
    [
      issueMemberCert({ cert: ca.cert, key: otherCa.key }, { name: "a", peerURLs: M1.peerURLs }),
      PkiErrorCode.Conflict,
      /key does not belong/,
    ],
    [
      issueMemberCert({ cert: m1.peer.cert, key: m1.peer.key }, { name: "a", peerURLs: M1.peerURLs }),
      PkiErrorCode.Invalid,
      /not a CA/,
    ],
    [createCa({ validityDays: -1 }), PkiErrorCode.Invalid, /validity/],
  ];
  for (const [p, code, msg] of cases) {
    await assert.rejects(p, (e: unknown) => {
      assert.ok(e instanceof PkiError, String(e));
      assert.equal(e.code, code);
      assert.match(e.message, msg);
      return true;
    });
  }
});

test("normalizePeerURL gives the one spelling SANs are written and compared in", () => {
  assert.equal(normalizePeerURL("HTTPS://Node1.Example:22380/"), "https://node1.example:22380");
  assert.equal(normalizePeerURL("http://[::1]:22380"), "http://[::1]:22380");
  assert.throws(() => normalizePeerURL("http://u:p@x:1"), PkiError);
  assert.throws(() => normalizePeerURL("http://x:1?q"), PkiError);
});

test("parseSubjectAltName decodes Node's quoted entries and does not split inside them", () => {
  // Node prints a SAN holding ", " or a quote as a JSON string (CVE-2021-44532), so that
  // one crafted entry cannot read as two.
  const s = 'DNS:a.example, URI:"http://x:1/, URI:http://evil:2", IP Address:127.0.0.1';
  assert.deepEqual(parseSubjectAltName(s), [
    { type: "DNS", value: "a.example" },
    { type: "URI", value: "http://x:1/, URI:http://evil:2" },
    { type: "IP Address", value: "127.0.0.1" },
  ]);
  assert.deepEqual(parseSubjectAltName('URI:"unterminated'), []);
  assert.deepEqual(parseSubjectAltName(undefined), []);
  assert.deepEqual(parseSubjectAltName(""), []);
});

test("peerIdentity reports no name when a certificate carries two member URNs", async () => {
  // A certificate claiming two members is no member: build one through the public API's pieces.
  const c = await issueMemberCert(ca, { name: "x", peerURLs: ["https://127.0.0.1:22400"] });
  const id = peerIdentity(new X509Certificate(c.peer.cert));
  assert.equal(id.name, "x");
  const fake = { subjectAltName: "URI:urn:tsraft:member:a, URI:urn:tsraft:member:b, URI:http://h:1" };
  assert.deepEqual(peerIdentity(fake as X509Certificate), { peerURLs: ["http://h:1"] });
  const odd = { subjectAltName: "URI:urn:tsraft:member:%E0%A4%A, URI:mailto:x@y" };
  assert.deepEqual(peerIdentity(odd as X509Certificate), { peerURLs: [] });
});

test("writeClusterPki lays out the files with private keys 0600, keeps valid ones and never overwrites", async () => {
  const dir = join(tmp(), "pki");
  const now = new Date();
  const r = await writeClusterPki(dir, [M1, M2], { now });
  const p = pkiPaths(dir);
  assert.equal(r.ca.created, true);
  assert.deepEqual(
    r.members.map((m) => [m.name, m.issued]),
    [
      ["m1", true],
      ["m2", true],
    ],
  );
  const mode = (f: string) => statSync(f).mode & 0o777;
  for (const k of [p.caKey, p.clientKey, p.member("m1").peerKey, p.member("m2").serverKey]) {
    assert.equal(mode(k), 0o600, k);
    assert.match(readFileSync(k, "utf8"), /^-----BEGIN PRIVATE KEY-----\n/);
  }
  for (const c of [p.caCert, p.clientCert, p.member("m1").peerCert, p.member("m2").serverCert]) {
    assert.equal(mode(c), 0o644, c);
    assert.match(readFileSync(c, "utf8"), /^-----BEGIN CERTIFICATE-----\n/);
  }
  assert.equal(mode(dir), 0o700);
  assert.equal(mode(p.member("m1").dir), 0o700);
  const caCert = new X509Certificate(readFileSync(p.caCert));
  const peer1 = new X509Certificate(readFileSync(p.member("m1").peerCert));
  assert.ok(peer1.verify(caCert.publicKey));
  assert.deepEqual(peerIdentity(peer1), { name: "m1", peerURLs: ["https://127.0.0.1:22380"] });

  // Run again with a third member: the CA and the first two are kept byte for byte.
  const before = readFileSync(p.member("m1").peerCert, "utf8");
  const caBefore = readFileSync(p.caCert, "utf8");
  const M3 = { name: "m3", peerURLs: ["https://127.0.0.1:22400"] };
  const r2 = await writeClusterPki(dir, [M1, M2, M3], { now });
  assert.equal(r2.ca.created, false);
  assert.deepEqual(
    r2.members.map((m) => m.issued),
    [false, false, true],
  );
  assert.equal(r2.client?.issued, false);
  assert.equal(readFileSync(p.member("m1").peerCert, "utf8"), before);
  assert.equal(readFileSync(p.caCert, "utf8"), caBefore);
  const peer3 = new X509Certificate(readFileSync(p.member("m3").peerCert));
  assert.ok(peer3.verify(caCert.publicKey), "m3 is signed by the existing CA");
});

test("writeClusterPki refuses what it would have to overwrite, naming the file", async () => {
  const dir = join(tmp(), "pki");
  await writeClusterPki(dir, [M1], { clientCert: false });
  const p = pkiPaths(dir);
  const conflict = async (members: Parameters<typeof writeClusterPki>[1], file: string, msg: RegExp) => {
    await assert.rejects(writeClusterPki(dir, members, { clientCert: false }), (e: unknown) => {
      assert.ok(e instanceof PkiError, String(e));
      assert.equal(e.code, PkiErrorCode.Conflict);
      assert.equal(e.path, file);
      assert.match(e.message, msg);
      return true;
    });
  };
  const peerCert = p.member("m1").peerCert;
  const original = readFileSync(peerCert, "utf8");
  // Same name, another peer URL.
  await conflict(
    [{ ...M1, peerURLs: ["https://127.0.0.1:22999"] }],
    peerCert,
    /not m1 at https:\/\/127\.0\.0\.1:22999/,
  );
  // Same URLs, a host SAN the certificate lacks.
  await conflict(
    [{ ...M1, hosts: ["extra.example"] }],
    peerCert,
    /names hosts localhost,127\.0\.0\.1, not all of/,
  );
  assert.equal(readFileSync(peerCert, "utf8"), original, "nothing was overwritten");
  // A certificate of another CA put in place.
  const d3 = join(tmp(), "pki");
  await writeClusterPki(d3, [M2], { clientCert: false });
  const m2p = pkiPaths(d3).member("m2");
  const foreign = await issueMemberCert(otherCa, M2);
  rmSync(m2p.peerCert);
  writeFileSync(m2p.peerCert, foreign.peer.cert);
  rmSync(m2p.peerKey);
  writeFileSync(m2p.peerKey, foreign.peer.key);
  await assert.rejects(writeClusterPki(d3, [M2], { clientCert: false }), /not issued by this CA/);
  // A key without its certificate.
  rmSync(m2p.peerCert);
  await assert.rejects(writeClusterPki(d3, [M2], { clientCert: false }), (e: unknown) => {
    assert.ok(e instanceof PkiError);
    assert.equal(e.code, PkiErrorCode.Conflict);
    assert.equal(e.path, m2p.peerKey);
    assert.match(e.message, /exists without .*peer\.crt/);
    return true;
  });
  // A CA key without its certificate.
  const d4 = tmp();
  writeFileSync(join(d4, "ca.key"), ca.key);
  await assert.rejects(writeClusterPki(d4, [M1]), /ca\.key exists without .*ca\.crt/);
  assert.ok(!existsSync(join(d4, "m1")));
  // The directory cannot be created: an I/O error naming it.
  const file = join(tmp(), "a-file");
  writeFileSync(file, "");
  await assert.rejects(writeClusterPki(join(file, "pki"), [M1]), (e: unknown) => {
    assert.ok(e instanceof PkiError);
    assert.equal(e.code, PkiErrorCode.Io);
    assert.equal(e.path, join(file, "pki"));
    return true;
  });
  // Duplicate and unsafe names are refused before any file is written.
  const d5 = join(tmp(), "fresh");
  await assert.rejects(writeClusterPki(d5, [M1, M1]), /listed twice/);
  await assert.rejects(writeClusterPki(d5, [{ name: "../up", peerURLs: M1.peerURLs }]), /member name/);
  assert.ok(!existsSync(d5));
});

test("expired certificates are refused on a re-run, not silently kept", async () => {
  const dir = join(tmp(), "pki");
  const issuedAt = new Date(Date.now() - 400 * 86_400_000);
  await writeClusterPki(dir, [M1], { now: issuedAt, clientCert: false });
  await assert.rejects(writeClusterPki(dir, [M1], { clientCert: false }), /expired on/);
});

const openssl = spawnSync("openssl", ["version"], { encoding: "utf8" });
const haveOpenssl = openssl.status === 0;

test("openssl parses and verifies the certificates", {
  skip: haveOpenssl ? false : "openssl not installed",
}, async () => {
  const dir = join(tmp(), "pki");
  await writeClusterPki(dir, [M1, M2]);
  const p = pkiPaths(dir);
  const text = spawnSync("openssl", ["x509", "-noout", "-text", "-in", p.member("m1").peerCert], {
    encoding: "utf8",
  });
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /Signature Algorithm: ecdsa-with-SHA256/);
  assert.match(text.stdout, /NIST CURVE: P-256/);
  assert.match(text.stdout, /CA:FALSE/);
  assert.match(text.stdout, /TLS Web Server Authentication, TLS Web Client Authentication/);
  assert.match(
    text.stdout,
    /DNS:localhost, IP Address:127\.0\.0\.1, URI:https:\/\/127\.0\.0\.1:22380, URI:urn:tsraft:member:m1/,
  );
  const caText = spawnSync("openssl", ["x509", "-noout", "-text", "-in", p.caCert], { encoding: "utf8" });
  assert.match(caText.stdout, /CA:TRUE, pathlen:0/);
  assert.match(caText.stdout, /Certificate Sign, CRL Sign/);
  for (const [f, purpose] of [
    [p.member("m1").peerCert, "sslserver"],
    [p.member("m1").peerCert, "sslclient"],
    [p.member("m2").serverCert, "sslserver"],
    [p.clientCert, "sslclient"],
  ] as const) {
    const v = spawnSync("openssl", ["verify", "-purpose", purpose, "-CAfile", p.caCert, f], {
      encoding: "utf8",
    });
    assert.equal(v.status, 0, `${f} ${purpose}: ${v.stdout}${v.stderr}`);
  }
  const wrong = spawnSync(
    "openssl",
    ["verify", "-purpose", "sslclient", "-CAfile", p.caCert, p.member("m2").serverCert],
    {
      encoding: "utf8",
    },
  );
  assert.notEqual(wrong.status, 0, "the client-API certificate is not a client certificate");
});

test("a CA made by openssl signs too (P-384); an RSA CA is refused as unsupported", {
  skip: haveOpenssl ? false : "openssl not installed",
}, async () => {
  const d = tmp();
  const mk = (keyArgs: string[], name: string) => {
    const key = join(d, `${name}.key`);
    const crt = join(d, `${name}.crt`);
    const g = spawnSync("openssl", [...keyArgs, "-out", key], { encoding: "utf8" });
    assert.equal(g.status, 0, g.stderr);
    const r = spawnSync(
      "openssl",
      [
        "req",
        "-x509",
        "-new",
        "-key",
        key,
        "-subj",
        `/CN=${name}`,
        "-days",
        "30",
        "-out",
        crt,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
      ],
      { encoding: "utf8" },
    );
    assert.equal(r.status, 0, r.stderr);
    return { cert: readFileSync(crt, "utf8"), key: readFileSync(key, "utf8") };
  };
  const ec = mk(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"], "ec384");
  const m = await issueMemberCert(ec, M1, { validityDays: 20 });
  const cert = new X509Certificate(m.peer.cert);
  assert.ok(cert.verify(new X509Certificate(ec.cert).publicKey));
  writeFileSync(join(d, "leaf.crt"), m.peer.cert);
  const v = spawnSync("openssl", ["verify", "-CAfile", join(d, "ec384.crt"), join(d, "leaf.crt")], {
    encoding: "utf8",
  });
  assert.equal(v.status, 0, v.stdout + v.stderr);
  const rsa = mk(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], "rsa");
  await assert.rejects(issueMemberCert(rsa, M1, { validityDays: 20 }), (e: unknown) => {
    assert.ok(e instanceof PkiError);
    assert.equal(e.code, PkiErrorCode.UnsupportedKey);
    return true;
  });
});
