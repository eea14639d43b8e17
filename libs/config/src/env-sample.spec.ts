import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');

/** The variables named in the first column of README's Configuration table. */
function readmeVariables(): string[] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Configuration');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const names = new Set<string>();
  for (const line of section.split('\n')) {
    if (!line.startsWith('| `')) continue;
    for (const match of line.split('|')[1].matchAll(/`([A-Z][A-Z0-9_]+)`/g)) names.add(match[1]);
  }
  return [...names];
}

describe('.env.production.sample', () => {
  it('lists every variable the README documents, set or commented out', () => {
    const sample = fs.readFileSync(path.join(ROOT, '.env.production.sample'), 'utf8');
    const listed = new Set([...sample.matchAll(/^#? ?([A-Z][A-Z0-9_]+)=/gm)].map((match) => match[1]));
    const variables = readmeVariables();
    expect(variables.length).toBeGreaterThan(20);
    expect(variables.filter((name) => !listed.has(name))).toEqual([]);
  });
});
