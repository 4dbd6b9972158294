// RULER's synthetic tasks: RULER's text, deterministic generation, prompts fitted under the
// budget (stories260K and a word-level tokenizer), answers where they must be, RULER's scorers on
// known cases, and the import of jsonl made by RULER's own scripts.

import assert from "node:assert/strict";
import { rulerPercent, stringMatchAll, stringMatchPart } from "../engine/tasks/match.ts";
import { getTask } from "../engine/tasks/registry.ts";
import { NIAH_CONFIGS, RULER_TEMPLATES } from "../engine/tasks/ruler_constants.ts";
import { readRulerJsonl, taskOfPath } from "../engine/tasks/ruler_jsonl.ts";
import type { Sample, TaskTokenizer } from "../engine/tasks/types.ts";
import {
  count,
  ESSAYS,
  have,
  RULER_SAMPLE,
  STORIES,
  storiesTokenizer,
  WordTokenizer,
} from "./tasks_helpers.ts";

const HAS_STORIES = have(STORIES, "RULER tasks on stories260K");
const HAS_ESSAYS = have(ESSAYS, "RULER essay-haystack tasks");
const HAS_RULER = have(RULER_SAMPLE, "RULER jsonl import");

const NOISE_TASKS = ["niah_single_1", "niah_multikey_2", "niah_multikey_3", "vt", "cwe", "fwe"];
const ESSAY_TASKS = [
  "niah_single_2",
  "niah_single_3",
  "niah_multikey_1",
  "niah_multivalue",
  "niah_multiquery",
];

function tokens(tok: TaskTokenizer, s: Sample): number {
  return tok.encode(s.prompt + s.answerPrefix).length;
}

/** Under the budget, and within 6% (+ one haystack unit's worth) of it. */
function assertFits(tok: TaskTokenizer, s: Sample, length: number) {
  const n = tokens(tok, s);
  assert.equal(n, s.meta.tokens, `${s.id}: meta.tokens`);
  assert.ok(n <= length, `${s.id}: ${n} tokens over the budget ${length}`);
  assert.ok(n >= length * 0.94 - 120, `${s.id}: ${n} tokens is far under the budget ${length}`);
}

/** Every answer of a RULER task is in the prompt where the task puts it. */
function assertAnswersPlaced(name: string, s: Sample) {
  const text = s.prompt;
  if (name.startsWith("niah")) {
    const cfg = NIAH_CONFIGS[name as keyof typeof NIAH_CONFIGS];
    for (const a of s.answers) {
      assert.match(
        text,
        new RegExp(`One of the special magic ${cfg.typeNeedleV} for \\S+ is: ${a}\\.`),
        `${name}: needle with ${a}`,
      );
    }
    for (const k of (s.meta.keys as string[]).filter((k) => s.answerPrefix.includes(k))) {
      assert.ok(
        text.endsWith("mentioned in the provided text?") &&
          text.lastIndexOf(k) > text.lastIndexOf("\n"),
        `${name}: key ${k} asked`,
      );
    }
    assert.equal(s.answers.length, cfg.numNeedleV * cfg.numNeedleQ);
  } else if (name === "vt") {
    const [first, ...rest] = s.answers;
    const value = s.answerPrefix.match(/the value (\d+)/)![1];
    assert.ok(text.includes(`VAR ${first} = ${value}\n`), `vt: the chain starts at ${value}`);
    rest.forEach((v, i) =>
      assert.ok(
        text.includes(`VAR ${v} = VAR ${s.answers[i]} \n`),
        `vt: ${v} copies ${s.answers[i]}`,
      )
    );
  } else if (name === "cwe") {
    const list = text.slice(text.lastIndexOf("Memorize the ones that appear most often.\n"));
    const words = [...list.matchAll(/\d+\. (\S+)/g)].map((m) => m[1]);
    const freq = new Map<string, number>();
    for (const w of words) freq.set(w, (freq.get(w) ?? 0) + 1);
    const reps = (s.meta.length as number) < 4096 ? 6 : 30;
    for (const a of s.answers) assert.equal(freq.get(a), reps, `cwe: ${a} appears ${reps} times`);
    const others = [...freq].filter(([w]) => !s.answers.includes(w)).map(([, c]) => c);
    assert.ok(Math.max(...others) < reps, "cwe: no other word is as common");
  } else if (name === "fwe") {
    const body = text.slice(text.indexOf("coded words. ") + 13, text.indexOf("\nQuestion:"));
    const freq = new Map<string, number>();
    for (const w of body.split(" ")) freq.set(w, (freq.get(w) ?? 0) + 1);
    const ranked = [...freq].sort((a, b) => b[1] - a[1]).map(([w]) => w);
    assert.equal(ranked[0], "...", "fwe: the noise word is the most frequent");
    assert.deepEqual(new Set(ranked.slice(1, 4)), new Set(s.answers), "fwe: the answers rank 2-4");
    assert.ok(
      freq.get(s.answers[2])! > (freq.get(ranked[4]) ?? 0),
      "fwe: the third answer beats the fifth word",
    );
  }
}

