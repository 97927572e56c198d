/**
 * Head changes the PoSter cannot trust. Lotus reports a reorg with "revert" entries before the new
 * "apply" ones, and a tipset key names one tipset at one height. A node (or a proxy in front of it)
 * that breaks this, e.g. by reporting the same tipset keys at a lower height, would otherwise stall
 * the deadline tracker without a word: its heads look like a chain gone back, so running deadlines are
 * dropped and none starts. Pure logic: the Poster logs what `check` reports and feeds the tracker the
 * changes it keeps.
 *
 * - keys already seen at another height: a chain error; the entry is dropped, and the tracker keeps
 *   going from the best head it had (running deadlines go on, nothing is aborted for it);
 * - a head lower than the previous one with no revert entry: a reorg whose reverts were not reported
 *   (or a resubscription after the node went back); kept, as the tracker then treats it as a revert
 *   to that height, and reported.
 */
import type { HeadChange, TipSet } from "../chain/interface.js";

export interface HeadProblem {
  kind: "keys-repeated" | "height-down";
  /** One line for the operator: what the node reported and what the PoSter does about it. */
  message: string;
  fields: Record<string, unknown>;
}

/** Tipsets remembered for the key check: a few hours of mainnet epochs, a few KiB per thousand. */
const REMEMBERED = 2_000;

const keyOf = (ts: TipSet): string => ts.key.join(",");

export class HeadGuard {
  /** key → height of the tipsets seen, oldest first (Map keeps insertion order). */
  readonly #heights = new Map<string, number>();
  #last: TipSet | null = null;

  /** The changes to act on and the problems found in `changes`. */
  check(changes: readonly HeadChange[]): { changes: HeadChange[]; problems: HeadProblem[] } {
    const problems: HeadProblem[] = [];
    const kept: HeadChange[] = [];
    for (const c of changes) {
      if (c?.tipset == null) continue;
      const ts = c.tipset;
      const key = keyOf(ts);
      const seen = key === "" ? undefined : this.#heights.get(key);
      if (seen !== undefined && seen !== ts.height) {
        problems.push({
          kind: "keys-repeated",
          message:
            "chain node reported a tipset it had reported at another height; ignoring that head and going on from the best head (check the chain node, or whatever proxies it)",
          fields: {
            type: c.type,
            key: ts.key,
            height: ts.height,
            earlier_height: seen,
            best: this.#last?.height,
          },
        });
        continue;
      }
      kept.push(c);
    }
    const reverted = kept.some((c) => c.type === "revert");
    let head: TipSet | null = null;
    for (const c of kept)
      if (c.type !== "revert" && (head === null || c.tipset.height >= head.height)) head = c.tipset;
    if (head !== null && !reverted && this.#last !== null && head.height < this.#last.height) {
      problems.push({
        kind: "height-down",
        message:
          "chain head went down without a revert; treated as a reorg to that height (deadlines challenged above it are proven again)",
        fields: { from: this.#last.height, to: head.height, key: head.key },
      });
    }
    for (const c of kept) this.#remember(c.tipset);
    if (head !== null) this.#last = head;
    return { changes: kept, problems };
  }

  #remember(ts: TipSet): void {
    const key = keyOf(ts);
    if (key === "") return;
    this.#heights.delete(key);
    this.#heights.set(key, ts.height);
    if (this.#heights.size > REMEMBERED) {
      const oldest = this.#heights.keys().next().value;
      if (oldest !== undefined) this.#heights.delete(oldest);
    }
  }
}
