// Test environments that replay etcd raft's data-driven test files.

import type { TestData } from "../datadriven/index.ts";
import { ConfChangeHarness } from "./confchange_harness.ts";
import { InteractionEnv } from "./interaction_env.ts";
import { quorumHandler } from "./quorum_harness.ts";

// The data-driven file format (parser, runner, diff) for tests of your own.
export * from "../datadriven/index.ts";
export { ConfChangeHarness } from "./confchange_harness.ts";
export { HarnessFatalError, InteractionEnv, InteractionNode, RedirectLogger } from "./interaction_env.ts";
export { quorumHandler } from "./quorum_harness.ts";

/**
 * A fresh handler for one file of the given testdata directory ("quorum",
 * "confchange" or "interaction"); undefined for an unknown directory.
 */
export function handlerFor(dir: string): ((d: TestData) => string) | undefined {
  switch (dir) {
    case "quorum":
      return quorumHandler;
    case "confchange": {
      const h = new ConfChangeHarness();
      return (d) => h.handle(d);
    }
    case "interaction": {
      const env = new InteractionEnv();
      return (d) => env.handle(d);
    }
    default:
      return undefined;
  }
}
export {
  type DroppedMessage,
  decodeState,
  decodeUtf8,
  encodeState,
  Network,
  NetworkNode,
  type NetworkOptions,
  type NodeConfig,
  ofType,
  type RefusedMessage,
} from "./network.ts";
