// HPACK (src/h2grpc/hpack.ts) against RFC 7541's own examples.
import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeLiterals, HpackDecoder, huffmanCode, huffmanDecode } from "../../src/h2grpc/index.ts";

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
