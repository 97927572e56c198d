/**
 * The dashboard's recent messages: a bounded ring, newest first, fed by the Poster's runs
 * (SubmitWindowedPoSt, through PosterHooks.onRun) and by a watch on the PoSter's chain client for
 * DeclareFaultsRecovered, which the recovery declaration sends without telling the Poster which
 * messages it pushed. The watch only looks: every call goes to the chain client unchanged.
 */
import type {
  CallOptions,
  ChainPort,
  MessageReceipt,
  OutgoingMessage,
  PushOptions,
} from "../chain/interface.js";
import { MinerMethod } from "../chain/message.js";
import { decodeDeclareFaultsRecoveredParams } from "../chain/params.js";
import type { MessageView } from "./types.js";

const MAX_MESSAGES = 50;

export class MessageRing {
  private readonly list: MessageView[] = [];

  /** Adds a message, or fills in its receipt (exit code, height, gas) when it is already there. */
  upsert(m: MessageView): void {
    const have = this.list.find((x) => x.cid === m.cid);
    if (have) {
      if (m.exitCode !== null) {
        have.exitCode = m.exitCode;
        have.height = m.height;
        have.gasUsed = m.gasUsed;
      }
      return;
    }
    this.list.unshift({ ...m, partitions: [...m.partitions] });
    if (this.list.length > MAX_MESSAGES) this.list.length = MAX_MESSAGES;
  }

  /** The receipt of a message in the ring; false when the ring does not hold it. */
  receipt(cid: string, r: MessageReceipt): boolean {
    const have = this.list.find((x) => x.cid === cid);
    if (!have) return false;
    have.exitCode = r.exitCode;
    have.height = r.height;
    have.gasUsed = r.gasUsed;
    return true;
  }

  views(): MessageView[] {
    return this.list.map((m) => ({ ...m, partitions: [...m.partitions] }));
  }
}

/**
 * `chain` with its DeclareFaultsRecovered pushes and their receipts told to `seen` (the partitions
 * decoded from the params). Nothing the watch does can fail a call: a params that does not decode
 * is recorded without partitions.
 */
export function watchRecoveryMessages(
  chain: ChainPort,
  seen: { push(m: MessageView): void; receipt(cid: string, r: MessageReceipt): void },
  now: () => number = Date.now,
): ChainPort {
  const watched = new Set<string>();
  const pushMessage = async (msg: OutgoingMessage, opts?: PushOptions) => {
    const pushed = await chain.pushMessage(msg, opts);
    if (msg.method === MinerMethod.DeclareFaultsRecovered) {
      let partitions: number[] = [];
      try {
        partitions = decodeDeclareFaultsRecoveredParams(msg.params).recoveries.map((r) => r.partition);
      } catch {
        // shown without partitions
      }
      watched.add(pushed.cid);
      seen.push({
        cid: pushed.cid,
        miner: msg.to,
        method: "DeclareFaultsRecovered",
        partitions,
        gasUsed: null,
        exitCode: null,
        height: null,
        time: new Date(now()).toISOString(),
      });
    }
    return pushed;
  };
  const waitMessage = async (cid: string, confidence: number, opts?: CallOptions) => {
    const r = await chain.waitMessage(cid, confidence, opts);
    if (watched.delete(cid)) seen.receipt(cid, r);
    return r;
  };
  // Every other member is the client's own, bound to it (whatever its methods keep in `this`).
  return new Proxy(chain, {
    get(target, prop) {
      if (prop === "pushMessage") return pushMessage;
      if (prop === "waitMessage") return waitMessage;
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}
