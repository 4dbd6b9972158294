// Tokenizer and chat template of a Hugging Face model folder, through maintained libraries:
// @huggingface/tokenizers (tokenizer.json + tokenizer_config.json) and @huggingface/jinja
// (the chat template from tokenizer_config.json "chat_template" or chat_template.jinja).
// Not here: anything model-specific beyond what those files say.

import { Tokenizer } from "@huggingface/tokenizers";
import { Template } from "@huggingface/jinja";
import { readJson } from "./config.ts";
import { ModelError } from "./errors.ts";

export interface ChatMessage {
  readonly role: "system" | "user" | "assistant";
  readonly content: string;
}

type Json = Record<string, unknown>;

/** A special token's text: tokenizer_config.json writes either "<s>" or {"content": "<s>"}. */
function tokenText(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "object" && v !== null && typeof (v as Json).content === "string") {
    return (v as Json).content as string;
  }
  return undefined;
}

export class ModelTokenizer {
  private constructor(
    readonly dir: string,
    readonly tokenizer: Tokenizer,
    readonly config: Json,
    readonly chatTemplate: string | undefined,
  ) {}

  /** DIR/tokenizer.json (required), tokenizer_config.json and chat_template.jinja (optional). */
  static async load(dir: string): Promise<ModelTokenizer> {
    const d = dir.replace(/\/$/, "");
    const file = `${d}/tokenizer.json`;
    let json: unknown;
    try {
      json = await readJson(file);
    } catch (e) {
      try {
        await Deno.stat(file);
      } catch {
        throw new ModelError(
          `${d}: no tokenizer.json; the model folder needs its Hugging Face tokenizer (tokenizer.json and tokenizer_config.json)`,
        );
      }
      throw e;
    }
    const config = ((await readJson(`${d}/tokenizer_config.json`, true)) ?? {}) as Json;
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(json as object, config);
    } catch (e) {
      throw new ModelError(`${file}: not a tokenizer this library reads (${(e as Error).message})`);
    }
    let template = pickTemplate(config.chat_template, `${d}/tokenizer_config.json`);
    if (template === undefined) {
      try {
        template = await Deno.readTextFile(`${d}/chat_template.jinja`);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
    return new ModelTokenizer(d, tokenizer, config, template);
  }

  /** Token ids of `text`, with the special tokens the tokenizer adds (BOS for Llama). */
  encode(text: string, addSpecialTokens = true): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  /** Text of `ids`, special tokens dropped. */
  decode(ids: readonly number[]): string {
    return this.tokenizer.decode([...ids], { skip_special_tokens: true });
  }

  get bosToken(): string | undefined {
    return tokenText(this.config.bos_token);
  }

  get eosToken(): string | undefined {
    return tokenText(this.config.eos_token);
  }

  /** The chat template rendered for `messages`, ending with the assistant's turn opened. */
  applyChatTemplate(messages: readonly ChatMessage[]): string {
    if (this.chatTemplate === undefined) {
      throw new ModelError(
        `${this.dir}: the model has no chat template (tokenizer_config.json "chat_template" or chat_template.jinja); run without --chat`,
      );
    }
    try {
      return new Template(this.chatTemplate).render({
        messages,
        add_generation_prompt: true,
        bos_token: this.bosToken ?? "",
        eos_token: this.eosToken ?? "",
      });
    } catch (e) {
      // @huggingface/jinja's raise_exception lands here too, with the template's message
      throw new ModelError(
        `${this.dir}: the chat template failed to render (${(e as Error).message})`,
      );
    }
  }

  /**
   * Prompt ids: the text as is (special tokens added by the tokenizer), or with `chat` the
   * rendered template, which carries its own special tokens (none added twice).
   */
  promptIds(text: string, chat = false): number[] {
    if (!chat) return this.encode(text);
    return this.encode(this.applyChatTemplate([{ role: "user", content: text }]), false);
  }
}

function pickTemplate(v: unknown, file: string): string | undefined {
  if (v == null) return undefined;
  if (typeof v === "string") return v;
  if (Array.isArray(v)) {
    const named = v.find((t) => (t as Json)?.name === "default") as Json | undefined;
    if (named && typeof named.template === "string") return named.template;
  }
  throw new ModelError(
    `${file}: chat_template: expected a string or a list with a "default" entry`,
  );
}
