/**
 * The Node version check every entry point runs first (see `require-node.js`): importing this
 * module throws an Error with code {@link NODE_VERSION_ERROR_CODE} on a Node older than
 * {@link NODE_MAJOR_REQUIRED}.
 */

/** The oldest major version of Node this package runs on: ML-DSA-87 comes from its OpenSSL 3.5. */
export declare const NODE_MAJOR_REQUIRED: 24;

/** The error code of the refusal, for callers that print it their own way. */
export declare const NODE_VERSION_ERROR_CODE: 'ERR_CRETOAI_NODE_VERSION';

/**
 * Why this package cannot run on Node `version` (as `process.versions.node` gives it), in one
 * sentence, or null when it can.
 */
export declare function nodeVersionProblem(version: string): string | null;
