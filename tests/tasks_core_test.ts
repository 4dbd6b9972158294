// The shared machinery of the tasks: seeded streams, Python compatibility (round, split), the
// token-budget fit, parameter checking, sentence splitting, difflib and zeta.

import assert from "node:assert/strict";
import { fitToBudget } from "../engine/tasks/budget.ts";
import { fuzzRatio, SequenceMatcher } from "../engine/tasks/difflib.ts";
import { splitSentences } from "../engine/tasks/haystack.ts";
import { checkDepths, linspace, resolveParams } from "../engine/tasks/params.ts";
import { pyRound, pySplit } from "../engine/tasks/py.ts";
import { Rng, seedFrom } from "../engine/tasks/rng.ts";
import { zeta } from "../engine/tasks/ruler_fwe.ts";
import { RULER_DEPTHS } from "../engine/tasks/ruler_niah.ts";
import type { ParamSpec } from "../engine/tasks/types.ts";

Deno.test("rng: the same labels give the same stream, other labels another", () => {
  const a = Rng.of(1, "x", 7);
  const b = Rng.of(1, "x", 7);
  const c = Rng.of(1, "x", 8);
  const da = Array.from({ length: 8 }, () => a.uint32());
  assert.deepEqual(da, Array.from({ length: 8 }, () => b.uint32()));
  assert.notDeepEqual(da, Array.from({ length: 8 }, () => c.uint32()));
  assert.notEqual(seedFrom(1, "ab"), seedFrom(1, "a", "b"), "labels are separated");
});

