// quest: query-aware page selection — each decode step reads only the pages whose key bounds promise the highest attention scores (Tang et al., 2024, "Quest: Query-Aware Sparsity for Efficient Long-Context LLM Inference", https://arxiv.org/abs/2406.10774).
//
// The cache is split into pages of `page` tokens (default 16, as Quest). Each page keeps the
// per-channel max M and min m of its stored (post-RoPE) keys. For the step's query q, the upper
// bound of q·k over the page's keys is U = Σ_d max(q_d·M_d, q_d·m_d); the top-k pages by U are
// read, the rest skipped, and attention is exact over the selected pages' tokens. Nothing is
// evicted: the cache keeps every token (and the metadata beside it), so the budget is the number
// of tokens *read* per step, not stored.
//
// kvlab's choices, where the paper leaves room:
//   budget    { ratio: x } or { budgetTokens: n } (budget.ts), resolved once against the prompt's
//             T tokens: n tokens → k = ceil(n / page) pages per step, min(k, pages held); a
//             budget ≥ T reads every page (full attention).
//   last page always selected (as Quest's code: it holds the token being decoded), and it
//             counts as one of the k; the other k − 1 are the highest bounds among the rest,
//             ties to the lower page index.
//   GQA       the kept set is per KV head (kvlab's rule): a page's score for KV head hk is the
//             MAX over the group's G query heads of their bounds U_h — still an upper bound of
//             every head's q_h·k, so a page one head needs strongly is selected for the group.
//   metadata  f16, rounded outward (max up, min down to the next f16), so U stays an upper bound
//             of the scores the kernel computes from the stored keys; keys beyond ±65504 are
//             clamped there (the bound may then undershoot). [B, Hkv, pages, 2, D/2] u32.
//   layers    Quest leaves the first two layers dense (QUEST_DENSE_LAYERS); that is the
//             model's choice (engine/model/session.ts), not this layer's (see quest_layer.ts).
// The GPU side is QuestLayer (quest_layer.ts): page metadata (quest_pages.wgsl, through the
// cache format's read snippet, so quest+kivi4 reads KIVI keys as decode does), bounds and top-k
// (quest_select.wgsl), attention over the selected pages of the stored cache (quest_attention).
// The float64 specification is engine/reference/quest.ts.

import { checkInt } from "../shapes.ts";
import { type Budget, resolveBudget } from "./budget.ts";
import type { MethodInfo, Params } from "./method.ts";

export const QUEST_PAGE = 16;
/**
 * Layers a model keeps dense under quest: the first two (Quest's code skips them; their
 * attention is not sparse enough to select from). engine/model/session.ts gives layers
 * 0 .. QUEST_DENSE_LAYERS − 1 plain decode attention and every later one a QuestLayer.
 */
export const QUEST_DENSE_LAYERS = 2;
/** Page sizes are multiples of this: the decode kernel reads keys in blocks of up to 4 tokens. */
export const QUEST_PAGE_MULTIPLE = 4;

export const QUEST: MethodInfo = {
  name: "quest",
  family: "sparse",
  mode: "sparse",
  description:
    "Pages of 16 tokens keep per-channel key min/max; each decode step attends only to the top " +
    "pages by the upper bound Σ max(q·max, q·min) (the last page always). Nothing is evicted: " +
    "the budget is tokens read per step.",
  paper: "https://arxiv.org/abs/2406.10774",
  params: [
    {
      name: "page",
      type: "int",
      default: QUEST_PAGE,
      min: QUEST_PAGE_MULTIPLE,
      max: 1024,
      description: "tokens per page (a multiple of 4)",
    },
  ],
  validate(p: Params): void {
    if (p.page % QUEST_PAGE_MULTIPLE !== 0) {
      throw new RangeError(
        `quest page: got ${p.page}, expected a multiple of ${QUEST_PAGE_MULTIPLE} in [4, 1024]`,
      );
    }
  },
  queries: () => 0,
  /** The last page's tokens are always read. */
  forced: (p, T) => ({ sinks: 0, recent: T - Math.floor((T - 1) / p.page) * p.page }),
};

// --- budget arithmetic -------------------------------------------------------------------------

/** Pages per step for a budget over a T-token prompt: ceil(tokens / page). */
export function questPages(budget: Budget, T: number, page: number): number {
  checkInt("quest page", page, QUEST_PAGE_MULTIPLE, 1024);
  return Math.ceil(resolveBudget(budget, T) / page);
}

/** Pages held by a sequence of `len` tokens. */
export function pagesHeld(len: number, page: number): number {
  return Math.ceil(len / page);
}

/** Pages read per step at length `len` with `pages` the budget's: min(pages, held). */
export function pagesRead(len: number, page: number, pages: number): number {
  return Math.min(pages, pagesHeld(len, page));
}

/**
 * Tokens read per step at length `len`: the selected pages are full except the last page,
 * which is always selected and holds len − (held − 1)·page tokens.
 */
export function tokensRead(len: number, page: number, pages: number): number {
  if (len === 0) return 0;
  const held = pagesHeld(len, page);
  return (pagesRead(len, page, pages) - 1) * page + (len - (held - 1) * page);
}
