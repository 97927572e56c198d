/**
 * `npm run check:bincode-rust`: byte compatibility of src/proofs/bincode.ts with the real bincode
 * 1.3.3 serializer (tools/bincode-check, a Rust mirror of the rust-fil-proofs declarations built
 * offline against Debian's packaged crates). Not part of `npm test`: it needs cargo and
 * `apt-get install librust-bincode-dev librust-serde-dev librust-serde-derive-dev`, which this
 * script checks for and never installs (exit 2 when missing).
 *
 *  1. TypeScript blobs from REAL proofs of our prover: synthetic 2 KiB and 8 MiB sectors (Single),
 *     sparse 32 GiB (Sub) and 64 GiB (Top) replicas; each proof is verified first.
 *  2. The Rust checker writes its own blobs (all three variants, varied path lengths).
 *  3. Rust reads every blob: deserialize, re-serialize byte-exactly, field dump equal to ours,
 *     truncated prefixes and ProofData variant 3 rejected.
 *  4. TypeScript reads every blob the same way.
 *
 * Each blob `<shape>--<name>.bin` has a `.dump` beside it: every value named by its Rust field path
 * (same format on both sides), so a swap of two same-size fields (root/leaf, comm_c/comm_r_last)
 * cannot hide behind a byte round trip. Prints PASS/FAIL per blob; exit 0 only if all pass.
 *
 * Options: --keep (keep the blob directory and print it), --no-8mib (skip the ~20 s 8 MiB sector).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  decodeFallbackPoStSectorProof,
  encodeFallbackPoStSectorProof,
  type FallbackPoStSectorProof,
} from "../src/proofs/bincode.js";
import type { PoStApiVersion } from "../src/proofs/challenges.js";
import type { PathElement, SectorProof } from "../src/proofs/merkleProof.js";
import { PROOF_ERROR_CODES } from "../src/proofs/proofErrors.js";
import { type SectorShape, shapeByName } from "../src/proofs/sectorShapes.js";
import { seededRandom, writeSyntheticSector } from "../src/proofs/syntheticSector.js";
import { proveSector, sectorChallenges, verifySector } from "../src/proofs/vanilla.js";
import { SmError } from "../src/util/errors.js";
import { writeSparseSector } from "../test/unit/proofs/sparseSector.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const toolDir = path.join(root, "tools", "bincode-check");
const DEBIAN_REGISTRY = "/usr/share/cargo/registry";
const APT_PACKAGES = "librust-bincode-dev librust-serde-dev librust-serde-derive-dev";
const args = new Set(process.argv.slice(2));

// ------------------------------------------------------------------------------------------------
// Prerequisites: report exactly what is missing, install nothing.

function versionOf(cmd: string): string | undefined {
  const r = spawnSync(cmd, ["--version"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function debianCrate(name: string): string | undefined {
  if (!fs.existsSync(DEBIAN_REGISTRY)) return undefined;
  return fs
    .readdirSync(DEBIAN_REGISTRY)
    .filter((d) => d.startsWith(`${name}-1.`) && /^\d/.test(d.slice(name.length + 1)))
    .sort()
    .at(-1);
}

const cargo = versionOf("cargo");
const rustc = versionOf("rustc");
const crates = {
  bincode: debianCrate("bincode"),
  serde: debianCrate("serde"),
  serde_derive: debianCrate("serde_derive"),
};
const missing: string[] = [];
if (cargo === undefined || rustc === undefined) {
  missing.push(
    "cargo and rustc are not on PATH: `apt-get install -y cargo rustc` (Debian), or a rustup toolchain",
  );
}
const absent = Object.entries(crates)
  .filter(([, dir]) => dir === undefined)
  .map(([name]) => name);
if (absent.length > 0) {
  missing.push(
    `Debian's packaged crates ${absent.join(", ")} are not in ${DEBIAN_REGISTRY}: ` +
      `\`apt-get install -y ${APT_PACKAGES}\``,
  );
}
if (crates.bincode !== undefined && crates.bincode !== "bincode-1.3.3") {
  missing.push(
    `${DEBIAN_REGISTRY}/${crates.bincode} is not bincode 1.3.3 (the version rust-fil-proofs' Cargo.lock resolves); ` +
      "this check pins bincode =1.3.3",
  );
}
if (missing.length > 0) {
  console.error("check:bincode-rust cannot run (it installs nothing itself):");
  for (const m of missing) console.error(`  - ${m}`);
  process.exit(2);
}
console.log(`${cargo}; ${rustc}; Debian crates: ${Object.values(crates).join(", ")}`);

// ------------------------------------------------------------------------------------------------
// Build the Rust checker offline (tools/bincode-check/.cargo/config.toml is read from its folder).

console.log("building tools/bincode-check (release, offline, -j1)…");
const build = spawnSync("cargo", ["build", "--release", "--offline", "-j1", "--quiet"], {
  cwd: toolDir,
  stdio: "inherit",
});
if (build.status !== 0) {
  console.error("FAIL: cargo build of tools/bincode-check failed (output above)");
  process.exit(1);
}
const checker = path.join(toolDir, "target", "release", "bincode-check");

// ------------------------------------------------------------------------------------------------
// The field dump: same text as `dump` in tools/bincode-check/src/main.rs.

const hex = (d: Uint8Array): string => Buffer.from(d).toString("hex");

function dumpPath(out: string[], at: string, p: readonly PathElement[]): void {
  out.push(`${at}.path.len ${p.length}`);
  p.forEach((e, i) => {
    out.push(`${at}.path[${i}].hashes ${e.hashes.length} ${e.hashes.map(hex).join(" ")}`);
    out.push(`${at}.path[${i}].index ${e.index}`);
  });
}

function dumpFallbackPoStSectorProof(v: FallbackPoStSectorProof): string {
  const out: string[] = [];
  out.push(`sector_id ${v.sectorId}`);
  out.push(`comm_r ${hex(v.commR)}`);
  out.push(`vanilla_proof.sectors.len ${v.vanillaProof.sectors.length}`);
  v.vanillaProof.sectors.forEach((sec, s) => {
    const sat = `vanilla_proof.sectors[${s}]`;
    out.push(`${sat}.inclusion_proofs.len ${sec.inclusionProofs.length}`);
    sec.inclusionProofs.forEach((p, i) => {
      const at = `${sat}.inclusion_proofs[${i}].data`;
      out.push(`${at} ${p.kind === "single" ? "Single" : p.kind === "sub" ? "Sub" : "Top"}`);
      out.push(`${at}.root ${hex(p.root)}`);
      out.push(`${at}.leaf ${hex(p.leaf)}`);
      if (p.kind === "single") {
        dumpPath(out, `${at}.path`, p.path);
      } else {
        dumpPath(out, `${at}.base_proof`, p.basePath);
        dumpPath(out, `${at}.sub_proof`, p.subPath);
        if (p.kind === "top") dumpPath(out, `${at}.top_proof`, p.topPath);
      }
    });
    out.push(`${sat}.comm_c ${hex(sec.commC)}`);
    out.push(`${sat}.comm_r_last ${hex(sec.commRLast)}`);
  });
  return `${out.join("\n")}\n`;
}

/** Same list as `cut_points` in main.rs. */
function cutPoints(len: number): number[] {
  if (len <= 2048) return Array.from({ length: len }, (_, i) => i);
  const v = Array.from({ length: 2048 }, (_, i) => Math.floor((i * len) / 2048));
  v.push(len - 33, len - 32, len - 1);
  return [...new Set(v)].sort((a, b) => a - b);
}

