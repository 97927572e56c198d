/** Process checks shared by the tests that kill children and look for orphans. */
import { readFileSync } from "node:fs";

/** Whether a process still runs (a zombie waiting for a reaper that may never come does not). */
export function alive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true;
  }
}
