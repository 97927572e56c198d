/**
 * `util sealer proving ...` in lotus-miner's vocabulary: `provers` (the ext-prover children) here;
 * info, deadlines, deadline and faults (read from the chain) in provingChain.ts.
 */
import type { Command } from "commander";
import type { ProvingCheckResult, ProvingComputeResult } from "../../poster/provingApi.js";
import type { ChildStatus, ReloadCounts } from "../../prover/ext/pool.js";
import { action, homeOf, parseMinerArg, parseUintArg } from "../context.js";
import { requireDaemon } from "../daemonClient.js";
import { plainTable } from "../format.js";
import { registerProvingChain } from "./provingChain.js";

export function registerProving(util: Command): void {
  const proving = util
    .command("sealer")
    .description("sealer and proving tools")
    .command("proving")
    .description("WindowPoSt proving");
  registerProvingChain(proving);
  registerCheckCompute(proving);
  proving
    .command("provers")
    .description(
      "list every ext-prover child of the running daemon (or apply an edited ext-prover.cfg with --reload)",
    )
    .option("--reload", "re-read ext-prover.cfg and apply it (same as sending the daemon SIGHUP)", false)
    .option("--json", "print as JSON", false)
    .action(
      action(async (opts: Record<string, unknown>, cmd: Command) => {
        const client = await requireDaemon(homeOf(cmd));
        if (opts.reload === true) {
          const r = await client.call<Record<string, ReloadCounts>>("Venus.ExtProverReload", []);
          for (const [stage, c] of Object.entries(r))
            process.stdout.write(
              `${stage}: ${c.added} added, ${c.changed} restarted, ${c.removed} removed, ${c.retried ?? 0} failing retried now\n`,
            );
        }
        const rows = await client.call<(ChildStatus & { hiddenEnvs?: number })[]>(
          "Venus.ExtProverStatus",
          [],
        );
        if (opts.json === true) {
          process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
          return;
        }
        if (rows.length === 0) {
          process.stdout.write("no ext-prover children (start the daemon with --ext-prover)\n");
          return;
        }
        const t = plainTable([
          "BLOCK",
          "PID",
          "STATE",
          "ENVS",
          "IN-FLIGHT",
          "DONE",
          "FAILED",
          "RESTARTS",
          "AVG",
          "NEXT TRY",
          "LAST ERROR",
        ]);
        const now = Date.now();
        for (const r of rows) {
          const hidden = r.hiddenEnvs ? [`(+${r.hiddenEnvs} shown to admin tokens only)`] : [];
          const envs = [...Object.entries(r.envs).map(([k, v]) => `${k}=${v}`), ...hidden].join(" ") || "-";
          t.push([
            r.block,
            r.pid > 0 ? String(r.pid) : "-",
            r.state,
            envs,
            `${r.inFlight}/${r.concurrent}`,
            String(r.done),
            String(r.failed),
            String(r.restarts),
            r.avgMs === null ? "-" : `${(r.avgMs / 1000).toFixed(1)}s`,
            nextTry(r.nextRetryAt, now),
            r.lastError ?? "",
          ]);
        }
        process.stdout.write(`${t.toString()}\n`);
      }),
    );
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** A block waiting for its next start: `in 3.9s (13:52:07Z)`; `-` otherwise. */
function nextTry(at: number | null | undefined, now: number): string {
  if (typeof at !== "number") return "-";
  return `in ${secs(Math.max(0, at - now))} (${new Date(at).toISOString().slice(11, 19)}Z)`;
}

/** `check N` and `compute N`: run by the daemon, with its index, stores and provers (see provingApi.ts). */
function registerCheckCompute(proving: Command): void {
  proving
    .command("check")
    .description(
      "check every live sector of deadline N as the PoSter would: files and sizes, or with --slow one vanilla proof per sector (run by the daemon)",
    )
    .argument("<deadline>", "deadline index")
    .option("--miner <actor>", "miner (default: the daemon's only [[Miners]])")
    .option("--slow", "strict check: prove one random challenge of each sector", false)
    .option("--only-bad", "list bad sectors only", false)
    .option("--json", "print as JSON", false)
    .action(
      action(async (deadline: string, opts: Record<string, unknown>, cmd: Command) => {
        const index = parseUintArg(deadline, "deadline");
        const miner = typeof opts.miner === "string" ? `f0${parseMinerArg(opts.miner)}` : null;
        const client = await requireDaemon(homeOf(cmd));
        const r = await client.call<ProvingCheckResult>(
          "Venus.ProvingCheck",
          [miner, index, { Slow: opts.slow === true }],
          { timeoutMs: 3_600_000 },
        );
        if (opts.json === true) {
          process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
          if (r.Partitions.some((p) => p.Sectors.some((s) => !s.Good))) process.exitCode = 1;
          return;
        }
        const t = plainTable(["DEADLINE", "PARTITION", "SECTOR", "STATUS"]);
        let total = 0;
        let bad = 0;
        for (const p of r.Partitions)
          for (const s of p.Sectors) {
            total++;
            if (!s.Good) bad++;
            if (s.Good && opts.onlyBad === true) continue;
            t.push([
              String(r.Deadline),
              String(p.Index),
              String(s.Sector),
              s.Good ? "good" : `bad (${s.Reason})`,
            ]);
          }
        if (t.length > 0) process.stdout.write(`${t.toString()}\n`);
        process.stdout.write(
          `${r.Miner} deadline ${r.Deadline}: ${r.Partitions.length} partitions, ${total} sectors, ${bad} bad (${r.Slow ? "strict check" : "files and sizes only; --slow proves each sector"})\n`,
        );
        if (bad > 0) process.exitCode = 1;
      }),
    );

  proving
    .command("compute")
    .description(
      "dry run of deadline N's WindowPoSt (its latest challenged occurrence): check and prove every partition and build the messages, sending nothing (run by the daemon and its provers)",
    )
    .argument("<deadline>", "deadline index")
    .option("--miner <actor>", "miner (default: the daemon's only [[Miners]])")
    .option("--json", "print as JSON", false)
    .action(
      action(async (deadline: string, opts: Record<string, unknown>, cmd: Command) => {
        const index = parseUintArg(deadline, "deadline");
        const miner = typeof opts.miner === "string" ? `f0${parseMinerArg(opts.miner)}` : null;
        const client = await requireDaemon(homeOf(cmd));
        const r = await client.call<ProvingComputeResult>("Venus.ProvingCompute", [miner, index], {
          timeoutMs: 3_600_000,
        });
        const problems = computeProblems(r);
        if (problems.length > 0) process.exitCode = 1;
        if (opts.json === true) {
          process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
          return;
        }
        const out = [
          `${r.Miner} deadline ${r.Deadline}: challenge ${r.Challenge}, open ${r.Open}, close ${r.Close}`,
          `network ${r.Network}, proof format ${r.Format}, prover: ${r.Prover}`,
        ];
        const t = plainTable(["PARTITION", "SECTORS", "SKIPPED", "RESULT", "TIME"]);
        for (const p of r.Partitions)
          t.push([
            String(p.Index),
            String(p.Sectors),
            String(p.Skipped),
            p.Source === "proved" ? "proven" : p.Source === "failed" ? "FAILED" : "nothing provable",
            p.Source === "proved" ? secs(p.Ms) : "-",
          ]);
        if (r.Partitions.length === 0) out.push("no partitions in this deadline");
        else out.push(t.toString());
        for (const m of r.Messages)
          if (m.Error === undefined)
            out.push(
              `message (not sent): partitions ${m.Partitions.join(",")}, ${m.ParamsBytes} bytes of SubmitWindowedPoSt params`,
            );
        for (const s of r.Skipped) out.push(`skipped sector ${s.Sector}: ${s.Reason}`);
        out.push(`total ${secs(r.Ms)}`);
        for (const p of problems) out.push(`FAILED: ${p}`);
        process.stdout.write(`${out.join("\n")}\n`);
      }),
    );
}

/**
 * Why a dry run would not have proven the deadline, one line each: a partition failed or had nothing
 * provable, a message could not be built, a proven partition is in no message. Empty: every partition
 * was proven and carried by a message. `proving compute` exits 1 when any line is there.
 */
export function computeProblems(r: ProvingComputeResult): string[] {
  const out: string[] = [];
  for (const p of r.Partitions) {
    if (p.Source === "failed") out.push(`partition ${p.Index} failed: ${p.Error ?? "no reason given"}`);
    else if (p.Source !== "proved")
      out.push(`partition ${p.Index} has nothing provable (${p.Skipped} skipped sectors)`);
  }
  const carried = new Set<number>();
  for (const m of r.Messages) {
    if (m.Error !== undefined)
      out.push(`the message for partitions ${m.Partitions.join(",")} could not be built: ${m.Error}`);
    else for (const i of m.Partitions) carried.add(i);
  }
  const uncarried = r.Partitions.filter(
    (p) =>
      p.Source === "proved" &&
      !carried.has(p.Index) &&
      !r.Messages.some((m) => m.Partitions.includes(p.Index)),
  );
  if (uncarried.length > 0)
    out.push(`partitions ${uncarried.map((p) => p.Index).join(",")} were proven but are in no message`);
  return out;
}
