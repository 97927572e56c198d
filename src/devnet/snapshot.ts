/**
 * Plain-JSON snapshot of a ChainState, so the devnet survives restarts. Bytes are hex strings,
 * bitfields are Lotus JSON run-length arrays (go-bitfield RLE JSON), numbers are JSON numbers (all
 * values are safe integers). `stateFromJSON` validates everything and rebuilds derived data
 * (comm_r from the sealed CID), so a hand-edited or truncated file fails with DEVNET_BAD_SNAPSHOT.
 */

import { BitField } from "../chain/bitfield.js";
import { cidToCommitment } from "../proofs/commCid.js";
import { SmError } from "../util/errors.js";
import type { DeadlineRecord, DevnetMiner } from "./miner.js";
import type { DevnetPolicy } from "./policy.js";
import { ChainState } from "./state.js";

export const SNAPSHOT_VERSION = 1;

export interface ChainStateJSON {
  version: number;
  epoch: number;
  seed: string;
  policy: DevnetPolicy;
  miners: MinerJSON[];
  records: DeadlineRecord[];
}

interface MinerJSON {
  address: string;
  owner: string;
  worker: string;
  controlAddresses: string[];
  windowPoStProofType: number;
  provingPeriodOffset: number;
  sectors: Array<{
    number: number;
    sealProof: number;
    sealedCid: string;
    activation: number;
    expiration: number;
  }>;
  deadlines: Array<{
    partitions: Array<{ sectors: number[]; faulty: number[]; recovering: number[] }>;
    proven: number[];
    log: { newFaults: number[]; recovered: number[]; rejections: string[] };
  }>;
}

function sectorsJSON(m: DevnetMiner): MinerJSON["sectors"] {
  return [...m.sectors.values()]
    .sort((a, b) => a.number - b.number)
    .map((x) => ({
      number: x.number,
      sealProof: x.sealProof,
      sealedCid: x.sealedCid,
      activation: x.activation,
      expiration: x.expiration,
    }));
}

function minerJSON(m: DevnetMiner, withSectors: boolean): MinerJSON {
  return {
    address: m.address,
    owner: m.owner,
    worker: m.worker,
    controlAddresses: [...m.controlAddresses],
    windowPoStProofType: m.windowPoStProofType,
    provingPeriodOffset: m.provingPeriodOffset,
    sectors: withSectors ? sectorsJSON(m) : [],
    deadlines: m.deadlines.map((d) => ({
      partitions: d.partitions.map((p) => ({
        sectors: p.sectors.toLotusJSON(),
        faulty: p.faulty.toLotusJSON(),
        recovering: p.recovering.toLotusJSON(),
      })),
      proven: d.proven.toLotusJSON(),
      log: {
        newFaults: d.log.newFaults.toLotusJSON(),
        recovered: d.log.recovered.toLotusJSON(),
        rejections: [...d.log.rejections],
      },
    })),
  };
}

/** Everything but the miners. */
function stateHeadJSON(s: ChainState): Omit<ChainStateJSON, "miners"> {
  return {
    version: SNAPSHOT_VERSION,
    epoch: s.epoch,
    seed: Buffer.from(s.seed).toString("hex"),
    policy: { ...s.policy },
    records: s.records.map((r) => structuredClone(r)),
  };
}

export function stateToJSON(s: ChainState): ChainStateJSON {
  return { ...stateHeadJSON(s), miners: [...s.miners.values()].map((m) => minerJSON(m, true)) };
}

/** Per miner, its sectors' JSON text and the sector count it was made at (see stateToJSONText). */
export type SectorsTextCache = Map<string, { count: number; text: string }>;

/**
 * `JSON.stringify(stateToJSON(s))` in meaning (the same keys and values; `sectors` comes last in
 * each miner), for the snapshot the devnet writes after every block. The sector list is most of
 * the text (3.4 MB for 23,490 sectors, ~95 ms to build) and changes only when sectors are
 * onboarded, which only adds sectors: its text is kept in `cache` and rebuilt when the count moves.
 */
export function stateToJSONText(s: ChainState, cache: SectorsTextCache): string {
  const miners = [...s.miners.values()].map((m) => {
    let hit = cache.get(m.address);
    if (hit === undefined || hit.count !== m.sectors.size) {
      hit = { count: m.sectors.size, text: JSON.stringify(sectorsJSON(m)) };
      cache.set(m.address, hit);
    }
    const { sectors: _, ...rest } = minerJSON(m, false);
    const head = JSON.stringify(rest);
    return `${head.slice(0, -1)},"sectors":${hit.text}}`;
  });
  const head = JSON.stringify(stateHeadJSON(s));
  return `${head.slice(0, -1)},"miners":[${miners.join(",")}]}`;
}

class Reader {
  constructor(readonly path: string) {}
  fail(msg: string): never {
    throw new SmError("DEVNET_BAD_SNAPSHOT", `bad devnet snapshot at ${this.path}: ${msg}`);
  }
  at(key: string | number): Reader {
    return new Reader(typeof key === "number" ? `${this.path}[${key}]` : `${this.path}.${key}`);
  }
  obj(v: unknown): Record<string, unknown> {
    if (typeof v !== "object" || v === null || Array.isArray(v)) this.fail("expected an object");
    return v as Record<string, unknown>;
  }
  arr(v: unknown): unknown[] {
    if (!Array.isArray(v)) this.fail("expected an array");
    return v;
  }
  int(v: unknown): number {
    if (typeof v !== "number" || !Number.isSafeInteger(v))
      this.fail(`expected an integer, got ${JSON.stringify(v)}`);
    return v;
  }
  str(v: unknown): string {
    if (typeof v !== "string") this.fail("expected a string");
    return v;
  }
  bits(v: unknown): BitField {
    try {
      return BitField.fromLotusJSON(v);
    } catch (err) {
      return this.fail(`bad bitfield: ${(err as Error).message}`);
    }
  }
  /** Runs `f`, turning any other error (e.g. a state-machine check) into a snapshot error here. */
  wrap<T>(f: () => T): T {
    try {
      return f();
    } catch (err) {
      if (err instanceof SmError && err.code === "DEVNET_BAD_SNAPSHOT") throw err;
      return this.fail((err as Error).message);
    }
  }
}

