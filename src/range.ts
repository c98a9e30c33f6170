/** Lazy iterables returned by getRange/getKeys, with the few helpers lmdb-js users expect. */
export class RangeIterable<T> implements Iterable<T> {
  constructor(private readonly make: () => Iterator<T>) {}

  [Symbol.iterator](): Iterator<T> {
    return this.make();
  }

  map<U>(fn: (item: T) => U): RangeIterable<U> {
    return new RangeIterable(() => {
      const it = this.make();
      return {
        next: () => {
          const r = it.next();
          return r.done ? r : { done: false, value: fn(r.value) };
        },
        return: (v?: unknown) => it.return?.(v) ?? { done: true, value: undefined },
      } as Iterator<U>;
    });
  }

  filter(fn: (item: T) => boolean): RangeIterable<T> {
    return new RangeIterable(() => {
      const it = this.make();
      return {
        next: () => {
          for (;;) {
            const r = it.next();
            if (r.done || fn(r.value)) return r;
          }
        },
        return: (v?: unknown) => it.return?.(v) ?? { done: true, value: undefined },
      } as Iterator<T>;
    });
  }

  forEach(fn: (item: T) => void): void {
    for (const x of this) fn(x);
  }

  get asArray(): T[] {
    return [...this];
  }
}
