// The gRPC server's HTTP/2 (src/h2grpc) driven frame by frame through an
// in-memory socket that records every write: one write per unary answer,
// flow control both ways, the client's SETTINGS, PING, CONTINUATION and
// padding, cancellation and deadlines, and what it does with bad input
// (GOAWAY and the connection closed, never an exception, other
// connections untouched). Real clients (grpc-js, grpc-go's etcdctl, the
// etcd3 package) are in test/v3rpc and test/v3cluster.
import assert from "node:assert/strict";
import { Duplex } from "node:stream";
import { test } from "node:test";
import fc from "fast-check";
import { encodeLiterals, type GrpcCall, GrpcServer, HpackDecoder } from "../../src/h2grpc/index.ts";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const T = { DATA: 0, HEADERS: 1, RST: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 };

interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

function frame(type: number, flags: number, stream: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

function parseFrames(b: Buffer): Frame[] {
  const out: Frame[] = [];
  let p = 0;
  while (p + 9 <= b.length) {
    const len = b.readUIntBE(p, 3);
    out.push({
      type: b[p + 3]!,
      flags: b[p + 4]!,
      stream: b.readUInt32BE(p + 5),
      payload: b.subarray(p + 9, p + 9 + len),
    });
    p += 9 + len;
  }
  assert.equal(p, b.length, "writes hold whole frames");
  return out;
}

const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
};
const grpcMsg = (m: Uint8Array) => Buffer.concat([Buffer.from([0]), u32(m.length), m]);

function requestHeaders(path: string, extra: Array<[string, string]> = []): Buffer {
  return encodeLiterals(
    [
      [":method", "POST"],
      [":scheme", "http"],
      [":path", path],
      [":authority", "http://127.0.0.1:2379"], // etcdctl's URL-shaped authority
      ["content-type", "application/grpc"],
      ["te", "trailers"],
      ...extra,
    ].map(([name, value]) => ({ name: name!, value: value!, sensitive: false })),
  );
}

/** An in-memory connection to a server: what the server writes is recorded write by write. */
class Conn {
  readonly writes: Buffer[] = [];
  readonly socket: Duplex;
  closed = false;
  private readonly dec = new HpackDecoder();
  constructor(server: GrpcServer, withPreface = true) {
    this.socket = new Duplex({
      read() {},
      write: (chunk: Buffer, _e, cb) => {
        this.writes.push(chunk);
        cb();
      },
    });
    this.socket.on("close", () => {
      this.closed = true;
    });
    server.accept(this.socket, withPreface ? PREFACE : Buffer.alloc(0));
  }
  send(...bufs: Buffer[]): void {
    this.socket.push(Buffer.concat(bufs));
  }
  /** Frames written since `from` (a write index). */
  frames(from = 0): Frame[] {
    return this.writes.slice(from).flatMap(parseFrames);
  }
  headers(f: Frame): Record<string, string> {
    return Object.fromEntries(this.dec.decode(f.payload).map((h) => [h.name, h.value]));
  }
}

const settle = () => new Promise((r) => setImmediate(r));

function echoServer(): { server: GrpcServer; calls: GrpcCall[] } {
  const server = new GrpcServer({ maxReceiveBytes: 1000 });
  const calls: GrpcCall[] = [];
  server.add("/t.S/Echo", { kind: "unary", start: (call, req) => call.respond(req!) });
  server.add("/t.S/Hold", {
    kind: "unary",
    start: (call) => {
      calls.push(call);
    },
  });
  server.add("/t.S/Big", {
    kind: "unary",
    start: (call, req) => call.respond(new Uint8Array(req![0]! * 1000).fill(7)),
  });
  server.add("/t.S/Chat", {
    kind: "bidi",
    start: (call) => {
      calls.push(call);
      call.onMessage = (m) => call.write(m);
      call.onHalfClose = () => call.end(0, "");
    },
  });
  return { server, calls };
}

