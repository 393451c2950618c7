// A reader for the data-driven test file format of
// github.com/cockroachdb/datadriven (the format of etcd raft's testdata):
// directives with arguments, an optional input block, "----", and the
// expected output, in either the normal or the double-separator form.

export interface CmdArg {
  key: string;
  vals: string[];
}

export interface TestData {
  /** "file:line" of the directive, for messages. */
  pos: string;
  /** 1-based line of the directive. */
  line: number;
  cmd: string;
  cmdArgs: CmdArg[];
  input: string;
  expected: string;
  /** The lines before the expected block (comments, directive, input), verbatim. */
  preamble: string;
}

/** A malformed test file. */
export class DataDrivenParseError extends Error {
  readonly code = "ERR_DATADRIVEN_PARSE";
  constructor(message: string) {
    super(message);
    this.name = "DataDrivenParseError";
  }
}

/** Parses the arguments part of a directive line (everything after the command). */
export function parseArgs(rest: string, line: string): CmdArg[] {
  const args: CmdArg[] = [];
  let pos = 0;
  const n = rest.length;
  const fail = (): never => {
    throw new DataDrivenParseError(`cannot parse directive at column ${pos + 1}: ${line}`);
  };
  while (pos < n) {
    while (pos < n && rest[pos] === " ") pos++;
    if (pos >= n) break;
    const start = pos;
    while (pos < n && rest[pos] !== " " && rest[pos] !== "=") pos++;
    const key = rest.slice(start, pos);
    if (key === "") fail();
    const vals: string[] = [];
    if (rest[pos] === "=") {
      pos++;
      if (pos >= n || rest[pos] === " ") {
        vals.push("");
      } else if (rest[pos] !== "(") {
        const vs = pos;
        while (pos < n && rest[pos] !== " ") pos++;
        vals.push(rest.slice(vs, pos));
      } else {
        pos++;
        let depth = 1;
        let cur = "";
        let closed = false;
        while (pos < n) {
          const c = rest[pos]!;
          pos++;
          if (c === "(") {
            depth++;
            cur += c;
          } else if (c === ")") {
            depth--;
            if (depth === 0) {
              if (cur !== "" || vals.length > 0) vals.push(cur);
              closed = true;
              break;
            }
            cur += c;
          } else if (c === "," && depth === 1) {
            vals.push(cur);
            cur = "";
            while (pos < n && rest[pos] === " ") pos++;
          } else {
            cur += c;
          }
        }
        if (!closed) fail();
      }
    }
    args.push({ key, vals });
  }
  return args;
}

/** Splits a directive line into its command and arguments. */
export function parseDirective(line: string): { cmd: string; cmdArgs: CmdArg[] } {
  const sp = line.indexOf(" ");
  const cmd = sp < 0 ? line : line.slice(0, sp);
  const rest = sp < 0 ? "" : line.slice(sp + 1).trim();
  return { cmd, cmdArgs: parseArgs(rest, line) };
}

