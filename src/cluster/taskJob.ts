/**
 * What a partition task carries (partition_tasks.job): everything a node needs to check and prove the
 * partition without reading the chain, as JSON. It is the poster's proving job (poster/job.ts) one
 * step earlier: the sectors to prove with their on-chain comm_r, not yet their files. File locations
 * belong to the machine that proves: the claiming node finds them through the sector index and its
 * own [[Common.PersistStores]], and runs the sector check there, since a store mounted on one machine
 * may be missing on another.
 *
 *   { v: 1, actor, deadline, open, close, partition, proofType, postProof, seed: hex, format, strict,
 *     toProve: RLE+ base64, sectors: [[number, sealedCid, upgraded], …] }
 *
 * A job read back is checked field by field (CLUSTER_BAD_JOB): a row written by another version, or
 * by hand, is failed with what is wrong rather than proven from garbage.
 */
import { BitField } from "../chain/bitfield.js";
import type { ProofFormat } from "../poster/batch.js";
import type { CheckSectorInfo } from "../poster/check.js";
import type { Challenge, TodoPartition } from "../poster/plan.js";
import { decodeBase64 } from "../util/base64.js";
import { SmError } from "../util/errors.js";
import "./errors.js";

const VERSION = 1;

export interface TaskJob {
  actor: number;
  deadline: number;
  open: number;
  close: number;
  partition: number;
  /** API proof type name the prover is asked for. */
  proofType: string;
  /** The miner's WindowPoSt RegisteredPoStProof id (gives the sector shape the check needs). */
  postProof: number;
  /** The masked 32-byte challenge seed. */
  seed: Uint8Array;
  format: ProofFormat;
  /** [Miners.PoSt] StrictCheck of the node that created the task. */
  strict: boolean;
  /** (live − faulty) ∪ recovering at the deadline's start tipset. */
  toProve: BitField;
  /** On-chain infos of the sectors in toProve (those the chain returned). */
  infos: Map<number, CheckSectorInfo>;
}

interface Doc {
  v: number;
  actor: number;
  deadline: number;
  open: number;
  close: number;
  partition: number;
  proofType: string;
  postProof: number;
  seed: string;
  format: ProofFormat;
  strict: boolean;
  toProve: string;
  sectors: [number, string, boolean][];
}

/** The JSON value stored with the task. */
export function encodeTaskJob(j: TaskJob): Doc {
  return {
    v: VERSION,
    actor: j.actor,
    deadline: j.deadline,
    open: j.open,
    close: j.close,
    partition: j.partition,
    proofType: j.proofType,
    postProof: j.postProof,
    seed: Buffer.from(j.seed).toString("hex"),
    format: j.format,
    strict: j.strict,
    toProve: Buffer.from(j.toProve.encode()).toString("base64"),
    sectors: [...j.infos.values()]
      .sort((a, b) => a.sectorNumber - b.sectorNumber)
      .map((s) => [s.sectorNumber, s.sealedCid, s.sectorKeyCid !== null]),
  };
}

function bad(message: string): never {
  throw new SmError("CLUSTER_BAD_JOB", `partition task job: ${message}`);
}

const isIndex = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** A stored job checked field by field, or CLUSTER_BAD_JOB naming what is wrong. */
export function parseTaskJob(v: unknown): TaskJob {
  if (typeof v !== "object" || v === null || Array.isArray(v)) bad("not an object");
  const d = v as Partial<Record<keyof Doc, unknown>>;
  if (d.v !== VERSION) bad(`unknown version ${String(d.v)} (this node reads version ${VERSION})`);
  for (const k of ["actor", "deadline", "open", "close", "partition", "postProof"] as const)
    if (!isIndex(d[k])) bad(`${k} is not a non-negative integer`);
  if (typeof d.proofType !== "string" || d.proofType === "") bad("proofType is missing");
  if (typeof d.seed !== "string" || !/^[0-9a-f]{64}$/.test(d.seed)) bad("seed is not 32 hex bytes");
  if (d.format !== "snark" && d.format !== "vanilla-bundle") bad(`unknown format ${String(d.format)}`);
  if (typeof d.strict !== "boolean") bad("strict is not a boolean");
  const toProveBytes = typeof d.toProve === "string" ? decodeBase64(d.toProve) : undefined;
  if (!toProveBytes) bad("toProve is not base64");
  let toProve: BitField;
  try {
    toProve = BitField.decode(toProveBytes);
  } catch (e) {
    bad(`toProve is not an RLE+ bitfield (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!Array.isArray(d.sectors)) bad("sectors is not an array");
  const infos = new Map<number, CheckSectorInfo>();
  for (const [i, e] of d.sectors.entries()) {
    if (!Array.isArray(e) || !isIndex(e[0]) || typeof e[1] !== "string" || typeof e[2] !== "boolean")
      bad(`sectors[${i}] is not [number, sealedCid, upgraded]`);
    if (!toProve.has(e[0])) bad(`sector ${e[0]} is listed but not to prove`);
    // The check needs only whether the sector was upgraded, not its old key: a marker stands in.
    infos.set(e[0], { sectorNumber: e[0], sealedCid: e[1], sectorKeyCid: e[2] ? "upgraded" : null });
  }
  return {
    actor: d.actor as number,
    deadline: d.deadline as number,
    open: d.open as number,
    close: d.close as number,
    partition: d.partition as number,
    proofType: d.proofType,
    postProof: d.postProof as number,
    seed: new Uint8Array(Buffer.from(d.seed, "hex")),
    format: d.format,
    strict: d.strict,
    toProve,
    infos,
  };
}

/** The partition as the poster's check stage takes it: only its sectors to prove matter there. */
export function jobTodo(j: TaskJob): TodoPartition {
  const none = BitField.empty();
  return {
    index: j.partition,
    toProve: j.toProve,
    partition: {
      allSectors: j.toProve,
      liveSectors: j.toProve,
      activeSectors: j.toProve,
      faultySectors: none,
      recoveringSectors: none,
    },
  };
}

export function jobChallenge(j: TaskJob): Challenge {
  return { seed: j.seed, proofType: j.proofType, format: j.format };
}
