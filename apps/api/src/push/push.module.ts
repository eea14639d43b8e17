import { Module } from '@nestjs/common';
import { PushReceiverService } from './push-receiver.service';

/** Web Pushes from instances (POST /push/<id>); the route itself is registered by registerPushRoute. */
@Module({ providers: [PushReceiverService], exports: [PushReceiverService] })
export class PushModule {}
