// The methods' host-side machinery: budget arithmetic (ratio and absolute), PyramidKV's per-layer
// budgets, parameter resolution, composition names and the registry's house rules. No GPU.

import assert from "node:assert/strict";
import { checkForced, forcedCount, resolveBudget } from "../engine/methods/budget.ts";
import { type MethodInfo, resolveParams } from "../engine/methods/method.ts";
import { pyramidBudget, pyramidBudgets } from "../engine/methods/pyramidkv.ts";
import {
  DEFAULT_FORMAT,
  getMethod,
  METHODS,
  parseComposition,
} from "../engine/methods/registry.ts";
import { formatNames } from "../engine/cache/registry.ts";

// --- budgets ------------------------------------------------------------------------------------

Deno.test("budget: ratio x keeps ceil(T/x); absolute budgets are 1..T", () => {
  assert.equal(resolveBudget({ ratio: 4 }, 150), 38);
  assert.equal(resolveBudget({ ratio: 2 }, 1024), 512);
  assert.equal(resolveBudget({ ratio: 6 }, 1000), 167);
  assert.equal(resolveBudget({ ratio: 1 }, 150), 150);
  assert.equal(resolveBudget({ ratio: 1e9 }, 150), 1);
  assert.equal(resolveBudget({ budgetTokens: 1 }, 150), 1);
  assert.equal(resolveBudget({ budgetTokens: 150 }, 150), 150);
});

Deno.test("budget: bad budgets name the value and what was expected", () => {
  assert.throws(
    () => resolveBudget({ budgetTokens: 0 }, 150),
    (e: Error) =>
      e instanceof RangeError && /budgetTokens: got 0, expected an integer ≥ 1/.test(e.message),
  );
  assert.throws(
    () => resolveBudget({ budgetTokens: 151 }, 150),
    /budgetTokens: got 151, expected an integer in \[1, 150\] \(the prompt has T=150 tokens\)/,
  );
  assert.throws(() => resolveBudget({ budgetTokens: 2.5 }, 150), /budgetTokens: got 2.5/);
  assert.throws(
    () => resolveBudget({ ratio: 0.5 }, 150),
    /ratio: got 0.5, expected a finite number ≥ 1/,
  );
  assert.throws(() => resolveBudget({ ratio: NaN }, 150), /ratio: got NaN/);
  assert.throws(
    () => resolveBudget({ ratio: 2, budgetTokens: 3 } as never, 150),
    (e: Error) =>
      e instanceof TypeError && /exactly one of \{ ratio \} or \{ budgetTokens \}/.test(e.message),
  );
  assert.throws(() => resolveBudget({} as never, 150), TypeError);
});

Deno.test("budget: forced tokens count in the budget and must fit", () => {
  assert.equal(forcedCount({ sinks: 4, recent: 32 }, 100), 36);
  assert.equal(forcedCount({ sinks: 8, recent: 8 }, 10), 10);
  checkForced("m", { sinks: 4, recent: 32 }, 100, 36);
  assert.throws(
    () => checkForced("snapkv", { sinks: 0, recent: 32 }, 100, 20),
    /snapkv: a budget of 20 tokens cannot hold the 32 tokens it always keeps \(0 sinks \+ 32 recent\); expected a budget ≥ 32/,
  );
});

// --- pyramidkv ---------------------------------------------------------------------------------

/** The real-valued schedule the budgets follow (PyramidKV / kvpress). */
function line(L: number, A: number, T: number, w: number, beta: number): number[] {
  const a = A - w;
  let min = a / beta, max = 2 * a - min;
  if (max > T - w) [max, min] = [T - w, 2 * a - (T - w)];
  return Array.from({ length: L }, (_, l) => w + max - (l * (max - min)) / Math.max(1, L - 1));
}

const PYRAMIDS = [
  { L: 32, A: 512, T: 8192, w: 32, beta: 20 },
  { L: 32, A: 128, T: 1000, w: 32, beta: 20 },
  { L: 28, A: 300, T: 4000, w: 8, beta: 7.5 },
  { L: 4, A: 90, T: 100, w: 10, beta: 20 }, // capped: max = T − w
  { L: 80, A: 2048, T: 2500, w: 64, beta: 20 }, // capped, many layers
  { L: 3, A: 32, T: 64, w: 32, beta: 20 }, // the window alone
  { L: 2, A: 7, T: 7, w: 1, beta: 1 }, // flat: β = 1, budget = T
];

