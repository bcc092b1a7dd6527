// The Node version this package needs, checked once for every way in: the library's entry
// points import this module first, and `bin/cretoai-node.js` imports it before anything else.
//
// Plain JavaScript on purpose: it must run on the old Node it turns away, which strips no
// TypeScript types. Its types are in `require-node.d.ts`; the build copies both to dist/.

/** The oldest major version of Node this package runs on: ML-DSA-87 comes from its OpenSSL 3.5. */
export const NODE_MAJOR_REQUIRED = 24;

/** The error code of the refusal, for callers that print it their own way. */
export const NODE_VERSION_ERROR_CODE = 'ERR_CRETOAI_NODE_VERSION';

/**
 * Why this package cannot run on Node `version` (as `process.versions.node` gives it), in one
 * sentence, or null when it can.
 *
 * @param {string} version
 * @returns {string | null}
 */
export function nodeVersionProblem(version) {
  const major = Number(String(version).split('.')[0]);
  if (Number.isInteger(major) && major >= NODE_MAJOR_REQUIRED) return null;
  return (
    `cretoai-consensus needs Node ${NODE_MAJOR_REQUIRED} or later (ML-DSA-87 comes from its OpenSSL 3.5); ` +
    `this is Node ${version}.`
  );
}

const problem = nodeVersionProblem(process.versions.node);
if (problem !== null) {
  const error = new Error(problem);
  error.code = NODE_VERSION_ERROR_CODE;
  throw error;
}
