/**
 * The validity bound test vertices carry: far enough ahead for any test run (their sequences
 * stay in the hundreds) and within the default horizon of 2,048 sequences from sequence 1.
 */
export const TEST_VALID_THROUGH = 1000;