function numList(r: Reader, v: unknown): number[] {
  return r.arr(v).map((x, i) => r.at(i).int(x));
}

export function stateFromJSON(value: unknown): ChainState {
  const r = new Reader("$");
  const o = r.obj(value);
  if (o.version !== SNAPSHOT_VERSION)
    r.at("version").fail(`unsupported version ${JSON.stringify(o.version)}`);
  const seedHex = r.at("seed").str(o.seed);
  if (!/^[0-9a-f]{64}$/.test(seedHex)) r.at("seed").fail("expected 64 lowercase hex digits");
  const epoch = r.at("epoch").int(o.epoch);
  const state = r.wrap(
    () =>
      new ChainState({
        seed: Uint8Array.from(Buffer.from(seedHex, "hex")),
        policy: r.at("policy").obj(o.policy) as unknown as DevnetPolicy,
        epoch,
      }),
  );
  const miners = r.at("miners");
  miners.arr(o.miners).forEach((mv, mi) => {
    const mr = miners.at(mi);
    const mo = mr.obj(mv);
    const m: DevnetMiner = mr.wrap(() =>
      state.addMiner({
        address: mr.at("address").str(mo.address),
        owner: mr.at("owner").str(mo.owner),
        worker: mr.at("worker").str(mo.worker),
        controlAddresses: mr
          .at("controlAddresses")
          .arr(mo.controlAddresses)
          .map((a, i) => mr.at("controlAddresses").at(i).str(a)),
        windowPoStProofType: mr.at("windowPoStProofType").int(mo.windowPoStProofType),
        provingPeriodOffset: mr.at("provingPeriodOffset").int(mo.provingPeriodOffset),
      }),
    );
    const sr = mr.at("sectors");
    sr.arr(mo.sectors).forEach((sv, si) => {
      const x = sr.at(si);
      const so = x.obj(sv);
      const number = x.at("number").int(so.number);
      if (number < 0 || m.sectors.has(number))
        x.at("number").fail(`bad or duplicate sector number ${number}`);
      const sealedCid = x.at("sealedCid").str(so.sealedCid);
      const commR = x.at("sealedCid").wrap(() => cidToCommitment(sealedCid).commitment);
      m.sectors.set(number, {
        number,
        sealProof: x.at("sealProof").int(so.sealProof),
        sealedCid,
        commR,
        activation: x.at("activation").int(so.activation),
        expiration: x.at("expiration").int(so.expiration),
      });
    });
    const dr = mr.at("deadlines");
    const dls = dr.arr(mo.deadlines);
    if (dls.length !== m.deadlines.length)
      dr.fail(`expected ${m.deadlines.length} deadlines, got ${dls.length}`);
    const placed = new Set<number>();
    dls.forEach((dv, di) => {
      const d = dr.at(di);
      const dobj = d.obj(dv);
      const target = m.deadlines[di]!;
      const pr = d.at("partitions");
      pr.arr(dobj.partitions).forEach((pv, pi) => {
        const p = pr.at(pi);
        const po = p.obj(pv);
        const sectors = p.at("sectors").bits(po.sectors);
        const faulty = p.at("faulty").bits(po.faulty);
        const recovering = p.at("recovering").bits(po.recovering);
        if (!faulty.subtract(sectors).isEmpty()) p.fail("faulty sectors outside the partition");
        if (!recovering.subtract(faulty).isEmpty()) p.fail("recovering sectors that are not faulty");
        for (const n of sectors) {
          if (!m.sectors.has(n)) p.fail(`sector ${n} has no sector info`);
          if (placed.has(n)) p.fail(`sector ${n} is in two partitions`);
          placed.add(n);
        }
        target.partitions.push({ sectors, faulty, recovering });
      });
      target.proven = d.at("proven").bits(dobj.proven);
      const last = target.proven.last();
      if (last !== undefined && last >= target.partitions.length) d.at("proven").fail(`no partition ${last}`);
      const lr = d.at("log");
      const lo = lr.obj(dobj.log);
      target.log = {
        newFaults: lr.at("newFaults").bits(lo.newFaults),
        recovered: lr.at("recovered").bits(lo.recovered),
        rejections: lr
          .at("rejections")
          .arr(lo.rejections)
          .map((x, i) => lr.at("rejections").at(i).str(x)),
      };
    });
    if (placed.size !== m.sectors.size) mr.fail("some sectors are in no partition");
  });
  const rr = r.at("records");
  for (const [i, v] of rr.arr(o.records).entries()) state.records.push(readRecord(rr.at(i), v));
  return state;
}

function readRecord(r: Reader, v: unknown): DeadlineRecord {
  const o = r.obj(v);
  return {
    miner: r.at("miner").str(o.miner),
    index: r.at("index").int(o.index),
    open: r.at("open").int(o.open),
    close: r.at("close").int(o.close),
    partitions: r.at("partitions").int(o.partitions),
    proven: numList(r.at("proven"), o.proven),
    missed: numList(r.at("missed"), o.missed),
    newFaults: numList(r.at("newFaults"), o.newFaults),
    recovered: numList(r.at("recovered"), o.recovered),
    rejections: r
      .at("rejections")
      .arr(o.rejections)
      .map((x, i) => r.at("rejections").at(i).str(x)),
  };
}
