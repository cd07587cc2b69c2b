// The connection's settings and secrets, and checks on input, as `invalid-input` errors naming the field.

import { get } from 'qiao:connector/config@0.2.0';
import { invalidInput } from './errors.js';

/** A required setting or secret, or an `invalid-input` error naming it. */
export function requireConfig(key: string): string {
  const value = get(key);
  if (value === undefined || value === '') throw invalidInput(`${key} is not configured`);
  return value;
}

/** An optional setting, or `fallback` when it is unset or empty. */
export function configOr(key: string, fallback: string): string {
  const value = get(key);
  return value === undefined || value === '' ? fallback : value;
}

/** An `invalid-input` error naming `field` when a required value is blank. */
export function required(value: string | undefined, field: string): string {
  if (value === undefined || value.trim() === '') throw invalidInput(`${field} is required`);
  return value;
}

/**
 * A JSON object the caller passed as text (a record's `extra`, a request's `options`), or an empty one when none was
 * given; anything else is `invalid-input` naming `what`.
 */
export function jsonObject(text: string | undefined, what: string): Record<string, unknown> {
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidInput(`${what} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}
