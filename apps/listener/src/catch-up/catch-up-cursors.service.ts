import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { CallbackDispatcher } from '@app/callback';
import { SETTINGS, Settings } from '@app/config';
import { RegistrationRepository } from '@app/database';
import { CursorBook } from './cursor-book';

/**
 * Keeps the cursor book in step with the dispatcher (which reports every
 * event that became safe) and stores the cursors that moved, once per poll
 * interval in batched statements: the relay path itself never writes. At
 * shutdown it waits for the dispatcher to have stored what it held, then
 * stores the cursors a last time.
 */
@Injectable()
export class CatchUpCursorsService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(CatchUpCursorsService.name);
  readonly book = new CursorBook();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private readonly intervalMs: number;

  constructor(
    private readonly dispatcher: CallbackDispatcher,
    private readonly registrations: RegistrationRepository,
    @Inject(SETTINGS) settings: Settings,
  ) {
    this.intervalMs = settings.listener.pollIntervalMs;
    this.dispatcher.onSettled((registrationId, objectId) =>
      this.book.settled(registrationId, objectId),
    );
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.dispatcher.beforeApplicationShutdown();
    // a periodic flush still running took its changes before the dispatcher finished
    await this.flushing;
    await this.flush();
  }

  /** Stores every cursor that moved since the last flush; one flush at a time. */
  flush(): Promise<void> {
    this.flushing ??= this.store().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async store(): Promise<void> {
    const changes = this.book.takeChanges();
    if (changes.length === 0) return;
    try {
      await this.registrations.updateCursors(changes);
    } catch (error) {
      this.book.restore(changes);
      this.logger.error(
        `${changes.length} catch-up cursor(s) not stored yet: ${(error as Error).message}`,
      );
    }
  }
}
