// Watch responses written as gathered gRPC frames (src/v3rpc/watch_writer.ts):
// the writer on its own against a recording sink, then a real server with
// a raw HTTP/2 client that stops reading (flow control of src/h2grpc).
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { connect } from "node:http2";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import {
  create,
  fromBinary,
  KV,
  PutRequestSchema,
  toBinary,
  WatchRequestSchema,
  type WatchResponse,
  WatchResponseSchema,
} from "../../src/etcdpb/index.ts";
import { etcdServiceDefinition } from "../../src/v3rpc/index.ts";
import { GrpcFrameWriter } from "../../src/v3rpc/watch_writer.ts";
import { startTs, waitFor } from "./support.ts";

/** A stand-in HTTP/2 stream: records each write, full once `limit` bytes are held. */
class Sink extends EventEmitter {
  writes: Buffer[] = [];
  destroyed = false;
  writableEnded = false;
  writableLength = 0;
  readonly writableHighWaterMark = 100;
  write(chunk: Uint8Array): boolean {
    this.writes.push(Buffer.from(chunk));
    this.writableLength += chunk.length;
    return this.writableLength < this.writableHighWaterMark;
  }
  /** The transport sent everything it held. */
  drain(): void {
    this.writableLength = 0;
    this.emit("drain");
  }
}

/** Splits a byte stream of gRPC frames into messages (each must be uncompressed). */
function frames(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let o = 0;
  while (o < b.length) {
    assert.equal(b[o], 0, "uncompressed flag");
    const n = b.readUInt32BE(o + 1);
    out.push(b.subarray(o + 5, o + 5 + n));
    o += 5 + n;
  }
  assert.equal(o, b.length, "whole frames only");
  return out;
}

const tick = () => new Promise((r) => setImmediate(r));

test("GrpcFrameWriter: what one job pushes goes out as one write of gRPC frames, in order", async () => {
  const sink = new Sink();
  const w = new GrpcFrameWriter(sink, () => assert.fail("no drain expected"));
  assert.equal(w.push(Buffer.from("a")), true);
  assert.equal(w.push(Buffer.from("bc")), true);
  assert.equal(w.push(Buffer.alloc(0)), true);
  assert.equal(sink.writes.length, 0, "nothing is written before the job's microtasks run");
  await tick();
  assert.equal(sink.writes.length, 1);
  assert.deepEqual(
    frames(sink.writes[0]!).map((f) => f.toString()),
    ["a", "bc", ""],
  );
  w.push(Buffer.from("d"));
  await tick();
  assert.equal(sink.writes.length, 2);
  assert.deepEqual(
    frames(sink.writes[1]!).map((f) => f.toString()),
    ["d"],
  );
});

test("GrpcFrameWriter: refuses at the high-water mark and tells the caller when the transport drains", async () => {
  const sink = new Sink();
  let drains = 0;
  const w = new GrpcFrameWriter(sink, () => drains++);
  assert.equal(w.push(Buffer.alloc(60)), true);
  assert.equal(w.push(Buffer.alloc(60)), false, "130 bytes gathered: over the mark");
  await tick();
  assert.equal(sink.writes.length, 1, "what was pushed is written anyway");
  assert.equal(w.push(Buffer.alloc(1)), false, "still full until 'drain'");
  await tick();
  assert.equal(drains, 0);
  sink.drain();
  assert.equal(drains, 1);
  assert.equal(w.push(Buffer.alloc(1)), true);
  await tick();
  assert.equal(drains, 1);
});

test("GrpcFrameWriter: refused while gathering but taken whole by the transport, the caller is told at once", async () => {
  const sink = new Sink();
  sink.write = function (chunk: Uint8Array) {
    this.writes.push(Buffer.from(chunk));
    return true; // sent straight away: no 'drain' will follow
  };
  let drains = 0;
  const w = new GrpcFrameWriter(sink, () => drains++);
  w.push(Buffer.alloc(80));
  assert.equal(w.push(Buffer.alloc(80)), false);
  await tick();
  assert.equal(drains, 1, "a refused caller is never left paused for a drain that cannot come");
});

