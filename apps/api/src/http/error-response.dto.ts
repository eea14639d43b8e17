import { ApiProperty } from '@nestjs/swagger';

/** The body of every 4xx and 5xx answer. */
export class ErrorResponseDto {
  @ApiProperty({ example: 400 })
  statusCode: number;

  @ApiProperty({ example: 'Bad Request', description: 'The HTTP reason phrase.' })
  error: string;

  @ApiProperty({
    example: 'tag must be at most 255 bytes (UTF-8)',
    description: 'Names the field and the rule that failed; never contains a secret or a token.',
  })
  message: string;
}
