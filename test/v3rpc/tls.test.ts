// The client port over TLS: ALPN "h2" goes to gRPC (etcdctl with --cacert),
// HTTP/1.1 to the JSON gateway, on the same port.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { SingleMemberBackend, startV3Server, type V3Server } from "../../src/v3rpc/index.ts";
import { ctl, freePort } from "./support.ts";

let dir: string;
let server: V3Server;
let backend: SingleMemberBackend;
let ca: Buffer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "v3-tls-"));
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ],
    { stdio: "ignore" },
  );
  ca = readFileSync(join(dir, "cert.pem"));
  backend = new SingleMemberBackend();
  server = await startV3Server({
    backend,
    port: await freePort(),
    tls: { key: readFileSync(join(dir, "key.pem")), cert: ca },
  });
});
after(async () => {
  await server?.close();
  backend?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("etcdctl over https with --cacert (gRPC via ALPN h2)", async () => {
  const ep = `https://127.0.0.1:${server.port}`;
  const cacert = `--cacert=${join(dir, "cert.pem")}`;
  assert.equal((await ctl(ep, [cacert, "put", "secure", "yes"])).out, "OK\n");
  assert.equal((await ctl(ep, [cacert, "get", "secure"])).out, "secure\nyes\n");
  const plain = await ctl(`127.0.0.1:${server.port}`, [
    "get",
    "secure",
    "--command-timeout=2s",
    "--dial-timeout=1s",
  ]);
  assert.notEqual(plain.code, 0, "plaintext is refused on a TLS port");
});

test("the JSON gateway over https with HTTP/1.1 on the same port", async () => {
  const body = JSON.stringify({ key: Buffer.from("secure").toString("base64") });
  const text = await new Promise<string>((res, rej) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: server.port,
        path: "/v3/kv/range",
        method: "POST",
        ca,
        servername: "localhost",
      },
      (r) => {
        let t = "";
        r.setEncoding("utf8");
        r.on("data", (d) => (t += d));
        r.on("end", () => res(t));
      },
    );
    req.on("error", rej);
    req.end(body);
  });
  const j = JSON.parse(text);
  assert.equal(Buffer.from(j.kvs[0].value, "base64").toString(), "yes");
});
