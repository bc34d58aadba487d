/** Arguments quoted for a POSIX shell, so a printed command can be pasted as it is (paths with spaces, quotes, #). */
export function shellQuote(argument: string): string {
  if (/^[\w@%+=:,./-]+$/.test(argument)) return argument;
  return `'${argument.replaceAll("'", "'\\''")}'`;
}