test("GrpcFrameWriter: a destroyed or ended stream takes nothing (a write after end would be an error event)", async () => {
  for (const gone of ["destroyed", "writableEnded"] as const) {
    const sink = new Sink();
    const w = new GrpcFrameWriter(sink, () => {});
    w.push(Buffer.from("x"));
    sink[gone] = true;
    assert.equal(w.push(Buffer.from("y")), false, gone);
    await tick();
    assert.equal(sink.writes.length, 0, gone);
  }
});

const b = (s: string) => new TextEncoder().encode(s);

test("watch through a client that stops reading: every event arrives once, in order, after it reads again", async () => {
  const ts = await startTs("http://127.0.0.1:2380");
  const kv = new (grpc.makeGenericClientConstructor(etcdServiceDefinition(KV), "KV"))(
    ts.ep,
    grpc.credentials.createInsecure(),
  );
  const session = connect(ts.url);
  session.on("error", () => {}); // the server closing at the end resets the connection
  try {
    // A raw gRPC Watch call: three watchers on one prefix.
    const st = session.request({
      ":method": "POST",
      ":path": "/etcdserverpb.Watch/Watch",
      "content-type": "application/grpc",
      te: "trailers",
    });
    st.on("error", () => {});
    const frame = (m: Uint8Array) => {
      const h = Buffer.alloc(5);
      h.writeUInt32BE(m.length, 1);
      return Buffer.concat([h, m]);
    };
    for (let i = 0; i < 3; i++)
      st.write(
        frame(
          toBinary(
            WatchRequestSchema,
            create(WatchRequestSchema, {
              requestUnion: { case: "createRequest", value: { key: b("bp/"), rangeEnd: b("bp0") } },
            }),
          ),
        ),
      );
    let buf = Buffer.alloc(0);
    const got: WatchResponse[] = [];
    st.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
        const n = buf.readUInt32BE(1);
        got.push(fromBinary(WatchResponseSchema, buf.subarray(5, 5 + n)));
        buf = buf.subarray(5 + n);
      }
    });
    await waitFor("three created replies", async () => got.length >= 3 || undefined);
    assert.deepEqual(
      got.map((r) => [r.watchId, r.created]),
      [
        [0n, true],
        [1n, true],
        [2n, true],
      ],
    );
    st.pause(); // the client stops reading: HTTP/2 flow control fills up, then the server's buffers
    const value = new Uint8Array(4096).fill(120);
    const n = 200; // 3 × 200 × ~4 KiB ≈ 2.4 MiB owed, far past the 64 KiB window
    for (let i = 0; i < n; i++)
      await new Promise<void>((res, rej) =>
        kv.Put(
          create(PutRequestSchema, { key: b(`bp/${String(i).padStart(4, "0")}`), value }),
          (e: unknown) => (e ? rej(e) : res()),
        ),
      );
    const before = got.length;
    st.resume();
    const events = () => got.reduce((s, r) => s + r.events.length, 0);
    await waitFor(`${3 * n} events (have ${events()})`, async () => events() >= 3 * n || undefined, 20_000);
    assert.ok(before < 3 + 3 * n, "the client stopped reading before everything was sent");
    await new Promise((r) => setTimeout(r, 100));
    for (const id of [0n, 1n, 2n]) {
      const keys = got
        .filter((r) => r.watchId === id && !r.created)
        .flatMap((r) => r.events.map((e) => new TextDecoder().decode(e.kv!.key)));
      assert.equal(keys.length, n, `watcher ${id}: each event once`);
      assert.deepEqual(
        keys,
        Array.from({ length: n }, (_, i) => `bp/${String(i).padStart(4, "0")}`),
        `watcher ${id}: in order`,
      );
    }
    st.close();
  } finally {
    session.close();
    kv.close();
    await ts.close();
  }
});
