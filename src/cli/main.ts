#!/usr/bin/env node
// Source maps must be on before the program's modules load, so that log callers and stack traces
// name the TypeScript file and line; hence this two-step start.
process.setSourceMapsEnabled(true);
await import("./program.js");
