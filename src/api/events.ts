/**
 * on('beforecommit') / on('aftercommit') (lmdb-js's events): the listeners of a file, shared by
 * every database handle of it in this thread, and the commit hooks of its environment that call them.
 */
import type { Environment } from '../env/environment.js';

export type CommitListener = (event?: { txnId: number }) => void;
interface CommitListeners { before: CommitListener[]; after: CommitListener[] }
/** on('beforecommit'/'aftercommit') listeners, per file: every handle of it shares its commits. */
const listeners = new WeakMap<Environment, CommitListeners>();

/** Whether `env` has a beforecommit or aftercommit listener now (commitHooks stays set once made). */
export function hasCommitListeners(env: Environment): boolean {
  const l = listeners.get(env);
  return l !== undefined && (l.before.length > 0 || l.after.length > 0);
}

export function listenersOf(env: Environment): CommitListeners {
  let l = listeners.get(env);
  if (l === undefined) {
    const mine: CommitListeners = (l = { before: [], after: [] });
    listeners.set(env, mine);
    env.commitHooks = {
      // A throwing beforecommit listener stops the commit: the writes it was to make fail with it.
      before: () => {
        for (const f of [...mine.before]) f();
      },
      // The commit is durable by now: a listener's error must not make it look failed.
      after: (txnId) => {
        for (const f of [...mine.after]) {
          try {
            f({ txnId });
          } catch (e) {
            console.error('rotadb: error in an aftercommit listener', e);
          }
        }
      },
    };
  }
  return l;
}
