#!/usr/bin/env node
'use strict';
// Runs the compiled CLI (dist/, built by `npm run build`, which `npm ci` / `npm install` run via
// the prepare script). In a source checkout without a build, falls back to ts-node.
const path = require('path');
const fs = require('fs');
const compiled = path.join(__dirname, '..', 'dist', 'tools', 'cli.js');
let cli;
if (fs.existsSync(compiled)) {
  cli = require(compiled);
} else {
  require('ts-node').register({ transpileOnly: true, project: path.join(__dirname, '..', 'tsconfig.json') });
  cli = require(path.join(__dirname, '..', 'tools', 'cli.ts'));
}
cli.main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
