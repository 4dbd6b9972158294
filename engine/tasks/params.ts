// Task parameter checking: fill defaults, refuse unknown names, wrong types and out-of-range
// values with an error that names the task, the parameter, the value and what was expected.
// No silent clamping.

import type { ParamSpec, ParamValue } from "./types.ts";

export type Resolved = Record<string, ParamValue | undefined>;

function show(v: unknown): string {
  try {
    return typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

function range(s: ParamSpec): string {
  if (s.min !== undefined && s.max !== undefined) return ` in [${s.min}, ${s.max}]`;
  if (s.min !== undefined) return ` >= ${s.min}`;
  if (s.max !== undefined) return ` <= ${s.max}`;
  return "";
}

function checkNumber(task: string, s: ParamSpec, v: unknown, int: boolean, what: string): number {
  if (typeof v !== "number" || !Number.isFinite(v) || (int && !Number.isInteger(v))) {
    throw new TypeError(
      `${task}: ${what} ${show(v)}: expected ${int ? "an integer" : "a finite number"}${range(s)}`,
    );
  }
  if ((s.min !== undefined && v < s.min) || (s.max !== undefined && v > s.max)) {
    throw new RangeError(`${task}: ${what} ${v} is out of range: expected${range(s)}`);
  }
  return v;
}

/** Checks one value against its spec; returns it (numbers lists copied and frozen). */
export function checkParam(task: string, s: ParamSpec, v: unknown): ParamValue {
  const what = `parameter "${s.name}"`;
  switch (s.type) {
    case "int":
    case "number":
      return checkNumber(task, s, v, s.type === "int", what);
    case "boolean":
      if (typeof v !== "boolean") {
        throw new TypeError(`${task}: ${what} ${show(v)}: expected true or false`);
      }
      return v;
    case "string":
    case "path":
      if (typeof v !== "string" || v === "") {
        throw new TypeError(
          `${task}: ${what} ${show(v)}: expected a non-empty ${
            s.type === "path" ? "path" : "string"
          }`,
        );
      }
      return v;
    case "enum":
      if (typeof v !== "string" || !s.values?.includes(v)) {
        throw new RangeError(
          `${task}: ${what} ${show(v)}: expected one of ${s.values?.join(", ")}`,
        );
      }
      return v;
    case "numbers": {
      if (!Array.isArray(v) || v.length === 0) {
        throw new TypeError(
          `${task}: ${what} ${show(v)}: expected a non-empty list of numbers${range(s)}`,
        );
      }
      return Object.freeze(v.map((x, i) => checkNumber(task, s, x, false, `${what}[${i}]`)));
    }
  }
}

/**
 * Defaults filled in, every given value checked. A spec without a default and without a given
 * value stays undefined here; the task says whether it needs it (with a message that says why).
 */
export function resolveParams(
  task: string,
  specs: readonly ParamSpec[],
  given: Readonly<Record<string, unknown>> = {},
): Resolved {
  const known = new Set(specs.map((s) => s.name));
  for (const k of Object.keys(given)) {
    if (!known.has(k)) {
      throw new RangeError(
        `${task}: unknown parameter "${k}"; expected one of ${[...known].join(", ")}`,
      );
    }
  }
  const out: Resolved = {};
  for (const s of specs) {
    const v = given[s.name];
    out[s.name] = v === undefined ? s.default : checkParam(task, s, v);
  }
  return out;
}

/** A required parameter's value, or a TypeError saying which and why. */
export function required<T extends ParamValue>(
  task: string,
  p: Resolved,
  name: string,
  why: string,
): T {
  const v = p[name];
  if (v === undefined) throw new TypeError(`${task}: parameter "${name}" is required: ${why}`);
  return v as T;
}

/** The run's token budget: a positive integer. */
export function checkLength(task: string, length: unknown): number {
  if (typeof length !== "number" || !Number.isInteger(length) || length < 1) {
    throw new RangeError(
      `${task}: length ${show(length)}: expected a positive integer number of tokens`,
    );
  }
  return length;
}

/** The run's seed: an integer. */
export function checkSeed(task: string, seed: unknown): number {
  if (typeof seed !== "number" || !Number.isInteger(seed)) {
    throw new TypeError(`${task}: seed ${show(seed)}: expected an integer`);
  }
  return seed;
}

/** Depths are fractions of the haystack: each in [0, 1]. */
export function checkDepths(task: string, depths: readonly number[]): readonly number[] {
  depths.forEach((d, i) => {
    if (!(d >= 0 && d <= 1)) {
      throw new RangeError(
        `${task}: depth ${d} (depths[${i}]) is outside [0, 1]: a depth is the needle's position as a fraction of the haystack`,
      );
    }
  });
  return depths;
}

/** `n` evenly spaced values from lo to hi, both included (n = 1 gives [lo]). */
export function linspace(lo: number, hi: number, n: number): number[] {
  if (n === 1) return [lo];
  return Array.from({ length: n }, (_, i) => i === n - 1 ? hi : lo + (i * (hi - lo)) / (n - 1));
}
