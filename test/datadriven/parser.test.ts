// The data-driven file parser against the grammar of cockroachdb/datadriven.
import assert from "node:assert/strict";
import { test } from "node:test";
import { DataDrivenParseError, parseDirective, parseFile, rewriteFile } from "../../src/datadriven/index.ts";

test("directive arguments: bare keys, single values, lists, quotes kept in keys", () => {
  assert.deepEqual(parseDirective("deliver-msgs 1 drop=(2,4)"), {
    cmd: "deliver-msgs",
    cmdArgs: [
      { key: "1", vals: [] },
      { key: "drop", vals: ["2", "4"] },
    ],
  });
  assert.deepEqual(parseDirective("committed cfg=(1, 2) idx=(12,_)").cmdArgs, [
    { key: "cfg", vals: ["1", "2"] },
    { key: "idx", vals: ["12", "_"] },
  ]);
  assert.deepEqual(parseDirective('propose 1 "foo"').cmdArgs, [
    { key: "1", vals: [] },
    { key: '"foo"', vals: [] },
  ]);
  assert.deepEqual(parseDirective("x a= b=(1 2 3) c=(f(x),y)").cmdArgs, [
    { key: "a", vals: [""] },
    { key: "b", vals: ["1 2 3"] },
    { key: "c", vals: ["f(x)", "y"] },
  ]);
  assert.throws(() => parseDirective("x a=(1,2"), DataDrivenParseError);
  assert.throws(() => parseDirective("x =1"), DataDrivenParseError);
});

test("blocks: comments, input, normal and double-separator expected output", () => {
  const text = [
    "# a comment",
    "cmd a=1",
    "line one",
    "# not a comment inside input",
    "----",
    "out 1",
    "out 2",
    "",
    "",
    "two",
    "----",
    "----",
    "x",
    "",
    "y",
    "----",
    "----",
    "",
    "last",
    "----",
    "ok",
  ].join("\n");
  const cases = parseFile(text, "f");
  assert.equal(cases.length, 3);
  assert.equal(cases[0]!.input, "line one\n# not a comment inside input");
  assert.equal(cases[0]!.expected, "out 1\nout 2\n");
  assert.equal(cases[0]!.line, 2);
  assert.equal(cases[1]!.expected, "x\n\ny\n");
  assert.equal(cases[2]!.expected, "ok\n");
  assert.equal(cases[2]!.cmd, "last");
});

test("a directive without ---- expects empty output; CRLF reads like LF", () => {
  const cases = parseFile("a\r\n----\r\nok\r\n\r\nb\r\n", "f");
  assert.equal(cases[0]!.expected, "ok\n");
  assert.equal(cases[1]!.cmd, "b");
  assert.equal(cases[1]!.expected, "");
});

test("rewrite reproduces a file from its outputs", () => {
  const text = "# c\ncmd\n----\nok\n\nother x=1\n----\n----\nline\n  \nmore\n----\n----\n";
  const cases = parseFile(text, "f");
  const out = rewriteFile(cases, ["ok", "line\n  \nmore\n"]);
  assert.equal(out, text);
  const again = parseFile(out, "f");
  assert.equal(again[1]!.expected, "line\n  \nmore\n");
});
