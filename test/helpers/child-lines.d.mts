/** See child-lines.mjs. */
export function say(line: string): void;
export function rng(seed: number): () => number;