// ------------------------------------------------------------------------------------------------
// 1. TypeScript blobs from real proofs.

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vsm-bincode-rust-"));
const blobs = path.join(dir, "blobs");
fs.mkdirSync(blobs);

function seed(label: string): Uint8Array {
  const b = new Uint8Array(createHash("sha256").update(label).digest());
  b[31] = b[31]! & 0x3f; // masked like chain randomness
  return b;
}

function writeBlob(name: string, v: FallbackPoStSectorProof): number {
  const bytes = encodeFallbackPoStSectorProof(v);
  fs.writeFileSync(path.join(blobs, `${name}.bin`), bytes);
  fs.writeFileSync(path.join(blobs, `${name}.dump`), dumpFallbackPoStSectorProof(v));
  return bytes.length;
}

interface Sector {
  shape: SectorShape;
  number: number;
  commR: Uint8Array;
  sealedFile: string;
  cacheDir: string;
}

async function realProof(
  sector: Sector,
  apiVersion: PoStApiVersion,
  challengeCount: number,
  label: string,
): Promise<SectorProof> {
  const opts = {
    shape: sector.shape,
    sectorNumber: sector.number,
    commR: sector.commR,
    randomness: seed(`bincode-rust-check:${label}`),
    apiVersion,
    sectorIndex: 0,
    challengeCount,
  };
  const proof = await proveSector({ ...opts, sealedFile: sector.sealedFile, cacheDir: sector.cacheDir });
  const ok = await verifySector({ ...opts, proof });
  if (!ok.ok) throw new Error(`${label}: our own proof does not verify: ${ok.reason}`);
  return proof;
}

