// LongBench's official metrics on known cases, and the loader, templates and truncation on the
// sample files. Expected values were computed by the official Python code: THUDM/LongBench
// metrics.py (v1), with rouge 1.0.1 (pltrdy/rouge) and fuzzywuzzy 0.18 on difflib (no
// python-Levenshtein, as in LongBench's environment), under CPython 3.11. jieba is checked against
// its README's segmentations; the Chinese metrics' expected values were computed from those
// segmentations by metrics.py's own token-level code.

import assert from "node:assert/strict";
import { jiebaCut } from "../engine/tasks/jieba.ts";
import {
  LONGBENCH_DATASETS,
  LONGBENCH_MAXLEN,
  LONGBENCH_METRIC,
  LONGBENCH_PROMPTS,
} from "../engine/tasks/longbench_config.ts";
import {
  classificationFallback,
  classificationScore,
  codeSimScore,
  countScore,
  longbenchScore,
  normalizeAnswer,
  qaF1Score,
  qaF1ZhScore,
  retrievalScore,
  retrievalZhScore,
  rougeScore,
  rougeZhScore,
} from "../engine/tasks/longbench_metrics.ts";
import { readLongBench, truncateMiddle } from "../engine/tasks/longbench.ts";
import { getTask } from "../engine/tasks/registry.ts";
import { have, LONGBENCH_DIR, STORIES, storiesTokenizer, WordTokenizer } from "./tasks_helpers.ts";

const HAS_STORIES = have(STORIES, "LongBench truncation on stories260K");
const HAS_LONGBENCH = have(LONGBENCH_DIR, "LongBench sample files");

const LONG_PRED = "x".repeat(150) + "abc".repeat(40);
const LONG_TRUTH = "x".repeat(140) + "abd".repeat(40);

// [prediction, ground truth, official score]
const QA_F1: [string, string, number][] = [
  ["The Eiffel Tower", "Eiffel Tower", 1.0],
  ["It was built in 1889 by Gustave Eiffel.", "Gustave Eiffel", 0.4],
  ["an apple a day", "the apple", 0.6666666666666666],
  ["Paris, France!", "paris", 0.6666666666666666],
  ["", "something", 0],
  ["the the the", "the", 0],
  ["New York City, New York", "New York", 0.5714285714285715],
  ["Theater and anthem", "the theater", 0.5],
];
const ROUGE: [string, string, number][] = [
  [
    "The cat sat on the mat. It was happy.",
    "The cat was on the mat. The cat was happy.",
    0.8749999950781251,
  ],
  ["police arrested two men", "Two men were arrested by police on Monday.", 0.16666666222222234],
  ["a b c d e. f g h", "a c e. g h b", 0.8571428522448981],
  ["", "reference text.", 0.0],
  ["...", "reference text.", 0.0],
  ["Hello.  World .", "hello world", 0.0],
  [
    "the quick brown fox jumps over the lazy dog",
    "the quick brown dog jumps on the lazy fox",
    0.624999995,
  ],
  ["x y z", "x y z", 0.999999995],
];
// [prediction, ground truth, all_classes, official score]
const CLASSIFICATION: [string, string, string[], number][] = [
  ["Location", "Location", ["Location", "Description", "Entity"], 1.0],
  ["The answer is Entity or Location", "Location", ["Location", "Description", "Entity"], 0.5],
  ["Number", "Location", ["Location", "Number", "Entity"], 0.0],
  ["nothing here", "Location", ["Location", "Number"], 0.0],
  ["Country and City", "City", ["City", "Country", "Country name", "Name"], 0.5],
  ["Abbreviation Expression abbreviated", "Abbreviation", [
    "Abbreviation",
    "Expression abbreviated",
    "Expression",
    "abbreviated",
  ], 0.25],
  ["Manner of an action", "Manner of an action", ["Manner", "Manner of an action", "action"], 1.0],
];
const RETRIEVAL: [string, string, number][] = [
  ["Paragraph 3", "Paragraph 3", 1.0],
  ["The answer is Paragraph 12, not 3", "Paragraph 12", 0.5],
  ["Paragraph 1 or Paragraph 2", "Paragraph 2", 0.5],
  ["none", "Paragraph 5", 0.0],
  ["Paragraph 30", "Paragraph 3", 0.0],
];
const RETRIEVAL_ZH: [string, string, number][] = [
  ["段落27", "段落27", 1.0],
  ["答案是段落3和段落27", "段落27", 0.5],
  ["段落 27", "段落27", 1.0],
  ["无", "段落1", 0.0],
];
const COUNT: [string, string, number][] = [
  ["5", "5", 1.0],
  ["There are 5 unique paragraphs out of 12", "5", 0.5],
  ["12", "5", 0.0],
  ["five", "5", 0.0],
  ["5 5", "5", 1.0],
];
const CODE_SIM: [string, string, number][] = [
  ["    return x + 1\n", "    return x + 1", 1.0],
  ["```python\n    return x + 1\n```", "    return x + 1", 1.0],
  ["# comment\nfoo(bar)", "foo(baz)", 0.88],
  ["\n\nself.assertEqual(a, b)", "self.assertEqual(a, c)", 0.95],
  ["// note\n", "int x = 0;", 0.0],
  ["", "", 1.0],
  ["int y = 1;", "int x = 0;", 0.8],
  [LONG_PRED, LONG_TRUTH, 0.53],
];
// jieba's README, accurate mode (jieba.cut(s, cut_all=False))
const JIEBA: [string, string[]][] = [
  ["我来到北京清华大学", ["我", "来到", "北京", "清华大学"]],
  ["他来到了网易杭研大厦", ["他", "来到", "了", "网易", "杭研", "大厦"]],
  [
    "小明硕士毕业于中国科学院计算所，后在日本京都大学深造",
    [
      "小明",
      "硕士",
      "毕业",
      "于",
      "中国科学院",
      "计算所",
      "，",
      "后",
      "在",
      "日本京都大学",
      "深造",
    ],
  ],
];
// [prediction, ground truth, qa_f1_zh_score, rouge_zh_score]: metrics.py on jieba's cuts above
const ZH: [string, string, number, number][] = [
  ["我来到北京清华大学", "清华大学", 0.4, 0.39999999680000003],
  ["他来到了网易杭研大厦", "网易杭研大厦。", 0.6666666666666666, 0.5999999952],
  [
    "小明硕士毕业于中国科学院计算所，后在日本京都大学深造",
    "中国科学院计算所",
    0.33333333333333337,
    0.30769230508875745,
  ],
];

