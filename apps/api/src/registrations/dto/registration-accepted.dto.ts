import { ApiProperty } from '@nestjs/swagger';

export class RegisterAcceptedDto {
  @ApiProperty({ enum: ['registered'], example: 'registered' })
  status: 'registered';
}

export class UnregisterAcceptedDto {
  @ApiProperty({
    enum: ['unregistered'],
    example: 'unregistered',
    description: 'Given whether or not the registration existed, as the original program did.',
  })
  status: 'unregistered';
}
