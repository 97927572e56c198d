/**
 * Head changes from polled heads: what `ChainNotify` would have said, rebuilt from `ChainHead` answers
 * when the node (or a gateway in front of it) gives no WebSocket (client.ts chainNotify).
 *
 * The follower keeps the recent chain it reported (ascending heights, each the parent of the next as
 * far as the node said). A new head is joined to it through tipset keys and parents: the head's
 * ancestors are fetched (`ChainGetTipSet` of each `Parents`) down to a tipset it holds, which is the
 * fork point. What it held above that point is reverted (highest first) and the fetched tipsets are
 * applied (lowest first), as Lotus orders a reorg in ChainNotify (`ReorgOps`). So a poll that finds
 * the head one epoch on yields one apply, a slow poll that missed several epochs yields one apply
 * each, and a reorg yields its reverts, whatever the heights say. The batches then go through the same
 * HeadGuard and deadline tracker as subscription batches.
 *
 * When the join cannot be found (the head is more than `maxWalk` epochs away, or the fork is below
 * what is remembered), everything remembered is reverted: the tracker then drops running deadlines
 * challenged above the lowest of them, never keeps one proven on a chain that is gone. A node that
 * gives no Parents at all is followed by heights (a lower or equal head is a revert to it), as the
 * tracker does for a resubscription's "current" batch.
 */
import type { HeadChange, TipSet, TipSetKey } from "../interface.js";

const keyOf = (k: TipSetKey): string => k.join(",");

export interface FollowResult {
  changes: HeadChange[];
  /** Set when the new head could not be joined to the chain followed so far, with why. */
  unjoined?: string;
}

export class HeadFollower {
  /** Ascending heights; the last one is the head reported last. */
  #path: TipSet[] = [];

  constructor(
    /** How many ancestors to fetch at most for one new head (an epoch each). */
    private readonly maxWalk = 120,
    /** How many tipsets to remember (deeper reorgs revert everything remembered). */
    private readonly keep = 240,
  ) {}

  get last(): TipSet | undefined {
    return this.#path.at(-1);
  }

  /** Follows changes that came by another way (a ChainNotify subscription), so polling goes on from them. */
  observe(changes: readonly HeadChange[]): void {
    for (const c of changes) {
      if (c?.tipset == null) continue;
      if (c.type === "current") this.#path = [c.tipset];
      else if (c.type === "revert") {
        const k = keyOf(c.tipset.key);
        this.#path = this.#path.filter((t) => keyOf(t.key) !== k);
      } else this.#push(c.tipset);
    }
  }

  /** The changes from the last head reported to `head`; `get` fetches a tipset by its key. */
  async next(head: TipSet, get: (key: TipSetKey) => Promise<TipSet>): Promise<FollowResult> {
    const path = this.#path;
    const last = path.at(-1);
    if (last === undefined) {
      this.#path = [head];
      return { changes: [{ type: "current", tipset: head }] };
    }
    if (keyOf(head.key) === keyOf(last.key)) return { changes: [] };
    const index = new Map(path.map((t, i) => [keyOf(t.key), i]));
    const lowest = path[0] as TipSet;
    const fresh: TipSet[] = [];
    let anchor: number | undefined;
    let unjoined: string | undefined;
    let cur = head;
    for (;;) {
      anchor = index.get(keyOf(cur.key));
      if (anchor !== undefined) break;
      fresh.push(cur);
      if (cur.parents === undefined) {
        unjoined = "no-parents";
        break;
      }
      // Its parent is lower still: it cannot be one of the remembered tipsets.
      if (cur.height <= lowest.height) {
        unjoined = `the fork is below the ${path.length} tipsets remembered (from height ${lowest.height})`;
        break;
      }
      if (fresh.length > this.maxWalk) {
        unjoined = `the new head is more than ${this.maxWalk} tipsets away from the last one (height ${last.height})`;
        break;
      }
      cur = await get(cur.parents);
    }
    fresh.reverse();
    if (anchor === undefined && unjoined === "no-parents") {
      // No ancestry from this node: heights only. What was remembered at or above the lowest new
      // tipset was replaced by it; below, it is taken as extended.
      const bottom = (fresh[0] as TipSet).height;
      const reverted = path.filter((t) => t.height >= bottom).reverse();
      this.#path = path.filter((t) => t.height < bottom);
      for (const t of fresh) this.#push(t);
      return {
        changes: [
          ...reverted.map((t): HeadChange => ({ type: "revert", tipset: t })),
          ...fresh.map((t): HeadChange => ({ type: "apply", tipset: t })),
        ],
      };
    }
    const from = anchor === undefined ? 0 : anchor + 1;
    const reverted = path.slice(from).reverse();
    this.#path = path.slice(0, from);
    for (const t of fresh) this.#push(t);
    const changes: HeadChange[] = [
      ...reverted.map((t): HeadChange => ({ type: "revert", tipset: t })),
      ...fresh.map((t): HeadChange => ({ type: "apply", tipset: t })),
    ];
    return unjoined === undefined ? { changes } : { changes, unjoined };
  }

  #push(ts: TipSet): void {
    while (this.#path.length > 0 && (this.#path.at(-1) as TipSet).height >= ts.height) this.#path.pop();
    this.#path.push(ts);
    if (this.#path.length > this.keep) this.#path.splice(0, this.#path.length - this.keep);
  }
}
