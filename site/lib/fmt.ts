// Number formatting and the colour code of leaderboard cells. Pure functions.

const SEP = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** Bytes in binary units: "4.00 MiB". */
export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${SEP(v)} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[u]}`;
}

/** A ratio as "×2.39". */
export const times = (x: number) => `×${x.toFixed(x >= 100 ? 0 : 2)}`;

/** A fraction as a percentage: "66.7%". */
export const pct = (x: number, digits = 1) => `${(x * 100).toFixed(digits)}%`;

/** Scientific for small or large magnitudes, fixed otherwise. */
export function num(x: number, digits = 3): string {
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a < 1e-2 || a >= 1e6) return x.toExponential(2);
  if (Number.isInteger(x)) return SEP(x);
  return x.toPrecision(digits);
}

/** Milliseconds: "14.3 ms". */
export const ms = (x: number) =>
  `${x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)} ms`;

/** Context length in tokens: 1024 → "1K", 32768 → "32K", 256 → "256". */
export function tokens(n: number): string {
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024}K`;
  return SEP(n);
}

/** A budget label: { ratio: 4 } → "1/4", { budgetTokens: 128 } → "128 tok", none → "full". */
export function budgetLabel(b: { ratio?: number; budgetTokens?: number }): string {
  if (b.ratio !== undefined) return `1/${b.ratio}`;
  if (b.budgetTokens !== undefined) return `${b.budgetTokens} tok`;
  return "full";
}

// --- colour code -------------------------------------------------------------------------------

const BAD = [244, 199, 195]; // light red
const MID = [255, 242, 204]; // light yellow
const GOOD = [217, 234, 211]; // light green

function mix(a: number[], b: number[], t: number): string {
  const c = a.map((x, i) => Math.round(x + (b[i] - x) * t));
  return `#${c.map((x) => x.toString(16).padStart(2, "0")).join("")}`;
}

/** t in [0, 1], 0 = worst, 1 = best → a light background that keeps black text readable. */
export function goodness(t: number): string {
  const u = Math.min(1, Math.max(0, t));
  return u < 0.5 ? mix(BAD, MID, u * 2) : mix(MID, GOOD, (u - 0.5) * 2);
}

/**
 * Colours for a column of values: ranked between the column's min and max (on a log scale when
 * `log`), best green, worst red; a column whose values are all equal is neutral (no colour).
 */
export function colourColumn(
  values: readonly (number | undefined)[],
  higherIsBetter: boolean,
  log = false,
): (string | undefined)[] {
  const f = (v: number) => (log ? Math.log(Math.max(v, 1e-300)) : v);
  const xs = values.filter((v): v is number => v !== undefined && Number.isFinite(v)).map(f);
  if (xs.length === 0) return values.map(() => undefined);
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return values.map((v) => {
    if (v === undefined || !Number.isFinite(v) || hi === lo) return undefined;
    const t = (f(v) - lo) / (hi - lo);
    return goodness(higherIsBetter ? t : 1 - t);
  });
}
