#!/usr/bin/env node
'use strict';
/*
 * Builds the optional native matrix-multiply addon (native/gliner_blas.c against the system
 * BLAS) at install time. It is an accelerator, never a requirement: when it cannot be built
 * (no compiler, no BLAS, no node-gyp) this prints one line and exits 0, and gliner-tf runs on
 * the wasm backend's own kernels. GLINER_TF_SKIP_NATIVE=1 skips the build.
 */
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const note = (msg) => process.stderr.write(`gliner-tf: ${msg}\n`);

if (process.env.GLINER_TF_SKIP_NATIVE === '1') {
  note('native matrix path not built (GLINER_TF_SKIP_NATIVE=1); the wasm kernels are used');
  process.exit(0);
}

// npm tells its scripts where its own node-gyp is; otherwise look for one beside npm.
function nodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  try {
    const npmDir = path.dirname(require.resolve('npm/package.json', { paths: [path.dirname(process.execPath), '/usr/lib/node_modules'] }));
    candidates.push(path.join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  } catch {
    /* npm not resolvable from here */
  }
  candidates.push(path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((c) => c && fs.existsSync(c));
}

const gyp = nodeGyp();
if (!gyp) {
  note('native matrix path not built (node-gyp not found); the wasm kernels are used');
  process.exit(0);
}
// Node's own headers, where this Node ships them, spare node-gyp a download.
const args = [gyp, 'rebuild'];
const prefix = path.join(path.dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
if (r.status !== 0) {
  const log = `${r.stdout || ''}${r.stderr || ''}`;
  const why = /openblas|Accelerate/i.test(log) && /cannot find|not found|No such/i.test(log)
    ? 'no BLAS library found: install OpenBLAS (Debian/Ubuntu: apt-get install libopenblas-dev)'
    : (log.split('\n').find((l) => /error/i.test(l)) || `node-gyp exited with ${r.status}`).trim();
  note(`native matrix path not built (${why}); the wasm kernels are used`);
  process.exit(0);
}
note('native matrix path built (build/Release/gliner_blas.node)');
