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
        // Stryker disable next-line StringLiteral: asked only after validate failed, so a rule failed and named the problem
        firstFailure(rules, args?.value) ?? '$property is invalid',
    },
  });
}

export const REQUIRED_MESSAGE = '$property is required';

/* eslint-disable no-control-regex -- these find the control characters that are refused */
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;
const WHITESPACE_OR_CONTROL = /[\s\u0000-\u001f\u007f-\u009f]/u;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/* eslint-enable no-control-regex */
/**
 * Printable ASCII without space; the original program also refused ? & = /,
 * which would break the streaming URL it put the token in.
 */
const TOKEN_CHARACTERS = /^[\x21-\x7e]*$/;
const TOKEN_FORBIDDEN = /[?&=/]/;
/**
 * Invisible characters that make two keys look alike or reorder what an
 * operator reads in a log: format characters (U+202E right-to-left override,
 * zero-width space and joiners, BOM, soft hyphen, …) and the line and
 * paragraph separators U+2028 and U+2029.
 */
const INVISIBLE_FORMATTING = /[\p{Cf}\u2028\u2029]/u;

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

/**
 * A JSON string can hold a lone surrogate ("\ud800"), which has no UTF-8 form:
 * the database (or URL parsing) would store it altered, as U+FFFD.
 */
export const wellFormed: FieldRule = (value) =>
  LONE_SURROGATE.test(value as string)
    ? '$property must be well-formed Unicode text (no lone surrogates)'
    : undefined;

export const noInvisibleFormatting: FieldRule = (value) =>
  INVISIBLE_FORMATTING.test(value as string)
    ? '$property must not contain invisible formatting characters'
    : undefined;

export const noControlCharacters: FieldRule = (value) =>
  CONTROL_CHARACTERS.test(value as string)
    ? '$property must not contain control characters'
    : undefined;

export const noWhitespace: FieldRule = (value) =>
  WHITESPACE_OR_CONTROL.test(value as string)
    ? '$property must not contain whitespace or control characters'
    : undefined;

export const accessTokenCharacters: FieldRule = (value) =>
  TOKEN_CHARACTERS.test(value as string) && !TOKEN_FORBIDDEN.test(value as string)
    ? undefined
    : '$property must be printable ASCII without spaces or any of ? & = /';

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
