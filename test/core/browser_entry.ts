// What test/core/browser.e2e.test.ts runs in the browser: both examples of
// the core, bundled for the "browser" platform (no Node built-ins at all).
import "../../examples/rawnode-demo.ts";
import { main } from "../../examples/node-cluster.ts";

await main();
console.log("browser run finished");
