/** What the pages voicestudio writes (the quality report, the audition) share: escaping and the document around them. */

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Safe in element content and in quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** A whole page: offline (its Content-Security-Policy lets it load only what `policy` allows), styled inline. */
export function htmlPage(page: { title: string; policy: string; style: string; body: string; script?: string }): string {
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${page.policy}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<link rel="icon" href="data:,">',
    `<title>${escapeHtml(page.title)}</title>`,
    `<style>${page.style}</style></head>`,
    `<body>${page.body}${page.script === undefined ? '' : `\n<script>${page.script}</script>`}</body></html>`,
    '',
  ].join('\n');
}
