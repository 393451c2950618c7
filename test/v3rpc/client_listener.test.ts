// The client port's gRPC connections end without taking the member down,
// and reach Node's HTTP/2 raw when they can. A gRPC connection that needs
// the :authority repair (or sent no request within the probe time) reaches
// Node's HTTP/2 through a Duplex (src/v3rpc/listener.ts), which Node wraps
// in a JSStreamSocket. That wrapper asserts (an uncaught
// ERR_INTERNAL_ASSERTION) when the session writes while a shutdown of the
// stream is pending. A client's FIN set that up: the Duplex ended, the
// JSStreamSocket shut itself down, and the Duplex's end of the real socket
// (already ended by Node on the FIN: ERR_STREAM_ALREADY_FINISHED) became an
// 'error' that made the session write its GOAWAY into the pending shutdown.
// etcdctl exiting after `endpoint status --cluster` & co ended members that
// way (the e2e tests then saw "context deadline exceeded" and "fetch failed").
import assert from "node:assert/strict";
import { createServer as createHttpServer } from "node:http";
import { connect as h2connect } from "node:http2";
import { connect, type Socket } from "node:net";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
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

let server: grpc.Server;
let listener: ClientListener;

before(async () => {
  server = new grpc.Server();
  server.addService(ECHO, {
    Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
      setTimeout(() => cb(null, Buffer.concat([Buffer.from("echo:"), call.request])), delayMs),
  });
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  // listenClient only hands connections to injectConnection.
  const grpcSide = {
    injectConnection: (s: never) => injector.injectConnection(s),
  } as unknown as V3GrpcServer;
  listener = await listenClient({ port: 0, grpc: grpcSide, http: createHttpServer() });
});
after(async () => {
  await listener?.close();
  server?.forceShutdown();
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
    // Alternately the pass-through and the :authority-rewriting path of the wrapper.
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

test("connections whose first request has a valid :authority are handed to HTTP/2 raw; the others wrapped, and all are served", async () => {
  delayMs = 0;
  const c = listener.grpcConnections;
  let raw = c.raw;
  let wrapped = c.wrapped;
  // grpc-js waits for the server's preface (the listener's own SETTINGS) before its first request.
  assert.equal(await grpcJsEcho("a"), "echo:a");
  assert.deepEqual([c.raw - raw, c.wrapped - wrapped], [1, 0], "grpc-js: raw");
  raw = c.raw;
  // Node's client sends its first request at once, before it has the listener's SETTINGS (so before its ACK).
  assert.equal(await h2Echo("127.0.0.1:1", "b"), "echo:b");
  assert.deepEqual([c.raw - raw, c.wrapped - wrapped], [1, 0], "request before the ACK: raw");
  raw = c.raw;
  // etcdctl's URL-shaped authority: the connection stays wrapped and every request is repaired.
  assert.equal(await h2Echo("http://127.0.0.1:1", "c"), "echo:c");
  assert.deepEqual([c.raw - raw, c.wrapped - wrapped], [0, 1], "URL authority: wrapped");
  wrapped = c.wrapped;
  // A connection idle past the probe time: wrapped (undecided), still served, and a URL authority still repaired.
  assert.equal(await h2Echo("127.0.0.1:1", "d", 700), "echo:d");
  assert.equal(await h2Echo("http://127.0.0.1:1", "e", 700), "echo:e");
  assert.deepEqual([c.raw - raw, c.wrapped - wrapped], [0, 2], "idle past the probe: wrapped");
});
