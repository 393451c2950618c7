// Byte-exact stream codecs against the vectors of the storage-and-wire spec
// (section 4.7 / 4.8), chunk-boundary independence, limits and bad input.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { LINK_HEARTBEAT } from "../../src/rafthttp/codec.ts";
import { formatId, parseId, toClusterIdText, toNodeId } from "../../src/rafthttp/ids.ts";
import {
  FrameBuffer,
  type FrameSink,
  MessageDecoder,
  MessageEncoder,
  MsgAppV2Decoder,
  MsgAppV2Encoder,
  type RaftHttpError,
  RaftHttpErrorCode,
} from "../../src/rafthttp/index.ts";
import { parseRfc3339 } from "../../src/rafthttp/probe.ts";
import { parseSemver, streamSupported, versionsCompatible } from "../../src/rafthttp/version.ts";
import { Entry, type Message, MessageType } from "../../src/raftpb/index.ts";
import { msg, summary } from "./helpers.ts";

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");

class Collect implements FrameSink {
  readonly got: Message[] = [];
  readonly sizes: number[] = [];
  onFrame(m: Message, bytes: number): void {
    this.got.push(m);
    this.sizes.push(bytes);
  }
}

const app1 = msg({
  type: MessageType.MsgApp,
  to: 2n,
  from: 1n,
  term: 2,
  logTerm: 2,
  index: 5,
  entries: [new Entry(2, 6, 0, Buffer.from("a"))],
  commit: 5,
});
const app2 = msg({
  type: MessageType.MsgApp,
  to: 2n,
  from: 1n,
  term: 2,
  logTerm: 2,
  index: 6,
  entries: [new Entry(2, 7, 0, Buffer.from("b"))],
  commit: 6,
});

const SPEC_MSGAPPV2 = hex(`
  02 00 00 00 00 00 00 00 1f
  08 03 10 02 18 01 20 02 28 02 30 05 3a 09 08 00 10 02 18 06 22 01 61 40 05 50 00 58 00 68 00
  01 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 09 08 00 10 02 18 07 22 01 62 00 00 00 00 00 00 00 06
  00`);

describe("msgappv2", () => {
  test("encodes the spec's worked sequence byte for byte (G36)", () => {
    const enc = new MsgAppV2Encoder("G36");
    const out = new FrameBuffer(16);
    enc.encode(app1, out);
    enc.encode(app2, out);
    enc.encode(LINK_HEARTBEAT, out);
    assert.equal(out.take().toString("hex"), SPEC_MSGAPPV2.toString("hex"));
  });

  test("decodes it split at every byte boundary", () => {
    for (let cut = 0; cut <= SPEC_MSGAPPV2.length; cut++) {
      const sink = new Collect();
      const dec = new MsgAppV2Decoder(sink, 1 << 20, 2n, 1n);
      dec.push(SPEC_MSGAPPV2.subarray(0, cut));
      dec.push(SPEC_MSGAPPV2.subarray(cut));
      assert.equal(sink.got.length, 3);
      assert.equal(summary(sink.got[0]!), summary(app1));
      // The continuation frame rebuilds the message from the connection state.
      assert.equal(summary(sink.got[1]!), summary(app2));
      assert.equal(sink.got[2], LINK_HEARTBEAT);
      assert.deepEqual(sink.sizes, [40, 34, 1]);
      assert.ok(dec.atBoundary);
    }
  });

  test("one byte at a time", () => {
    const sink = new Collect();
    const dec = new MsgAppV2Decoder(sink, 1 << 20, 2n, 1n);
    for (const b of SPEC_MSGAPPV2) dec.push(Buffer.from([b]));
    assert.equal(sink.got.length, 3);
  });

  test("rejects an unknown frame type and oversized frames", () => {
    const dec = new MsgAppV2Decoder(new Collect(), 1024, 2n, 1n);
    assert.throws(
      () => dec.push(Buffer.from([7])),
      (e: RaftHttpError) => e.code === RaftHttpErrorCode.BadFrame && /failed to parse type 7/.test(e.message),
    );
    const dec2 = new MsgAppV2Decoder(new Collect(), 1024, 2n, 1n);
    assert.throws(
      () => dec2.push(hex("02 00 00 00 00 00 10 00 00")),
      (e: RaftHttpError) => e.code === RaftHttpErrorCode.LimitExceeded,
    );
    const dec3 = new MsgAppV2Decoder(new Collect(), 1024, 2n, 1n);
    assert.throws(
      () => dec3.push(hex("01 ff ff ff ff ff ff ff ff")),
      (e: RaftHttpError) => e.code === RaftHttpErrorCode.LimitExceeded,
    );
    const dec4 = new MsgAppV2Decoder(new Collect(), 1024, 2n, 1n);
    assert.throws(
      () => dec4.push(hex("02 00 00 00 00 00 00 00 02 ff ff")),
      (e: RaftHttpError) => e.code === RaftHttpErrorCode.BadFrame,
    );
  });
});

