/** See rng.mjs: a seeded xorshift32; rng(seed)(n) is an integer in [0, n). */
export function rng(seed: number): (n: number) => number;
