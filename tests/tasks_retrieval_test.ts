// passkey, kv_retrieval and the niah grid: KIVI's passkey examples rebuilt byte for byte,
// longctx_bench's essay layout and scores, needles at the requested depth (measured in tokens),
// budgets, determinism, and errors for bad depths and lengths.

import assert from "node:assert/strict";
import { passkeyExact, passkeyPartial } from "../engine/tasks/match.ts";
import {
  PASSKEY_ANSWER_PREFIX,
  PASSKEY_INSTRUCTION,
  PASSKEY_QUESTION,
  passkeyEssayContext,
  passkeyNoiseContext,
} from "../engine/tasks/passkey.ts";
import { kvExact } from "../engine/tasks/kv_retrieval.ts";
import { getTask } from "../engine/tasks/registry.ts";
import type { Sample, TaskTokenizer } from "../engine/tasks/types.ts";
import {
  count,
  ESSAYS,
  have,
  KIVI_SAMPLE,
  STORIES,
  storiesTokenizer,
  WordTokenizer,
} from "./tasks_helpers.ts";

const HAS_STORIES = have(STORIES, "retrieval tasks on stories260K");
const HAS_ESSAYS = have(ESSAYS, "essay-haystack retrieval tasks");
const HAS_KIVI = have(KIVI_SAMPLE, "KIVI passkey examples");

const DEPTHS = [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1];

/** The needle sits at the asked depth: within one haystack unit (plus a token) of it. */
function assertDepth(s: Sample, units: number) {
  const want = s.meta.depth as number;
  const got = s.meta.needleDepth as number;
  assert.ok(
    Math.abs(got - want) <= 1 / units + 0.01,
    `${s.id}: needle at ${got.toFixed(3)}, asked ${want}`,
  );
}

async function tokenizers(): Promise<[string, TaskTokenizer][]> {
  const out: [string, TaskTokenizer][] = [["word-level", new WordTokenizer()]];
  if (HAS_STORIES) out.push(["stories260K", await storiesTokenizer()]);
  return out;
}

Deno.test({
  name: "passkey: KIVI's five passkey_examples.jsonl prompts are rebuilt byte for byte",
  ignore: !HAS_KIVI,
  fn: () => {
    const rows = Deno.readTextFileSync(KIVI_SAMPLE).split("\n").filter((l) => l.trim()).map((l) =>
      JSON.parse(l)
    );
    assert.equal(rows.length, 5);
    for (const r of rows) {
      assert.ok(r.input.startsWith(PASSKEY_INSTRUCTION), "KIVI's instruction");
      const lines: string[] = r.input.slice(PASSKEY_INSTRUCTION.length).split("\n");
      const at = lines.findIndex((l) => l.startsWith("The pass key is"));
      const c = passkeyNoiseContext(lines.length - 1, at, String(r.target));
      assert.equal(PASSKEY_INSTRUCTION + c.text, r.input, `key ${r.target}`);
      assert.equal(
        c.text.slice(c.needle[0], c.needle[1]),
        `The pass key is ${r.target}. Remember it. ${r.target} is the pass key.`,
      );
    }
  },
});

Deno.test("passkey: longctx_bench's essay layout (make_content) and its question", () => {
  const pieces = ["One ", "two\n", "three  ", "four. ", "Five "];
  // int(5 * 0.5) = 2 words before the key; pieces joined with " " and a trailing " "
  const c = passkeyEssayContext(pieces, 0.5, "0012345");
  assert.equal(
    c.text,
    "One two The pass key is 0012345. Remember it. 0012345 is the pass key. three  four. Five ",
  );
  assert.equal(passkeyEssayContext(pieces, 0, "1").text.slice(0, 17), " The pass key is ");
  assert.ok(passkeyEssayContext(pieces, 1, "1").text.endsWith("is the pass key.  "));
  assert.equal(
    PASSKEY_QUESTION + PASSKEY_ANSWER_PREFIX,
    "\nWhat is the pass key? The pass key is ",
    "longctx_bench's retrieval_question",
  );
});

Deno.test("passkey scores: exact and partial match as longctx_bench's eval_metrics.py", () => {
  // [answer, response, exact_match, partial_match], computed with longctx_bench's functions
  const cases: [string, string, number, number][] = [
    ["1234567", "The pass key is 1234567.", 1, 1],
    ["1234567", "1234 567", 0, 0.5714285714285714],
    ["1234567", "7654321", 0, 0.14285714285714285],
    ["0123456", "The pass key is 0123456", 1, 1],
    ["1234567", "", 0, 0],
  ];
  for (const [a, r, exact, partial] of cases) {
    assert.equal(passkeyExact(r, a), exact, `exact ${r}`);
    assert.equal(passkeyPartial(r, a), partial, `partial ${r}`);
  }
});

Deno.test({
  name: "passkey: a 7-digit key at each depth, under the budget, deterministic",
  fn: async () => {
    for (const [name, tok] of await tokenizers()) {
      const t = getTask("passkey");
      const samples = await t.generate(9, 3000, tok, { depths: DEPTHS, samples: 2 });
      assert.equal(samples.length, DEPTHS.length * 2);
      assert.deepEqual(
        samples,
        await t.generate(9, 3000, tok, { depths: DEPTHS, samples: 2 }),
        `${name}: deterministic`,
      );
      for (const s of samples) {
        const key = s.answers[0];
        assert.match(key, /^\d{7}$/);
        assert.ok(s.prompt.startsWith(PASSKEY_INSTRUCTION));
        assert.ok(s.prompt.endsWith("\nWhat is the pass key?"));
        assert.equal(s.answerPrefix, " The pass key is ");
        assert.equal(count(s.prompt, key), 2, "the key twice, in its needle");
        assert.ok(
          s.prompt.includes(`\nThe pass key is ${key}. Remember it. ${key} is the pass key.`) ||
            s.meta.depth === 0,
        );
        const n = tok.encode(s.prompt + s.answerPrefix).length;
        assert.ok(n <= 3000 && n > 3000 - 60, `${name} ${s.id}: ${n} tokens`);
        assertDepth(s, s.meta.haystack as number);
        assert.deepEqual(t.scoreAll(` ${key}.`, s), { exact: 1, partial: 1 });
        assert.equal(t.score("unknown", s), 0);
      }
    }
  },
});

