#!/usr/bin/env node
// Compile every tests/support/contracts/*.sol with solc-js (the npm `solc` package, pinned in
// package.json) and write tests/support/contracts/artifacts/<ContractName>.json with
// {"abi", "bytecode", "contractName", "solcVersion"} (keys sorted, 2-space indent, trailing
// newline), so re-running on unchanged sources produces byte-identical files.
//
// Usage (from the repo root, after `npm ci`):   node tests/support/contracts/build.js
'use strict';

const fs = require('fs');
const path = require('path');

const CONTRACTS_DIR = __dirname;
const REPO_ROOT = path.resolve(CONTRACTS_DIR, '..', '..', '..');
const NODE_MODULES = path.join(REPO_ROOT, 'node_modules');
const ARTIFACTS_DIR = path.join(CONTRACTS_DIR, 'artifacts');
const EVM_VERSION = 'cancun';

let solc;
try {
  solc = require(path.join(NODE_MODULES, 'solc'));
} catch (e) {
  console.error('solc not found in node_modules: run `npm ci` at the repo root first.');
  process.exit(1);
}

// Import callback: resolve "@openzeppelin/..." (and any other package import) from the repo's
// node_modules, and relative/plain names from tests/support/contracts. Source unit names stay as the
// import strings, so the metadata hash (and thus the bytecode) does not depend on absolute paths.
function findImports(importPath) {
  const candidates = [];
  if (importPath.startsWith('@') || importPath.includes('/')) {
    candidates.push(path.join(NODE_MODULES, importPath));
  }
  candidates.push(path.join(CONTRACTS_DIR, importPath));
  for (const candidate of candidates) {
    const resolved = path.resolve(candidate);
    if ((resolved.startsWith(NODE_MODULES + path.sep) || resolved.startsWith(CONTRACTS_DIR + path.sep)) &&
        fs.existsSync(resolved)) {
      return { contents: fs.readFileSync(resolved, 'utf8') };
    }
  }
  return { error: `File not found: ${importPath}` };
}

// Recursively sort object keys (arrays keep their order) for deterministic JSON output.
function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const out = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key]);
    return out;
  }
  return value;
}

function main() {
  const files = fs.readdirSync(CONTRACTS_DIR).filter((f) => f.endsWith('.sol')).sort();
  if (files.length === 0) {
    console.error(`no .sol files in ${CONTRACTS_DIR}`);
    process.exit(1);
  }
  const sources = {};
  for (const f of files) {
    sources[f] = { content: fs.readFileSync(path.join(CONTRACTS_DIR, f), 'utf8') };
  }
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: EVM_VERSION,
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
    },
  };

  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const diagnostics = output.errors || [];
  let failed = false;
  for (const d of diagnostics) {
    const msg = d.formattedMessage || d.message;
    if (d.severity === 'error') {
      failed = true;
      console.error(msg);
    } else {
      console.warn(msg);
    }
  }
  if (failed) {
    console.error('compilation failed');
    process.exit(1);
  }

  const solcVersion = solc.version();
  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const written = new Set();
  for (const f of files) {
    const contracts = (output.contracts && output.contracts[f]) || {};
    for (const name of Object.keys(contracts).sort()) {
      const c = contracts[name];
      const bytecode = c.evm && c.evm.bytecode && c.evm.bytecode.object;
      if (!bytecode) continue; // interfaces / abstract contracts
      if (written.has(name)) {
        console.error(`duplicate contract name ${name} (in ${f})`);
        process.exit(1);
      }
      const artifact = sortKeys({
        contractName: name,
        abi: c.abi,
        bytecode: '0x' + bytecode,
        solcVersion,
      });
      const target = path.join(ARTIFACTS_DIR, `${name}.json`);
      fs.writeFileSync(target, JSON.stringify(artifact, null, 2) + '\n');
      written.add(name);
      console.log(`wrote ${path.relative(REPO_ROOT, target)}`);
    }
  }
  // Drop artifacts of contracts that no longer exist, so the directory mirrors the sources.
  for (const f of fs.readdirSync(ARTIFACTS_DIR)) {
    if (f.endsWith('.json') && !written.has(f.slice(0, -5))) {
      fs.unlinkSync(path.join(ARTIFACTS_DIR, f));
      console.log(`removed stale ${path.join('tests', 'support', 'contracts', 'artifacts', f)}`);
    }
  }
}

main();