test("the server's preface, then a unary answer as one write: HEADERS, DATA, trailers", async () => {
  const { server } = echoServer();
  const c = new Conn(server);
  await settle();
  const pre = c.frames();
  assert.deepEqual(
    pre.map((f) => f.type),
    [T.SETTINGS, T.WINDOW_UPDATE],
  );
  c.send(frame(T.SETTINGS, 0, 0));
  await settle();
  assert.deepEqual(
    c.frames(1).map((f) => [f.type, f.flags]),
    [[T.SETTINGS, 1]],
    "the client's SETTINGS acknowledged",
  );
  const at = c.writes.length;
  c.send(
    frame(T.HEADERS, 4, 1, requestHeaders("/t.S/Echo")),
    frame(T.DATA, 1, 1, grpcMsg(Buffer.from("hi"))),
  );
  await settle();
  assert.equal(c.writes.length, at + 1, "one write");
  const fs = c.frames(at);
  assert.deepEqual(
    fs.map((f) => [f.type, f.flags, f.stream]),
    [
      [T.HEADERS, 4, 1],
      [T.DATA, 0, 1],
      [T.HEADERS, 5, 1],
    ],
  );
  assert.deepEqual(c.headers(fs[0]!), { ":status": "200", "content-type": "application/grpc" });
  assert.deepEqual(fs[1]!.payload, grpcMsg(Buffer.from("hi")));
  assert.deepEqual(c.headers(fs[2]!), { "grpc-status": "0" });
  // Answers to several calls produced in one job leave in one write.
  const at2 = c.writes.length;
  c.send(
    frame(T.HEADERS, 4, 3, requestHeaders("/t.S/Echo")),
    frame(T.DATA, 1, 3, grpcMsg(Buffer.from("a"))),
    frame(T.HEADERS, 4, 5, requestHeaders("/t.S/Echo")),
    frame(T.DATA, 1, 5, grpcMsg(Buffer.from("b"))),
  );
  await settle();
  assert.equal(c.writes.length, at2 + 1);
  assert.deepEqual(
    c.frames(at2).map((f) => f.stream),
    [3, 3, 3, 5, 5, 5],
  );
  server.close();
});

test("PING is answered with its payload; a request split over CONTINUATION and padded frames arrives whole", async () => {
  const { server } = echoServer();
  const c = new Conn(server);
  await settle();
  const at = c.writes.length;
  c.send(frame(T.PING, 0, 0, Buffer.from("12345678")));
  await settle();
  assert.deepEqual(
    c.frames(at).map((f) => [f.type, f.flags, f.payload.toString()]),
    [[T.PING, 1, "12345678"]],
  );
  const block = requestHeaders("/t.S/Echo");
  const msg = grpcMsg(Buffer.from("split message"));
  const padded = (data: Buffer, pad: number) => Buffer.concat([Buffer.from([pad]), data, Buffer.alloc(pad)]);
  const at2 = c.writes.length;
  c.send(
    frame(T.HEADERS, 0x8, 1, padded(block.subarray(0, 10), 3)), // PADDED, no END_HEADERS
    frame(T.CONTINUATION, 0, 1, block.subarray(10, 20)),
    frame(T.CONTINUATION, 4, 1, block.subarray(20)),
    frame(T.DATA, 0x8, 1, padded(msg.subarray(0, 7), 5)),
  );
  c.send(frame(T.DATA, 1, 1, msg.subarray(7)));
  await settle();
  const fs = c.frames(at2);
  assert.deepEqual(fs[1]!.payload, msg);
  assert.equal(c.headers(fs[2]!)["grpc-status"], "0");
  server.close();
});

