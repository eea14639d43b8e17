import { Body, Controller, HttpCode, HttpStatus, Post } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBody,
  ApiConsumes,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { ApiErrorResponses } from '../http/api-error-responses.decorator';
import { FORM_CONTENT_TYPE, JSON_CONTENT_TYPE } from '../http/configure-http';
import { RegisterAcceptedDto, UnregisterAcceptedDto } from './dto/registration-accepted.dto';
import { RegisterDto } from './dto/register.dto';
import { RegistrationStatusDto, StatusRequestDto } from './dto/registration-status.dto';
import { UnregisterDto } from './dto/unregister.dto';
import { RegisterRegistrationService } from './register-registration.service';
import { RegistrationStatusService } from './registration-status.service';
import { UnregisterRegistrationService } from './unregister-registration.service';

@ApiTags('registrations')
@ApiConsumes(FORM_CONTENT_TYPE, JSON_CONTENT_TYPE)
@Controller()
export class RegistrationsController {
  constructor(
    private readonly registerRegistration: RegisterRegistrationService,
    private readonly unregisterRegistration: UnregisterRegistrationService,
    private readonly registrationStatus: RegistrationStatusService,
  ) {}

  @Post('register')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: "Start relaying a user's notifications to a callback URL",
    description:
      'Registering the same instance_url, app_id and tag again updates that registration (token, callback, endpoint) and renews it for REGISTRATION_TTL_HOURS.',
  })
  @ApiBody({ type: RegisterDto })
  @ApiAcceptedResponse({ type: RegisterAcceptedDto, description: 'Registered or renewed.' })
  @ApiErrorResponses(400, 401, 403, 413, 415, 503)
  async register(@Body() body: RegisterDto): Promise<RegisterAcceptedDto> {
    await this.registerRegistration.register(body);
    return { status: 'registered' };
  }

  @Post('unregister')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: 'Stop relaying for a registration',
    description: 'The listener closes the stream within one poll interval.',
  })
  @ApiBody({ type: UnregisterDto })
  @ApiAcceptedResponse({
    type: UnregisterAcceptedDto,
    description: 'Removed, or there was nothing to remove.',
  })
  @ApiErrorResponses(400, 401, 403, 413, 415, 503)
  async unregister(@Body() body: UnregisterDto): Promise<UnregisterAcceptedDto> {
    await this.unregisterRegistration.unregister(body);
    return { status: 'unregistered' };
  }

  @Post('status')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: "A registration's state, as the listener last recorded it",
    description:
      'The same fields and app_secret as /unregister. The state is written by the listener about once a second. ' +
      'A registration that ended for a reason other than /unregister answers `removed` with its `removalReason` ' +
      'for CALLBACK_RETRY_DEADLINE_HOURS, then 404. The access token is never part of the answer.',
  })
  @ApiBody({ type: StatusRequestDto })
  @ApiOkResponse({ type: RegistrationStatusDto, description: 'The registration exists.' })
  @ApiErrorResponses(400, 401, 403, 404, 413, 415, 503)
  async status(@Body() body: StatusRequestDto): Promise<RegistrationStatusDto> {
    return this.registrationStatus.status(body);
  }
}
