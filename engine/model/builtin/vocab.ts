// The word-level vocabulary and tokenizer of the built-in models (builtin:induction): a real
// Hugging Face tokenizer.json, loaded through @huggingface/tokenizers like every other model's.
//
// Tokens: the specials <unk> (any unknown word), <s> (BOS, added in front of every text) and
// </s> (EOS, never produced); the digits; every word and punctuation mark of the texts the
// retrieval tasks are made of — the RULER / passkey "noise" haystack sentence, the passkey and
// kv_retrieval instructions, needles, questions and answer prefixes (engine/tasks), taken from
// the task modules themselves so the two cannot drift apart.
//
// The model is WordPiece (the format BERT's tokenizer.json uses) over that whole-word vocabulary,
// with BertPreTokenizer (split on whitespace and punctuation). WordPiece matters for numbers
// only: "1234567" is "1 ##2 ##3 ##4 ##5 ##6 ##7" — a digit that starts a number and ten
// continuation digits "##0".."##9" — so any number is a sequence of digit tokens and the
// WordPiece decoder glues continuation pieces back without spaces ("1234567"). A word outside
// the vocabulary is one <unk>. Whitespace is not a token: decoding joins words with single
// spaces and punctuation to the word before it (the scorers compare words, not layout).
// Not here: the model's weights (induction.ts), writing the files (mod.ts).

import { NOISE } from "../../tasks/haystack.ts";
import { KV_ANSWER_PREFIX, KV_INSTRUCTION, KV_LINE } from "../../tasks/kv_retrieval.ts";
import {
  PASSKEY_ANSWER_PREFIX,
  PASSKEY_INSTRUCTION,
  PASSKEY_NEEDLE,
  PASSKEY_QUESTION,
} from "../../tasks/passkey.ts";

export const UNK = "<unk>";
export const BOS = "<s>";
export const EOS = "</s>";
export const SPECIALS = [UNK, BOS, EOS] as const;
export const DIGITS = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"] as const;
/** WordPiece's prefix for a piece that continues a word (here: a number's second digit on). */
export const CONTINUE = "##";

/** Characters BertPreTokenizer splits off as single tokens (the library's PUNCTUATION_REGEX). */
const PUNCTUATION = "\\p{P}\\u0021-\\u002F\\u003A-\\u0040\\u005B-\\u0060\\u007B-\\u007E";
const PRE_TOKENS = new RegExp(`[^\\s${PUNCTUATION}]+|[${PUNCTUATION}]`, "gu");

/** The texts the vocabulary is made of, placeholders removed. */
export function sourceTexts(): string[] {
  return [
    NOISE,
    PASSKEY_INSTRUCTION,
    PASSKEY_NEEDLE.replaceAll("<PASS KEY>", " "),
    PASSKEY_QUESTION,
    PASSKEY_ANSWER_PREFIX,
    KV_INSTRUCTION,
    KV_LINE.replace("<K>", " ").replace("<V>", " "),
    KV_ANSWER_PREFIX.replace("<K>", " "),
  ];
}

/** Every token in id order: specials, digits, continuation digits, then words as first seen. */
export function vocabulary(): string[] {
  const tokens: string[] = [...SPECIALS, ...DIGITS, ...DIGITS.map((d) => CONTINUE + d)];
  const seen = new Set(tokens);
  for (const text of sourceTexts()) {
    for (const word of text.match(PRE_TOKENS) ?? []) {
      if (/\d/.test(word)) {
        throw new Error(`builtin vocabulary: source word "${word}" holds a digit`);
      }
      if (!seen.has(word)) {
        seen.add(word);
        tokens.push(word);
      }
    }
  }
  return tokens;
}

/** Ids of the digit tokens: DIGIT_START[d] starts a number, DIGIT_CONTINUE[d] continues one. */
export interface TokenIds {
  readonly unk: number;
  readonly bos: number;
  readonly eos: number;
  /** "0".."9": a number's first digit. */
  readonly digitStart: readonly number[];
  /** "##0".."##9": a number's later digits. */
  readonly digitContinue: readonly number[];
}

export function tokenIds(vocab: readonly string[]): TokenIds {
  const id = (t: string) => {
    const i = vocab.indexOf(t);
    if (i < 0) throw new Error(`builtin vocabulary: no token "${t}"`);
    return i;
  };
  return {
    unk: id(UNK),
    bos: id(BOS),
    eos: id(EOS),
    digitStart: DIGITS.map((d) => id(d)),
    digitContinue: DIGITS.map((d) => id(CONTINUE + d)),
  };
}

/** The digit 0..9 a token id stands for, or -1 for a word or special token. */
export function digitOf(ids: TokenIds, token: number): number {
  const s = ids.digitStart.indexOf(token);
  return s >= 0 ? s : ids.digitContinue.indexOf(token);
}

/** tokenizer.json: WordPiece over the vocabulary, BertPreTokenizer, BOS added, WordPiece decoding. */
export function tokenizerJson(vocab: readonly string[]): Record<string, unknown> {
  const ids = tokenIds(vocab);
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: SPECIALS.map((content) => ({
      id: vocab.indexOf(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: BOS, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: BOS, type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { [BOS]: { id: BOS, ids: [ids.bos], tokens: [BOS] } },
    },
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "WordPiece", prefix: CONTINUE, cleanup: true },
        // "key 1234: value" (cleanup already joins " ." " ?" " ," " !")
        { type: "Replace", pattern: { String: " :" }, content: ":" },
      ],
    },
    model: {
      type: "WordPiece",
      unk_token: UNK,
      continuing_subword_prefix: CONTINUE,
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
    },
  };
}

/** tokenizer_config.json: the special tokens; no chat template (the model reads plain text). */
export function tokenizerConfig(maxLength: number): Record<string, unknown> {
  return {
    tokenizer_class: "PreTrainedTokenizerFast",
    bos_token: BOS,
    eos_token: EOS,
    unk_token: UNK,
    model_max_length: maxLength,
    clean_up_tokenization_spaces: true,
  };
}
