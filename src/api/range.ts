/** Lazy iterables returned by getRange/getKeys, with the few helpers lmdb-js users expect. */
export class RangeIterable<T> implements Iterable<T> {
  constructor(private readonly make: () => Iterator<T>) {}

  [Symbol.iterator](): Iterator<T> {
    return this.make();
  }

  map<U>(fn: (item: T) => U): RangeIterable<U> {
    return this.derive((it, r) => ({ done: false, value: call(it, fn, r.value) }));
  }

  filter(fn: (item: T) => boolean): RangeIterable<T> {
    return this.derive((it, first) => {
      let r: IteratorResult<T> = first;
      while (!r.done && !call(it, fn, r.value)) r = it.next();
      return r;
    });
  }

  forEach(fn: (item: T) => void): void {
    for (const x of this) fn(x);
  }

  get asArray(): T[] {
    return [...this];
  }

  private derive<U>(step: (it: Iterator<T>, r: IteratorYieldResult<T>) => IteratorResult<U>): RangeIterable<U> {
    return new RangeIterable(() => {
      const it = this.make();
      return {
        next: () => {
          const r = it.next();
          return r.done ? r : step(it, r);
        },
        return: (v?: unknown) => it.return?.(v) ?? { done: true, value: undefined },
      } as Iterator<U>;
    });
  }
}

/** Calls a user callback; if it throws, ends the underlying iteration (releasing its snapshot) first. */
function call<T, U>(it: Iterator<T>, fn: (x: T) => U, x: T): U {
  try {
    return fn(x);
  } catch (e) {
    it.return?.();
    throw e;
  }
}
