import { Controller, Get, HttpCode, HttpStatus, Res } from '@nestjs/common';
import {
  ApiNoContentResponse,
  ApiOkResponse,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { DatabaseHealthService } from '@app/database';
import { HealthDto } from './health.dto';

@ApiTags('health')
@Controller()
export class HealthController {
  constructor(private readonly database: DatabaseHealthService) {}

  /** The original program answered 204 here; load balancers probe it. */
  @Get()
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse({ description: 'The api is running.' })
  root(): void {}

  @Get('health')
  @ApiOkResponse({ type: HealthDto, description: 'The database answers.' })
  @ApiServiceUnavailableResponse({ type: HealthDto, description: 'The database does not answer.' })
  async health(@Res() reply: FastifyReply): Promise<void> {
    const up = await this.database.isReachable();
    const body: HealthDto = up
      ? { status: 'ok', database: 'up' }
      : { status: 'unavailable', database: 'down' };
    await reply
      .status(up ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE)
      .header('cache-control', 'no-store')
      .send(body);
  }
}
