// The benchmarks' one table printer. Two layouts, both kept exactly as the
// benchmarks have always printed them (scripts and notes compare them):
//
//   "aligned"   first column left-aligned, the others right-aligned, columns
//               separated by two spaces, a dashed rule under the header;
//               for figures read in a terminal (bench:host, bench:kv, codec).
//   "markdown"  a Markdown table with every cell left-aligned and padded;
//               for the side-by-side rows of `npm run bench` (bench/lib.ts).
//
// Column widths are the widest cell of each column, header included; a row
// shorter than the header prints only the cells it has.

export type TableStyle = "aligned" | "markdown";

/** The table as lines (no trailing newline). */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  style: TableStyle = "aligned",
): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  if (style === "markdown") {
    const line = (r: readonly string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
    return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)];
  }
  const line = (r: readonly string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)];
}

/** Prints the table to stdout, one console.log per line. */
export function printTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  style: TableStyle = "aligned",
): void {
  for (const l of formatTable(header, rows, style)) console.log(l);
}
