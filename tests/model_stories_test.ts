// Real weights: the stories260K fixture (a 260K-parameter Llama, GQA 8/4, D = 8) with an empty
// prompt (BOS alone), an fp32 cache and 200 greedy tokens reproduces reference_greedy.json's
// ids and text exactly; batched with a longer prompt (B = 2, ragged), each sequence still gets
// the ids it gets alone. Skipped with a message when ../shared is absent.

import assert from "node:assert/strict";
import { Model } from "../engine/model/model.ts";
import { generate, generateText } from "../engine/model/generate.ts";
import { ModelTokenizer } from "../engine/model/tokenizer.ts";
import { hasStories, STORIES_DIR } from "./model_fixtures.ts";
import { testGpu } from "./helpers.ts";

const HAS = hasStories("stories260K model tests");

Deno.test({
  name: "stories260K: BOS + 200 greedy tokens with an fp32 cache reproduce the reference exactly",
  ignore: !HAS,
  fn: async () => {
    const gpu = await testGpu();
    const ref = JSON.parse(await Deno.readTextFile(`${STORIES_DIR}/reference_greedy.json`));
    const model = await Model.load(gpu, STORIES_DIR);
    const tok = await ModelTokenizer.load(STORIES_DIR);
    const r = await generateText(model, tok, { prompt: "", format: "fp32", maxNewTokens: 200 });
    const want: number[] = ref.greedy_ids_200;
    const first = r.ids[0].findIndex((id, i) => id !== want[i]);
    assert.equal(
      first,
      -1,
      `first differing id at ${first}: got ${r.ids[0][first]}, want ${want[first]}`,
    );
    assert.deepEqual(r.ids[0], want);
    assert.equal(r.text, ref.greedy_text);
    assert.equal(r.steps, 199);
    // 5 layers × K and V × 4 KV heads × 201 tokens × D = 8 × 4 bytes, plus lens and counts
    assert.equal(r.kvBytes, 5 * (2 * 4 * 201 * 8 * 4 + 2 * 4));
    model.destroy();
  },
});

Deno.test({
  name: "stories260K: a ragged batch (B = 2) gives each sequence the ids it gets alone",
  ignore: !HAS,
  fn: async () => {
    const gpu = await testGpu();
    const model = await Model.load(gpu, STORIES_DIR);
    const tok = await ModelTokenizer.load(STORIES_DIR);
    const prompts = [tok.encode(""), tok.encode("Tom had a red ball")];
    const n = 40;
    const both = await generate(model, prompts, { maxNewTokens: n, format: "fp32" });
    for (let b = 0; b < 2; b++) {
      const alone = await generate(model, [prompts[b]], { maxNewTokens: n, format: "fp32" });
      assert.deepEqual(both.ids[b], alone.ids[0], `sequence ${b}`);
    }
    model.destroy();
  },
});
