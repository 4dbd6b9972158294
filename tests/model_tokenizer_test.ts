// Tokenizer and chat template through @huggingface/tokenizers and @huggingface/jinja, checked
// against the stories260K fixture (its reference ids decode to its reference text; text
// round-trips; "" is BOS alone), a chat template added to a copy of it, and missing files.

import assert from "node:assert/strict";
import { ModelTokenizer } from "../engine/model/tokenizer.ts";
import { ModelError } from "../engine/model/errors.ts";
import { hasStories, STORIES_DIR } from "./model_fixtures.ts";

const HAS = hasStories("tokenizer tests on stories260K");

Deno.test({
  name: "tokenizer: stories260K reference ids decode to its reference text; text round-trips",
  ignore: !HAS,
  fn: async () => {
    const tok = await ModelTokenizer.load(STORIES_DIR);
    const ref = JSON.parse(await Deno.readTextFile(`${STORIES_DIR}/reference_greedy.json`));
    assert.equal(tok.decode(ref.greedy_ids_200), ref.greedy_text);
    assert.deepEqual(tok.encode(""), [1], "an empty prompt is BOS alone");
    const ids = tok.encode("Once upon a time, there was a little girl named Lily.");
    assert.deepEqual(
      ids,
      [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426],
    );
    assert.deepEqual(ids, ref.greedy_ids_200.slice(0, 16), "the story's first sentence");
    for (const text of ['Lily\'s mom said, "Hi!"\nTom ran.', "ünïcödé → 漢字 🙂"]) {
      assert.equal(tok.decode(tok.encode(text)), text, "byte fallback round-trips any text");
    }
    assert.deepEqual(tok.promptIds("Once"), tok.encode("Once"));
  },
});

Deno.test({
  name: "tokenizer: a chat template renders with the special tokens and adds no second BOS",
  ignore: !HAS,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "kvlab-tok-" });
    await Deno.copyFile(`${STORIES_DIR}/tokenizer.json`, `${dir}/tokenizer.json`);
    const config = JSON.parse(await Deno.readTextFile(`${STORIES_DIR}/tokenizer_config.json`));
    config.chat_template = "{{ bos_token }}{% for m in messages %}{{ m.role }}: {{ m.content }}\n" +
      "{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}";
    await Deno.writeTextFile(`${dir}/tokenizer_config.json`, JSON.stringify(config));
    const tok = await ModelTokenizer.load(dir);
    const text = tok.applyChatTemplate([{ role: "user", content: "Tell a story" }]);
    assert.equal(text, "<s>user: Tell a story\nassistant:");
    const ids = tok.promptIds("Tell a story", true);
    assert.equal(ids[0], 1);
    assert.notEqual(ids[1], 1, "one BOS, from the template");
    assert.equal(tok.decode(ids), "user: Tell a story\nassistant:");
    // a template that raises, and a template file instead of the config entry
    config.chat_template = "{{ raise_exception('system messages are not supported') }}";
    await Deno.writeTextFile(`${dir}/tokenizer_config.json`, JSON.stringify(config));
    const raising = await ModelTokenizer.load(dir);
    assert.throws(
      () => raising.promptIds("x", true),
      /the chat template failed to render \(system messages are not supported\)/,
    );
    delete config.chat_template;
    await Deno.writeTextFile(`${dir}/tokenizer_config.json`, JSON.stringify(config));
    await Deno.writeTextFile(`${dir}/chat_template.jinja`, "[{{ messages[0].content }}]");
    assert.equal(
      (await ModelTokenizer.load(dir)).applyChatTemplate([{ role: "user", content: "hi" }]),
      "[hi]",
    );
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "tokenizer: no chat template, no tokenizer.json, a corrupt one: clear errors",
  ignore: !HAS,
  fn: async () => {
    const tok = await ModelTokenizer.load(STORIES_DIR);
    assert.throws(
      () => tok.promptIds("x", true),
      /the model has no chat template .* run without --chat/,
    );
    const dir = await Deno.makeTempDir({ prefix: "kvlab-tok-" });
    await assert.rejects(
      () => ModelTokenizer.load(dir),
      (e: Error) => e instanceof ModelError && e.message.includes(`${dir}: no tokenizer.json`),
    );
    await Deno.writeTextFile(`${dir}/tokenizer.json`, "{oops");
    await assert.rejects(() => ModelTokenizer.load(dir), /tokenizer.json: invalid JSON/);
    await Deno.remove(dir, { recursive: true });
  },
});