function close(got: number, want: number, what: string) {
  assert.ok(Math.abs(got - want) <= 1e-12, `${what}: got ${got}, official ${want}`);
}

Deno.test("LongBench qa_f1_score and normalize_answer match metrics.py", () => {
  for (const [p, g, want] of QA_F1) close(qaF1Score(p, g), want, `qa_f1(${p}, ${g})`);
  assert.equal(normalizeAnswer("The  Eiffel-Tower, an icon!"), "eiffeltower icon");
});

Deno.test("LongBench rouge_score (ROUGE-L F of rouge 1.0.1) matches metrics.py", () => {
  for (const [p, g, want] of ROUGE) close(rougeScore(p, g), want, `rouge(${p}, ${g})`);
});

Deno.test("LongBench classification_score keeps metrics.py's iteration quirk", () => {
  for (const [p, g, c, want] of CLASSIFICATION) {
    close(classificationScore(p, g, c), want, `classification(${p}, ${g})`);
  }
  // the branch metrics.py never reaches: the class closest by difflib ratio
  assert.equal(classificationFallback("Locaton", "Location", ["Location", "Number"]), 1);
  assert.equal(classificationFallback("Numbr", "Location", ["Location", "Number"]), 0);
});

Deno.test("LongBench retrieval, retrieval_zh and count scores match metrics.py", () => {
  for (const [p, g, want] of RETRIEVAL) close(retrievalScore(p, g), want, `retrieval(${p}, ${g})`);
  for (const [p, g, want] of RETRIEVAL_ZH) {
    close(retrievalZhScore(p, g), want, `retrieval_zh(${p}, ${g})`);
  }
  for (const [p, g, want] of COUNT) close(countScore(p, g), want, `count(${p}, ${g})`);
  assert.throws(() => retrievalScore("1", "no paragraph"), /does not match/);
});

Deno.test("LongBench code_sim_score: first code line, fuzzywuzzy ratio on difflib (autojunk included)", () => {
  for (const [p, g, want] of CODE_SIM) {
    close(codeSimScore(p, g), want, `code_sim(${JSON.stringify(p).slice(0, 30)})`);
  }
});

Deno.test("jieba (jieba-rs via jieba-wasm) cuts jieba's README sentences as jieba does", () => {
  for (const [text, want] of JIEBA) assert.deepEqual(jiebaCut(text), want, text);
});

Deno.test("LongBench qa_f1_zh_score and rouge_zh_score match metrics.py on jieba's cuts", () => {
  for (const [p, g, f1, rouge] of ZH) {
    close(qaF1ZhScore(p, g), f1, `qa_f1_zh(${p}, ${g})`);
    close(rougeZhScore(p, g), rouge, `rouge_zh(${p}, ${g})`);
  }
  close(qaF1ZhScore("厦门大学。", "厦门大学"), 1, "punctuation-only tokens are dropped");
});