test("flow control: an answer beyond the client's window waits for WINDOW_UPDATE, in frames of the client's size", async () => {
  const { server } = echoServer();
  const c = new Conn(server);
  // The client allows 1,000 bytes per stream.
  c.send(frame(T.SETTINGS, 0, 0, Buffer.concat([Buffer.from([0, 4]), u32(1000)])));
  await settle();
  const at = c.writes.length;
  c.send(frame(T.HEADERS, 4, 1, requestHeaders("/t.S/Big")), frame(T.DATA, 1, 1, grpcMsg(Buffer.from([40]))));
  await settle();
  const data = () =>
    c
      .frames(at)
      .filter((f) => f.type === T.DATA)
      .reduce((n, f) => n + f.payload.length, 0);
  assert.equal(data(), 1000, "the stream's window, no more");
  assert.ok(!c.frames(at).some((f) => f.type === T.HEADERS && (f.flags & 1) === 1), "no trailers yet");
  c.send(frame(T.WINDOW_UPDATE, 0, 1, u32(20_000)));
  await settle();
  assert.equal(data(), 1000 + 20_000, "then the window update's worth");
  c.send(frame(T.WINDOW_UPDATE, 0, 1, u32(100_000)), frame(T.WINDOW_UPDATE, 0, 0, u32(100_000)));
  await settle();
  const fs = c.frames(at);
  assert.equal(data(), 40_005, "the whole message");
  assert.ok(
    fs.filter((f) => f.type === T.DATA).every((f) => f.payload.length <= 16_384),
    "no DATA frame above the default max frame size",
  );
  assert.equal(c.headers(fs.at(-1)!)["grpc-status"], "0", "trailers after the last byte");
  server.close();
});

test("bidi: messages split across frames and several per frame arrive whole and in order; half-close ends it", async () => {
  const { server } = echoServer();
  const c = new Conn(server);
  await settle();
  const at = c.writes.length;
  const all = Buffer.concat(["one", "two", "three"].map((s) => grpcMsg(Buffer.from(s))));
  c.send(frame(T.HEADERS, 4, 1, requestHeaders("/t.S/Chat")), frame(T.DATA, 0, 1, all.subarray(0, 4)));
  c.send(frame(T.DATA, 0, 1, all.subarray(4, 17)));
  c.send(frame(T.DATA, 1, 1, all.subarray(17)));
  await settle();
  const fs = c.frames(at);
  const back = fs.filter((f) => f.type === T.DATA).map((f) => f.payload.subarray(5).toString());
  assert.deepEqual(back, ["one", "two", "three"]);
  assert.equal(c.headers(fs.at(-1)!)["grpc-status"], "0");
  server.close();
});

test("RST_STREAM cancels the call; its late answer is dropped; a deadline answers DEADLINE_EXCEEDED", async () => {
  const { server, calls } = echoServer();
  const c = new Conn(server);
  await settle();
  c.send(frame(T.HEADERS, 4, 1, requestHeaders("/t.S/Hold")), frame(T.DATA, 1, 1, grpcMsg(Buffer.from("x"))));
  await settle();
  let cancelled = 0;
  calls[0]!.onCancel(() => cancelled++);
  const at = c.writes.length;
  c.send(frame(T.RST, 0, 1, u32(8)));
  await settle();
  assert.equal(cancelled, 1);
  calls[0]!.respond(Buffer.from("late"));
  await settle();
  assert.deepEqual(c.frames(at), [], "nothing written for a cancelled call");
  c.send(
    frame(T.HEADERS, 4, 3, requestHeaders("/t.S/Hold", [["grpc-timeout", "30m"]])),
    frame(T.DATA, 1, 3, grpcMsg(Buffer.from("x"))),
  );
  await settle();
  let expired = 0;
  calls[1]!.onCancel(() => expired++);
  await new Promise((r) => setTimeout(r, 150));
  const fs = c.frames(at);
  assert.equal(expired, 1);
  assert.equal(c.headers(fs.at(-1)!)["grpc-status"], "4");
  assert.equal(c.headers(fs.at(-1)!)["grpc-message"], "Deadline exceeded");
  server.close();
});

