/**
 * Lazy iterables returned by getRange/getKeys, with the helpers lmdb-js users expect: map (whose
 * callback may return SKIP to leave the entry out), filter, flatMap, slice, mapError, forEach,
 * asArray.
 *
 * Error rule: an error thrown by a callback ends the underlying iteration (releasing its
 * snapshot) and propagates, unless a mapError() follows in the chain: then the error travels
 * down the chain as a value (a Caught, never seen by other callbacks) and mapError's callback
 * turns it into the element in its place, while the iteration goes on. Errors of the iteration
 * itself (a damaged page, an ended transaction) always end it.
 */
import { SKIP } from './constants.js';

/** An error of a callback, carried down the chain to a mapError(). */
class Caught {
  constructor(readonly error: unknown) {}
}

type Make<T> = (catchErrors: boolean) => Iterator<T>;

export class RangeIterable<T> implements Iterable<T> {
  private readonly make: Make<T>;

  /** `make(catchErrors)` starts one iteration; a source may ignore the flag (see the error rule). */
  constructor(make: Make<T>) {
    this.make = make;
  }

  [Symbol.iterator](): Iterator<T> {
    return this.make(false);
  }

  map<U>(fn: (item: T) => U | typeof SKIP): RangeIterable<U> {
    return this.derive((it, first, catching) => {
      for (let r: IteratorResult<T> = first; !r.done; r = it.next()) {
        if (r.value instanceof Caught) return r as never;
        const out = call(it, fn, r.value, catching);
        if (out !== SKIP) return { done: false, value: out as U };
      }
      return { done: true, value: undefined } as IteratorResult<U>;
    });
  }

  filter(fn: (item: T) => unknown): RangeIterable<T> {
    return this.derive((it, first, catching) => {
      for (let r: IteratorResult<T> = first; !r.done; r = it.next()) {
        if (r.value instanceof Caught) return r;
        const keep = call(it, fn, r.value, catching);
        if (keep instanceof Caught) return { done: false, value: keep as never };
        if (keep) return r;
      }
      return { done: true, value: undefined };
    });
  }

  /** Each item replaced by the elements of the array `fn` returns (a non-array result is one element). */
  flatMap<U>(fn: (item: T) => U | readonly U[]): RangeIterable<U> {
    return new RangeIterable<U>((catching) => {
      const it = this.make(catching);
      let pending: readonly U[] = [];
      let at = 0;
      return {
        next: (): IteratorResult<U> => {
          for (;;) {
            if (at < pending.length) return { done: false, value: pending[at++]! };
            const r = it.next();
            if (r.done) return r;
            if (r.value instanceof Caught) return r as never;
            const out = call(it, fn, r.value, catching);
            if (out instanceof Caught) return { done: false, value: out as never };
            pending = Array.isArray(out) ? out : [out as U];
            at = 0;
          }
        },
        return: (v?: unknown) => it.return?.(v) ?? { done: true, value: undefined },
      } as Iterator<U>;
    });
  }

  /** The items at positions [start, end) of this iteration (end: to the end). Stops the iteration at `end`. */
  slice(start = 0, end = Infinity): RangeIterable<T> {
    if (!(Number.isInteger(start) && start >= 0) || !(end === Infinity || (Number.isInteger(end) && end >= 0))) {
      throw new RangeError('slice(start, end) takes non-negative integers (negative positions would need the whole range)');
    }
    return new RangeIterable<T>((catching) => {
      const it = this.make(catching);
      let i = 0;
      return {
        next: (): IteratorResult<T> => {
          for (;;) {
            if (i >= end) {
              it.return?.();
              return { done: true, value: undefined };
            }
            const r = it.next();
            if (r.done) return r;
            if (i++ >= start) return r;
          }
        },
        return: (v?: unknown) => it.return?.(v) ?? { done: true, value: undefined },
      } as Iterator<T>;
    });
  }

  /** Errors thrown by earlier callbacks of the chain become `fn(error)` in their place, and iteration goes on. */
  mapError<U>(fn: (error: unknown) => U): RangeIterable<T | U> {
    return new RangeIterable<T | U>((catching) => {
      const it = this.make(true);
      return {
        next: (): IteratorResult<T | U> => {
          const r = it.next();
          if (r.done || !(r.value instanceof Caught)) return r;
          const out = call(it, fn, r.value.error, catching);
          return { done: false, value: out as T | U };
        },
        return: (v?: unknown) => it.return?.(v) ?? { done: true, value: undefined },
      };
    });
  }

  forEach(fn: (item: T) => void): void {
    for (const x of this) fn(x);
  }

  get asArray(): T[] {
    return [...this];
  }

  private derive<U>(step: (it: Iterator<T>, r: IteratorYieldResult<T>, catching: boolean) => IteratorResult<U>): RangeIterable<U> {
    return new RangeIterable<U>((catching) => {
      const it = this.make(catching);
      return {
        next: () => {
          const r = it.next();
          return r.done ? r : step(it, r, catching);
        },
        return: (v?: unknown) => it.return?.(v) ?? { done: true, value: undefined },
      } as Iterator<U>;
    });
  }
}

/**
 * Calls a user callback. If it throws: with a mapError() downstream (`catching`), the error is
 * returned as a Caught; else the underlying iteration ends (releasing its snapshot) and it throws.
 */
function call<X, U>(it: Iterator<unknown>, fn: (x: X) => U, x: X, catching: boolean): U | Caught {
  try {
    return fn(x);
  } catch (e) {
    if (catching) return new Caught(e);
    it.return?.();
    throw e;
  }
}
