// The messages between the chat view's webview and the extension, and pure helpers that
// both sides use. No `vscode` import and no DOM: Node's test runner tests this file.

/** A reference the user attached to a message: a selection or a workspace file. */
export interface Chip {
  kind: "selection" | "file";
  uri: string;
  /** LSP range (0-based); absent: the whole file. */
  range?: { start: { line: number; character: number }; end: { line: number; character: number } };
  label: string;
}

export interface Turn {
  role: "user" | "assistant";
  text: string;
  /** The names of the references used (user turns, from the server's history). */
  references?: string[];
  error?: string;
  cancelled?: boolean;
}

export interface ConversationView {
  id: string;
  title: string;
  turns: Turn[];
}

export interface ConversationSummary {
  id: string;
  title: string;
  updated: string;
  turns: number;
}

/** An answer being written: what has streamed in so far. */
export interface Live {
  message: string;
  chips: string[];
  text: string;
}

export type ToHost =
  | { type: "ready" }
  | { type: "send"; text: string; chips: Chip[] }
  | { type: "stop" }
  | { type: "newChat" }
  | { type: "listConversations" }
  | { type: "openConversation"; id: string }
  | { type: "forgetConversation"; id: string }
  | { type: "pickReference" }
  | { type: "copy"; text: string }
  | { type: "applyCode"; text: string; where: "cursor" | "selection" }
  | { type: "painted"; at: number; chars: number };

export type ToView =
  | { type: "restore"; conversation: ConversationView | null; live: Live | null; notice?: string }
  | { type: "started"; message: string; chips: string[] }
  | { type: "delta"; text: string }
  | { type: "finished"; text: string; error?: string; cancelled?: boolean; conversation: string | null }
  | { type: "conversations"; items: ConversationSummary[] }
  | { type: "selection"; chip: Chip | null }
  | { type: "reference"; chip: Chip | null; tag?: string }
  | { type: "notice"; text: string; error?: boolean }
  | { type: "showHistory" };

/** The label of a selection chip: `a.py:3-10` (1-based lines, as editors show them). */
export function selectionLabel(fileName: string, startLine: number, endLine: number, endCharacter: number): string {
  // A selection of whole lines ends at the next line's start: that line is not part of it.
  const last = endCharacter === 0 && endLine > startLine ? endLine - 1 : endLine;
  return last === startLine ? `${fileName}:${startLine + 1}` : `${fileName}:${startLine + 1}-${last + 1}`;
}

/** What `metaai.chat` gets for a message and its chips (README: metaai.chat). */
export function chatArguments(
  text: string,
  chips: Chip[],
  conversation: string | null,
  activeUri: string | undefined,
): Record<string, unknown> {
  const argument: Record<string, unknown> = { message: text };
  if (conversation) argument.conversation = conversation;
  const selection = chips.find((chip) => chip.kind === "selection");
  if (selection) {
    argument.uri = selection.uri;
    argument.range = selection.range;
  } else if (activeUri) {
    argument.uri = activeUri; // where the user is: what #buffer and #diagnostics mean
  }
  const files = chips.filter((chip) => chip.kind === "file").map((chip) => ({ uri: chip.uri }));
  if (files.length > 0) argument.references = files;
  return argument;
}

/** Whether a `#` just typed at `caret` starts a reference (at the start or after a space). */
export function startsReference(text: string, caret: number): boolean {
  if (caret < 1 || text[caret - 1] !== "#") return false;
  return caret === 1 || /\s/.test(text[caret - 2]);
}

/** The tags the server understands in a message, offered before the files in the picker. */
export const TAGS = [
  { tag: "#selection", detail: "the selection in the editor" },
  { tag: "#buffer", detail: "the whole current file" },
  { tag: "#diagnostics", detail: "the problems of the current file" },
  { tag: "#diff", detail: "the workspace's git diff" },
] as const;

/** Conversation summaries as the history list shows them: title, then when and how long. */
export function describeConversation(item: ConversationSummary, now: Date = new Date()): string {
  const updated = new Date(item.updated);
  const minutes = Math.round((now.getTime() - updated.getTime()) / 60000);
  let when: string;
  if (Number.isNaN(minutes)) when = "";
  else if (minutes < 1) when = "just now";
  else if (minutes < 60) when = `${minutes} min ago`;
  else if (minutes < 60 * 24) when = `${Math.round(minutes / 60)} h ago`;
  else when = updated.toISOString().slice(0, 10);
  const turns = `${item.turns} ${item.turns === 1 ? "message" : "messages"}`;
  return when ? `${when} · ${turns}` : turns;
}

export function isToHost(value: unknown): value is ToHost {
  return typeof value === "object" && value !== null && typeof (value as { type?: unknown }).type === "string";
}
