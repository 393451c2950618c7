// Finds the fuzz targets: every file in fuzz/targets/ default-exports one.

import { readdirSync } from "node:fs";
import type { FuzzTarget } from "./target.ts";

export async function loadTargets(): Promise<FuzzTarget[]> {
  const dir = new URL("./targets/", import.meta.url);
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".ts"))
    .sort();
  const targets: FuzzTarget[] = [];
  for (const f of files) {
    const mod = (await import(new URL(f, dir).href)) as { default?: FuzzTarget };
    if (mod.default === undefined) throw new Error(`fuzz/targets/${f} has no default export`);
    targets.push(mod.default);
  }
  const names = new Set(targets.map((t) => t.name));
  if (names.size !== targets.length) throw new Error("two fuzz targets share a name");
  return targets;
}
