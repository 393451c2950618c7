// `tsraft-kv --version`: the package version, found in tsraft's package.json
// above this file whether it runs from src/cli (tsx), dist/cli (the npm
// package) or .build/cli (the bundle `npm start` runs).

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** tsraft's version from its package.json, or "unknown" if it cannot be found. */
export function packageVersion(fromUrl: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(fromUrl));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === "tsraft" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // No package.json here (or not ours): look further up.
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return "unknown";
}

/** The --version text, in etcd's layout. */
export function versionText(program: string): string {
  return [
    `${program} Version: ${packageVersion()}`,
    `Node.js Version: ${process.version}`,
    `OS/Arch: ${process.platform}/${process.arch}`,
    "",
  ].join("\n");
}
