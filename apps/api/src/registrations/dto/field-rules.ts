import { ValidateBy, ValidationArguments } from 'class-validator';
import { checkInstanceUrl } from '../instance-url';

/**
 * One check on a field value: the message (with `$property`) when it fails.
 * Rules after `isString` may assume a string.
 */
export type FieldRule = (value: unknown) => string | undefined;

function firstFailure(rules: readonly FieldRule[], value: unknown): string | undefined {
  for (const rule of rules) {
    const failure = rule(value);
    if (failure !== undefined) return failure;
  }
  return undefined;
}

/**
 * Applies `rules` in the order written and reports the first that fails.
 * (class-validator runs a property's decorators bottom-up, which would report
 * "too long" for a number; one ordered list keeps the message about the real problem.)
 */
export function FieldRules(...rules: FieldRule[]): PropertyDecorator {
  return ValidateBy({
    name: 'fieldRules',
    validator: {
      validate: (value: unknown) => firstFailure(rules, value) === undefined,
      defaultMessage: (args?: ValidationArguments) =>
        firstFailure(rules, args?.value) ?? '$property is invalid',
    },
  });
}

export const REQUIRED_MESSAGE = '$property is required';

/* eslint-disable no-control-regex -- these find the control characters that are refused */
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;
const WHITESPACE_OR_CONTROL = /[\s\u0000-\u001f\u007f-\u009f]/u;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/** The original program refused these: they would break the streaming URL the token was put in. */
const TOKEN_FORBIDDEN = /[\s\u0000-\u001f\u007f-\u009f?&=/]/u;
/* eslint-enable no-control-regex */

export const isString: FieldRule = (value) => {
  if (typeof value === 'string') return undefined;
  // a form field sent twice arrives as a list
  return Array.isArray(value)
    ? '$property must be given once, as a string'
    : '$property must be a string';
};

export const notEmpty: FieldRule = (value) =>
  (value as string).length > 0 ? undefined : '$property must not be empty';

/** Byte length in UTF-8, as the database stores it: 86 × "日" is 258 bytes. */
export function maxBytes(limit: number): FieldRule {
  return (value) =>
    Buffer.byteLength(value as string, 'utf8') <= limit
      ? undefined
      : `$property must be at most ${limit} bytes (UTF-8)`;
}

/** A JSON string can hold a lone surrogate ("\ud800"), which has no UTF-8 form and would be stored altered. */
export const wellFormed: FieldRule = (value) =>
  LONE_SURROGATE.test(value as string) ? '$property must be valid UTF-8 text' : undefined;

export const noControlCharacters: FieldRule = (value) =>
  CONTROL_CHARACTERS.test(value as string)
    ? '$property must not contain control characters'
    : undefined;

export const noWhitespace: FieldRule = (value) =>
  WHITESPACE_OR_CONTROL.test(value as string)
    ? '$property must not contain whitespace or control characters'
    : undefined;

export const accessTokenCharacters: FieldRule = (value) =>
  TOKEN_FORBIDDEN.test(value as string)
    ? '$property must not contain whitespace, control characters or any of ? & = /'
    : undefined;

export const httpOrigin: FieldRule = (value) => {
  const check = checkInstanceUrl(value as string);
  return check.ok ? undefined : `$property ${check.reason}`;
};

export const httpUrl: FieldRule = (value) => {
  try {
    const url = new URL(value as string);
    if (url.protocol === 'http:' || url.protocol === 'https:') return undefined;
  } catch {
    // reported below
  }
  return '$property must be an http:// or https:// URL';
};

export function oneOf(allowed: readonly string[]): FieldRule {
  return (value) =>
    allowed.includes(value as string)
      ? undefined
      : `$property must be one of ${allowed.join(', ')}`;
}
