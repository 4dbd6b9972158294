// The task registry: every entry is complete and its defaults pass its own checks; names and
// parameters are checked before any work, with errors that name the value and what was expected.

import assert from "node:assert/strict";
import { checkParam } from "../engine/tasks/params.ts";
import { getTask, retrievalTasks, taskNames, TASKS } from "../engine/tasks/registry.ts";
import { WordTokenizer } from "./tasks_helpers.ts";

const EXPECTED = [
  "niah_single_1",
  "niah_single_2",
  "niah_single_3",
  "niah_multikey_1",
  "niah_multikey_2",
  "niah_multikey_3",
  "niah_multivalue",
  "niah_multiquery",
  "vt",
  "cwe",
  "fwe",
  "ruler_jsonl",
  "passkey",
  "kv_retrieval",
  "niah",
  "longbench",
  "fidelity",
];

Deno.test("registry: the tasks, each with a source, metrics and parameters whose defaults check", () => {
  assert.deepEqual(taskNames(), EXPECTED);
  for (const t of TASKS) {
    assert.ok(t.description && t.source, t.name);
    assert.ok(t.metrics.length > 0, t.name);
    assert.ok(["llm", "retrieval", "any"].includes(t.model), t.name);
    const names = t.params.map((p) => p.name);
    assert.equal(new Set(names).size, names.length, `${t.name}: parameter names are unique`);
    for (const p of t.params) {
      assert.ok(p.description, `${t.name}.${p.name} has a description`);
      if (p.default !== undefined) checkParam(t.name, p, p.default);
      if (p.type === "enum") assert.ok(p.values && p.values.length > 0, `${t.name}.${p.name}`);
    }
  }
  assert.deepEqual(retrievalTasks(), ["passkey", "kv_retrieval"]);
  assert.equal(getTask("longbench").synthetic, false);
  assert.equal(getTask("ruler_jsonl").synthetic, false);
  assert.equal(getTask("passkey").synthetic, true);
});

Deno.test("registry: an unknown task names the known ones", () => {
  assert.throws(
    () => getTask("needle"),
    (e: Error) =>
      e instanceof RangeError &&
      e.message.startsWith('unknown task "needle"; expected one of niah_single_1, '),
  );
});

Deno.test("registry: seed, length and parameters are checked before any work", async () => {
  const tok = new WordTokenizer();
  const t = getTask("passkey");
  await assert.rejects(
    () => t.generate(1, 0, tok),
    /passkey: length 0: expected a positive integer number of tokens/,
  );
  await assert.rejects(
    () => t.generate(1, 10.5, tok),
    /passkey: length 10.5: expected a positive integer/,
  );
  await assert.rejects(() => t.generate(1.5, 100, tok), /passkey: seed 1.5: expected an integer/);
  await assert.rejects(
    () => t.generate(1, 2000, tok, { depth: [0.5] }),
    /passkey: unknown parameter "depth"; expected one of /,
  );
  await assert.rejects(
    () => t.generate(1, 2000, tok, { digits: 0 }),
    /passkey: parameter "digits" 0 is out of range: expected in \[1, 128\]/,
  );
  await assert.rejects(
    () => t.generate(1, 2000, tok, { haystack: "sand" }),
    /parameter "haystack" "sand": expected one of noise, essay/,
  );
  await assert.rejects(
    () => getTask("niah_single_2").generate(1, 2000, tok, { essays: "/no/such/folder" }),
    /essay haystack: \/no\/such\/folder is not a folder; expected a folder of .txt files/,
  );
});

Deno.test("registry: every synthetic text task scores its own answers 1 and nonsense 0", async () => {
  const tok = new WordTokenizer();
  for (const t of TASKS.filter((x) => x.synthetic && x.scoring === "text")) {
    let samples;
    try {
      samples = await t.generate(3, 6000, tok, { samples: 1 });
    } catch (e) {
      // essay tasks without the shared essays
      assert.match((e as Error).message, /essay/, `${t.name}: ${(e as Error).message}`);
      continue;
    }
    for (const s of samples.slice(0, 3)) {
      const all = t.scoreAll(` ${s.answers.join(", ")}.`, s);
      assert.deepEqual(Object.keys(all), [...t.metrics], t.name);
      assert.equal(t.score(` ${s.answers.join(", ")}.`, s), 1, `${t.name}: own answers`);
      assert.equal(t.score("zzz", s), 0, `${t.name}: nonsense`);
      for (const v of Object.values(all)) assert.ok(v >= 0 && v <= 1);
    }
  }
});
