// Python behaviours the official scorers rely on, reproduced where JavaScript differs:
// str.split() / str.strip() whitespace, string.punctuation, regex word boundaries over Unicode
// word characters, round() (ties to even on the exact binary value), and Counter intersection.

/** Characters Python's str.isspace() accepts (str.split() and str.strip() with no argument). */
const WS =
  "\\t\\n\\v\\f\\r \\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const WS_RUN = new RegExp(`[${WS}]+`, "u");
const WS_EDGE = new RegExp(`^[${WS}]+|[${WS}]+$`, "gu");

/** Python's `s.split()`: split on whitespace runs, no empty strings. */
export function pySplit(s: string): string[] {
  return s.split(WS_RUN).filter((x) => x !== "");
}

/** Python's `s.strip()`. */
export function pyStrip(s: string): string {
  return s.replace(WS_EDGE, "");
}

/** Python's `s.lstrip(chars)` for a set of characters. */
export function pyLstrip(s: string, chars: string): string {
  let i = 0;
  while (i < s.length && chars.includes(s[i])) i++;
  return s.slice(i);
}

/** Python's string.punctuation. */
export const PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
const PUNCT_SET = new Set(PUNCTUATION);

/** `"".join(ch for ch in s if ch not in chars)` over code points. */
export function removeChars(s: string, chars: ReadonlySet<string> = PUNCT_SET): string {
  let out = "";
  for (const ch of s) if (!chars.has(ch)) out += ch;
  return out;
}

/** Python's `re.sub(r"\b(a|an|the)\b", repl, s)`: \b over Unicode word characters. */
export function removeArticles(s: string, repl: string): string {
  return s.replace(/(?<![\p{L}\p{N}_])(?:a|an|the)(?![\p{L}\p{N}_])/gu, repl);
}

/**
 * Python's round(x, ndigits): the exact binary value rounded to the nearest, ties to even
 * (round(0.125, 2) = 0.12; round(2.675, 2) = 2.67 because 2.675 is stored as 2.67499...).
 */
export function pyRound(x: number, ndigits = 0): number {
  if (!Number.isFinite(x)) return x;
  const exact = Math.abs(x).toFixed(Math.min(100, ndigits + 60));
  const dot = exact.indexOf(".");
  const kept = exact.slice(0, dot + 1 + ndigits).replace(/\.$/, "");
  const rest = exact.slice(dot + 1 + ndigits);
  const digits = kept.replace(".", "");
  let up: boolean;
  if (rest[0] > "5") up = true;
  else if (rest[0] < "5") up = false;
  else if (/[1-9]/.test(rest.slice(1))) up = true;
  else up = Number(digits[digits.length - 1]) % 2 === 1; // an exact tie: to even
  let n = BigInt(digits);
  if (up) n += 1n;
  const v = Number(n) / 10 ** ndigits;
  return x < 0 ? -v : v;
}

/** `sum((Counter(a) & Counter(b)).values())`. */
export function commonCount(a: readonly string[], b: readonly string[]): number {
  const ca = new Map<string, number>();
  for (const x of a) ca.set(x, (ca.get(x) ?? 0) + 1);
  const cb = new Map<string, number>();
  for (const x of b) cb.set(x, (cb.get(x) ?? 0) + 1);
  let n = 0;
  for (const [k, v] of ca) n += Math.min(v, cb.get(k) ?? 0);
  return n;
}

/** Python's `re.findall(r"\d+", s)`: \d is any Unicode decimal digit in Python 3. */
export function findNumbers(s: string): string[] {
  return s.match(/\p{Nd}+/gu) ?? [];
}
