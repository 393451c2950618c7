// Runs a parsed data-driven file against a handler and compares outputs.

import { normalizeOutput, parseFile, type TestData } from "./datadriven.ts";
import { unifiedDiff } from "./diff.ts";

export interface DirectiveResult {
  data: TestData;
  actual: string;
  passed: boolean;
}

export interface FileResult {
  name: string;
  results: DirectiveResult[];
  passed: number;
  failed: number;
}

/**
 * Runs every directive (state carries over within the file, so a handler is
 * created per file by the caller). A handler that throws fails its directive
 * with the error text as output, and the file continues.
 */
export function runDataDriven(name: string, text: string, handler: (d: TestData) => string): FileResult {
  const results: DirectiveResult[] = [];
  let passed = 0;
  let failed = 0;
  for (const d of parseFile(text, name)) {
    let actual: string;
    try {
      actual = normalizeOutput(handler(d));
    } catch (err) {
      actual = `<handler threw> ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`;
    }
    const ok = actual === d.expected;
    if (ok) passed++;
    else failed++;
    results.push({ data: d, actual, passed: ok });
  }
  return { name, results, passed, failed };
}

/** A human-readable report of the failed directives of a file. */
export function describeFailures(r: FileResult): string {
  let out = "";
  for (const x of r.results) {
    if (x.passed) continue;
    const directive = x.data.preamble.trimEnd().split("\n").pop();
    out += `\n${x.data.pos}: ${directive}\n${unifiedDiff(x.data.expected, x.actual)}`;
  }
  return out;
}
