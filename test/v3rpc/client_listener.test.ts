// The client port's gRPC connections (src/v3rpc/listener.ts handing them to
// the gRPC server of src/h2grpc): clients that half-close or reset their
// connection mid-call leave the member serving (etcdctl exiting after
// `endpoint status --cluster` & co once ended members when Node's HTTP/2
// sat behind a wrapper), and every client is served whatever :authority it
// sends (etcdctl sends a URL, which Node's HTTP/2 refused).
import assert from "node:assert/strict";
import { createServer as createHttpServer } from "node:http";
import { connect as h2connect } from "node:http2";
import { connect, type Socket } from "node:net";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { GrpcServer } from "../../src/h2grpc/index.ts";
import { type ClientListener, listenClient, type V3GrpcServer } from "../../src/v3rpc/index.ts";

const raw = (b: Buffer) => b;
const ECHO = {
  Echo: {
    path: "/t.Test/Echo",
    requestStream: false,
    responseStream: false,
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: raw,
    responseDeserialize: raw,
  },
};
/** Handler delay (ms) for the next calls. */
let delayMs = 0;

let server: GrpcServer;
let listener: ClientListener;

before(async () => {
  server = new GrpcServer({ maxReceiveBytes: 1 << 20 });
  server.add("/t.Test/Echo", {
    kind: "unary",
    start: (call, req) =>
      setTimeout(() => call.respond(Buffer.concat([Buffer.from("echo:"), req!])), delayMs),
  });
  // listenClient only hands connections to injectConnection.
  const grpcSide = {
    injectConnection: (s: never, head?: Buffer) => server.accept(s, head),
  } as unknown as V3GrpcServer;
  listener = await listenClient({ port: 0, grpc: grpcSide, http: createHttpServer() });
});
after(async () => {
  await listener?.close();
  server?.close();
});

/** A gRPC frame: uncompressed flag, length, message. */
const frame = (msg: string) => {
  const b = Buffer.alloc(5 + msg.length);
  b.writeUInt32BE(msg.length, 1);
  b.write(msg, 5);
  return b;
};

/**
 * One Echo call over a fresh TCP connection, as a raw HTTP/2 client, with
 * `authority` as :authority (etcdctl sends a URL there: the rewriting path).
 * `then` decides what happens to the connection after the call was sent:
 * half-closed (FIN) once idle, or reset while the call is pending.
 */
async function callOn(authority: string, then: "fin-when-idle" | "reset-while-pending"): Promise<void> {
  const sock: Socket = connect(listener.port, "127.0.0.1");
  await new Promise((r) => sock.once("connect", r));
  const closed = new Promise((r) => sock.once("close", r));
  const session = h2connect(`http://127.0.0.1:${listener.port}`, { createConnection: () => sock });
  session.on("error", () => {});
  const req = session.request({
    ":method": "POST",
    ":path": "/t.Test/Echo",
    ":authority": authority,
    "content-type": "application/grpc",
    te: "trailers",
  });
  req.on("error", () => {});
  req.end(frame("ping"));
  if (then === "fin-when-idle") {
    // Closed 100 ms later, its answer left unread, as etcdctl exits. (Timing matters: a client
    // that waited for the trailers, or read the data, first met the crash far less often.)
    await new Promise((r) => setTimeout(r, 100));
    sock.end();
  } else {
    await new Promise((r) => setTimeout(r, 10));
    sock.resetAndDestroy();
  }
  await closed;
  session.destroy();
}

test("connections half-closed once idle, or reset during a call, leave the server serving", async () => {
  // The assertion is thrown from a stream callback, outside any test's code: collect it here.
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);
  process.on("uncaughtException", onUncaught);
  delayMs = 0;
  for (let i = 0; i < 6; i++) {
    // Alternately a valid :authority and etcdctl's URL.
    const authority = i % 2 === 0 ? "127.0.0.1:1" : "http://127.0.0.1:1";
    await callOn(authority, "fin-when-idle");
  }
  delayMs = 50;
  for (let i = 0; i < 4; i++)
    await callOn(i % 2 === 0 ? "127.0.0.1:1" : "http://127.0.0.1:1", "reset-while-pending");
  // Whatever the session still had to write went nowhere, quietly.
  await new Promise((r) => setTimeout(r, 200));
  delayMs = 0;
  // Still serving: a grpc-js client's call through the same listener.
  const client = new (grpc.makeGenericClientConstructor(ECHO, "Test"))(
    `127.0.0.1:${listener.port}`,
    grpc.credentials.createInsecure(),
  );
  try {
    const got = await new Promise<Buffer>((res, rej) =>
      // biome-ignore lint/suspicious/noExplicitAny: a generic client built from a raw definition
      (client as any).Echo(Buffer.from("again"), (err: Error | null, r: Buffer) => (err ? rej(err) : res(r))),
    );
    assert.equal(got.toString(), "echo:again");
  } finally {
    client.close();
    process.off("uncaughtException", onUncaught);
  }
  assert.deepEqual(uncaught.map(String), [], "no uncaught exception in the server");
});

/** One Echo call through a grpc-js client (which waits for the server's SETTINGS before its first request). */
async function grpcJsEcho(msg: string): Promise<string> {
  const client = new (grpc.makeGenericClientConstructor(ECHO, "Test"))(
    `127.0.0.1:${listener.port}`,
    grpc.credentials.createInsecure(),
  );
  try {
    const got = await new Promise<Buffer>((res, rej) =>
      // biome-ignore lint/suspicious/noExplicitAny: a generic client built from a raw definition
      (client as any).Echo(Buffer.from(msg), (err: Error | null, r: Buffer) => (err ? rej(err) : res(r))),
    );
    return got.toString();
  } finally {
    client.close();
  }
}

/** A Node HTTP/2 client session (it sends its first request without waiting for the server's SETTINGS). */
function h2Echo(authority: string, msg: string, delayFirstMs = 0): Promise<string> {
  const session = h2connect(`http://127.0.0.1:${listener.port}`);
  session.on("error", () => {});
  return new Promise<string>((resolve, reject) => {
    setTimeout(() => {
      const req = session.request({
        ":method": "POST",
        ":path": "/t.Test/Echo",
        ":authority": authority,
        "content-type": "application/grpc",
        te: "trailers",
      });
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("error", reject);
      req.on("end", () => resolve(Buffer.concat(chunks).subarray(5).toString()));
      req.end(frame(msg));
    }, delayFirstMs);
  }).finally(() => session.close());
}

test("every client is served, whatever its :authority, whether it waits for the server's SETTINGS or not", async () => {
  delayMs = 0;
  const c = listener.grpcConnections;
  const before = c.grpc;
  // grpc-js waits for the server's preface before its first request.
  assert.equal(await grpcJsEcho("a"), "echo:a");
  // Node's client sends its first request at once, before it has the server's SETTINGS.
  assert.equal(await h2Echo("127.0.0.1:1", "b"), "echo:b");
  // etcdctl's URL-shaped authority.
  assert.equal(await h2Echo("http://127.0.0.1:1", "c"), "echo:c");
  // A connection idle for a while before its first request.
  assert.equal(await h2Echo("http://127.0.0.1:1", "d", 700), "echo:d");
  assert.equal(c.grpc - before, 4);
});
