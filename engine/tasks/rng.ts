// Seeded randomness for task generators: xoshiro128** seeded through splitmix32 from a hash of
// labels, so every sample draws from its own stream (seed, task, length, index) and re-drawing a
// sample with a different haystack size repeats every other choice. Not Python's Mersenne
// Twister: kvlab's samples are reproducible within kvlab, not draw-for-draw with RULER's.

/** 32-bit FNV-1a over the labels' text, finished with a splitmix32 round. */
export function seedFrom(...parts: readonly (string | number)[]): number {
  let h = 0x811c9dc5;
  const text = parts.map(String).join("\u0000");
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return splitmix32(h >>> 0).value;
}

function splitmix32(state: number): { value: number; state: number } {
  const s = (state + 0x9e3779b9) >>> 0;
  let z = s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z = (z ^ (z >>> 16)) >>> 0;
  return { value: z, state: s };
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new TypeError(`seed ${seed}: expected an integer`);
    let st = seed >>> 0;
    const next = () => {
      const r = splitmix32(st);
      st = r.state;
      return r.value;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** A stream for the given labels. */
  static of(...parts: readonly (string | number)[]): Rng {
    return new Rng(seedFrom(...parts));
  }

  /** Uniform 32-bit unsigned integer (xoshiro128**). */
  uint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1), 53 bits. */
  float(): number {
    const hi = this.uint32() >>> 5;
    const lo = this.uint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [lo, hi], both inclusive, without modulo bias. */
  int(lo: number, hi: number): number {
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi < lo) {
      throw new RangeError(`int(${lo}, ${hi}): expected integers with lo <= hi`);
    }
    const span = hi - lo + 1;
    if (span <= 0x100000000) {
      const limit = Math.floor(0x100000000 / span) * span;
      let x = this.uint32();
      while (x >= limit) x = this.uint32();
      return lo + (x % span);
    }
    return lo + Math.floor(this.float() * span);
  }

  choice<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("choice from an empty list");
    return items[this.int(0, items.length - 1)];
  }

  /** Fisher-Yates, in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      const t = items[i];
      items[i] = items[j];
      items[j] = t;
    }
    return items;
  }

  /**
   * k distinct items in selection order (partial Fisher-Yates on a copy). The first picks do
   * not depend on k, so a longer sample extends a shorter one drawn from the same stream.
   */
  sample<T>(items: readonly T[], k: number): T[] {
    if (!Number.isInteger(k) || k < 0 || k > items.length) {
      throw new RangeError(`sample of ${k} from ${items.length} items`);
    }
    const a = items.slice();
    for (let i = 0; i < k; i++) {
      const j = this.int(i, a.length - 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a.slice(0, k);
  }

  /** k distinct integers from [0, n) in selection order, in O(k) memory. */
  sampleIndices(n: number, k: number): number[] {
    if (!Number.isInteger(k) || k < 0 || k > n) {
      throw new RangeError(`sample of ${k} indices from ${n}`);
    }
    if (k * 4 > n) return this.sample(Array.from({ length: n }, (_, i) => i), k);
    const seen = new Set<number>();
    const out: number[] = [];
    while (out.length < k) {
      const x = this.int(0, n - 1);
      if (!seen.has(x)) {
        seen.add(x);
        out.push(x);
      }
    }
    return out;
  }

  /** A string of n random decimal digits (a leading zero allowed). */
  digits(n: number): string {
    let s = "";
    for (let i = 0; i < n; i++) s += String(this.int(0, 9));
    return s;
  }

  /** RULER's generate_random_number: a uniform integer with exactly n digits. */
  number(n: number): string {
    return String(this.int(10 ** (n - 1), 10 ** n - 1));
  }

  /** Like Python's uuid.UUID(int=getrandbits(128), version=4): version and variant bits set. */
  uuid4(): string {
    const b: number[] = [];
    for (let i = 0; i < 4; i++) {
      const x = this.uint32();
      b.push((x >>> 24) & 255, (x >>> 16) & 255, (x >>> 8) & 255, x & 255);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = b.map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
      hex.slice(20)
    }`;
  }

  /** n uppercase ASCII letters (RULER vt's variable names). */
  upper(n: number): string {
    let s = "";
    for (let i = 0; i < n; i++) s += String.fromCharCode(65 + this.int(0, 25));
    return s;
  }

  /** n lowercase ASCII letters (RULER fwe's coded words). */
  lower(n: number): string {
    let s = "";
    for (let i = 0; i < n; i++) s += String.fromCharCode(97 + this.int(0, 25));
    return s;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
