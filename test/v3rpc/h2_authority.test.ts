// The client port's :authority repair (src/v3rpc/h2_authority.ts): HPACK
// decoding checked against RFC 7541's own examples, then real HTTP/2 traffic
// from Node's client (nghttp2's encoder: Huffman strings, dynamic table,
// never-indexed fields) through the rewriter into Node's HTTP/2 server, which
// without the repair resets every stream whose :authority is a URL.
import assert from "node:assert/strict";
import { connect, createServer as createH2Server, type Http2Session, sensitiveHeaders } from "node:http2";
import { createServer, type Server, type Socket } from "node:net";
import { Duplex } from "node:stream";
import { after, test } from "node:test";
import { encodeLiterals, HpackDecoder, huffmanCode, huffmanDecode } from "../../src/h2grpc/index.ts";
import { H2AuthorityRewriter, repairAuthority } from "../../src/v3rpc/h2_authority.ts";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

test("Huffman codes are RFC 7541 Appendix B's (spot checks, EOS, an RFC example string)", () => {
  assert.deepEqual(huffmanCode(0), { code: 0x1ff8, bits: 13 });
  assert.deepEqual(huffmanCode(48), { code: 0x0, bits: 5 }); // '0'
  assert.deepEqual(huffmanCode(97), { code: 0x3, bits: 5 }); // 'a'
  assert.deepEqual(huffmanCode(47), { code: 0x18, bits: 6 }); // '/'
  assert.deepEqual(huffmanCode(126), { code: 0x1ffd, bits: 13 }); // '~'
  assert.deepEqual(huffmanCode(10), { code: 0x3ffffffc, bits: 30 }); // '\n'
  assert.deepEqual(huffmanCode(255), { code: 0x3ffffee, bits: 26 });
  assert.deepEqual(huffmanCode(256), { code: 0x3fffffff, bits: 30 }); // EOS
  // RFC 7541 C.4.1: "www.example.com"
  assert.equal(huffmanDecode(hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff")), "www.example.com");
  // C.6.1: "302" and "Mon, 21 Oct 2013 20:13:21 GMT"
  assert.equal(huffmanDecode(hex("6402")), "302");
  assert.equal(
    huffmanDecode(hex("d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff")),
    "Mon, 21 Oct 2013 20:13:21 GMT",
  );
  assert.throws(() => huffmanDecode(hex("f1e3 c2e5 f23a 6ba0 ab90 f4")), { code: "ERR_V3RPC_HPACK" });
  assert.throws(() => huffmanDecode(hex("ffffffff")), { code: "ERR_V3RPC_HPACK" }); // EOS inside
});

test("HPACK decoder: RFC 7541 C.4's three requests share one dynamic table", () => {
  const d = new HpackDecoder();
  const plain = (fs: { name: string; value: string }[]) => fs.map((f) => `${f.name}: ${f.value}`);
  assert.deepEqual(plain(d.decode(hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"))), [
    ":method: GET",
    ":scheme: http",
    ":path: /",
    ":authority: www.example.com",
  ]);
  assert.deepEqual(plain(d.decode(hex("8286 84be 5886 a8eb 1064 9cbf"))), [
    ":method: GET",
    ":scheme: http",
    ":path: /",
    ":authority: www.example.com",
    "cache-control: no-cache",
  ]);
  assert.deepEqual(plain(d.decode(hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"))), [
    ":method: GET",
    ":scheme: https",
    ":path: /index.html",
    ":authority: www.example.com",
    "custom-key: custom-value",
  ]);
  assert.throws(() => d.decode(hex("ff00")), { code: "ERR_V3RPC_HPACK" }); // no such entry
  // Literals round-trip and leave no trace in a decoder's table.
  const fields = [
    { name: ":authority", value: "127.0.0.1:2379", sensitive: false },
    { name: "token", value: "x".repeat(200), sensitive: true },
  ];
  assert.deepEqual(new HpackDecoder().decode(encodeLiterals(fields)), fields);
});

test("repairAuthority: URLs become host:port; valid or hopeless values are left alone", () => {
  assert.equal(repairAuthority("http://127.0.0.1:2379"), "127.0.0.1:2379");
  assert.equal(repairAuthority("https://[::1]:2379/some/path"), "[::1]:2379");
  assert.equal(repairAuthority("127.0.0.1:2379"), undefined);
  assert.equal(repairAuthority("has space"), undefined);
});

// ---- real nghttp2 traffic ------------------------------------------------------------

/** A Duplex over a socket whose incoming bytes pass through a rewriter (as the client port does). */
class Rewritten extends Duplex {
  readonly rw = new H2AuthorityRewriter();
  constructor(private readonly sock: Socket) {
    super();
    sock.on("data", (d: Buffer) => {
      try {
        for (const p of this.rw.push(d)) this.push(p);
      } catch (e) {
        this.destroy(e as Error);
      }
    });
    sock.on("end", () => this.push(null));
    sock.on("close", () => this.destroy());
  }
  override _read(): void {}
  override _write(c: Buffer, _e: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.sock.write(c, cb);
  }
  override _destroy(e: Error | null, cb: (e?: Error | null) => void): void {
    this.sock.destroy();
    cb(e);
  }
}

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

/** Node's HTTP/2 server echoing what it received, behind a TCP listener; with or without the rewriter. */
async function echoServer(rewrite: boolean): Promise<{ port: number; rewriters: H2AuthorityRewriter[] }> {
  const h2 = createH2Server();
  h2.on("stream", (stream, headers) => {
    stream.respond({ ":status": 200, "content-type": "application/json" });
    stream.end(JSON.stringify(headers));
  });
  const rewriters: H2AuthorityRewriter[] = [];
  const tcp = createServer((sock) => {
    if (!rewrite) return void h2.emit("connection", sock);
    const d = new Rewritten(sock);
    rewriters.push(d.rw);
    h2.emit("connection", d);
  });
  servers.push(tcp);
  await new Promise<void>((r) => tcp.listen(0, "127.0.0.1", r));
  return { port: (tcp.address() as { port: number }).port, rewriters };
}

function request(
  session: Http2Session,
  headers: Record<string, string | string[]>,
): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const req = (session as import("node:http2").ClientHttp2Session).request(headers, { endStream: true });
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => {
      body += c;
    });
    req.on("end", () => resolve(JSON.parse(body)));
    req.on("error", reject);
  });
}

