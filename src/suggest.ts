// "Did you mean": the closest of a few known words to a mistyped one, for the CLI
// (commands, options) and for config and inventory keys.

/** Levenshtein distance, with a swap of two neighbours counting as one edit (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The known word closest to `word`, or null when none is close enough to be a typo
 * (at most a third of the word's letters wrong, and at least one right). Case is ignored.
 */
export function closest(word: string, known: Iterable<string>): string | null {
  const w = word.toLowerCase();
  const limit = Math.max(1, Math.floor(w.length / 3));
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const k of known) {
    const dist = editDistance(w, k.toLowerCase());
    if (dist <= limit && dist < bestDistance && dist < k.length) {
      best = k;
      bestDistance = dist;
    }
  }
  return best;
}

/** ` (did you mean "x"?)`, or '' when nothing is close. */
export function didYouMean(word: string, known: Iterable<string>): string {
  const hit = closest(word, known);
  return hit === null ? '' : ` (did you mean "${hit}"?)`;
}