Deno.test({
  name: "RULER: templates, answer prefixes and generation lengths are RULER's",
  ignore: !HAS_STORIES,
  fn: async () => {
    const tok = await storiesTokenizer();
    const [s] = await getTask("niah_single_1").generate(1, 1024, tok);
    assert.ok(s.prompt.startsWith(
      "A special magic number is hidden within the following text. Make sure to memorize it. I will quiz you about the number afterwards.\nThe grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.\n",
    ));
    assert.match(
      s.prompt,
      /\nWhat is the special magic number for [a-z]+-[a-z]+ mentioned in the provided text\?$/,
    );
    assert.match(
      s.answerPrefix,
      /^ The special magic number for [a-z]+-[a-z]+ mentioned in the provided text is$/,
    );
    assert.equal(s.maxNewTokens, 128);
    const [mq] = await getTask("niah_multikey_2").generate(1, 1024, tok);
    assert.ok(
      mq.prompt.includes("\nOne of the special magic numbers for "),
      "distractor needles, plural type",
    );
    const [vt] = await getTask("vt").generate(1, 1500, tok);
    assert.equal(vt.maxNewTokens, RULER_TEMPLATES.variable_tracking.tokensToGenerate);
    assert.equal(vt.maxNewTokens, 30);
    assert.match(
      vt.answerPrefix,
      /^ Answer: According to the chain\(s\) of variable assignment in the text above, 5 variables are assgined the value \d{5}, they are: $/,
    );
    assert.ok(
      vt.prompt.startsWith(
        "Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n",
      ),
    );
    assert.equal(count(vt.prompt, "Memorize and track"), 2, "one example, then the task");
    const [cwe] = await getTask("cwe").generate(1, 1500, tok);
    assert.equal(cwe.maxNewTokens, 120);
    assert.equal(
      cwe.answerPrefix,
      " Answer: The top 10 words that appear most often in the list are:",
    );
    assert.equal(
      count(cwe.prompt, "Question: What are the 10 most common words in the above list?"),
      2,
    );
    const [fwe] = await getTask("fwe").generate(1, 1500, tok);
    assert.equal(fwe.maxNewTokens, 50);
    assert.equal(
      fwe.answerPrefix,
      " Answer: According to the coded text above, the three most frequently appeared words are:",
    );
  },
});

Deno.test({
  name: "RULER: generation is deterministic for a seed and differs across seeds",
  ignore: !HAS_STORIES,
  fn: async () => {
    const tok = await storiesTokenizer();
    for (const name of [...NOISE_TASKS, ...(HAS_ESSAYS ? ["niah_multivalue"] : [])]) {
      const t = getTask(name);
      const a = await t.generate(5, 1800, tok, { samples: 2 });
      const b = await t.generate(5, 1800, tok, { samples: 2 });
      const c = await t.generate(6, 1800, tok, { samples: 2 });
      assert.deepEqual(a, b, `${name}: same seed, same samples`);
      assert.notEqual(a[0].prompt, c[0].prompt, `${name}: another seed, another prompt`);
      assert.notEqual(a[0].prompt, a[1].prompt, `${name}: samples differ`);
      assert.notEqual(a[0].id, a[1].id);
    }
  },
});

Deno.test({
  name: "RULER: prompts fit the budget with stories260K and put the answers where they belong",
  ignore: !HAS_STORIES,
  fn: async () => {
    const tok = await storiesTokenizer();
    const names = [...NOISE_TASKS, ...(HAS_ESSAYS ? ESSAY_TASKS : [])];
    for (const name of names) {
      for (const length of name === "cwe" ? [1500, 9000] : [1200, 3000]) {
        for (const s of await getTask(name).generate(11, length, tok, { samples: 2 })) {
          assertFits(tok, s, length);
          assertAnswersPlaced(name, s);
          assert.equal(
            getTask(name).score(s.answers.join(", "), s),
            1,
            `${name}: the answers score 1`,
          );
          assert.equal(getTask(name).score("I do not know.", s), 0, `${name}: no answer scores 0`);
        }
      }
    }
  },
});

Deno.test({
  name: "RULER: prompts fit the budget with a word-level tokenizer too",
  fn: async () => {
    const tok = new WordTokenizer();
    for (const name of [...NOISE_TASKS, ...(HAS_ESSAYS ? ESSAY_TASKS : [])]) {
      for (const s of await getTask(name).generate(2, 4096, tok)) {
        assertFits(tok, s, 4096);
        assertAnswersPlaced(name, s);
      }
    }
  },
});

Deno.test({
  name: "RULER: budgetIncludesGeneration reserves maxNewTokens (RULER's max_seq_length)",
  fn: async () => {
    const tok = new WordTokenizer();
    const [s] = await getTask("niah_single_1").generate(3, 2048, tok, {
      budgetIncludesGeneration: true,
    });
    assert.ok((s.meta.tokens as number) + s.maxNewTokens <= 2048);
    assert.ok((s.meta.tokens as number) + s.maxNewTokens > 2048 - 30);
  },
});

