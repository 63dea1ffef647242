/**
 * Byte-level BPE training shared by the generated tokenizers (CLIP, GPT-2): GPT-2's byte → character
 * table, the 256-character base alphabet in real vocabulary order, word counting over pre-tokenized
 * text, and deterministic merge learning.
 *
 *   const byteToChar = bytesToUnicode();
 *   const counts = countByteLevelWords(text, SPLIT_REGEX, byteToChar);
 *   const merges = learnMerges(counts, { maxMerges: 2000, endOfWordSuffix: '</w>' });
 *
 * Everything here is pure and deterministic, so generated vocabularies are the same on every machine.
 */

/** GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 onwards. */
export function bytesToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const byteToChar = new Array<string>(256);
  for (const b of printable) byteToChar[b] = String.fromCodePoint(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (byteToChar[b] === undefined) byteToChar[b] = String.fromCodePoint(256 + n++);
  return byteToChar;
}

/** The 256 characters in vocabulary order: printable bytes first, then the remapped ones (as the real files). */
export function byteLevelAlphabet(byteToChar: string[]): string[] {
  return [...byteToChar].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
}

/**
 * Splits already-normalized text with the pre-tokenizer's regex, maps each piece to byte-level
 * characters and counts the pieces (BPE trains on distinct words weighted by frequency).
 */
export function countByteLevelWords(text: string, splitRegex: string, byteToChar: string[]): Map<string, number> {
  const split = new RegExp(splitRegex, 'gu');
  const encoder = new TextEncoder();
  const counts = new Map<string, number>();
  for (const match of text.matchAll(split)) {
    const word = Array.from(encoder.encode(match[0]), (b) => byteToChar[b]!).join('');
    counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  return counts;
}

export interface LearnMergesOptions {
  /** Stop after this many merges even if some words are still several tokens. */
  maxMerges: number;
  /** Appended to each word's last character before training (CLIP's '</w>'; '' for GPT-2). */
  endOfWordSuffix: string;
}

/**
 * Classic BPE training: repeatedly merge the most frequent adjacent pair (ties broken by the pair's
 * text, so the result is the same everywhere) until every word is one token or maxMerges.
 */
export function learnMerges(counts: Map<string, number>, options: LearnMergesOptions): Array<[string, string]> {
  const words = [...counts.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([word, count]) => {
      const symbols = Array.from(word);
      symbols[symbols.length - 1] += options.endOfWordSuffix;
      return { symbols, count };
    });
  const merges: Array<[string, string]> = [];
  while (merges.length < options.maxMerges) {
    const pairs = new Map<string, { pair: [string, string]; count: number }>();
    for (const { symbols, count } of words) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = `${symbols[i]} ${symbols[i + 1]}`;
        const entry = pairs.get(key);
        if (entry) entry.count += count;
        else pairs.set(key, { pair: [symbols[i]!, symbols[i + 1]!], count });
      }
    }
    let bestKey: string | undefined;
    let best: { pair: [string, string]; count: number } | undefined;
    for (const [key, entry] of pairs) {
      if (!best || entry.count > best.count || (entry.count === best.count && key < bestKey!)) {
        best = entry;
        bestKey = key;
      }
    }
    if (!best) break;
    const [left, right] = best.pair;
    merges.push([left, right]);
    for (const word of words) {
      const out: string[] = [];
      for (let i = 0; i < word.symbols.length; i++) {
        if (i + 1 < word.symbols.length && word.symbols[i] === left && word.symbols[i + 1] === right) {
          out.push(left + right);
          i++;
        } else out.push(word.symbols[i]!);
      }
      word.symbols = out;
    }
  }
  return merges;
}

/**
 * Deterministic extra merges once training runs out: each word token (letters, with or without the
 * leading-space mark, in id order) extended by each lowercase letter, skipping tokens that already
 * exist. Both halves are vocabulary tokens, so each is a valid BPE merge; ranked after every
 * learned merge, they never change how corpus words split. Every filler is a pseudo-word of ASCII
 * letters, so a random-weight model's captions read as words, not as broken UTF-8 bytes.
 */
export function fillerMerges(name: string, tokens: string[], alphabet: string[], taken: Set<string>, count: number): Array<[string, string]> {
  const merges: Array<[string, string]> = [];
  const queue = tokens.filter((token) => /^\u0120?[a-z]+$/u.test(token));
  const letters = alphabet.filter((char) => /^[a-z]$/.test(char));
  for (let i = 0; merges.length < count; i++) {
    const left = queue[i];
    if (left === undefined) throw new Error(`${name}: ran out of filler merges`);
    for (const right of letters) {
      if (merges.length === count) break;
      const token = left + right;
      if (taken.has(token)) continue;
      taken.add(token);
      queue.push(token);
      merges.push([left, right]);
    }
  }
  return merges;
}

/**
 * A byte-level BPE vocabulary's merges: learned from `corpus` (at most `maxLearned`), then filler
 * merges up to `mergeCount`. `tokens` are the byte alphabet followed by each merge's result, in
 * rank order (the ids a tokenizer.json gives them after its special tokens).
 */
export function byteLevelMerges(name: string, corpus: string, splitRegex: string, mergeCount: number, maxLearned: number): { tokens: string[]; merges: Array<[string, string]> } {
  const byteToChar = bytesToUnicode();
  const alphabet = byteLevelAlphabet(byteToChar);
  const counts = countByteLevelWords(corpus, splitRegex, byteToChar);
  const learned = learnMerges(counts, { maxMerges: Math.min(mergeCount, maxLearned), endOfWordSuffix: '' });
  const learnedTokens = [...alphabet, ...learned.map(([a, c]) => a + c)];
  const filler = fillerMerges(name, learnedTokens, alphabet, new Set(learnedTokens), mergeCount - learned.length);
  return { tokens: [...learnedTokens, ...filler.map(([a, c]) => a + c)], merges: [...learned, ...filler] };
}
