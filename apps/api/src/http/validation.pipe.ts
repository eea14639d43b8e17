import { BadRequestException, ValidationError, ValidationPipe } from '@nestjs/common';

/** The first rule broken by the first field that breaks one, in the order the DTO declares its fields. */
export function firstValidationMessage(errors: ValidationError[]): string {
  for (const error of errors) {
    const message = Object.values(error.constraints ?? {})[0];
    if (message) return message;
    const nested = firstValidationMessage(error.children ?? []);
    if (nested) return nested;
  }
  return 'body is invalid';
}

/**
 * Unknown fields are dropped, not refused: existing app servers send more than
 * this API reads. Values are never copied into errors (they may be secrets).
 */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    transform: true,
    whitelist: true,
    forbidNonWhitelisted: false,
    forbidUnknownValues: true,
    stopAtFirstError: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => new BadRequestException(firstValidationMessage(errors)),
  });
}