Deno.test({
  name: "RULER: a length too small for the template names the length and what it needs",
  fn: async () => {
    const tok = new WordTokenizer();
    await assert.rejects(
      () => getTask("niah_single_1").generate(1, 50, tok),
      (e: Error) =>
        e instanceof RangeError &&
        /niah_single_1: length 50 is too small to fit the template/.test(e.message) &&
        /expected a length of at least \d+/.test(e.message),
    );
    await assert.rejects(
      () => getTask("fwe").generate(1, 200, tok),
      /fwe: length 200 is too small/,
    );
  },
});

Deno.test("RULER scoring: string_match_all and string_match_part as in eval/synthetic/constants.py", () => {
  // per-sample values of RULER's formulas, computed with its Python expressions
  assert.equal(stringMatchAll("abc 123", ["123"]), 1);
  assert.equal(stringMatchAll("The values are 1, 2", ["1", "3"]), 0.5);
  assert.equal(stringMatchPart("The values are 1, 2", ["1", "3"]), 1);
  assert.equal(stringMatchAll("UUID AbC", ["abc"]), 1, "case-insensitive");
  assert.equal(stringMatchAll("12345", ["123456"]), 0);
  // RULER's task score: mean x 100, rounded to 2 places
  assert.equal(rulerPercent([1, 0.5, 0, 0]), 37.5);
  assert.equal(rulerPercent([1, 1, 0]), 66.67);
  const vt = getTask("vt");
  const sample: Sample = {
    id: "x",
    task: "vt",
    prompt: "",
    answerPrefix: "",
    answers: ["AAAAA", "BBBBB", "CCCCC", "DDDDD"],
    maxNewTokens: 30,
    meta: {},
  };
  assert.equal(
    vt.score("aaaaa bbbbb\x00 and ccccc", sample),
    0.75,
    "post-processed, case-insensitive, 3 of 4",
  );
});

Deno.test({
  name:
    "RULER jsonl: the official sample imports, answers sit in their needles, scoring follows niah",
  ignore: !HAS_RULER,
  fn: async () => {
    const rows = readRulerJsonl(RULER_SAMPLE);
    assert.equal(rows.length, 500);
    assert.equal(taskOfPath(RULER_SAMPLE), "niah_multikey_3");
    assert.equal(taskOfPath("/x/niah_single_1/validation.jsonl"), "niah_single_1");
    for (const r of rows) {
      assert.equal(r.outputs.length, 1);
      assert.ok(
        r.input.includes(`is: ${r.outputs[0]}.`),
        `row ${r.index}: the answer is a needle's value`,
      );
    }
    const tok = HAS_STORIES ? await storiesTokenizer() : new WordTokenizer();
    const t = getTask("ruler_jsonl");
    const samples = await t.generate(1, 4096, tok, { path: RULER_SAMPLE, samples: 20 });
    assert.equal(samples.length, 20);
    assert.deepEqual(samples, await t.generate(1, 4096, tok, { path: RULER_SAMPLE, samples: 20 }));
    for (const s of samples) {
      const row = rows.find((r) => `niah_multikey_3:${r.index}` === s.id)!;
      assert.equal(s.prompt, row.input);
      assert.equal(s.answerPrefix, "", "this file keeps the answer prefix inside input");
      assert.match(s.prompt, / mentioned in the provided text is$/);
      assert.deepEqual(s.answers, row.outputs);
      assert.equal(s.maxNewTokens, 128);
      assert.equal(s.meta.metric, "string_match_all");
      assert.equal(s.meta.rulerLength, row.length);
      assert.equal(s.meta.tokens, tok.encode(row.input).length);
      assert.equal(t.score(` ${row.outputs[0]}.`, s), 1);
      assert.equal(t.score("not it", s), 0);
    }
    await assert.rejects(
      () => t.generate(1, 4096, tok, { path: RULER_SAMPLE, task: "not_ruler" }),
      /task "not_ruler" is not a RULER task/,
    );
  },
});

Deno.test("RULER jsonl: the current format (answer_prefix apart) and bad files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kvlab-ruler-" });
  try {
    const path = `${dir}/qa_1.jsonl`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        index: 0,
        input: "Q?",
        outputs: ["Paris", "paris, France"],
        length: 9,
        answer_prefix: " Answer:",
      }) + "\n",
    );
    const t = getTask("ruler_jsonl");
    const [s] = await t.generate(1, 100, new WordTokenizer(), { path });
    assert.equal(s.prompt + s.answerPrefix, "Q? Answer:");
    assert.equal(s.maxNewTokens, 32);
    assert.equal(s.meta.metric, "string_match_part");
    assert.equal(t.score("It is paris.", s), 1, "qa uses string_match_part");
    await Deno.writeTextFile(path, '{"index": 0, "input": 3}\n');
    await assert.rejects(
      () => t.generate(1, 100, new WordTokenizer(), { path }),
      /qa_1.jsonl:1: expected \{index, input: string, outputs: string\[\]\}/,
    );
    await assert.rejects(
      () => t.generate(1, 100, new WordTokenizer(), {}),
      /parameter "path" is required/,
    );
    await assert.rejects(
      () => t.generate(1, 100, new WordTokenizer(), { path: `${dir}/none.jsonl` }),
      /none.jsonl does not exist/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
