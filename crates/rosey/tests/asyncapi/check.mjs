// Parses an AsyncAPI document with the official parser and prints one JSON line: the
// parser's error diagnostics and what the document holds. Usage: node check.mjs FILE
import { readFileSync } from 'node:fs';
import { Parser } from '@asyncapi/parser';

const file = process.argv[2];
const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(file, 'utf8'), { source: file });
const errors = diagnostics
  .filter((d) => d.severity === 0)
  .map((d) => `${d.path.join('.')}: ${d.message}`);
const summary = document
  ? {
      version: document.version(),
      channels: document.channels().all().map((c) => c.address()),
      operations: document.operations().all().length,
      messages: document.components().messages().all().length,
    }
  : null;
console.log(JSON.stringify({ errors, document: summary }));
