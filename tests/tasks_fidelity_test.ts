// Fidelity to the full cache, on hand-worked logits: top-1 agreement, KL(P_full || P_method) and
// perplexity, their invariances, and their errors.

import assert from "node:assert/strict";
import {
  argmax,
  klDivergence,
  logSoftmax,
  meanKl,
  perplexity,
  tokenLogProbs,
  top1Agreement,
} from "../engine/tasks/fidelity.ts";
import { getTask } from "../engine/tasks/registry.ts";
import { WordTokenizer } from "./tasks_helpers.ts";

Deno.test("fidelity: top-1 agreement counts steps whose argmax agrees (ties: lowest index)", () => {
  const full = [[1, 2, 3], [3, 2, 1], [0, 5, 5]];
  const method = [[0, 0, 5], [0, 5, 0], [1, 7, 7]];
  assert.equal(argmax([0, 5, 5]), 1);
  assert.equal(top1Agreement(full, method), 2 / 3);
  assert.equal(top1Agreement(full, full), 1);
  assert.equal(top1Agreement([Float32Array.of(0, 1)], [Float64Array.of(1, 0)]), 0);
});

Deno.test("fidelity: KL(P_full || P_method) by hand, zero for equal or shifted logits", () => {
  // P = softmax([0, ln 3]) = [1/4, 3/4]; Q = softmax([0, 0]) = [1/2, 1/2]
  // KL = 1/4 ln(1/2) + 3/4 ln(3/2)
  const want = 0.25 * Math.log(0.5) + 0.75 * Math.log(1.5);
  assert.ok(Math.abs(klDivergence([0, Math.log(3)], [0, 0]) - want) < 1e-15);
  assert.ok(Math.abs(want - 0.130812035941137) < 1e-12);
  assert.equal(klDivergence([1, 2, 3], [11, 12, 13]), 0, "a constant shift changes nothing");
  // mean over steps
  const m = meanKl([[0, Math.log(3)], [4, 4]], [[0, 0], [1, 1]]);
  assert.ok(Math.abs(m - want / 2) < 1e-15);
  // large logits stay finite (max-shifted softmax)
  assert.ok(Number.isFinite(klDivergence([1000, 0], [0, 1000])));
  const ls = logSoftmax([1000, 1000]);
  assert.ok(Math.abs(ls[0] - Math.log(0.5)) < 1e-12);
});

Deno.test("fidelity: perplexity = exp(-mean log p), from log-probs or from logits", () => {
  assert.ok(Math.abs(perplexity([Math.log(0.5), Math.log(0.25)]) - 2 * Math.SQRT2) < 1e-12);
  assert.equal(perplexity([0, 0, 0]), 1);
  const lp = tokenLogProbs([[0, Math.log(3)], [0, 0]], [1, 0]);
  assert.ok(Math.abs(lp[0] - Math.log(0.75)) < 1e-15 && Math.abs(lp[1] - Math.log(0.5)) < 1e-15);
  assert.ok(Math.abs(perplexity(lp) - Math.exp(-(Math.log(0.75) + Math.log(0.5)) / 2)) < 1e-12);
});

Deno.test("fidelity: mismatched or empty inputs are refused with what was expected", () => {
  assert.throws(() => top1Agreement([], []), /top1Agreement: no steps/);
  assert.throws(
    () => meanKl([[1, 2]], [[1, 2], [3, 4]]),
    /1 steps of full-cache logits but 2 of the method's/,
  );
  assert.throws(
    () => meanKl([[1, 2]], [[1, 2, 3]]),
    /step 0 has 2 full-cache logits and 3 method logits/,
  );
  assert.throws(() => perplexity([]), /perplexity: no tokens/);
  assert.throws(() => perplexity([0.5]), /log-probability 0.5 at token 0; expected a value <= 0/);
  assert.throws(
    () => tokenLogProbs([[0, 1]], [2]),
    /token 2 at step 0 is outside the vocabulary \[0, 2\)/,
  );
  assert.throws(() => logSoftmax([-Infinity]), /largest logit is -Infinity/);
});

Deno.test("fidelity task: plain text fitted to the budget; text scoring is refused", async () => {
  const tok = new WordTokenizer();
  const t = getTask("fidelity");
  assert.equal(t.scoring, "logits");
  assert.equal(t.model, "any");
  const [s] = await t.generate(1, 1000, tok, { steps: 16 });
  assert.equal(s.maxNewTokens, 16);
  assert.ok((s.meta.tokens as number) <= 1000 && (s.meta.tokens as number) > 970);
  assert.throws(() => t.score("x", s), /fidelity is scored from logits, not text/);
});
