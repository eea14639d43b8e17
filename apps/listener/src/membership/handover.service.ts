import { Inject, Injectable, Logger } from '@nestjs/common';
import { SETTINGS, Settings } from '@app/config';
import { ReconcileService } from '../reconcile/reconcile.service';
import { StreamRegistryService } from '../streams/stream-registry.service';
import { MembershipService } from './membership.service';

/** How often a leaving listener checks whether the others have taken over. */
const CHECK_MS = 100;

/**
 * The graceful half of leaving the cluster (SIGTERM): before its streams
 * close, a listener marks itself leaving and keeps relaying until every
 * other live listener has run a pass without it (and so has opened the
 * streams it held), then lets the app close them. A listener alone, or one
 * whose database is out of reach, closes at once: nobody would take over.
 */
@Injectable()
export class HandoverService {
  private readonly logger = new Logger(HandoverService.name);

  constructor(
    private readonly reconcile: ReconcileService,
    private readonly membership: MembershipService,
    private readonly streams: StreamRegistryService,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  /**
   * The longest a handover may take: the time the others need to replace a
   * dead listener, and two of their passes to open what they take.
   */
  get budgetMs(): number {
    return this.settings.listener.nodeTimeoutMs + 2 * this.settings.listener.pollIntervalMs;
  }

  async handOver(): Promise<void> {
    const started = Date.now();
    const deadline = started + this.budgetMs;
    await this.reconcile.stopPasses();
    const held = this.streams.openCount;
    try {
      await this.membership.markLeaving(held);
      while (!(await this.membership.othersTookOver())) {
        if (Date.now() >= deadline) {
          this.logger.warn(
            `handover not confirmed within ${this.budgetMs} ms: closing ${held} stream(s) anyway`,
          );
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, CHECK_MS));
        await this.membership.markLeaving(this.streams.openCount);
      }
      this.logger.log(
        `handover: the other listeners took over ${held} stream(s) in ${Date.now() - started} ms`,
      );
    } catch (error) {
      this.logger.error(`handover failed, closing streams anyway: ${(error as Error).message}`);
    }
  }
}
