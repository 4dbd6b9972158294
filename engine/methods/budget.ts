// Budget arithmetic shared by every method, so families line up:
//   { ratio: x }          keep 1/x of the prompt: budget = ceil(T / x) tokens per (b, hk), x ≥ 1
//                         (as the longctx_bench paper, https://arxiv.org/abs/2407.01527; rounding
//                         up keeps at least 1/x and at least one token)
//   { budgetTokens: n }   keep n tokens per (b, hk), 1 ≤ n ≤ T
// The budget counts every kept token, forced ones (sinks, windows) included. Per-layer budgets
// (pyramidkv) redistribute the average across layers at the same total.

import { checkInt } from "../shapes.ts";
import type { Forced } from "./method.ts";

export type Budget = { readonly ratio: number } | { readonly budgetTokens: number };

/** Validates a budget without a prompt (what can be checked before T is known). */
export function checkBudget(budget: Budget): void {
  const hasRatio = "ratio" in budget && budget.ratio !== undefined;
  const hasTokens = "budgetTokens" in budget && budget.budgetTokens !== undefined;
  if (hasRatio === hasTokens) {
    throw new TypeError(
      `budget: expected exactly one of { ratio } or { budgetTokens }, got ${
        JSON.stringify(budget)
      }`,
    );
  }
  if ("ratio" in budget) {
    const x = budget.ratio;
    if (typeof x !== "number" || !Number.isFinite(x) || x < 1) {
      throw new RangeError(
        `ratio: got ${x}, expected a finite number ≥ 1 (keep 1/ratio of the prompt's tokens)`,
      );
    }
  } else if (!Number.isInteger(budget.budgetTokens) || budget.budgetTokens < 1) {
    throw new RangeError(
      `budgetTokens: got ${budget.budgetTokens}, expected an integer ≥ 1 (tokens kept per KV head)`,
    );
  }
}

/** Tokens kept per (b, hk) for a prompt of T tokens. */
export function resolveBudget(budget: Budget, T: number): number {
  checkBudget(budget);
  checkInt("T (prompt tokens)", T);
  if ("ratio" in budget) return Math.ceil(T / budget.ratio);
  if (budget.budgetTokens > T) {
    throw new RangeError(
      `budgetTokens: got ${budget.budgetTokens}, expected an integer in [1, ${T}] ` +
        `(the prompt has T=${T} tokens)`,
    );
  }
  return budget.budgetTokens;
}

/** How many of T positions the forced ranges cover. */
export function forcedCount(f: Forced, T: number): number {
  return Math.min(T, f.sinks + f.recent);
}

/** Throws unless the forced tokens fit in the budget. */
export function checkForced(method: string, f: Forced, T: number, budget: number): void {
  checkInt(`${method} forced sinks`, f.sinks, 0);
  checkInt(`${method} forced recent tokens`, f.recent, 0);
  const n = forcedCount(f, T);
  if (n > budget) {
    throw new RangeError(
      `${method}: a budget of ${budget} tokens cannot hold the ${n} tokens it always keeps ` +
        `(${f.sinks} sinks + ${f.recent} recent); expected a budget ≥ ${n}`,
    );
  }
}