Deno.test("rng: ranges, samples, digits and UUIDs have the promised shape", () => {
  const r = new Rng(42);
  const counts = new Array(6).fill(0);
  for (let i = 0; i < 6000; i++) counts[r.int(0, 5)]++;
  for (const c of counts) assert.ok(c > 850 && c < 1150, `uniform int: ${counts}`);
  const s = r.sample([...Array(50).keys()], 20);
  assert.equal(new Set(s).size, 20);
  const idx = r.sampleIndices(1_000_000, 5);
  assert.equal(new Set(idx).size, 5);
  assert.ok(idx.every((i) => i >= 0 && i < 1_000_000));
  // a longer sample from the same stream extends the shorter one
  assert.deepEqual(
    Rng.of(3).sample([..."abcdefghij"], 3),
    Rng.of(3).sample([..."abcdefghij"], 6).slice(0, 3),
  );
  assert.match(r.digits(7), /^\d{7}$/);
  for (let i = 0; i < 50; i++) {
    const n = r.number(7);
    assert.ok(Number(n) >= 1_000_000 && Number(n) <= 9_999_999, n);
  }
  assert.match(r.uuid4(), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.match(r.upper(5), /^[A-Z]{5}$/);
});

Deno.test("python compatibility: round() ties to even on the exact binary value; split()", () => {
  // values computed with CPython 3.11's round()
  const cases: [number, number, number][] = [
    [0.125, 2, 0.12],
    [2.675, 2, 2.67],
    [66.665, 2, 66.67],
    [33.335, 2, 33.34],
    [12.5, 0, 12],
    [13.5, 0, 14],
    [99.99999, 2, 100],
    [(1 / 3) * 100, 2, 33.33],
  ];
  for (const [x, n, want] of cases) assert.equal(pyRound(x, n), want, `round(${x}, ${n})`);
  assert.deepEqual(pySplit(" a\u3000b\x1cc\u00a0 d\n"), ["a", "b", "c", "d"]);
});

Deno.test("fit: the largest n whose count fits, for linear, jumpy and capped counts", () => {
  const linear = (n: number) => 30 + 7 * n;
  for (const budget of [30, 31, 36, 37, 1000, 4096, 131072]) {
    const f = fitToBudget({ task: "t", unit: "u", build: (n) => n, count: linear, budget, min: 0 });
    assert.ok(linear(f.n) <= budget && linear(f.n + 1) > budget, `budget ${budget}: n ${f.n}`);
    assert.ok(f.evaluations <= 12, `budget ${budget}: ${f.evaluations} tokenizations`);
  }
  // counts that grow unevenly (a tokenizer merging across units)
  const jumpy = (n: number) => 10 + 5 * n + (n % 3 === 0 ? 4 : 0) + Math.floor(n / 50) * 9;
  for (const budget of [100, 777, 5000]) {
    const f = fitToBudget({
      task: "t",
      unit: "u",
      build: (n) => n,
      count: jumpy,
      budget,
      min: 1,
      hint: 3,
    });
    assert.ok(jumpy(f.n) <= budget && jumpy(f.n + 1) > budget, `jumpy budget ${budget}: n ${f.n}`);
  }
  const capped = fitToBudget({
    task: "t",
    unit: "u",
    build: (n) => n,
    count: linear,
    budget: 1e6,
    min: 0,
    max: 40,
  });
  assert.equal(capped.n, 40, "the haystack's own limit caps n");
  assert.throws(
    () =>
      fitToBudget({
        task: "passkey",
        unit: "noise sentences",
        build: (n) => n,
        count: linear,
        budget: 29,
        min: 0,
      }),
    (e: Error) =>
      e instanceof RangeError && /passkey: length 29 is too small/.test(e.message) &&
      /prompt is 30 tokens/.test(e.message),
  );
});

Deno.test("params: defaults, unknown names and bad values are refused with the value and the range", () => {
  const specs: ParamSpec[] = [
    { name: "samples", type: "int", default: 1, min: 1, max: 10, description: "" },
    { name: "depths", type: "numbers", default: [0.5], min: 0, max: 1, description: "" },
    { name: "kind", type: "enum", values: ["a", "b"], default: "a", description: "" },
    { name: "flag", type: "boolean", default: false, description: "" },
  ];
  assert.deepEqual(resolveParams("t", specs, {}), {
    samples: 1,
    depths: [0.5],
    kind: "a",
    flag: false,
  });
  assert.throws(
    () => resolveParams("t", specs, { sample: 2 }),
    /t: unknown parameter "sample"; expected one of samples, depths, kind, flag/,
  );
  assert.throws(
    () => resolveParams("t", specs, { samples: 0 }),
    /parameter "samples" 0 is out of range: expected in \[1, 10\]/,
  );
  assert.throws(
    () => resolveParams("t", specs, { samples: 1.5 }),
    /parameter "samples" 1.5: expected an integer/,
  );
  assert.throws(
    () => resolveParams("t", specs, { depths: [0.2, 1.5] }),
    /parameter "depths"\[1\] 1.5 is out of range: expected in \[0, 1\]/,
  );
  assert.throws(
    () => resolveParams("t", specs, { kind: "c" }),
    /parameter "kind" "c": expected one of a, b/,
  );
  assert.throws(
    () => resolveParams("t", specs, { flag: "yes" }),
    /parameter "flag" "yes": expected true or false/,
  );
  assert.throws(
    () => checkDepths("niah", [-0.1]),
    /niah: depth -0.1 \(depths\[0\]\) is outside \[0, 1\]/,
  );
  assert.deepEqual(linspace(0, 1, 5), [0, 0.25, 0.5, 0.75, 1]);
});

Deno.test("sentences: split at sentence ends, not after abbreviations or initials", () => {
  assert.deepEqual(
    splitSentences(
      'It works. Mr. Smith said so! Did J. R. Tolkien? "Yes." 1999 was late. e.g. this one',
    ),
    [
      "It works.",
      "Mr. Smith said so!",
      "Did J. R. Tolkien?",
      '"Yes."',
      "1999 was late. e.g. this one",
    ],
  );
  assert.deepEqual(splitSentences("no end here"), ["no end here"]);
  assert.deepEqual(splitSentences(""), []);
});

Deno.test("difflib: SequenceMatcher.ratio and fuzz.ratio match CPython 3.11's difflib", () => {
  // ratios computed with CPython 3.11 difflib.SequenceMatcher(None, a, b[, autojunk=False]).ratio()
  const cases: [string, string, number, number][] = [
    ["abcd", "bcde", 0.75, 0.75],
    ["hello world", "hello there world", 0.7857142857142857, 0.7857142857142857],
    ["", "a", 0, 0],
    [
      "zzzaca z  y zba az  xzzay cyzbxacaaayxa yb yaxbz  xbcbyb",
      " ca abcac bcc  a b  bcca ab c a ac bbbabb cc ca bb a cb  c cac abbbacaaaa acbcabccabbcbcc c  aac c bcacb aba bab  b ba c acbbacaaccb cbaab ba bcab b a c ac cabbcbc bca c baaabbbbccccccacb baca a bbca abaccca ",
      0.0, // autojunk drops every popular character of b: no match at all
      0.2196969696969697,
    ],
    [
      "aaxazaayaabbzybaybbbayyzxzxyxabxaaaxz",
      "bbbbbaabbababbbaabaabababababbababbabaaaaaababaaaabbbbaabaaaaabbabaaaabaabbaaababbbbbabbabbabaabaaabbbbaaabaabbaabbbabbbaaabaabbbbabaabaabbaabbbbaaababaaababbbabbabaabbabbabaabaaabaabaabbbbabbbaababaaaabaabbbbbaabbbbbbbabbaababbbabababbbbababababbaaabbbbabb",
      0.0,
      0.10204081632653061,
    ],
  ];
  for (const [a, b, junk, noJunk] of cases) {
    assert.equal(new SequenceMatcher([...a], [...b]).ratio(), junk, `${a.slice(0, 10)} autojunk`);
    assert.equal(
      new SequenceMatcher([...a], [...b], false).ratio(),
      noJunk,
      `${a.slice(0, 10)} no autojunk`,
    );
  }
  // fuzzywuzzy 0.18 fuzz.ratio on difflib: equal strings 100 (even both empty), one empty 0
  assert.equal(fuzzRatio("", ""), 100);
  assert.equal(fuzzRatio("", "x"), 0);
  assert.equal(fuzzRatio("int y = 1;", "int x = 0;"), 80);
});

Deno.test("RULER constants: the 40 insertion depths of niah.py, zeta(2) = pi^2 / 6", () => {
  assert.equal(RULER_DEPTHS.length, 40);
  // np.round(np.linspace(0, 100, num=40, endpoint=True)).astype(int), printed by numpy 2.4
  assert.deepEqual(RULER_DEPTHS, [
    0,
    3,
    5,
    8,
    10,
    13,
    15,
    18,
    21,
    23,
    26,
    28,
    31,
    33,
    36,
    38,
    41,
    44,
    46,
    49,
    51,
    54,
    56,
    59,
    62,
    64,
    67,
    69,
    72,
    74,
    77,
    79,
    82,
    85,
    87,
    90,
    92,
    95,
    97,
    100,
  ]);
  assert.ok(Math.abs(zeta(2) - Math.PI ** 2 / 6) < 1e-13, `zeta(2) = ${zeta(2)}`);
  assert.ok(Math.abs(zeta(4) - Math.PI ** 4 / 90) < 1e-13, `zeta(4) = ${zeta(4)}`);
  assert.ok(Math.abs(zeta(1.5) - 2.612375348685488) < 1e-12, `zeta(1.5) = ${zeta(1.5)}`);
});
