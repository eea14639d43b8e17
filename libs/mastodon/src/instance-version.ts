/**
 * Mastodon version strings as instances announce them: "4.3.0", "4.3.0+glitch",
 * "1.4rc1", "v2.0", "4.0.0-beta.2", "3.0.0 (compatible; Pleroma 2.5.0)".
 * Build metadata ("+glitch") and anything after a space are ignored; a
 * pre-release ("rc1", "-beta.2") sorts before the release it precedes.
 */
export interface InstanceVersion {
  /** major, minor, patch (missing parts are 0). */
  numbers: [number, number, number];
  /** Pre-release identifiers ("rc", 1), empty for a release. */
  preRelease: (string | number)[];
}

const VERSION_PATTERN = /^\s*v?(\d{1,9})(?:\.(\d{1,9}))?(?:\.(\d{1,9}))?(.*)$/i;
const PRE_RELEASE_PATTERN =
  /^(?:-|\.|_)?((?:alpha|beta|rc|pre|dev|a|b)[0-9A-Za-z.-]*|-[0-9A-Za-z.-]+)/i;

/** Parses a version string; undefined when it does not start with a number. */
export function parseInstanceVersion(text: string): InstanceVersion | undefined {
  if (typeof text !== 'string' || text.length > 200) return undefined;
  const match = VERSION_PATTERN.exec(text);
  if (!match) return undefined;
  const numbers: [number, number, number] = [
    Number(match[1]),
    Number(match[2] ?? 0),
    Number(match[3] ?? 0),
  ];
  const rest = match[4].split(/[+\s(]/, 1)[0];
  const pre = PRE_RELEASE_PATTERN.exec(rest);
  const preRelease = pre ? splitIdentifiers(pre[1].replace(/^-/, '')) : [];
  return { numbers, preRelease };
}

/** "rc.1" / "rc1" → ["rc", 1]: letters and digits are compared as separate identifiers. */
function splitIdentifiers(text: string): (string | number)[] {
  const parts = text.toLowerCase().match(/[a-z]+|\d+/g) ?? [];
  return parts.map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

function compareIdentifiers(a: (string | number)[], b: (string | number)[]): number {
  // a release (no identifiers) is newer than any of its pre-releases
  if (a.length === 0 || b.length === 0) return b.length - a.length;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x < y ? -1 : 1;
    if (typeof x === 'number') return -1;
    if (typeof y === 'number') return 1;
    return x < y ? -1 : 1;
  }
  return Math.sign(a.length - b.length);
}

/** Negative when a < b, 0 when equal, positive when a > b. */
export function compareInstanceVersions(a: InstanceVersion, b: InstanceVersion): number {
  for (let i = 0; i < 3; i++) {
    if (a.numbers[i] !== b.numbers[i]) return a.numbers[i] < b.numbers[i] ? -1 : 1;
  }
  return compareIdentifiers(a.preRelease, b.preRelease);
}

/** Whether `version` is at least `minimum`; an unparsable version is not. */
export function versionAtLeast(version: string, minimum: string): boolean {
  const parsed = parseInstanceVersion(version);
  const floor = parseInstanceVersion(minimum);
  if (!parsed || !floor) return false;
  return compareInstanceVersions(parsed, floor) >= 0;
}
