/**
 * Reading a Linux `/proc/<pid>/stat` or `/proc/<pid>/task/<tid>/stat` line, for the benchmarks
 * that measure node processes' CPU.
 */

/** The kernel's clock ticks per second for `utime` and `stime` (USER_HZ, 100 on Linux). */
export const TICKS_PER_SECOND = 100;

/**
 * The CPU ticks (user and system) in a stat line. The command name is in parentheses and may
 * hold spaces, so fields are counted after its closing parenthesis: utime and stime are fields
 * 14 and 15 of the line, 12 and 13 after the name.
 */
export function cpuTicksOfStat(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** The command (thread) name in a stat line. */
export function nameOfStat(stat: string): string {
  return stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
}
