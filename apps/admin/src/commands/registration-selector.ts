import { ClusterReportRepository, RegistrationKey, RegistrationSummary } from '@app/database';
import { UsageError } from './command-context';

export const SELECTOR_USAGE = '<id> | <instance_url> <app_id> <tag>';

/** An instance URL as the api stores it: lower-case, no trailing slash. */
export function storedInstanceUrl(raw: string): string {
  return raw.trim().toLowerCase().replace(/\/+$/, '');
}

/** A registration as an operator names it: by id, or by instance URL, app id and tag. */
type Selector = { id: number } | { key: RegistrationKey };

/** Reads `positionals` as a Selector; throws UsageError when they are neither an id nor a key. */
export function parseSelector(positionals: string[]): Selector {
  if (positionals.length === 1) {
    if (!/^\d{1,15}$/.test(positionals[0])) throw new UsageError(`not a registration id: ${positionals[0]}`);
    return { id: Number(positionals[0]) };
  }
  if (positionals.length === 3) {
    const [instanceUrl, appId, tag] = positionals;
    return { key: { instanceUrl: storedInstanceUrl(instanceUrl), appId, tag } };
  }
  throw new UsageError(`expected ${SELECTOR_USAGE}`);
}

/** Finds the registration named by `positionals` (see parseSelector); undefined when there is none. */
export async function findSelected(
  reports: ClusterReportRepository,
  positionals: string[],
): Promise<RegistrationSummary | undefined> {
  const selector = parseSelector(positionals);
  return 'id' in selector ? reports.findSummaryById(selector.id) : reports.findSummaryByKey(selector.key);
}

export function describeKey(r: { id: number; instanceUrl: string; appId: string; tag: string }): string {
  return `registration ${r.id} (${r.instanceUrl} ${r.appId} ${r.tag})`;
}
