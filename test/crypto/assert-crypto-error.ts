/**
 * Assertions on {@link CryptoError} codes. Tests assert the code, never the message text, so
 * that messages can be reworded for operators without breaking tests.
 */
import assert from 'node:assert/strict';
import type { CryptoErrorCode } from '../../src/crypto/index.ts';
import { CryptoError } from '../../src/crypto/index.ts';

function isCryptoErrorWithCode(code: CryptoErrorCode): (error: unknown) => true {
  return (error) => {
    assert.ok(error instanceof CryptoError, `expected a CryptoError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  };
}

/** Asserts that `run` throws a CryptoError with `code`. */
export function assertThrowsCryptoError(run: () => unknown, code: CryptoErrorCode): void {
  assert.throws(run, isCryptoErrorWithCode(code));
}

/** Asserts that `run` returns a promise that rejects with a CryptoError with `code`. */
export async function assertRejectsCryptoError(
  run: () => Promise<unknown>,
  code: CryptoErrorCode,
): Promise<void> {
  await assert.rejects(run, isCryptoErrorWithCode(code));
}
