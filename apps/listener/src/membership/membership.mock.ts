import { strictStub } from '../../../../test/support/strict-stub';
import type { MembershipService } from './membership.service';

/** A MembershipService for unit specs: this listener alone in its cluster, owning every registration. */
export function soleMemberStub(): MembershipService {
  return strictStub<MembershipService>('MembershipService', {
    nodeId: 'sole-listener',
    members: ['sole-listener'],
    refresh: () => Promise.resolve({ changed: false, agreedNow: false }),
    publish: () => Promise.resolve(),
    beat: () => undefined,
    owns: () => true,
    maySend: () => true,
    takingOver: () => false,
    dropped: () => undefined,
    settledHandovers: () => [],
    isCutOff: () => false,
    connectionShare: (limit: number | undefined) =>
      limit === undefined || limit <= 0 ? undefined : limit,
    openingShare: (limit: number) => limit,
  });
}