function describe(p: SectorProof): string {
  const q = p.inclusionProofs[0];
  if (q === undefined) return "no inclusion proof";
  const lens =
    q.kind === "single"
      ? `path ${q.path.length}`
      : q.kind === "sub"
        ? `base ${q.basePath.length}, sub ${q.subPath.length}`
        : `base ${q.basePath.length}, sub ${q.subPath.length}, top ${q.topPath.length}`;
  return `${p.inclusionProofs.length} × ${q.kind} (${lens})`;
}

async function tsBlobs(): Promise<void> {
  const made: Array<[string, number, string]> = [];
  const add = (name: string, v: FallbackPoStSectorProof): void => {
    const n = writeBlob(name, v);
    made.push([name, n, v.vanillaProof.sectors.map(describe).join(" + ")]);
  };

  // 2 KiB: window (10 challenges) and winning (66), u64::MAX sector id, two sectors in one Proof.
  const s2k = shapeByName("2KiB")!;
  const w2k = await writeSyntheticSector({
    storeDir: path.join(dir, "2k"),
    miner: 1000,
    number: 42,
    shape: s2k,
    random: seededRandom("bincode-rust-check-2k"),
  });
  const sector2k: Sector = { shape: s2k, number: 42, ...w2k };
  const window2k = await realProof(sector2k, "V1_2_0", 10, "2k-window");
  const winning2k = await realProof(sector2k, "V1_0_0", 66, "2k-winning");
  add("2KiB--ts-window", { sectorId: 42n, commR: w2k.commR, vanillaProof: { sectors: [window2k] } });
  add("2KiB--ts-winning", { sectorId: 42n, commR: w2k.commR, vanillaProof: { sectors: [winning2k] } });
  add("2KiB--ts-sector-id-u64-max", {
    sectorId: (1n << 64n) - 1n,
    commR: w2k.commR,
    vanillaProof: { sectors: [window2k] },
  });
  // generate_single_vanilla_proof always emits one SectorProof; `Proof.sectors` is a Vec all the same.
  add("2KiB--ts-two-sectors", {
    sectorId: 42n,
    commR: w2k.commR,
    vanillaProof: { sectors: [window2k, winning2k] },
  });

  // 8 MiB: a real tree with discarded rows, path length 6.
  if (!args.has("--no-8mib")) {
    const s8m = shapeByName("8MiB")!;
    const t0 = performance.now();
    const w8m = await writeSyntheticSector({
      storeDir: path.join(dir, "8m"),
      miner: 1000,
      number: 7,
      shape: s8m,
      random: seededRandom("bincode-rust-check-8m"),
    });
    console.log(`  (8 MiB synthetic sector built in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    const sector8m: Sector = { shape: s8m, number: 7, ...w8m };
    const window8m = await realProof(sector8m, "V1_2_0", 10, "8m-window");
    add("8MiB--ts-window", { sectorId: 7n, commR: w8m.commR, vanillaProof: { sectors: [window8m] } });
  }

  // 32 GiB (Sub) and 64 GiB (Top) over sparse replicas (test/unit/proofs/sparseSector.ts): real
  // cache files, real sub-tree and top elements. Challenged segments of even n get random data.
  for (const name of ["32GiB", "64GiB"] as const) {
    const shape = shapeByName(name)!;
    const number = 9;
    const challenges = sectorChallenges({
      shape,
      sectorNumber: number,
      randomness: seed(`bincode-rust-check:${name}-window`),
      apiVersion: "V1_2_0",
      sectorIndex: 0,
      challengeCount: 10,
    });
    const written = challenges.filter((_, n) => n % 2 === 0).map((c) => Math.floor(c / 512));
    const w = await writeSparseSector(
      path.join(dir, name),
      shape,
      written,
      seededRandom(`bincode-rust-check-${name}`),
    );
    const proof = await realProof({ shape, number, ...w }, "V1_2_0", 10, `${name}-window`);
    add(`${name}--ts-window`, {
      sectorId: BigInt(number),
      commR: w.commR,
      vanillaProof: { sectors: [proof] },
    });
    fs.rmSync(path.join(dir, name), { recursive: true, force: true }); // 73 / 146 MiB of cache files
  }

  for (const [name, n, what] of made) {
    console.log(`  ${`${name}.bin`.padEnd(34)} ${String(n).padStart(7)} bytes  ${what} (verified)`);
  }
}

// ------------------------------------------------------------------------------------------------
// 4. TypeScript reads a blob.

function isDecodeError(e: unknown): boolean {
  return e instanceof SmError && e.code === PROOF_ERROR_CODES.decode;
}

function tsVerify(name: string): string {
  const stem = name.slice(0, -".bin".length);
  const bytes = new Uint8Array(fs.readFileSync(path.join(blobs, name)));
  const expected = fs.readFileSync(path.join(blobs, `${stem}.dump`), "utf8");
  const v = decodeFallbackPoStSectorProof(bytes);
  const again = encodeFallbackPoStSectorProof(v);
  if (!Buffer.from(again).equals(bytes)) {
    let at = 0;
    while (at < again.length && at < bytes.length && again[at] === bytes[at]) at++;
    throw new Error(
      `re-encoded bytes differ: ${again.length} vs ${bytes.length} read, first at offset ${at}`,
    );
  }
  const d = dumpFallbackPoStSectorProof(v);
  if (d !== expected) {
    const a = d.split("\n");
    const b = expected.split("\n");
    let i = 0;
    while (a[i] === b[i]) i++;
    throw new Error(
      `field dump differs at line ${i + 1}:\n    typescript: ${a[i] ?? "<end>"}\n    rust:       ${b[i] ?? "<end>"}`,
    );
  }
  const cuts = cutPoints(bytes.length);
  for (const c of cuts) {
    try {
      decodeFallbackPoStSectorProof(bytes.subarray(0, c));
    } catch (e) {
      if (isDecodeError(e)) continue;
      throw new Error(`a ${c}-byte prefix threw ${String(e)} instead of PROOF_DECODE`);
    }
    throw new Error(`a ${c}-byte prefix (of ${bytes.length}) decoded`);
  }
  // Variant index 3 in the first inclusion proof (offset: header, whole sectors before, count).
  let note = "";
  const k = v.vanillaProof.sectors.findIndex((s) => s.inclusionProofs.length > 0);
  if (k >= 0) {
    const before = { ...v, vanillaProof: { sectors: v.vanillaProof.sectors.slice(0, k) } };
    const t = encodeFallbackPoStSectorProof(before).length + 8;
    const bad = bytes.slice();
    new DataView(bad.buffer).setUint32(t, 3, true);
    let rejected = false;
    try {
      decodeFallbackPoStSectorProof(bad);
    } catch (e) {
      rejected = isDecodeError(e);
    }
    if (!rejected) throw new Error(`ProofData variant 3 at offset ${t} was not rejected with PROOF_DECODE`);
    note = `, variant 3 at offset ${t} rejected`;
  }
  // A trailing byte: rejected by default, accepted with allowTrailing (as bincode::deserialize).
  const longer = new Uint8Array(bytes.length + 1);
  longer.set(bytes);
  let trailingRejected = false;
  try {
    decodeFallbackPoStSectorProof(longer);
  } catch (e) {
    trailingRejected = isDecodeError(e);
  }
  if (!trailingRejected) throw new Error("a trailing byte was not rejected by default");
  if (dumpFallbackPoStSectorProof(decodeFallbackPoStSectorProof(longer, { allowTrailing: true })) !== d) {
    throw new Error("allowTrailing decoded a different value");
  }
  return (
    `${bytes.length} bytes, re-encoded identically, ${d.split("\n").length - 1} dump lines equal; ` +
    `${cuts.length} truncated prefixes rejected${note}; a trailing byte rejected (accepted with allowTrailing)`
  );
}

// ------------------------------------------------------------------------------------------------

const indent = (text: string): string => text.replace(/\n$/, "").replace(/^/gm, "  ") + "\n";

function runChecker(sub: "write" | "verify"): { status: number | null; out: string } {
  const r = spawnSync(checker, [sub, blobs], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.stderr) process.stderr.write(r.stderr);
  return { status: r.status, out: r.stdout };
}

async function main(): Promise<number> {
  console.log(`\n1. TypeScript blobs from real proofs (${blobs}):`);
  await tsBlobs();

  console.log("\n2. Rust blobs (bincode::serialize of deterministic values):");
  const w = runChecker("write");
  process.stdout.write(indent(w.out));
  if (w.status !== 0) {
    console.error("FAIL: bincode-check write failed");
    return 1;
  }

  const names = fs
    .readdirSync(blobs)
    .filter((n) => n.endsWith(".bin"))
    .sort();

  console.log("\n3. Rust (bincode 1.3.3) reads every blob:");
  const v = runChecker("verify");
  process.stdout.write(indent(v.out));
  const rust = new Map<string, boolean>();
  for (const line of v.out.split("\n")) {
    const m = /^(PASS|FAIL) (\S+\.bin):/.exec(line);
    if (m) rust.set(m[2]!, m[1] === "PASS");
  }

  console.log("\n4. TypeScript (src/proofs/bincode.ts) reads every blob:");
  const ts = new Map<string, boolean>();
  for (const name of names) {
    try {
      console.log(`  PASS ${name}: ${tsVerify(name)}`);
      ts.set(name, true);
    } catch (e) {
      console.log(`  FAIL ${name}: ${e instanceof Error ? e.message : String(e)}`);
      ts.set(name, false);
    }
  }

  console.log("\nResult per blob (made by → read by Rust and TypeScript):");
  let passed = 0;
  for (const name of names) {
    const ok = rust.get(name) === true && ts.get(name) === true;
    if (ok) passed++;
    const by = name.includes("--rust-") ? "rust" : "typescript";
    const mark = (b: boolean | undefined): string => (b === true ? "ok" : b === false ? "FAIL" : "not run");
    console.log(
      `  ${ok ? "PASS" : "FAIL"} ${name.padEnd(34)} made by ${by.padEnd(10)} rust ${mark(rust.get(name))}, typescript ${mark(ts.get(name))}`,
    );
  }
  const failed = names.length - passed;
  console.log(`\ncheck:bincode-rust: ${passed} passed, ${failed} failed`);
  return failed === 0 && v.status === 0 ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (e) {
  console.error("FAIL:", e);
  code = 1;
} finally {
  if (args.has("--keep")) console.log(`blobs kept in ${blobs}`);
  else fs.rmSync(dir, { recursive: true, force: true });
}
process.exit(code);
