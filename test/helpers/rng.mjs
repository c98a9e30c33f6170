// A small seeded generator (xorshift32) for tests and their child processes: rng(seed)(n) is a
// uniform integer in [0, n) for n well below 2^32; the same seed gives the same sequence.
export function rng(seed) {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s % n;
  };
}
