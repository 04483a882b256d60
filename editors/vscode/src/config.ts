// Pure helpers (no `vscode` import) so that Node's test runner can test them.
import * as fs from "node:fs";
import * as path from "node:path";

/** The server's configuration section, as in metaai-ls's README. */
export const SERVER_SETTINGS = [
  "cookiesFile",
  "proxy",
  "url",
  "graphUrl",
  "gatewayUrl",
  "protocol",
  "backend",
  "apiUrl",
  "apiKeyFile",
  "model",
  "contextLines",
  "actions",
  "warmup",
  "askTimeout",
  "maxAnswerMB",
] as const;

export type Mode = "replace" | "insert" | "chat";
export const MODES: readonly Mode[] = ["replace", "insert", "chat"];

export interface ServerCommand {
  command: string;
  args: string[];
}

export type Lookup = (key: string) => unknown;

/**
 * The `metaai` section to send as initializationOptions: unset or empty values are left
 * out so that the server's own defaults (and the environment) apply.
 */
export function serverSettings(get: Lookup): Record<string, unknown> {
  const section: Record<string, unknown> = {};
  for (const key of SERVER_SETTINGS) {
    const value = get(key);
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value) && value.length === 0) continue;
    section[key] = value;
  }
  return section;
}

/**
 * The extension's own settings for the server: progress reports that join to the answer
 * (the chat view streams them, the notification shows their tail).
 */
export const EXTENSION_SETTINGS = { progressDeltas: true } as const;

export function initializationOptions(get: Lookup): { metaai: Record<string, unknown> } {
  return { metaai: { ...EXTENSION_SETTINGS, ...serverSettings(get) } };
}

/** Find an executable on PATH, as a shell would. */
export function findOnPath(name: string, envPath = process.env.PATH ?? ""): string | undefined {
  const extensions = process.platform === "win32" ? [".exe", ".cmd", ".bat", ""] : [""];
  for (const directory of envPath.split(path.delimiter)) {
    if (!directory) continue;
    for (const extension of extensions) {
      const candidate = path.join(directory, name + extension);
      if (isExecutable(candidate)) return candidate;
    }
  }
  return undefined;
}

/** Where `scripts/install.sh` links the command (not always on an editor's PATH). */
export function userInstalled(home = process.env.HOME ?? ""): string | undefined {
  const candidate = path.join(home, ".local", "bin", "metaai-ls");
  return home && isExecutable(candidate) ? candidate : undefined;
}

/**
 * How to start the server: `metaai.serverPath`, else `metaai-ls` on PATH, else the one
 * `scripts/install.sh` puts in ~/.local/bin, else `python -m metaai_ls` with
 * `metaai.pythonPath` (or python3).
 */
export function serverCommand(
  serverPath: string,
  pythonPath: string,
  onPath: (name: string) => string | undefined = findOnPath,
  installedForUser: () => string | undefined = userInstalled,
): ServerCommand {
  if (serverPath.trim()) return { command: expandHome(serverPath.trim()), args: ["--stdio"] };
  const installed = onPath("metaai-ls") ?? installedForUser();
  if (installed) return { command: installed, args: ["--stdio"] };
  const python = pythonPath.trim() ? expandHome(pythonPath.trim()) : "python3";
  return { command: python, args: ["-m", "metaai_ls", "--stdio"] };
}

/**
 * Why the server command cannot start, as a sentence, or undefined when it can be tried:
 * a path that is not an executable file, or a bare name not on PATH.
 */
export function missingServer(
  command: ServerCommand,
  onPath: (name: string) => string | undefined = findOnPath,
): string | undefined {
  const { command: program, args } = command;
  const module = args[0] === "-m" ? " (with the metaai_ls module)" : "";
  if (program.includes("/") || program.includes("\\")) {
    return isExecutable(program) ? undefined : `${program}${module} is not an executable file`;
  }
  return onPath(program) ? undefined : `${program}${module} is not on PATH`;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export function expandHome(file: string, home = process.env.HOME ?? ""): string {
  return file === "~" || file.startsWith("~/") ? home + file.slice(1) : file;
}

/** The last `limit` characters of a streamed answer, on one line, for a notification. */
export function tail(text: string, limit = 80): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length <= limit ? flat : "…" + flat.slice(flat.length - limit + 1);
}

/** The streamed answer's tail with a new report appended: bounded, however long it runs. */
export function appendTail(kept: string, message: string, limit = 400): string {
  const joined = kept + message;
  return joined.length <= limit ? joined : joined.slice(joined.length - limit);
}

/** A pulled `metaai` section cleaned like the initializationOptions (unset values out). */
export function cleanSection(section: unknown): unknown {
  if (typeof section !== "object" || section === null || Array.isArray(section)) return section;
  const values = section as Record<string, unknown>;
  return { ...EXTENSION_SETTINGS, ...serverSettings((key) => values[key]) };
}

export interface AnswerEdit {
  uri: string;
  version: number | null;
  label: string;
  edits: { range: unknown; newText: string }[];
}

/**
 * A `workspace/applyEdit` that writes part of a Meta AI answer (label "Meta AI #n", one
 * versioned document): the extension applies those itself, so that one answer is one undo.
 */
export function answerEditOf(params: unknown): AnswerEdit | undefined {
  const value = params as {
    label?: unknown;
    edit?: { documentChanges?: { textDocument?: { uri?: unknown; version?: unknown }; edits?: unknown }[] };
  };
  if (typeof value?.label !== "string" || !value.label.startsWith("Meta AI #")) return undefined;
  const changes = value.edit?.documentChanges;
  if (!Array.isArray(changes) || changes.length !== 1) return undefined;
  const { textDocument, edits } = changes[0];
  if (typeof textDocument?.uri !== "string" || !Array.isArray(edits)) return undefined;
  const version = typeof textDocument.version === "number" ? textDocument.version : null;
  return { uri: textDocument.uri, version, label: value.label, edits: edits as AnswerEdit["edits"] };
}

/** Commands that take `{uri}` of the document: the palette gives none, the active editor does. */
export const DOCUMENT_COMMANDS = ["metaai.keep", "metaai.discard", "metaai.retry"] as const;

/** The environment for the server: the API key from secret storage, never a setting. */
export function serverEnvironment(
  base: Record<string, string | undefined>,
  apiKey: string | undefined,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(base)) if (value !== undefined) env[key] = value;
  if (apiKey) env.MODEL_API_KEY = apiKey;
  return env;
}

export interface DoctorResult {
  ok: boolean;
  report: string;
}

export function isDoctorResult(value: unknown): value is DoctorResult {
  return typeof value === "object" && value !== null && typeof (value as DoctorResult).report === "string";
}

export interface AskResult {
  text: string;
  error?: string;
  cancelled?: boolean;
}

export function isAskResult(value: unknown): value is AskResult {
  return typeof value === "object" && value !== null && typeof (value as AskResult).text === "string";
}

/** Whether the answer of this `metaai.ask` argument object should be shown as a document. */
export function showsAnswer(argument: unknown): boolean {
  return (
    typeof argument === "object" &&
    argument !== null &&
    (argument as { mode?: unknown }).mode === "chat"
  );
}

/** The answer lenses of a document say an answer waits to be kept or discarded there. */
export function hasAnswerLens(lenses: readonly { command?: { command?: string } }[] | null | undefined): boolean {
  return (lenses ?? []).some((lens) => lens.command?.command === "metaai.keep");
}

export interface LearnResult {
  ok: boolean;
  report: string;
}

export function isLearnResult(value: unknown): value is LearnResult {
  return isDoctorResult(value);
}