test("unknown methods, non-gRPC requests and messages over the limit get their statuses", async () => {
  const { server } = echoServer();
  const c = new Conn(server);
  await settle();
  const at = c.writes.length;
  c.send(frame(T.HEADERS, 5, 1, requestHeaders("/t.S/Nope")));
  c.send(
    frame(
      T.HEADERS,
      5,
      3,
      encodeLiterals(
        [
          [":method", "POST"],
          [":path", "/t.S/Echo"],
          ["content-type", "application/json"],
        ].map(([name, value]) => ({ name: name!, value: value!, sensitive: false })),
      ),
    ),
  );
  c.send(
    frame(T.HEADERS, 4, 5, requestHeaders("/t.S/Echo")),
    frame(T.DATA, 0, 5, Buffer.concat([Buffer.from([0]), u32(5000)])),
  );
  await settle();
  const byStream = new Map<number, Record<string, string>>();
  for (const f of c.frames(at)) if (f.type === T.HEADERS) byStream.set(f.stream, c.headers(f));
  assert.equal(byStream.get(1)!["grpc-status"], "12");
  assert.equal(byStream.get(1)!["grpc-message"], "The server does not implement the method /t.S/Nope");
  assert.equal(byStream.get(3)![":status"], "415");
  assert.equal(byStream.get(5)!["grpc-status"], "8");
  assert.equal(byStream.get(5)!["grpc-message"], "Received message larger than max (5000 vs. 1000)");
  // The connection still serves.
  const at2 = c.writes.length;
  c.send(
    frame(T.HEADERS, 4, 7, requestHeaders("/t.S/Echo")),
    frame(T.DATA, 1, 7, grpcMsg(Buffer.from("ok"))),
  );
  await settle();
  assert.equal(c.frames(at2)[1]!.payload.subarray(5).toString(), "ok");
  assert.ok(!c.closed);
  server.close();
});

test("protocol violations end that connection with GOAWAY and its code; the others go on", async () => {
  const cases: Array<[string, Buffer, number]> = [
    ["a bad preface", Buffer.from("GET / HTTP/1.1\r\n\r\n0123456789"), 1],
    ["DATA on stream 0", Buffer.concat([PREFACE, frame(T.DATA, 0, 0, Buffer.from("x"))]), 1],
    ["a frame over 16 KiB", Buffer.concat([PREFACE, frame(T.DATA, 0, 1, Buffer.alloc(20_000))]), 6],
    [
      "a header block that does not decode",
      Buffer.concat([PREFACE, frame(T.HEADERS, 4, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))]),
      9,
    ],
    ["an even stream", Buffer.concat([PREFACE, frame(T.HEADERS, 4, 2, requestHeaders("/t.S/Echo"))]), 1],
    [
      "HEADERS then no CONTINUATION",
      Buffer.concat([
        PREFACE,
        frame(T.HEADERS, 0, 1, Buffer.from([0x82])),
        frame(T.PING, 0, 0, Buffer.alloc(8)),
      ]),
      1,
    ],
    ["a PING of 3 bytes", Buffer.concat([PREFACE, frame(T.PING, 0, 0, Buffer.alloc(3))]), 1],
  ];
  const { server } = echoServer();
  const good = new Conn(server);
  for (const [what, bytes, code] of cases) {
    const c = new Conn(server, false);
    c.send(bytes);
    await settle();
    const g = c.frames().find((f) => f.type === T.GOAWAY);
    assert.ok(g !== undefined, `${what}: GOAWAY`);
    assert.equal(g.payload.readUInt32BE(4), code, `${what}: error code`);
    assert.ok(c.closed || c.socket.destroyed, `${what}: closed`);
  }
  const at = good.writes.length;
  good.send(
    frame(T.HEADERS, 4, 1, requestHeaders("/t.S/Echo")),
    frame(T.DATA, 1, 1, grpcMsg(Buffer.from("still"))),
  );
  await settle();
  assert.equal(good.frames(at)[1]!.payload.subarray(5).toString(), "still");
  server.close();
});

