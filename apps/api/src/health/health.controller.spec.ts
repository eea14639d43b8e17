import type { FastifyReply } from 'fastify';
import { DatabaseHealthService } from '@app/database';
import { strictStub } from '../../../../test/support/strict-stub';
import { HealthController } from './health.controller';

function replyRecorder(): { reply: FastifyReply; sent: { status?: number; body?: unknown } } {
  const sent: { status?: number; body?: unknown } = {};
  const reply = {
    status(code: number) {
      sent.status = code;
      return reply;
    },
    header() {
      return reply;
    },
    async send(body: unknown) {
      sent.body = body;
      return reply;
    },
  };
  return { reply: reply as unknown as FastifyReply, sent };
}

describe('HealthController', () => {
  it('answers 200 up when the database answers', async () => {
    const isReachable = jest.fn().mockResolvedValue(true);
    const controller = new HealthController(
      strictStub<DatabaseHealthService>('health', { isReachable }),
    );
    const { reply, sent } = replyRecorder();
    await controller.health(reply);
    expect(sent).toEqual({ status: 200, body: { status: 'ok', database: 'up' } });
  });

  it('answers 503 down when it does not', async () => {
    const isReachable = jest.fn().mockResolvedValue(false);
    const controller = new HealthController(
      strictStub<DatabaseHealthService>('health', { isReachable }),
    );
    const { reply, sent } = replyRecorder();
    await controller.health(reply);
    expect(sent).toEqual({ status: 503, body: { status: 'unavailable', database: 'down' } });
  });
});