describe("message stream", () => {
  const hb = msg({ type: MessageType.MsgHeartbeat, to: 2n, from: 1n, term: 5, commit: 3 });

  test("frames match the spec (G36 heartbeat, link heartbeats)", () => {
    const g36 = new MessageEncoder("G36");
    const out = new FrameBuffer(8);
    g36.encode(hb, out);
    assert.equal(
      out.take().toString("hex"),
      hex("00 00 00 00 00 00 00 14 08 08 10 02 18 01 20 05 28 00 30 00 40 03 50 00 58 00 68 00").toString(
        "hex",
      ),
    );
    g36.encode(LINK_HEARTBEAT, out);
    assert.equal(
      out.take().toString("hex"),
      hex("00 00 00 00 00 00 00 14 08 08 10 00 18 00 20 00 28 00 30 00 40 00 50 00 58 00 68 00").toString(
        "hex",
      ),
    );
    new MessageEncoder("P37").encode(LINK_HEARTBEAT, out);
    assert.equal(out.take().toString("hex"), "00000000000000020808");
  });

  test("round trip across chunk boundaries, with large frames", () => {
    const enc = new MessageEncoder("P37");
    const out = new FrameBuffer(8);
    const big = msg({
      type: MessageType.MsgApp,
      to: 2n,
      from: 1n,
      term: 9,
      entries: [new Entry(9, 1, 0, Buffer.alloc(300_000, 7))],
    });
    const ms = [hb, big, LINK_HEARTBEAT, hb];
    for (const m of ms) enc.encode(m, out);
    const bytes = out.take();
    for (const step of [97, 4096, 65536, bytes.length]) {
      const sink = new Collect();
      const dec = new MessageDecoder(sink, 1 << 20);
      for (let i = 0; i < bytes.length; i += step) dec.push(bytes.subarray(i, i + step));
      assert.deepEqual(sink.got.map(summary), ms.map(summary));
    }
  });

  test("limit and garbage", () => {
    const dec = new MessageDecoder(new Collect(), 1000);
    assert.throws(
      () => dec.push(hex("00 00 00 00 00 00 03 e9")),
      (e: RaftHttpError) =>
        e.code === RaftHttpErrorCode.LimitExceeded && /error limit exceeded/.test(e.message),
    );
    const dec2 = new MessageDecoder(new Collect(), 1000);
    assert.throws(
      () => dec2.push(hex("ff ff ff ff ff ff ff ff")),
      (e: RaftHttpError) => e.code === RaftHttpErrorCode.LimitExceeded,
    );
    const dec3 = new MessageDecoder(new Collect(), 1000);
    assert.throws(
      () => dec3.push(hex("00 00 00 00 00 00 00 03 ff ff ff")),
      (e: RaftHttpError) => e.code === RaftHttpErrorCode.BadFrame && e.cause !== undefined,
    );
  });
});

describe("ids and versions", () => {
  test("member and cluster IDs", () => {
    assert.equal(formatId(0x8e9e05c52164694dn), "8e9e05c52164694d");
    assert.equal(formatId(255n), "ff");
    assert.equal(parseId("00FF"), 255n);
    assert.equal(parseId("0000000000000000000000ff"), 255n);
    assert.equal(parseId("1ffffffffffffffff"), undefined);
    assert.equal(parseId(""), undefined);
    assert.equal(parseId("0xff"), undefined);
    assert.equal(toClusterIdText(0x8e9e05c52164694dn), "8e9e05c52164694d");
    assert.equal(toClusterIdText("00AB"), "ab");
    assert.equal(toNodeId(12n, "id"), 12n);
    assert.equal(toNodeId("c", "id"), 12n);
    // Hash-derived member IDs use the whole 64-bit range.
    assert.equal(toNodeId(0x8e9e05c52164694dn, "id"), 0x8e9e05c52164694dn);
    assert.equal(toNodeId("ffffffffffffffff", "id"), 2n ** 64n - 1n);
    // Zero, beyond 64 bits, not hex, and any JS number (even a small one) are refused.
    for (const bad of [0n, 2n ** 64n, -1n, "0", "zz", "", "1ffffffffffffffff", 12, 0, 1.5]) {
      assert.throws(() => toNodeId(bad as bigint | string, "id"), { code: "ERR_RAFTHTTP_CONFIG" });
    }
    assert.throws(() => toNodeId(12 as unknown as bigint, "id"), /a number; use a bigint such as 12n/);
  });

  test("version compatibility and stream support", () => {
    const v36 = parseSemver("3.6.0")!;
    const v30 = parseSemver("3.0.0")!;
    assert.deepEqual(parseSemver("3.8.0-alpha.0"), { major: 3, minor: 8, patch: 0 });
    assert.equal(parseSemver("3.6"), undefined);
    assert.ok(versionsCompatible("3.5.1", "3.0.0", v36, v30));
    assert.ok(versionsCompatible("3.8.0-alpha.0", "3.0.0", v36, v30));
    assert.ok(!versionsCompatible(undefined, undefined, v36, v30), "missing = 2.0.0, below 3.0");
    assert.ok(!versionsCompatible("3.6.0", "3.7.0", v36, v30), "peer needs a newer cluster");
    assert.ok(!versionsCompatible("garbage", "3.0.0", v36, v30));
    assert.ok(streamSupported(parseSemver("2.1.0")!));
    assert.ok(!streamSupported(parseSemver("2.0.0")!));
    assert.ok(streamSupported(parseSemver("3.8.1")!));
  });

  test("RFC 3339 times from Go", () => {
    assert.equal(parseRfc3339("2024-05-01T12:00:00Z"), Date.UTC(2024, 4, 1, 12));
    assert.equal(parseRfc3339("2024-05-01T14:00:00.123456789+02:00"), Date.UTC(2024, 4, 1, 12) + 123.456789);
    assert.equal(parseRfc3339("yesterday"), undefined);
  });
});
