import { Logger } from '@nestjs/common';
import type { NewPendingDelivery } from '@app/database';
import {
  PendingDeliveryStore,
  PendingDeliveryWriter,
  PendingWrite,
} from './pending-delivery.writer';

function row(registrationId: number, seq: number): NewPendingDelivery {
  return {
    registrationId,
    webhookId: `msg_${registrationId}_${seq}`,
    event: 'notification',
    body: String(seq),
    attempts: 0,
    receivedAt: 0,
    nextAttemptAt: 0,
    deadlineAt: 1,
  };
}

const writes = (rows: NewPendingDelivery[]): PendingWrite<string>[] =>
  rows.map((r) => ({ owner: 'lane', row: r }));

/** A writer over `store`; unless told otherwise it ignores commits and wants every row. */
function writerOver(
  store: PendingDeliveryStore,
  written: (write: PendingWrite<string>) => void = () => undefined,
  isWanted: (write: PendingWrite<string>) => boolean = () => true,
): PendingDeliveryWriter<string> {
  return new PendingDeliveryWriter<string>(store, written, isWanted);
}

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe('PendingDeliveryWriter', () => {
  beforeAll(() => {
    Logger.overrideLogger(false);
  });
  afterAll(() => {
    Logger.overrideLogger(['log', 'error', 'warn', 'debug', 'verbose']);
  });

  it('gathers what is appended in one turn into one insert, in order, and reports each committed row', async () => {
    const inserted: string[][] = [];
    const store: PendingDeliveryStore = {
      append: async (rows) => void inserted.push(rows.map((r) => r.body)),
      findExistingIds: () => Promise.reject(new Error('not expected')),
    };
    const committed: string[] = [];
    const writer = writerOver(store, (w) => committed.push(w.row.body));

    writer.append(writes([row(1, 1), row(2, 2)]));
    writer.append(writes([row(1, 3)]));
    await settle();

    expect(inserted).toEqual([['1', '2', '3']]);
    expect(committed).toEqual(['1', '2', '3']);
  });

  it('never runs two inserts at once, so later rows get later ids', async () => {
    let running = 0;
    let maxRunning = 0;
    const inserted: string[] = [];
    const store: PendingDeliveryStore = {
      append: async (rows) => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((resolve) => setTimeout(resolve, 5));
        inserted.push(...rows.map((r) => r.body));
        running -= 1;
      },
      findExistingIds: () => Promise.reject(new Error('not expected')),
    };
    const writer = writerOver(store);

    for (let seq = 0; seq < 1_200; seq++) {
      writer.append(writes([row(1, seq)]));
      if (seq % 300 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await writer.flush(Date.now() + 5_000);

    expect(maxRunning).toBe(1);
    expect(inserted).toEqual([...Array(1_200).keys()].map(String));
  });

  it('keeps rows through a database outage and writes them, in order, at the flush', async () => {
    let down = true;
    const inserted: string[] = [];
    const store: PendingDeliveryStore = {
      append: async (rows) => {
        if (down) throw new Error('connection refused');
        inserted.push(...rows.map((r) => r.body));
      },
      findExistingIds: async () => {
        throw new Error('connection refused');
      },
    };
    const writer = writerOver(store);

    writer.append(writes([row(1, 1), row(1, 2)]));
    await settle();
    writer.append(writes([row(1, 3)]));
    expect(writer.backlog).toBe(3);
    down = false;
    const left = await writer.flush(Date.now() + 5_000);

    expect(left).toBe(0);
    expect(inserted).toEqual(['1', '2', '3']);
  });

  it('drops the rows of a registration deleted meanwhile instead of blocking the others behind them', async () => {
    const inserted: string[] = [];
    const store: PendingDeliveryStore = {
      append: async (rows) => {
        if (rows.some((r) => r.registrationId === 9)) throw new Error('foreign key violation');
        inserted.push(...rows.map((r) => r.body));
      },
      findExistingIds: async (ids) => ids.filter((id) => id !== 9),
    };
    const writer = writerOver(store);

    writer.append(writes([row(1, 1), row(9, 2), row(1, 3)]));
    await writer.flush(Date.now() + 5_000);

    expect(inserted).toEqual(['1', '3']);
  });

  it('drops a row the database refuses on its own while it answers, and stores the others in order', async () => {
    const inserted: string[] = [];
    const store: PendingDeliveryStore = {
      append: async (rows) => {
        if (rows.some((r) => r.body === '2')) throw new Error('Data too long for column body');
        inserted.push(...rows.map((r) => r.body));
      },
      findExistingIds: async (ids) => ids,
    };
    const committed: string[] = [];
    const writer = writerOver(store, (w) => committed.push(w.row.body));

    writer.append(writes([row(1, 1), row(1, 2), row(1, 3)]));
    expect(await writer.flush(Date.now() + 5_000)).toBe(0);

    expect(inserted).toEqual(['1', '3']);
    expect(committed).toEqual(['1', '3']);
  });

  it('keeps the rest, in order, when the database goes away during one-by-one inserts', async () => {
    let answering = true;
    let outageDone = false;
    const inserted: string[] = [];
    const store: PendingDeliveryStore = {
      append: async (rows) => {
        if (rows.length > 1 || !answering) throw new Error('batch refused');
        if (rows[0].body === '2' && !outageDone) {
          // the connection drops just as row 2 is written
          answering = false;
          outageDone = true;
          throw new Error('connection lost');
        }
        inserted.push(rows[0].body);
      },
      findExistingIds: async (ids) => {
        if (!answering) throw new Error('connection lost');
        return ids;
      },
    };
    const writer = writerOver(store);
    writer.append(writes([row(1, 1), row(1, 2), row(1, 3)]));
    await settle();

    expect(inserted).toEqual(['1']);
    expect(writer.backlog).toBe(2);
    answering = true;
    expect(await writer.flush(Date.now() + 5_000)).toBe(0);
    expect(inserted).toEqual(['1', '2', '3']);
  });

  it('skips writes no longer wanted and those discarded by registration', async () => {
    const inserted: string[] = [];
    const store: PendingDeliveryStore = {
      append: async (rows) => void inserted.push(...rows.map((r) => r.body)),
      findExistingIds: () => Promise.reject(new Error('not expected')),
    };
    const writer = writerOver(store, undefined, (w) => w.row.registrationId !== 3);

    writer.append(writes([row(1, 1), row(2, 2), row(3, 3), row(1, 4)]));
    writer.discard(2);
    await settle();

    expect(inserted).toEqual(['1', '4']);
  });

  it('gives up at the flush deadline and says how many rows are left', async () => {
    const store: PendingDeliveryStore = {
      append: async () => {
        throw new Error('connection refused');
      },
      findExistingIds: async () => {
        throw new Error('connection refused');
      },
    };
    const writer = writerOver(store);
    writer.append(writes([row(1, 1), row(1, 2)]));

    expect(await writer.flush(Date.now() + 300)).toBe(2);
    writer.stop();
  });
});
