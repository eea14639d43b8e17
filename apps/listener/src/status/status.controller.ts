import { Controller, Get, Header, UseGuards } from '@nestjs/common';
import { ClusterStatus, ClusterStatusService } from './cluster-status.service';
import { StatusAccessGuard } from './status-access.guard';
import { renderStatusPage } from './status-page';

/** GET /status (HTML) and GET /status.json on the listener's port; see StatusAccessGuard for who may see them. */
@Controller()
@UseGuards(StatusAccessGuard)
export class StatusController {
  constructor(private readonly status: ClusterStatusService) {}

  @Get('status')
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  // a token given as ?token= must not leak to other sites through the Referer header
  @Header('Referrer-Policy', 'no-referrer')
  async page(): Promise<string> {
    return renderStatusPage(await this.status.read());
  }

  @Get('status.json')
  @Header('Cache-Control', 'no-store')
  async json(): Promise<ClusterStatus> {
    return this.status.read();
  }
}