/** Parses a whole file into its directives. */
export function parseFile(text: string, name = "<input>"): TestData[] {
  const lines = text.split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
  // A trailing newline does not start another (empty) line.
  if (lines.length > 0 && lines[lines.length - 1] === "" && text.endsWith("\n")) lines.pop();
  const out: TestData[] = [];
  let i = 0;
  while (i < lines.length) {
    let preamble = "";
    let t = "";
    let lineNo = 0;
    // Skip comments and blank lines up to the next directive.
    for (;;) {
      if (i >= lines.length) return out;
      const raw = lines[i]!;
      preamble += `${raw}\n`;
      lineNo = ++i;
      t = raw.trim();
      if (t.startsWith("#")) continue;
      while (t.endsWith("\\") && i < lines.length) {
        const next = lines[i]!;
        preamble += `${next}\n`;
        i++;
        t = `${t.slice(0, -1)} ${next.trim()}`;
      }
      if (t === "") continue;
      break;
    }
    const { cmd, cmdArgs } = parseDirective(t);
    const inputLines: string[] = [];
    let sawSeparator = false;
    while (i < lines.length) {
      const l = lines[i++]!;
      if (l === "----") {
        sawSeparator = true;
        break;
      }
      preamble += `${l}\n`;
      inputLines.push(l);
    }
    const input = inputLines
      .map((l) => `${l}\n`)
      .join("")
      .trim();
    let expected = "";
    if (sawSeparator && i < lines.length) {
      if (lines[i] === "----") {
        // Double-separator form: runs until "----" "----", then one blank line.
        i++;
        const exp: string[] = [];
        let closed = false;
        while (i < lines.length) {
          if (lines[i] === "----" && lines[i + 1] === "----") {
            i += 2;
            closed = true;
            break;
          }
          exp.push(lines[i++]!);
        }
        if (!closed) throw new DataDrivenParseError(`${name}:${lineNo}: unterminated double-separator block`);
        if (i < lines.length) {
          if (lines[i]!.trim() !== "") {
            throw new DataDrivenParseError(`${name}:${i + 1}: expected a blank line after "----" "----"`);
          }
          i++;
        }
        expected = exp.map((l) => `${l}\n`).join("");
      } else {
        const exp: string[] = [];
        while (i < lines.length && lines[i]!.trim() !== "") exp.push(lines[i++]!);
        if (i < lines.length) i++; // the terminating blank line
        expected = exp.map((l) => `${l}\n`).join("");
      }
    }
    out.push({ pos: `${name}:${lineNo}`, line: lineNo, cmd, cmdArgs, input, expected, preamble });
  }
  return out;
}

/** Appends the newline the runner adds to non-empty output lacking one. */
export function normalizeOutput(actual: string): string {
  return actual !== "" && !actual.endsWith("\n") ? `${actual}\n` : actual;
}

/** Regenerates a file with new outputs, following the datadriven rewrite rules. */
export function rewriteFile(cases: readonly TestData[], outputs: readonly string[]): string {
  let out = "";
  cases.forEach((d, k) => {
    const actual = normalizeOutput(outputs[k] ?? "");
    out += `${d.preamble}----\n`;
    if (/^[\t ]*\n/m.test(actual)) {
      out += `----\n${actual}----\n----\n\n`;
    } else {
      out += `${actual}\n`;
    }
  });
  if (out.endsWith("\n\n")) out = out.slice(0, -1);
  return out;
}

// ------------------------------------------------------- argument scanning

/** Finds the first argument named `key`. */
export function findArg(d: TestData, key: string): CmdArg | undefined {
  return d.cmdArgs.find((a) => a.key === key);
}

/** Go's strconv.ParseBool. */
export function parseBool(s: string): boolean {
  switch (s) {
    case "1":
    case "t":
    case "T":
    case "TRUE":
    case "true":
    case "True":
      return true;
    case "0":
    case "f":
    case "F":
    case "FALSE":
    case "false":
    case "False":
      return false;
    default:
      throw new Error(`strconv.ParseBool: parsing ${JSON.stringify(s)}: invalid syntax`);
  }
}

/** Parses a base-10 unsigned integer that must be a safe JS number. */
export function parseUint(s: string): number {
  if (!/^[0-9]+$/.test(s)) throw new Error(`strconv.ParseUint: parsing ${JSON.stringify(s)}: invalid syntax`);
  const v = Number(s);
  if (!Number.isSafeInteger(v))
    throw new Error(`strconv.ParseUint: parsing ${JSON.stringify(s)}: value out of range`);
  return v;
}

/** Parses a base-10 signed integer. */
export function parseInt10(s: string): number {
  if (!/^[+-]?[0-9]+$/.test(s))
    throw new Error(`strconv.ParseInt: parsing ${JSON.stringify(s)}: invalid syntax`);
  return Number(s);
}
