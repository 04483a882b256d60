// The chat view's page: a strict Content-Security-Policy (scripts only with the nonce,
// styles and images only from the extension, nothing remote). Pure: tested with node:test.
import { randomBytes } from "node:crypto";

export interface PageSources {
  /** `webview.cspSource`: the origin the webview serves the extension's files from. */
  cspSource: string;
  script: string;
  style: string;
  nonce?: string;
}

export function makeNonce(): string {
  return randomBytes(18).toString("base64url");
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `style-src ${cspSource}`,
    `img-src ${cspSource} data:`,
    `font-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
    "connect-src 'none'",
    "form-action 'none'",
    "base-uri 'none'",
  ].join("; ");
}

export function chatPage(sources: PageSources): string {
  const nonce = sources.nonce ?? makeNonce();
  const attribute = (value: string) => value.replace(/&/g, "&amp;").replace(/"/g, "&quot;");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${attribute(contentSecurityPolicy(sources.cspSource, nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${attribute(sources.style)}">
<title>Meta AI</title>
</head>
<body>
<main id="chat" aria-live="polite"></main>
<section id="history" hidden></section>
<footer id="composer">
  <div id="chips"></div>
  <textarea id="input" rows="3" placeholder="Ask Meta AI (Enter sends, Shift+Enter: new line, #: add a file)" aria-label="Message to Meta AI"></textarea>
  <div id="actions">
    <span id="status" role="status"></span>
    <button id="send" type="button">Send</button>
    <button id="stop" type="button" hidden>Stop</button>
  </div>
</footer>
<script nonce="${nonce}" src="${attribute(sources.script)}"></script>
</body>
</html>`;
}
