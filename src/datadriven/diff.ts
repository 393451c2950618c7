// A small line-based unified diff for test failure output.

/** Returns "-expected" / "+actual" / " common" lines (LCS-based). */
export function unifiedDiff(expected: string, actual: string, context = 3): string {
  const a = expected.split("\n");
  const b = actual.split("\n");
  const n = a.length;
  const m = b.length;
  // lcs[i][j] = LCS length of a[i:] and b[j:]
  const lcs: Uint32Array[] = [];
  for (let i = 0; i <= n; i++) lcs.push(new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const ops: Array<[" " | "-" | "+", string]> = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      ops.push([" ", a[i]!]);
      i++;
      j++;
    } else if (j < m && (i >= n || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) {
      ops.push(["+", b[j]!]);
      j++;
    } else {
      ops.push(["-", a[i]!]);
      i++;
    }
  }
  // Keep only changed lines and `context` lines around them.
  const keep = new Uint8Array(ops.length);
  ops.forEach(([op], k) => {
    if (op !== " ")
      for (let x = Math.max(0, k - context); x <= Math.min(ops.length - 1, k + context); x++) keep[x] = 1;
  });
  let out = "--- expected\n+++ actual\n";
  let gap = false;
  ops.forEach(([op, line], k) => {
    if (!keep[k]) {
      gap = true;
      return;
    }
    if (gap) out += "@@\n";
    gap = false;
    out += `${op}${line}\n`;
  });
  return out;
}
