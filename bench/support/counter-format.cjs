// A request format for ../shared/tools/loadgen.js (--format module:FILE):
// POST /add with the delta 1 to examples/counter.ts, which answers 200 and
// the new total once the add is applied on that member.
"use strict";

const body = Buffer.from("1");

module.exports = {
  makeRequest: () => ({ method: "POST", path: "/add", headers: { "content-type": "text/plain" }, body }),
  check: (code) => code === 200,
};
