// `deno task generate` in process (run() is the CLI minus Deno.exit): --json output on the
// stories260K fixture, plain text output, and bad input — a missing folder or tokenizer, an
// unknown format, a prompt longer than the model's context, bad flags — giving one line on
// stderr (no stack trace) and exit code 2.

import assert from "node:assert/strict";
import { parseCli, run } from "../engine/model/generate_cli.ts";
import { hasStories, STORIES_DIR, tinyConfig, writeRandomModel } from "./model_fixtures.ts";
import { testGpu } from "./helpers.ts";

const HAS = hasStories("generate CLI tests on stories260K");

async function cli(args: string[]) {
  const out: string[] = [], err: string[] = [];
  const code = await run(
    args,
    { out: (l) => out.push(l), err: (l) => err.push(l) },
    await testGpu(),
  );
  return { code, out, err };
}

Deno.test({
  name: "generate CLI: --max-positions / --rope-factor allow a context past the model's",
  ignore: !HAS,
  fn: async () => {
    // stories260K: max_position_embeddings 512, plain RoPE
    const prompt = "Tom ran. ".repeat(120); // about 600 tokens
    const base = ["--model", STORIES_DIR, "--prompt", prompt, "--max-new-tokens", "2", "--json"];
    for (
      const [extra, max, scaling] of [
        [["--max-positions", "1024"], 1024, null],
        [["--rope-factor", "2", "--gemv", "vector"], 1024, { rope_type: "linear", factor: 2 }],
        [["--rope-factor", "1.5", "--max-positions", "700"], 700, {
          rope_type: "linear",
          factor: 1.5,
        }],
      ] as const
    ) {
      const r = await cli([...base, ...extra]);
      assert.equal(r.code, 0, r.err.join("\n"));
      const j = JSON.parse(r.out[0]);
      assert.ok(j.promptTokens > 512 && j.promptTokens + 2 <= max, `${j.promptTokens} tokens`);
      assert.deepEqual([j.maxPositions, j.ropeScaling, j.ids.length], [
        max,
        scaling,
        j.promptTokens + 2,
      ]);
    }
  },
});

Deno.test("generate CLI: flags parse with defaults; bad values name the flag", () => {
  const a = parseCli(["--model", "m", "--prompt", ""]);
  assert.deepEqual(
    [a.format, a.maxNewTokens, a.json, a.chat, a.device, a.weights, a.readEvery],
    ["fp16", 64, false, false, "auto", "auto", 16],
  );
  assert.throws(() => parseCli(["--prompt", "x"]), /--model: required/);
  assert.throws(
    () => parseCli(["--model", "m"]),
    /give one of --prompt TEXT \(may be ""\) or --prompt-tokens N/,
  );
  assert.throws(
    () => parseCli(["--model", "m", "--prompt-tokens", "4", "--chat"]),
    /--chat: needs --prompt TEXT/,
  );
  assert.throws(
    () => parseCli(["--model", "m", "--prompt", "", "--max-new-tokens", "2.5"]),
    /--max-new-tokens: got "2.5", expected an integer ≥ 1/,
  );
  assert.throws(
    () => parseCli(["--model", "m", "--prompt", "", "--device", "tpu"]),
    /--device: got "tpu", expected one of auto, gpu, software/,
  );
  assert.throws(
    () => parseCli(["--model", "m", "--prompt", "", "--weights", "int8"]),
    /--weights: got "int8"/,
  );
});

Deno.test({
  name: "generate CLI: --json on stories260K prints ids (BOS first), text, kvBytes and times",
  ignore: !HAS,
  fn: async () => {
    const r = await cli([
      "--model",
      STORIES_DIR,
      "--prompt",
      "",
      "--max-new-tokens",
      "12",
      "--json",
      "--format",
      "fp32",
    ]);
    assert.equal(r.code, 0, r.err.join("\n"));
    const j = JSON.parse(r.out[0]);
    const ref = JSON.parse(await Deno.readTextFile(`${STORIES_DIR}/reference_greedy.json`));
    assert.deepEqual(j.ids, ref.greedy_ids_200.slice(0, 13));
    assert.ok(ref.greedy_text.startsWith(j.text) && j.text.length > 20, j.text);
    assert.equal(j.kvBytes, 5 * (2 * 4 * 13 * 8 * 4 + 2 * 4));
    for (const k of ["load", "prefill", "decode", "perToken", "total"]) assert.ok(j.ms[k] >= 0, k);
    assert.deepEqual([j.promptTokens, j.newTokens, j.format], [1, 12, "fp32"]);
    const text = await cli(["--model", STORIES_DIR, "--prompt", "Lily", "--max-new-tokens", "4"]);
    assert.equal(text.code, 0);
    assert.equal(text.out.length, 1);
    assert.ok(text.out[0].length > 0);
  },
});

Deno.test({
  name: "generate CLI: bad input exits 2 with one line and no stack trace",
  ignore: !HAS,
  fn: async () => {
    const m = await writeRandomModel(tinyConfig()); // weights, but no tokenizer
    const cases: [string[], RegExp][] = [
      [
        ["--model", "/nonexistent/model", "--prompt", "x"],
        /--model: cannot read \/nonexistent\/model/,
      ],
      [["--model", m.dir, "--prompt", "x"], /no tokenizer.json/],
      [
        ["--model", STORIES_DIR, "--prompt", "x", "--format", "fp8"],
        /unknown cache format "fp8"; expected one of fp32, fp16, kivi2/,
      ],
      [
        ["--model", STORIES_DIR, "--prompt", "x", "--format", "int4"],
        /cache format "int4" for this model: D \(head dim\): got 8, expected a multiple of 32/,
      ],
      [
        ["--model", STORIES_DIR, "--prompt", "Tom ran. ".repeat(200)],
        /prompt: \d+ tokens, longer than the model's max_position_embeddings 512 \(--max-positions N or --rope-factor F allows a longer context\)/,
      ],
      [
        ["--model", STORIES_DIR, "--prompt", "x", "--max-new-tokens", "600"],
        /= 603 exceeds the model's max_position_embeddings 512/,
      ],
      [
        ["--model", STORIES_DIR, "--prompt", "x", "--max-new-tokens", "600", "--rope-factor", "1"],
        /--rope-factor: got "1", expected a number > 1/,
      ],
      [
        ["--model", STORIES_DIR, "--prompt", "x", "--gemv", "fast"],
        /--gemv: got "fast", expected one of auto, vector, scalar/,
      ],
      [
        ["--model", STORIES_DIR, "--prompt", "x", "--max-positions", "0"],
        /--max-positions: got "0", expected an integer ≥ 1/,
      ],
      [["--model", STORIES_DIR, "--prompt", "x", "--chat"], /no chat template/],
      [["--model", STORIES_DIR, "--prompt", "x", "--bogus"], /Unknown option '--bogus'/],
    ];
    for (const [args, pattern] of cases) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(" ")}: exit code`);
      assert.match(r.err[0], pattern);
      assert.match(r.err[0], /^kvlab generate: /);
      assert.ok(!r.err.join("\n").includes("    at "), "no stack trace");
      assert.deepEqual(r.out, []);
    }
    await Deno.remove(m.dir, { recursive: true });
  },
});
