// Runs Stryker over each module of modules.mjs in turn (or those named on the
// command line) and prints the mutation score of each:
//   npm run test:mutation               every module
//   npm run test:mutation -- security   one
// Score: killed and timed-out mutants over all that were tested or left
// uncovered; mutants marked equivalent in the code (`Stryker disable … : why`)
// and static ones are not counted (see stryker.config.mjs).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { MODULES } from './modules.mjs';

const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(MODULES);
const unknown = names.filter((name) => !MODULES[name]);
if (unknown.length > 0) {
  console.error(`unknown module(s): ${unknown.join(', ')}; known: ${Object.keys(MODULES).join(', ')}`);
  process.exit(2);
}

const rows = [];
let failed = false;
for (const name of names) {
  const started = Date.now();
  const run = spawnSync('npx', ['stryker', 'run'], {
    stdio: 'inherit',
    env: { ...process.env, MUTATION_MODULE: name },
  });
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  if (run.status !== 0) {
    failed = true;
    rows.push({ name, minutes, line: 'failed' });
    continue;
  }
  const report = JSON.parse(readFileSync(`reports/mutation/${name}.json`, 'utf8'));
  const counts = {};
  for (const file of Object.values(report.files))
    for (const mutant of file.mutants) counts[mutant.status] = (counts[mutant.status] ?? 0) + 1;
  const detected = (counts.Killed ?? 0) + (counts.Timeout ?? 0);
  const counted = detected + (counts.Survived ?? 0) + (counts.NoCoverage ?? 0);
  const score = counted === 0 ? 'n/a' : `${((100 * detected) / counted).toFixed(1)} %`;
  rows.push({
    name,
    minutes,
    line: `${score}  (killed ${counts.Killed ?? 0}, timed out ${counts.Timeout ?? 0}, survived ${counts.Survived ?? 0}, no coverage ${counts.NoCoverage ?? 0}, ignored ${counts.Ignored ?? 0}, compile errors ${counts.CompileError ?? 0})`,
  });
}

console.log('\nmutation score per module');
for (const row of rows) console.log(`  ${row.name.padEnd(14)} ${row.line}  ${row.minutes} min`);
console.log('reports: reports/mutation/<module>.html');
process.exit(failed ? 1 : 0);
