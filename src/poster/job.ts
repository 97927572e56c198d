/**
 * The proving job of one partition, as data: everything a prover needs to prove it and nothing that
 * lives only in this process. It survives JSON.stringify / JSON.parse unchanged (numbers, strings,
 * arrays; bytes as hex), so it can be stored and run elsewhere; parsePartitionJob checks one read back.
 */
import type { PoStTask } from "../prover/protocol.js";
import { SmError } from "../util/errors.js";
import type { PartitionPlan, ProofFormat } from "./batch.js";

/** One sector to prove: its number, its on-chain comm_r and where the sector check found its files. */
export interface JobSector {
  number: number;
  /** The 32-byte comm_r, hex. */
  commR: string;
  sealedFile: string;
  cacheDir: string;
}

export interface PartitionJob {
  /** Miner actor id (the n of f0n). */
  actor: number;
  /** Deadline index within the proving period. */
  deadline: number;
  /** The deadline's Open epoch: with actor and deadline, which occurrence of the deadline this is. */
  open: number;
  /** The deadline's Close epoch: the prover's priority (earliest first), and when the job is worthless. */
  close: number;
  /** Partition index within the deadline. */
  partition: number;
  /** API proof type name (e.g. StackedDrgWindow32GiBV1_2). */
  proofType: string;
  /** The masked 32-byte challenge seed, hex. */
  seed: string;
  /** What the prover returns: one SNARK, or a vanilla proof per sector (devnet). */
  format: ProofFormat;
  /** Sectors to prove, ascending. */
  sectors: JobSector[];
  /** Sectors the check left out (they go into the message's Skipped), ascending. */
  skipped: number[];
}

/** Which deadline a job belongs to and the challenge it answers. */
export interface JobDeadline {
  actor: number;
  deadline: number;
  open: number;
  close: number;
  proofType: string;
  seed: Uint8Array;
  format: ProofFormat;
}

export const toHex = (b: Uint8Array): string =>
  Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

/**
 * The job of a checked partition: its proven sectors, each with the location its check found.
 * Throws POSTER_INTERNAL when a sector to prove has none (a check that passed must have found it).
 */
export function partitionJob(
  dl: JobDeadline,
  plan: PartitionPlan,
  located: ReadonlyMap<number, JobSector>,
): PartitionJob {
  const sectors = plan.proven.toNumbers().map((n) => {
    const s = located.get(n);
    if (!s) throw new SmError("POSTER_INTERNAL", `sector ${n} has no checked location`);
    return s;
  });
  return {
    actor: dl.actor,
    deadline: dl.deadline,
    open: dl.open,
    close: dl.close,
    partition: plan.index,
    proofType: dl.proofType,
    seed: toHex(dl.seed),
    format: dl.format,
    sectors,
    skipped: plan.skipped.toNumbers(),
  };
}

/** The prover task for some of a job's sectors (a fault round proves fewer than the job lists). */
export function jobTask(job: PartitionJob, sectors: readonly JobSector[]): PoStTask {
  return {
    minerId: job.actor,
    proofType: job.proofType,
    replicas: sectors.map((s) => ({
      sectorId: s.number,
      commR: fromHex(s.commR, 32, "commR"),
      cacheDir: s.cacheDir,
      sealedFile: s.sealedFile,
    })),
    seed: fromHex(job.seed, 32, "seed"),
  };
}

function fromHex(s: string, bytes: number, what: string): Uint8Array {
  if (!new RegExp(`^[0-9a-f]{${bytes * 2}}$`).test(s)) bad(`${what} is not ${bytes} hex bytes`);
  return new Uint8Array(Buffer.from(s, "hex"));
}

function bad(message: string): never {
  throw new SmError("POSTER_BAD_JOB", `partition job: ${message}`);
}

const isIndex = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isText = (v: unknown): v is string => typeof v === "string" && v !== "";

/**
 * A job checked field by field, or POSTER_BAD_JOB: what provePartition runs first, so a job read back
 * from elsewhere (JSON.parse of a stored job, another node's) is proven only when it is whole.
 */
export function parsePartitionJob(v: unknown): PartitionJob {
  if (typeof v !== "object" || v === null || Array.isArray(v)) bad("not an object");
  const o = v as Record<string, unknown>;
  for (const k of ["actor", "deadline", "open", "close", "partition"] as const)
    if (!isIndex(o[k])) bad(`${k} is not a non-negative integer`);
  if (!isText(o.proofType)) bad("proofType is missing");
  if (o.format !== "snark" && o.format !== "vanilla-bundle") bad(`unknown format ${String(o.format)}`);
  if (typeof o.seed !== "string") bad("seed is missing");
  fromHex(o.seed, 32, "seed");
  if (!Array.isArray(o.sectors)) bad("sectors is not an array");
  if (!Array.isArray(o.skipped) || !o.skipped.every(isIndex)) bad("skipped is not a list of sector numbers");
  const sectors = o.sectors.map((s: unknown, i): JobSector => {
    const e = (typeof s === "object" && s !== null ? s : {}) as Record<string, unknown>;
    if (!isIndex(e.number)) bad(`sectors[${i}].number is not a sector number`);
    if (typeof e.commR !== "string") bad(`sectors[${i}].commR is missing`);
    fromHex(e.commR, 32, `sectors[${i}].commR`);
    if (!isText(e.sealedFile) || !isText(e.cacheDir)) bad(`sectors[${i}] has no location`);
    return { number: e.number, commR: e.commR, sealedFile: e.sealedFile, cacheDir: e.cacheDir };
  });
  const ascending = (ns: readonly number[]) => ns.every((n, i) => i === 0 || n > (ns[i - 1] as number));
  if (!ascending(sectors.map((s) => s.number))) bad("sectors are not in ascending order, or repeat");
  if (!ascending(o.skipped as number[])) bad("skipped is not in ascending order, or repeats");
  const toProve = new Set(sectors.map((s) => s.number));
  const both = (o.skipped as number[]).find((n) => toProve.has(n));
  if (both !== undefined) bad(`sector ${both} is both to prove and skipped`);
  return {
    actor: o.actor as number,
    deadline: o.deadline as number,
    open: o.open as number,
    close: o.close as number,
    partition: o.partition as number,
    proofType: o.proofType,
    seed: o.seed,
    format: o.format,
    sectors,
    skipped: [...o.skipped],
  };
}
