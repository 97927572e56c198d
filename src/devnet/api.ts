/**
 * The devnet's JSON-RPC surface: the subset of Lotus's `Filecoin.*` v1 API that a PoSter uses, with
 * Lotus's JSON encodings (so the Lotus client, and Lotus-speaking tools, work against it), plus a few
 * `Devnet.*` methods to onboard sectors and read what the chain judged.
 *
 * Simplification, on purpose: state queries answer at the current head whatever tipset key is given
 * (the devnet keeps no history of states). Randomness is answered for any past epoch.
 */

import { Address } from "../chain/address.js";
import { BitField } from "../chain/bitfield.js";
import type { HeadChange, TipSet } from "../chain/interface.js";
import {
  encodeActor,
  encodeDeadlineInfo,
  encodeDeadlineState,
  encodeHeadChanges,
  encodeMinerInfo,
  encodeMsgLookup,
  encodePartition,
  encodeSectorInfo,
  encodeTipSet,
} from "../chain/lotus/encode.js";
import { base64 } from "../chain/lotus/shapes.js";
import { messageFromLotusJSON, messageToLotusJSON } from "../chain/message.js";
import { InvalidParamsError } from "../rpc/errors.js";
import {
  arity,
  ChannelResult,
  type MethodTable,
  objectParam,
  stringParam,
  uintParam,
} from "../rpc/method.js";
import { decodeBase64, isCanonicalBase64 } from "../util/base64.js";
import { SmError } from "../util/errors.js";
import { sealProofSectorSize } from "./miner.js";
import { DEVNET_MESSAGE_LIMITS, DEVNET_NETWORK_NAME, type DevnetNode } from "./node.js";

/** Network version the devnet claims (nv21+: 3 partitions per PoSt message). */
export const DEVNET_NETWORK_VERSION = 23;
/** How far back ChainGetTipSet finds a tipset by its key (Lotus finality is 900 epochs). */
const TIPSET_LOOKBACK = 2000;
/** Every account the devnet knows holds this much: sender selection needs a balance. */
const ACCOUNT_BALANCE = 1000n * 10n ** 18n;
const ACCOUNT_CODE = "bafk2bzaceaawtqlpqlhtzrsctxtgmhzkvqrgf5vqsbuxcmxayy3znd4rlb3fa";
const MINER_CODE = "bafk2bzacebz4na3nzkcjtdfhm3zomc7xewsa4esfbxxpgoghtzwejl6kvsxra";

/** What GasEstimateGasLimit answers: × the default GasOverEstimation 1.25 is the 10M push default. */
export const DEVNET_GAS_USED = 8_000_000;
/** What GasEstimateGasPremium answers, in attoFIL (the premium a push fills in by default). */
export const DEVNET_GAS_PREMIUM = "1000";
function bytesParam(v: unknown, what: string): Uint8Array {
  if (v === null || v === undefined) return new Uint8Array();
  const s = stringParam(v, what);
  const b = decodeBase64(s);
  if (!b) throw new InvalidParamsError(`${what} must be padded base64`);
  // Node's decoder ignores stray bits in the last character: one value, one spelling.
  if (!isCanonicalBase64(s)) throw new InvalidParamsError(`${what} is not canonical base64`);
  return b;
}

function addressParam(v: unknown, what: string): string {
  try {
    return Address.fromString(stringParam(v, what)).toString("f");
  } catch (e) {
    throw new InvalidParamsError(`${what}: ${(e as Error).message}`);
  }
}

function epochParam(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v))
    throw new InvalidParamsError(`${what} must be an integer epoch`);
  return v;
}

/** Window PoSt proof (V1_1) for a sector's seal proof: window V1_1 ids are 10 + size index. */
export function windowProofForSeal(sealProof: number): number {
  const size = sealProofSectorSize(sealProof);
  return 10 + [2048, 8 << 20, 512 << 20, 32 * 2 ** 30, 64 * 2 ** 30].indexOf(size);
}