test("a URL as :authority: Node's HTTP/2 server resets the stream; behind the rewriter every request arrives intact", async () => {
  const bare = await echoServer(false);
  const c0 = connect(`http://127.0.0.1:${bare.port}`);
  await assert.rejects(
    request(c0, { ":path": "/x", ":authority": `http://127.0.0.1:${bare.port}` }),
    /PROTOCOL_ERROR|NGHTTP2/,
  );
  c0.close();

  const fixed = await echoServer(true);
  const c = connect(`http://127.0.0.1:${fixed.port}`);
  const auth = `http://127.0.0.1:${fixed.port}`;
  // Repeated fields make nghttp2 refer to its dynamic table; long values are Huffman-coded;
  // a sensitive field goes as "never indexed".
  for (let i = 0; i < 6; i++) {
    const got = await request(c, {
      ":path": `/etcdserverpb.Maintenance/Status/${i}`,
      ":authority": auth,
      "content-type": "application/grpc",
      "x-long": "abcdefghij".repeat(30 + i),
      token: `secret-${i}`,
      [sensitiveHeaders]: ["token"],
    } as never);
    assert.equal(got[":authority"], `127.0.0.1:${fixed.port}`);
    assert.equal(got[":path"], `/etcdserverpb.Maintenance/Status/${i}`);
    assert.equal(got["x-long"], "abcdefghij".repeat(30 + i));
    assert.equal(got.token, `secret-${i}`);
  }
  c.close();
  assert.equal(fixed.rewriters[0]!.repaired, 6);
  assert.equal(fixed.rewriters[0]!.passthrough, false);
});

