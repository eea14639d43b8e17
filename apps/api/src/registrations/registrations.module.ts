import { Module } from '@nestjs/common';
import { RegisterRegistrationService } from './register-registration.service';
import { RegistrationMetrics } from './registration-metrics.service';
import { RegistrationRules } from './registration-rules';
import { RegistrationStatusService } from './registration-status.service';
import { RegistrationsController } from './registrations.controller';
import { UnregisterRegistrationService } from './unregister-registration.service';

@Module({
  controllers: [RegistrationsController],
  providers: [
    RegisterRegistrationService,
    UnregisterRegistrationService,
    RegistrationStatusService,
    RegistrationRules,
    RegistrationMetrics,
  ],
  exports: [RegistrationMetrics],
})
export class RegistrationsModule {}
