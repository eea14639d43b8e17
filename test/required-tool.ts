import * as fs from 'node:fs';

/**
 * Tools some tests drive (Chromium, promtool) come from the system's packages.
 * The system's Chromium (Debian's `chromium` package), driven by playwright-core
 * without a browser download. Where none is installed the browser tests are
 * skipped with a line saying so, unless MSL_REQUIRE_TOOLS is set (CI sets it,
 * after installing the package), which makes them fail instead.
 */
export function chromiumPath(): string | undefined {
  // CHROMIUM_PATH names another build (a distribution that calls it chromium-browser, say)
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((file): file is string => !!file && fs.existsSync(file));
}

/** `describe` when `available`, else a skipped describe, loudly (or a failure when tools are required). */
export function describeWithTool(tool: string, available: boolean): jest.Describe {
  if (available) return describe;
  if (process.env.MSL_REQUIRE_TOOLS) {
    throw new Error(`${tool} is required (MSL_REQUIRE_TOOLS is set) but not installed`);
  }
  process.stderr.write(`\n*** ${tool} is not installed: its tests are skipped (apt-get install ${tool}) ***\n\n`);
  return describe.skip;
}

/** Where `name` is on PATH, if it is. */
export function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const file = `${dir}/${name}`;
    if (dir && fs.existsSync(file)) return file;
  }
  return undefined;
}
