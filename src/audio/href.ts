/** Links from a page to files on disk. */
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * The file's URL relative to the page's folder, every path segment percent-encoded (spaces, '#', '?', non-ASCII), so
 * the link still works when the folders around both move together; a file on another drive gets its file: URL.
 */
export function relativeHref(pageDir: string, file: string): string {
  const relative = path.relative(pageDir, file);
  if (path.isAbsolute(relative)) return pathToFileURL(file).href;
  return relative.split(path.sep).map(encodeURIComponent).join('/');
}
