// Validate an AsyncAPI document with the official parser (@asyncapi/parser, installed by `make node`).
// Usage: node deploy/tools/validate-asyncapi.mjs [schemas/asyncapi.yaml]
// Prints every diagnostic; exits 1 if any is an error (severity 0), 2 if the parser is missing.
import { readFile } from "node:fs/promises";

let Parser;
try {
  ({ Parser } = await import("@asyncapi/parser"));
} catch (err) {
  console.error(`@asyncapi/parser is not installed (${err.code ?? err.message}); run: make node`);
  process.exit(2);
}

const file = process.argv[2] ?? "schemas/asyncapi.yaml";
const source = await readFile(file, "utf8");
const { document, diagnostics } = await new Parser().parse(source, { source: file });
const names = ["error", "warning", "info", "hint"];
for (const d of diagnostics) {
  const where = d.path?.length ? d.path.join(".") : "(document)";
  console.log(`${names[d.severity] ?? d.severity}: ${where}: ${d.message} [${d.code}]`);
}
const errors = diagnostics.filter((d) => d.severity === 0).length;
if (!document || errors > 0) {
  console.log(`INVALID: ${file}: ${errors} error(s)`);
  process.exit(1);
}
const channels = document.channels().length;
const messages = document.allMessages().length;
console.log(`VALID: ${file}: AsyncAPI ${document.version()}, ${channels} channels, ${messages} messages`);
