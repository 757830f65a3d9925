import { ConfigError, loadConfig } from "../config.js";
import { runChecks, type DoctorCheck } from "../ops/doctor.js";
import { PEEL_VERSION } from "../version.js";

/**
 * `peel doctor`: checks this configuration end to end (src/ops/doctor.ts) and prints a checklist,
 * with a fix under each problem. Exit code 1 when a check failed; warnings alone exit 0.
 */
const MARK = { ok: "✓", warn: "!", fail: "✗" } as const;

export async function doctor(out: (line: string) => void = console.log): Promise<number> {
  out(`peel doctor — peel ${PEEL_VERSION}`);
  out("");
  let checks: DoctorCheck[];
  try {
    checks = await runChecks(loadConfig());
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    checks = [
      {
        name: "configuration",
        status: "fail",
        detail: e.problems.join("; "),
        fix: "fix the variables named above (.env.example lists every variable with its default); nothing else was checked",
      },
    ];
  }
  const width = Math.max(...checks.map((c) => c.name.length));
  for (const c of checks) {
    out(`  ${MARK[c.status]} ${c.name.padEnd(width)}  ${c.detail}`);
    if (c.fix && c.status !== "ok") out(`    ${" ".repeat(width)}  fix: ${c.fix}`);
  }
  const failed = checks.filter((c) => c.status === "fail").length;
  const warned = checks.filter((c) => c.status === "warn").length;
  out("");
  out(
    failed
      ? `${failed} check${failed > 1 ? "s" : ""} failed${warned ? `, ${warned} warning${warned > 1 ? "s" : ""}` : ""}.`
      : `all checks passed${warned ? ` (${warned} warning${warned > 1 ? "s" : ""})` : ""}.`,
  );
  return failed ? 1 : 0;
}