Deno.test("LongBench scorer: first line for trec/triviaqa/samsum/lsht, best over ground truths", () => {
  assert.equal(
    longbenchScore("triviaqa", "\nParis\nLondon", ["London"]),
    0,
    "only the first line counts",
  );
  assert.equal(
    longbenchScore("hotpotqa", "\nParis\nLondon", ["London"]),
    qaF1Score("\nParis\nLondon", "London"),
  );
  assert.equal(longbenchScore("hotpotqa", "Paris", ["London", "Paris"]), 1);
  assert.equal(longbenchScore("trec", "Location\nNumber", ["Location"], ["Location", "Number"]), 1);
  assert.throws(() => longbenchScore("nope", "", []), /LongBench dataset "nope" has no metric/);
});

Deno.test("LongBench config: every dataset has a template, a generation length and a metric", () => {
  assert.equal(LONGBENCH_DATASETS.length, 21);
  for (const d of LONGBENCH_DATASETS) {
    assert.ok(LONGBENCH_PROMPTS[d].includes("{context}"), d);
    assert.ok(LONGBENCH_MAXLEN[d] > 0, d);
    assert.ok(LONGBENCH_METRIC[d], d);
  }
  assert.equal(LONGBENCH_MAXLEN.multi_news, 512);
  assert.equal(LONGBENCH_MAXLEN.passage_retrieval_zh, 32);
  assert.equal(LONGBENCH_MAXLEN.multifieldqa_zh, 64);
});

Deno.test({
  name: "LongBench truncation keeps the first and last half of max_length tokens (pred.py)",
  ignore: !HAS_STORIES,
  fn: async () => {
    const tok = await storiesTokenizer();
    const text = Array.from({ length: 300 }, (_, i) => `Sentence number ${i} is here.`).join(" ");
    const ids = tok.encode(text);
    const t = truncateMiddle(text, tok, 500);
    assert.ok(t.truncated);
    assert.equal(t.tokensBefore, ids.length);
    assert.equal(t.prompt, tok.decode(ids.slice(0, 250)) + tok.decode(ids.slice(-250)));
    assert.ok(t.prompt.startsWith("Sentence number 0 is here."));
    assert.ok(t.prompt.endsWith("Sentence number 299 is here."));
    assert.ok(
      Math.abs(tok.encode(t.prompt).length - 500) <= 4,
      "about max_length after re-encoding",
    );
    const short = truncateMiddle("Sentence.", tok, 500);
    assert.deepEqual(short, {
      prompt: "Sentence.",
      truncated: false,
      tokensBefore: tok.encode("Sentence.").length,
    });
  },
});

Deno.test({
  name: "LongBench loader: the three sample datasets with their templates, lengths and metrics",
  ignore: !HAS_LONGBENCH,
  fn: async () => {
    const t = getTask("longbench");
    const tok = new WordTokenizer();
    for (const dataset of ["multi_news", "multifieldqa_zh", "passage_retrieval_zh"]) {
      const rows = readLongBench(`${LONGBENCH_DIR}/${dataset}.jsonl`);
      assert.equal(rows.length, 200);
      const samples = await t.generate(1, 1_000_000, tok, {
        path: LONGBENCH_DIR,
        dataset,
        samples: 5,
      });
      assert.equal(samples.length, 5);
      assert.deepEqual(
        samples,
        await t.generate(1, 1_000_000, tok, { path: LONGBENCH_DIR, dataset, samples: 5 }),
      );
      for (const s of samples) {
        const row = rows.find((r) => `${dataset}:${r._id}` === s.id)!;
        const [head, tail] = LONGBENCH_PROMPTS[dataset].split("{context}");
        assert.equal(
          s.prompt,
          head.replace("{input}", row.input) + row.context + tail.replace("{input}", row.input),
        );
        assert.equal(s.maxNewTokens, LONGBENCH_MAXLEN[dataset]);
        assert.equal(s.meta.truncated, false);
        assert.equal(s.meta.chat, true);
        assert.equal(s.meta.metric, LONGBENCH_METRIC[dataset]);
        assert.deepEqual(s.answers, row.answers);
        assert.ok(t.score(row.answers[0], s) > 0.99, `${s.id}: the reference scores ~1`);
        assert.equal(t.score("", s), 0);
      }
    }
    // a file path works too, and its dataset comes from its rows
    const [s] = await t.generate(1, 1000, tok, {
      path: `${LONGBENCH_DIR}/passage_retrieval_zh.jsonl`,
      samples: 1,
    });
    assert.equal(s.meta.dataset, "passage_retrieval_zh");
    assert.equal(s.meta.truncated, true);
    assert.ok((s.meta.tokens as number) <= 1000 + 2);
    await assert.rejects(
      () => t.generate(1, 1000, tok, { path: LONGBENCH_DIR }),
      /is a folder: parameter "dataset" is required/,
    );
    await assert.rejects(
      () => t.generate(1, 1000, tok, { path: LONGBENCH_DIR, dataset: "qasper" }),
      /qasper.jsonl does not exist/,
    );
  },
});