export function devnetMethods(node: DevnetNode): MethodTable {
  const s = node.state;
  /** StateGetRandomnessFrom{Beacon,Tickets}(tag, epoch, entropy, tsk) → 32 bytes, for any past epoch. */
  const randomnessMethod = (
    what: string,
    draw: (tag: number, epoch: number, entropy: Uint8Array) => Uint8Array,
  ): MethodTable[string] => ({
    perm: "read",
    doc: `(tag, epoch, entropy, tsk) → 32 bytes of ${what} randomness`,
    async handler(params) {
      arity(params, 3, 4);
      const epoch = epochParam(params[1], "randEpoch");
      if (epoch > s.epoch)
        throw new SmError(
          "DEVNET_FUTURE_EPOCH",
          `randomness for epoch ${epoch} does not exist yet (head ${s.epoch})`,
        );
      return base64(draw(uintParam(params[0], "personalization"), epoch, bytesParam(params[2], "entropy")));
    },
  });
  const miner = (v: unknown) => {
    const a = addressParam(v, "miner");
    try {
      s.miner(a);
    } catch {
      throw new SmError("DEVNET_UNKNOWN_ACTOR", `actor ${a} is not a miner on this devnet`);
    }
    return a;
  };
  /** A block's Parents: the key of the tipset one epoch below (the devnet has no null rounds). */
  const parentsOf = (ts: TipSet) => (ts.height > 0 ? node.tipset(ts.height - 1).key : []);
  const accounts = () => {
    const out = new Set<string>();
    for (const m of s.miners.values()) {
      const info = s.minerInfo(m.address);
      for (const a of [info.owner, info.worker, ...info.controlAddresses]) out.add(a);
    }
    return out;
  };

  /** height → block CID of the tipsets ChainGetTipSet looked through. */
  const tipsetHeights = new Map<number, string>();

  return {
    "Filecoin.Version": {
      perm: "read",
      doc: "devnet version",
      async handler() {
        return {
          Version: "vsm-devnet",
          APIVersion: 0x020300,
          BlockDelay: Math.max(1, Math.round(node.blockTimeMs / 1000)),
          Agent: "vsm-devnet",
        };
      },
    },
    "Filecoin.ChainHead": {
      perm: "read",
      doc: "() → the head tipset",
      async handler(params) {
        arity(params, 0);
        return encodeTipSet(node.head(), undefined, parentsOf(node.head()));
      },
    },
    "Filecoin.ChainGetTipSet": {
      perm: "read",
      doc: "(tsk) → the tipset with that key (the last 2000 epochs)",
      async handler(params) {
        arity(params, 1);
        const raw = params[0];
        const key =
          Array.isArray(raw) && raw.length === 1
            ? (raw[0] as Record<string, unknown> | null)?.["/"]
            : undefined;
        if (typeof key !== "string")
          throw new InvalidParamsError(
            'tsk must be a tipset key: [{"/": cid}] (devnet tipsets have one block)',
          );
        const head = s.epoch;
        for (let h = head; h >= Math.max(0, head - TIPSET_LOOKBACK); h--) {
          let k = tipsetHeights.get(h);
          if (k === undefined) {
            k = node.tipsetKey(h)[0] as string;
            tipsetHeights.set(h, k);
            if (tipsetHeights.size > TIPSET_LOOKBACK)
              tipsetHeights.delete(tipsetHeights.keys().next().value as number);
          }
          if (k === key) return encodeTipSet(node.tipset(h));
        }
        throw new SmError("DEVNET_UNKNOWN_TIPSET", `no tipset ${key} in the last ${TIPSET_LOOKBACK} epochs`);
      },
    },
    "Filecoin.ChainNotify": {
      perm: "read",
      doc: "() → channel of head changes: first [current], then [apply] per block",
      async handler(params) {
        arity(params, 0);
        return new ChannelResult(async (send, signal) => {
          send(encodeHeadChanges([{ type: "current", tipset: node.head() }], parentsOf));
          await new Promise<void>((resolve) => {
            const onBlock = (ts: TipSet) =>
              send(encodeHeadChanges([{ type: "apply", tipset: ts } satisfies HeadChange], parentsOf));
            node.on("block", onBlock);
            signal.addEventListener(
              "abort",
              () => {
                node.off("block", onBlock);
                resolve();
              },
              { once: true },
            );
          });
        });
      },
    },
    "Filecoin.StateNetworkName": {
      perm: "read",
      doc: "() → network name",
      async handler() {
        return DEVNET_NETWORK_NAME;
      },
    },
    "Filecoin.StateNetworkVersion": {
      perm: "read",
      doc: "(tsk) → network version",
      async handler() {
        return DEVNET_NETWORK_VERSION;
      },
    },
    "Filecoin.StateMinerInfo": {
      perm: "read",
      doc: "(miner, tsk) → MinerInfo",
      async handler(params) {
        arity(params, 1, 2);
        return encodeMinerInfo(s.minerInfo(miner(params[0])));
      },
    },
    "Filecoin.StateMinerProvingDeadline": {
      perm: "read",
      doc: "(miner, tsk) → dline.Info at the head",
      async handler(params) {
        arity(params, 1, 2);
        return encodeDeadlineInfo(s.provingDeadline(miner(params[0])));
      },
    },
    "Filecoin.StateMinerPartitions": {
      perm: "read",
      doc: "(miner, deadline, tsk) → partitions",
      async handler(params) {
        arity(params, 2, 3);
        const m = miner(params[0]);
        const dl = uintParam(params[1], "deadline");
        if (dl >= s.policy.wPoStPeriodDeadlines)
          throw new InvalidParamsError(
            `deadline ${dl} out of range (0..${s.policy.wPoStPeriodDeadlines - 1})`,
          );
        return s.partitions(m, dl).map(encodePartition);
      },
    },
    "Filecoin.StateMinerDeadlines": {
      perm: "read",
      doc: "(miner, tsk) → per deadline {PostSubmissions, DisputableProofCount, DailyFee}",
      async handler(params) {
        arity(params, 1, 2);
        return s.deadlineStates(miner(params[0])).map(encodeDeadlineState);
      },
    },
    "Filecoin.StateMinerSectors": {
      perm: "read",
      doc: "(miner, bitfield|null, tsk) → sector infos",
      async handler(params) {
        arity(params, 2, 3);
        const m = miner(params[0]);
        let filter: BitField | null = null;
        if (params[1] !== null && params[1] !== undefined) {
          try {
            filter = BitField.fromLotusJSON(params[1]);
          } catch (e) {
            throw new InvalidParamsError(`sectors: ${(e as Error).message}`);
          }
        }
        return s.sectors(m, filter).map(encodeSectorInfo);
      },
    },
    "Filecoin.StateSectorGetInfo": {
      perm: "read",
      doc: "(miner, sector, tsk) → sector info or null",
      async handler(params) {
        arity(params, 2, 3);
        const info = s.sectorInfo(miner(params[0]), uintParam(params[1], "sector"));
        return info ? encodeSectorInfo(info) : null;
      },
    },
    "Filecoin.StateGetRandomnessFromBeacon": randomnessMethod("beacon", (tag, epoch, entropy) =>
      s.beacon(tag, epoch, entropy),
    ),
    "Filecoin.StateGetRandomnessFromTickets": randomnessMethod("tickets", (tag, epoch, entropy) =>
      s.tickets(tag, epoch, entropy),
    ),
    "Filecoin.StateGetActor": {
      perm: "read",
      doc: "(address, tsk) → actor",
      async handler(params) {
        arity(params, 1, 2);
        const a = addressParam(params[0], "address");
        if (accounts().has(a)) return encodeActor({ code: ACCOUNT_CODE, nonce: 0, balance: ACCOUNT_BALANCE });
        try {
          s.miner(a);
          return encodeActor({ code: MINER_CODE, nonce: 0, balance: 0n });
        } catch {
          throw new SmError("DEVNET_UNKNOWN_ACTOR", `actor ${a} not found`);
        }
      },
    },
    "Filecoin.StateLookupID": {
      perm: "read",
      doc: "(address, tsk) → ID address (devnet actors have only ID addresses)",
      async handler(params) {
        arity(params, 1, 2);
        const a = addressParam(params[0], "address");
        if (!/^f0\d+$/.test(a))
          throw new SmError(
            "DEVNET_UNKNOWN_ACTOR",
            `${a} has no actor on this devnet (devnet accounts are ID addresses)`,
          );
        return a;
      },
    },
    "Filecoin.MpoolPushMessage": {
      perm: "sign",
      doc: "(message, spec) → signed message; executed in the next block",
      async handler(params) {
        arity(params, 1, 2);
        let msg: ReturnType<typeof messageFromLotusJSON>;
        try {
          msg = messageFromLotusJSON(params[0], DEVNET_MESSAGE_LIMITS);
        } catch (e) {
          throw new InvalidParamsError(`message: ${(e as Error).message}`);
        }
        if (!accounts().has(msg.from.toString("f")))
          throw new SmError(
            "DEVNET_UNKNOWN_ACTOR",
            `sender ${msg.from.toString("f")} has no key on this devnet`,
          );
        const { cid, msg: filled } = node.push(msg);
        return {
          // The CID push() computed: hashing a message of three partitions' bundles again cost ~0.3 s.
          Message: messageToLotusJSON(filled, { withCid: true, cid, ...DEVNET_MESSAGE_LIMITS }),
          Signature: { Type: 1, Data: base64(new Uint8Array(65)) },
          CID: { "/": cid },
        };
      },
    },
    // The PoSter estimates gas itself when [Miners.PoSt] GasOverEstimation / GasOverPremium are set
    // and no messager is configured (client.ts estimateGas); these answer with fixed devnet values.
    "Filecoin.GasEstimateGasLimit": {
      perm: "read",
      doc: "(message, tsk) → estimated gas used (a fixed devnet value)",
      async handler(params) {
        arity(params, 1, 2);
        try {
          messageFromLotusJSON(params[0], DEVNET_MESSAGE_LIMITS);
        } catch (e) {
          throw new InvalidParamsError(`message: ${(e as Error).message}`);
        }
        return DEVNET_GAS_USED;
      },
    },
    "Filecoin.GasEstimateGasPremium": {
      perm: "read",
      doc: "(nblocksincl, sender, gaslimit, tsk) → estimated gas premium in attoFIL (a fixed devnet value)",
      async handler(params) {
        arity(params, 3, 4);
        addressParam(params[1], "sender");
        return DEVNET_GAS_PREMIUM;
      },
    },
    "Filecoin.StateWaitMsg": {
      perm: "read",
      doc: "(cid, confidence, limit, allowReplaced) → MsgLookup once executed with `confidence` blocks on top",
      async handler(params, ctx) {
        arity(params, 2, 4);
        const c = objectParam(params[0], "cid")["/"];
        const cid = stringParam(c, "cid./");
        const confidence = uintParam(params[1], "confidence");
        for (;;) {
          const ex = node.findExecuted(cid);
          if (ex && s.epoch >= ex.height + confidence) {
            return encodeMsgLookup(
              cid,
              { exitCode: ex.exitCode, return: new Uint8Array(), gasUsed: 1_000_000, height: ex.height },
              node.tipset(ex.height),
            );
          }
          if (!ex && !node.isPending(cid))
            throw new SmError("DEVNET_UNKNOWN_MESSAGE", `message ${cid} is not known to this devnet`);
          await new Promise<void>((resolve, reject) => {
            const done = () => {
              node.off("block", done);
              ctx.signal.removeEventListener("abort", abort);
              resolve();
            };
            const abort = () => {
              node.off("block", done);
              reject(new SmError("ABORTED", "StateWaitMsg cancelled"));
            };
            node.once("block", done);
            ctx.signal.addEventListener("abort", abort, { once: true });
          });
        }
      },
    },
    "Devnet.OnboardSectors": {
      perm: "admin",
      doc: "(miner, [{Number, SealProof, SealedCID}]) → deadline/partition of each; creates the miner on first use",
      async handler(params) {
        arity(params, 2);
        const m = addressParam(params[0], "miner");
        if (!Array.isArray(params[1]) || params[1].length === 0)
          throw new InvalidParamsError("sectors must be a non-empty array");
        const sectors = params[1].map((v, i) => {
          const o = objectParam(v, `sectors[${i}]`);
          return {
            number: uintParam(o.Number, `sectors[${i}].Number`),
            sealProof: uintParam(o.SealProof, `sectors[${i}].SealProof`),
            sealedCid: stringParam(o.SealedCID, `sectors[${i}].SealedCID`),
          };
        });
        let exists = true;
        try {
          s.miner(m);
        } catch {
          exists = false;
        }
        if (!exists) {
          const id = Number(m.slice(2));
          s.addMiner({
            address: m,
            owner: `f0${id}1`,
            worker: `f0${id}2`,
            windowPoStProofType: windowProofForSeal(sectors[0]?.sealProof ?? 5),
            provingPeriodOffset: id % (s.policy.wPoStPeriodDeadlines * s.policy.wPoStChallengeWindow),
          });
        }
        return s
          .onboard(m, sectors)
          .map((l) => ({ Number: l.sector, Deadline: l.deadline, Partition: l.partition }));
      },
    },
    "Devnet.Records": {
      perm: "read",
      doc: "(miner|null, limit) → the latest deadline records (proven, missed, faults, recoveries, rejections)",
      async handler(params) {
        arity(params, 0, 2);
        const m =
          params[0] === null || params[0] === undefined ? undefined : addressParam(params[0], "miner");
        const limit = params[1] === undefined ? 100 : uintParam(params[1], "limit");
        return node.records.filter((r) => !m || r.miner === m).slice(-limit);
      },
    },
    "Devnet.Messages": {
      perm: "read",
      doc: "(limit) → the latest executed messages with exit codes and errors",
      async handler(params) {
        arity(params, 0, 1);
        return node.executed.slice(-(params[0] === undefined ? 100 : uintParam(params[0], "limit")));
      },
    },
    "Devnet.Status": {
      perm: "read",
      doc: "() → epoch, block time, policy, judgement (VerifySample: sector proofs verified per partition, null = all) and per-miner counts",
      async handler() {
        return {
          Epoch: s.epoch,
          BlockTimeMs: node.blockTimeMs,
          Policy: s.policy,
          VerifySample: node.verifySample ?? null,
          Miners: [...s.miners.values()].map((mj) => {
            const parts = s.provingDeadline(mj.address);
            const all = Array.from({ length: s.policy.wPoStPeriodDeadlines }, (_, i) =>
              s.partitions(mj.address, i),
            ).flat();
            const count = (k: "allSectors" | "faultySectors" | "recoveringSectors") =>
              all.reduce((n, p) => n + p[k].count(), 0);
            return {
              Address: mj.address,
              Sectors: count("allSectors"),
              Faulty: count("faultySectors"),
              Recovering: count("recoveringSectors"),
              CurrentDeadline: parts.index,
              Info: encodeMinerInfo(s.minerInfo(mj.address)),
            };
          }),
        };
      },
    },
  };
}
