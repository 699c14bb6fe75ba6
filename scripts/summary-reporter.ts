import type { Reporter, TestModule } from "vitest/node";
import type { SecurityFamilyMeta } from "./security-family.js";

/**
 * Prints one closing line, `tests: N passed, N failed, N skipped`, that CI reads to know how many
 * tests really ran (vitest's own summary is not in a form it parses). Before it, one line per
 * attack family of the security suite (tests that call reportFamily): `security F: N tried, N refused`.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const families = new Map<string, SecurityFamilyMeta>();
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const security = (test.meta() as { security?: SecurityFamilyMeta }).security;
        if (security) {
          const seen = families.get(security.family);
          families.set(
            security.family,
            seen
              ? {
                  family: security.family,
                  tried: seen.tried + security.tried,
                  refused: seen.refused + security.refused,
                  through: [...seen.through, ...security.through],
                }
              : security,
          );
        }
        const state = test.result().state;
        if (state === "passed") passed += 1;
        else if (state === "failed") failed += 1;
        else skipped += 1;
      }
      if (module.state() === "failed" && [...module.children.allTests()].length === 0) failed += 1;
    }
    if (families.size > 0) process.stdout.write("\n");
    for (const family of [...families.values()].sort((a, b) => a.family.localeCompare(b.family))) {
      process.stdout.write(`security ${family.family}: ${family.tried} tried, ${family.refused} refused\n`);
    }
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