test("any bytes after the preface: no exception escapes, the connection serves or says GOAWAY (property)", async () => {
  const { server } = echoServer();
  await fc.assert(
    fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 6 }), async (chunks) => {
      const c = new Conn(server);
      for (const ch of chunks) c.send(Buffer.from(ch));
      await settle();
      for (const w of c.writes) parseFrames(w);
      c.socket.destroy();
    }),
    { numRuns: 300, seed: 42 },
  );
  server.close();
});

test("a client that sends requests but never reads the answers is disconnected at 64 MiB unread", async () => {
  const server = new GrpcServer({ maxReceiveBytes: 1 << 20 });
  server.add("/t.S/Big", { kind: "unary", start: (call) => call.respond(new Uint8Array(10_000)) });
  let closed = false;
  // A socket whose writes never complete: everything stays in its buffer.
  const socket = new Duplex({ read() {}, write(_c, _e, _cb) {} });
  socket.on("close", () => {
    closed = true;
  });
  server.accept(socket, PREFACE);
  socket.push(
    Buffer.concat([
      frame(T.SETTINGS, 0, 0, Buffer.concat([Buffer.from([0, 4]), u32(2 ** 31 - 1)])),
      frame(T.WINDOW_UPDATE, 0, 0, u32(2 ** 31 - 1 - 65_535)),
    ]),
  );
  for (let id = 1; id < 2 * 8000 && !closed; id += 2) {
    socket.push(
      Buffer.concat([
        frame(T.HEADERS, 4, id, requestHeaders("/t.S/Big")),
        frame(T.DATA, 1, id, grpcMsg(Buffer.from("x"))),
      ]),
    );
    if (id % 200 === 1) await settle();
  }
  await settle();
  assert.ok(closed, "the connection was closed");
  assert.equal(server.connections, 0);
  server.close();
});

test("a handler that throws fails its call with INTERNAL; the connection goes on", async () => {
  const server = new GrpcServer({ maxReceiveBytes: 1000 });
  server.add("/t.S/Throw", {
    kind: "bidi",
    start: (call) => {
      call.onMessage = () => {
        throw new Error("handler bug");
      };
    },
  });
  server.add("/t.S/ThrowAtOnce", {
    kind: "unary",
    start: () => {
      throw new Error("unary bug");
    },
  });
  server.add("/t.S/Echo", { kind: "unary", start: (call, req) => call.respond(req!) });
  const c = new Conn(server);
  await settle();
  const at = c.writes.length;
  c.send(
    frame(T.HEADERS, 4, 1, requestHeaders("/t.S/Throw")),
    frame(T.DATA, 0, 1, grpcMsg(Buffer.from("x"))),
  );
  c.send(
    frame(T.HEADERS, 4, 3, requestHeaders("/t.S/ThrowAtOnce")),
    frame(T.DATA, 1, 3, grpcMsg(Buffer.from("x"))),
  );
  c.send(
    frame(T.HEADERS, 4, 5, requestHeaders("/t.S/Echo")),
    frame(T.DATA, 1, 5, grpcMsg(Buffer.from("ok"))),
  );
  await settle();
  const fs = c.frames(at);
  const status = (id: number) => c.headers(fs.filter((f) => f.stream === id && f.type === T.HEADERS).at(-1)!);
  assert.deepEqual([status(1)["grpc-status"], status(1)["grpc-message"]], ["13", "handler bug"]);
  assert.deepEqual([status(3)["grpc-status"], status(3)["grpc-message"]], ["13", "unary bug"]);
  assert.equal(status(5)["grpc-status"], "0");
  assert.ok(!fs.some((f) => f.type === T.GOAWAY));
  server.close();
});
