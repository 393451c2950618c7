// Whether a CLI module is the program being run. Installed bins are symlinks
// (node_modules/.bin/tsraft-kv -> ../tsraft/dist/cli/tsraft-kv.js), while
// import.meta.url names the real file: compare real paths.

import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Whether the module with this `import.meta.url` is the program node runs (symlinks resolved). */
export function isMainModule(metaUrl: string): boolean {
  const arg = process.argv[1];
  if (arg === undefined) return false;
  try {
    return realpathSync(arg) === realpathSync(fileURLToPath(metaUrl));
  } catch {
    return false;
  }
}