for (const c of PYRAMIDS) {
  Deno.test(`pyramidkv budgets L=${c.L} A=${c.A} T=${c.T} w=${c.w} beta=${c.beta}`, () => {
    const b = pyramidBudgets(c.L, c.A, { T: c.T, window: c.w, beta: c.beta });
    const r = line(c.L, c.A, c.T, c.w, c.beta);
    assert.equal(b.length, c.L);
    assert.equal(b.reduce((x, y) => x + y, 0), c.L * c.A, "same total as a flat budget");
    b.forEach((x, l) => {
      assert.ok(Number.isInteger(x) && x >= c.w && x <= c.T, `layer ${l}: ${x} in [w, T]`);
      assert.ok(Math.abs(x - r[l]) < 1, `layer ${l}: ${x} within one token of ${r[l]}`);
      if (l > 0) assert.ok(x <= b[l - 1], `layer ${l}: ${x} ≤ layer ${l - 1}: ${b[l - 1]}`);
    });
    if (c.A > c.w && c.beta > 1) assert.ok(b[0] > b[c.L - 1], "lower layers keep more");
    assert.equal(
      pyramidBudget(c.L - 1, c.L, c.A, { T: c.T, window: c.w, beta: c.beta }),
      b[c.L - 1],
    );
  });
}

Deno.test("pyramidkv budgets: worked examples and errors", () => {
  // a = 80, min 4, max 156 > T − w = 90: capped to 90 … 70; floors 90 83 76 70, +1 to layer 1
  assert.deepEqual(pyramidBudgets(4, 90, { T: 100, window: 10, beta: 20 }), [100, 94, 86, 80]);
  // a = 96, min 4.8, max 187.2, step 30.4: floors 187 156 126 96 65 35 4 (= 669); 3 more to
  // layers 0..2 (layer 3's 96 is whole, so it gets none)
  assert.deepEqual(
    pyramidBudgets(7, 128, { T: 4096, window: 32, beta: 20 }),
    [220, 189, 159, 128, 97, 67, 36],
  );
  assert.deepEqual(pyramidBudgets(1, 77, { T: 100, window: 32, beta: 20 }), [77]);
  assert.throws(
    () => pyramidBudgets(4, 20, { T: 100, window: 32, beta: 20 }),
    /average budget \(tokens per layer\): got 20, expected an integer in \[32, 100\]/,
  );
  assert.throws(() => pyramidBudgets(4, 50, { T: 100, window: 32, beta: 0.5 }), /beta: got 0.5/);
  assert.throws(() => pyramidBudget(4, 4, 50, { T: 100, window: 32, beta: 20 }), /layer: got 4/);
});

// --- parameters --------------------------------------------------------------------------------

Deno.test("params: defaults filled in; unknown names and bad values throw", () => {
  assert.deepEqual(resolveParams(getMethod("snapkv")), { window: 32, kernel: 7 });
  assert.deepEqual(resolveParams(getMethod("pyramidkv"), { beta: 5 }), {
    window: 32,
    kernel: 7,
    beta: 5,
  });
  assert.deepEqual(resolveParams(getMethod("streaming_llm")), { sinks: 4 });
  assert.deepEqual(resolveParams(getMethod("random"), { seed: 9 }), { seed: 9 });
  assert.deepEqual(resolveParams(getMethod("h2o")), { recent_ratio: 0.5 });
  assert.deepEqual(resolveParams(getMethod("tova")), {});
  assert.throws(
    () => resolveParams(getMethod("h2o"), { recent_ratio: -0.5 }),
    /h2o recent_ratio: got -0.5, expected a number in \[0, 1\]/,
  );
  assert.throws(
    () => resolveParams(getMethod("snapkv"), { window: -1 }),
    (e: Error) =>
      e instanceof RangeError &&
      /snapkv window: got -1, expected an integer in \[1, 256\]/.test(e.message),
  );
  assert.throws(
    () => resolveParams(getMethod("snapkv"), { kernel: 6 }),
    /kernel \(pooling\): got 6, expected an odd integer/,
  );
  assert.throws(
    () => resolveParams(getMethod("snapkv"), { windw: 8 }),
    /snapkv: unknown parameter "windw"; expected one of window, kernel/,
  );
  assert.throws(
    () => resolveParams(getMethod("knorm"), { window: 8 }),
    /knorm: unknown parameter "window"; expected none/,
  );
  assert.throws(() => resolveParams(getMethod("streaming_llm"), { sinks: -4 }), /sinks: got -4/);
  assert.throws(
    () => resolveParams(getMethod("pyramidkv"), { beta: 0 }),
    /beta: got 0, expected a number in \[1, 1000000\]/,
  );
});