Deno.test({
  name: "passkey: the essay haystack places the key at the asked word depth",
  ignore: !(HAS_ESSAYS && HAS_STORIES),
  fn: async () => {
    const tok = await storiesTokenizer();
    for (
      const s of await getTask("passkey").generate(4, 2500, tok, {
        depths: DEPTHS,
        haystack: "essay",
      })
    ) {
      assertDepth(s, 50);
      assert.ok(tok.encode(s.prompt + s.answerPrefix).length <= 2500);
      assert.ok((s.meta.tokens as number) > 2500 - 20, `${s.id}: ${s.meta.tokens} tokens`);
    }
  },
});

Deno.test({
  name: "kv_retrieval: key-value lines, asked by 'key K: value', at the asked depth",
  fn: async () => {
    for (const [name, tok] of await tokenizers()) {
      const t = getTask("kv_retrieval");
      const samples = await t.generate(3, 2000, tok, { depths: DEPTHS });
      assert.deepEqual(samples, await t.generate(3, 2000, tok, { depths: DEPTHS }));
      for (const s of samples) {
        const key = s.meta.key as string;
        const value = s.answers[0];
        assert.equal(s.answerPrefix, `key ${key}: value`);
        assert.equal(count(s.prompt, `key ${key}: `), 1, "keys are distinct");
        assert.ok(s.prompt.includes(`\nkey ${key}: value ${value}\n`), `${name}: the asked line`);
        const lines = s.prompt.split("\n").filter((l) => l.startsWith("key "));
        assert.equal(lines.length, s.meta.lines);
        assert.equal(lines.indexOf(`key ${key}: value ${value}`), s.meta.line);
        assert.equal(
          s.meta.line,
          Math.min(lines.length - 1, Math.floor(lines.length * (s.meta.depth as number))),
        );
        assertDepth(s, lines.length);
        assert.ok(tok.encode(s.prompt + s.answerPrefix).length <= 2000);
        assert.equal(t.score(` ${value}\nkey 1: value 2`, s), 1);
        assert.equal(t.score(` ${value}0`, s), 0);
      }
    }
    assert.equal(kvExact(" 1234567.", "1234567"), 1);
    assert.equal(kvExact("", "1234567"), 0);
  },
});

Deno.test({
  name:
    "niah grid: every haystack puts the needle at the asked depth, with depth and length on the record",
  fn: async () => {
    const haystacks = ["noise", "needle", ...(HAS_ESSAYS ? ["essay"] : [])];
    for (const [name, tok] of await tokenizers()) {
      for (const haystack of haystacks) {
        const samples = await getTask("niah").generate(2, 3000, tok, { depths: DEPTHS, haystack });
        assert.equal(samples.length, DEPTHS.length);
        for (const s of samples) {
          assert.equal(s.meta.length, 3000);
          assert.equal(typeof s.meta.depth, "number");
          const value = s.answers[0];
          assert.ok(
            s.prompt.includes(`One of the special magic numbers for ${s.meta.key} is: ${value}.`),
          );
          assert.ok(tok.encode(s.prompt + s.answerPrefix).length <= 3000);
          // essays: within about a sentence; lines: within a line
          assertDepth(s, haystack === "essay" ? 40 : (s.meta.haystack as number));
          assert.equal(getTask("niah").score(` ${value}.`, s), 1, `${name} ${haystack}`);
        }
      }
    }
  },
});

Deno.test({
  name: "niah grid: a custom needle with a fixed answer",
  fn: async () => {
    const tok = new WordTokenizer();
    const needle =
      "The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.";
    const [s] = await getTask("niah").generate(1, 600, tok, {
      depths: [0.5],
      needle,
      instruction: "Read the text.",
      question: "What is the best thing to do in San Francisco?",
      answerPrefix: " The best thing to do in San Francisco is",
      answer: "eat a sandwich and sit in Dolores Park on a sunny day",
    });
    assert.ok(s.prompt.includes(needle));
    assert.deepEqual(s.answers, ["eat a sandwich and sit in Dolores Park on a sunny day"]);
    await assert.rejects(
      () => getTask("niah").generate(1, 600, tok, { needle }),
      /niah: parameter "answer" is required when the needle has no \{value\}/,
    );
  },
});

Deno.test({
  name: "grid tasks: depths outside [0, 1] and lengths too small are refused before any work",
  fn: async () => {
    const tok = new WordTokenizer();
    for (const name of ["passkey", "kv_retrieval", "niah"]) {
      await assert.rejects(
        () => getTask(name).generate(1, 2000, tok, { depths: [0.5, 1.2] }),
        (e: Error) =>
          e instanceof RangeError &&
          e.message.includes(
            `${name}: parameter "depths"[1] 1.2 is out of range: expected in [0, 1]`,
          ),
      );
      await assert.rejects(
        () => getTask(name).generate(1, 20, tok, { depths: [0.5] }),
        (e: Error) =>
          e instanceof RangeError &&
          new RegExp(`${name}: length 20 is too small to fit the template`).test(e.message),
      );
    }
  },
});
