import { ClusterReportRepository, RegistrationSummary } from '@app/database';
import { UsageError } from './command-context';

export const SELECTOR_USAGE = '<id> | <instance_url> <app_id> <tag>';

/** An instance URL as the api stores it: lower-case, no trailing slash. */
export function storedInstanceUrl(raw: string): string {
  return raw.trim().toLowerCase().replace(/\/+$/, '');
}

/** Finds the registration named by `positionals` (an id, or instance URL, app id and tag); undefined when there is none. */
export async function findSelected(
  reports: ClusterReportRepository,
  positionals: string[],
): Promise<RegistrationSummary | undefined> {
  if (positionals.length === 1) {
    if (!/^\d{1,15}$/.test(positionals[0])) throw new UsageError(`not a registration id: ${positionals[0]}`);
    return reports.findSummaryById(Number(positionals[0]));
  }
  if (positionals.length === 3) {
    const [instanceUrl, appId, tag] = positionals;
    return reports.findSummaryByKey({ instanceUrl: storedInstanceUrl(instanceUrl), appId, tag });
  }
  throw new UsageError(`expected ${SELECTOR_USAGE}`);
}

export function describeKey(r: { id: number; instanceUrl: string; appId: string; tag: string }): string {
  return `registration ${r.id} (${r.instanceUrl} ${r.appId} ${r.tag})`;
}
