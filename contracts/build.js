#!/usr/bin/env node
// Reproducible build of the L3 contracts with solc-js through its standard-JSON interface.
// Writes Foundry-style artifacts ({abi, bytecode: {object}}) to out/<Contract>.json, which the Rust
// side loads with alloy's sol!, and out/build-info.json recording the compiler, the settings and a
// hash of every input. A run whose inputs hash to the recorded value does nothing; any change to
// a source, the settings, the compiler or OpenZeppelin rebuilds everything.
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const root = __dirname;
const srcDir = path.join(root, 'src');
const outDir = process.env.MVE_CONTRACTS_OUT || path.join(root, 'out');
const modules = path.join(root, 'node_modules');

let solc;
try {
  solc = require(path.join(modules, 'solc'));
} catch (e) {
  console.error('contracts/build.js: solc-js is not installed in contracts/node_modules; run scripts/setup');
  process.exit(2);
}

const CONTRACTS = ['BunkerRules', 'BunkerguardRobot', 'BunkerItem', 'NTCToken'];
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'cancun',
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
};

const sources = {};
for (const f of fs.readdirSync(srcDir).filter((f) => f.endsWith('.sol')).sort()) {
  sources[`src/${f}`] = { content: fs.readFileSync(path.join(srcDir, f), 'utf8') };
}

function findImport(p) {
  const candidates = [path.join(modules, p), path.join(root, p)];
  for (const c of candidates) {
    if (fs.existsSync(c)) return { contents: fs.readFileSync(c, 'utf8') };
  }
  return { error: `import not found: ${p}` };
}

const ozVersion = require(path.join(modules, '@openzeppelin/contracts/package.json')).version;
const inputsHash = crypto
  .createHash('sha256')
  .update(JSON.stringify({ sources, SETTINGS, solc: solc.version(), ozVersion, build: fs.readFileSync(__filename, 'utf8') }))
  .digest('hex');

const infoPath = path.join(outDir, 'build-info.json');
const current =
  fs.existsSync(infoPath) &&
  JSON.parse(fs.readFileSync(infoPath, 'utf8')).inputsHash === inputsHash &&
  CONTRACTS.every((c) => fs.existsSync(path.join(outDir, `${c}.json`)));
if (current) {
  console.log(`contracts: artifacts current (${inputsHash.slice(0, 12)})`);
  process.exit(0);
}

const input = { language: 'Solidity', sources, settings: SETTINGS };
const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport }));
const errors = (output.errors || []).filter((e) => e.severity === 'error');
for (const e of output.errors || []) console.error(e.formattedMessage);
if (errors.length) process.exit(1);

fs.mkdirSync(outDir, { recursive: true });
for (const name of CONTRACTS) {
  const file = Object.keys(output.contracts).find((f) => output.contracts[f][name]);
  if (!file) {
    console.error(`contracts/build.js: no contract ${name} in the output`);
    process.exit(1);
  }
  const c = output.contracts[file][name];
  const artifact = {
    contractName: name,
    sourceName: file,
    abi: c.abi,
    bytecode: { object: '0x' + c.evm.bytecode.object },
    deployedBytecode: { object: '0x' + c.evm.deployedBytecode.object },
  };
  fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(artifact, null, 1) + '\n');
}
fs.writeFileSync(
  infoPath,
  JSON.stringify({ solc: solc.version(), openzeppelin: ozVersion, settings: SETTINGS, inputsHash }, null, 1) + '\n',
);
console.log(`contracts: built ${CONTRACTS.join(', ')} with solc ${solc.version()} (${inputsHash.slice(0, 12)})`);