test("a valid :authority: the first request decides, and the connection is passed through untouched", async () => {
  const fixed = await echoServer(true);
  const c = connect(`http://127.0.0.1:${fixed.port}`);
  for (let i = 0; i < 3; i++) {
    const got = await request(c, { ":path": `/p${i}`, "x-n": String(i) });
    assert.equal(got[":authority"], `127.0.0.1:${fixed.port}`);
    assert.equal(got["x-n"], String(i));
  }
  c.close();
  assert.equal(fixed.rewriters[0]!.passthrough, true);
  assert.equal(fixed.rewriters[0]!.repaired, 0);
});

test("bytes the rewriter cannot parse before it decides go on unchanged", () => {
  const rw = new H2AuthorityRewriter();
  const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  // A HEADERS frame whose block refers to a dynamic entry that does not exist.
  const bad = Buffer.concat([hex("000002 01 05 00000001"), hex("ff00")]);
  const out = Buffer.concat(rw.push(Buffer.concat([preface, bad, Buffer.from("tail")])));
  assert.deepEqual(out, Buffer.concat([preface, bad, Buffer.from("tail")]));
  assert.equal(rw.passthrough, true);
  // A CONTINUATION with no HEADERS before it: handed on as well.
  const r2 = new H2AuthorityRewriter();
  const cont = hex("000001 09 04 00000001 82");
  assert.deepEqual(Buffer.concat(r2.push(Buffer.concat([preface, cont]))), Buffer.concat([preface, cont]));
  // Split across chunks at every offset, a valid stream comes out byte for byte.
  const settings = hex("000000 04 00 00000000");
  const headers = Buffer.concat([hex("000005 01 05 00000001"), hex("8286 8441 80")]);
  const all = Buffer.concat([preface, settings, headers, hex("000001 00 01 00000001 aa")]);
  for (let cut = 1; cut < all.length; cut++) {
    const r = new H2AuthorityRewriter();
    const parts = [...r.push(all.subarray(0, cut)), ...r.push(all.subarray(cut))];
    assert.deepEqual(Buffer.concat(parts), all, `cut at ${cut}`);
  }
});

test("dropFirstSettingsAck: the client's first SETTINGS ACK is cut out wherever it falls; pass-through only after it", () => {
  const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  const settings = hex("000000 04 00 00000000");
  const ack = hex("000000 04 01 00000000");
  const headers = Buffer.concat([hex("000005 01 05 00000001"), hex("8286 8441 80")]);
  const data = hex("000001 00 01 00000001 aa");
  const orders: Array<[string, Buffer[]]> = [
    ["ACK before the request", [preface, settings, ack, headers, data]],
    ["ACK after the request", [preface, settings, headers, data, ack]],
  ];
  for (const [what, frames] of orders) {
    const all = Buffer.concat(frames);
    const want = Buffer.concat(frames.filter((f) => f !== ack));
    for (let cut = 1; cut < all.length; cut++) {
      const r = new H2AuthorityRewriter({ dropFirstSettingsAck: true });
      const first = r.push(all.subarray(0, cut));
      const out = Buffer.concat([...first, ...r.push(all.subarray(cut))]);
      assert.deepEqual(out, want, `${what}, cut at ${cut}`);
      assert.equal(r.passthrough, true, `${what}, cut at ${cut}: passes through once the ACK is gone`);
    }
    // Until the ACK has come, a decided connection is not yet passed through.
    const r = new H2AuthorityRewriter({ dropFirstSettingsAck: true });
    r.push(Buffer.concat([preface, settings, headers]));
    assert.equal(r.passthrough, false, `${what}: no ACK yet`);
  }
  // A second ACK (for Node's own SETTINGS) goes on.
  const r = new H2AuthorityRewriter({ dropFirstSettingsAck: true });
  const out = Buffer.concat(r.push(Buffer.concat([preface, settings, ack, headers, ack])));
  assert.deepEqual(out, Buffer.concat([preface, settings, headers, ack]));
});