// --- composition names -------------------------------------------------------------------------

Deno.test("composition: <method>[+<format>] parsed; unknown parts named", () => {
  const a = parseComposition("snapkv+kivi4");
  assert.equal(a.method.name, "snapkv");
  assert.equal(a.format, "kivi4");
  assert.equal(parseComposition("knorm").format, DEFAULT_FORMAT);
  for (const m of METHODS) {
    for (const f of formatNames()) {
      if (m.formats && !m.formats.includes(f)) {
        assert.throws(() => parseComposition(`${m.name}+${f}`), /cannot be stored as/);
      } else {
        assert.equal(parseComposition(`${m.name}+${f}`).format, f);
      }
    }
  }
  assert.throws(
    () => parseComposition("h3o+kivi4"),
    /unknown method "h3o" in "h3o\+kivi4"; expected one of streaming_llm, snapkv, pyramidkv, knorm, random, h2o, tova/,
  );
  assert.throws(
    () => parseComposition("h2o+kivi4"),
    /h2o cannot be stored as kivi4 \(in "h2o\+kivi4"\); it combines with fp32, fp16, int8, int4/,
  );
  assert.throws(
    () => parseComposition("tova+kivi2"),
    /tova cannot be stored as kivi2 \(in "tova\+kivi2"\); it combines with fp32, fp16, int8, int4/,
  );
  assert.throws(
    () => parseComposition("snapkv+kivi3"),
    /unknown cache format "kivi3" in "snapkv\+kivi3"; expected one of fp32, fp16, kivi2/,
  );
  assert.throws(
    () => parseComposition("snapkv+kivi4+int8"),
    /expected "<method>" or "<method>\+<format>"/,
  );
  assert.throws(() => parseComposition("+kivi4"), /expected "<method>" or "<method>\+<format>"/);
  assert.throws(() => getMethod("SnapKV"), /unknown method "SnapKV"; expected one of/);
  const picky: MethodInfo = { ...getMethod("knorm"), name: "picky", formats: ["fp16", "fp32"] };
  assert.throws(
    () => parseComposition("picky+int4", [picky]),
    /picky cannot be stored as int4 \(in "picky\+int4"\); it combines with fp16, fp32/,
  );
});

// --- registry house rules ----------------------------------------------------------------------

Deno.test("registry: one file per method, opening with what it does and its paper", async () => {
  const names = METHODS.map((m) => m.name);
  assert.equal(new Set(names).size, names.length, "unique names");
  for (const m of METHODS) {
    assert.match(m.name, /^[a-z][a-z0-9_]*$/);
    assert.match(m.paper, /^https:\/\//, `${m.name}: paper link`);
    assert.ok(m.description.length > 20, `${m.name}: description`);
    const first =
      (await Deno.readTextFile(new URL(`../engine/methods/${m.name}.ts`, import.meta.url)))
        .split("\n")[0];
    assert.ok(first.startsWith(`// ${m.name}: `), `${m.name}.ts opens with "// ${m.name}: "`);
    assert.ok(first.includes(m.paper), `${m.name}.ts's first line cites ${m.paper}`);
    for (const p of m.params) {
      assert.ok(p.min <= p.default && p.default <= p.max, `${m.name} ${p.name}: default in range`);
    }
    resolveParams(m); // the defaults pass the method's own rules
  }
});
