import { randomUUID } from "node:crypto";

import * as vscode from "vscode";
import {
  CancellationToken,
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  WorkDoneProgress,
  type ApplyWorkspaceEditResult,
  type LanguageClientOptions,
  type ServerOptions,
} from "vscode-languageclient/node";

import { CHAT_VIEW, ChatView } from "./chat/view";
import {
  answerEditOf,
  appendTail,
  cleanSection,
  DOCUMENT_COMMANDS,
  hasAnswerLens,
  initializationOptions,
  isAskResult,
  isDoctorResult,
  MODES,
  serverCommand,
  serverEnvironment,
  showsAnswer,
  tail,
  type AnswerEdit,
  type Mode,
} from "./config";
import { forgetLearned, learnFromCapture, offerInstallGuide, openWalkthrough, whyServerCannotStart } from "./setup";

const SECTION = "metaai";
const API_KEY_SECRET = "metaai.apiKey";
// Commands that stream an answer: run with a cancellable notification and a status item.
const ASKING_COMMANDS = new Set(["metaai.ask", "metaai.retry"]);

let client: LanguageClient | undefined;
let output: vscode.LogOutputChannel;
let secrets: vscode.SecretStorage;
let status: vscode.StatusBarItem;
let running = 0;
// The server being (re)started: commands wait for it instead of finding no client.
let starting: Promise<void> = Promise.resolve();
let extensionContext: vscode.ExtensionContext;
// The label of the last answer edit per document: a new label starts a new undo step.
const lastLabel = new Map<string, string>();
// Documents where a written answer waits to be kept or discarded (their Keep lens).
const answerDocuments = new Set<string>();

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  extensionContext = context;
  output = vscode.window.createOutputChannel("Meta AI", { log: true });
  secrets = context.secrets;
  status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 100);
  status.command = "metaai.cancelAll";
  status.tooltip = "Meta AI is writing; click to cancel";
  const chat = new ChatView(context, () => client, output);
  context.subscriptions.push(
    output,
    status,
    chat,
    vscode.window.registerWebviewViewProvider(CHAT_VIEW, chat),
    vscode.commands.registerCommand("metaai.openChat", () => chat.reveal()),
    vscode.commands.registerCommand("metaai.newChat", async () => {
      await chat.reveal();
      await chat.newChat();
    }),
    vscode.commands.registerCommand("metaai.chatHistory", () => chat.reveal(true)),
    vscode.commands.registerCommand("metaai.learnFromCapture", () => learnFromCapture(client, output)),
    vscode.commands.registerCommand("metaai.forgetLearned", () => forgetLearned(client, output)),
    vscode.commands.registerCommand("metaai.getStarted", openWalkthrough),
    vscode.window.onDidChangeActiveTextEditor(updateAnswerContext),
    vscode.commands.registerCommand("metaai.askSelection", askSelection),
    vscode.commands.registerCommand("metaai.cancelAll", cancelAll),
    vscode.commands.registerCommand("metaai.showLog", () => output.show(true)),
    vscode.commands.registerCommand("metaai.restart", restart),
    vscode.commands.registerCommand("metaai.checkSetup", checkSetup),
    vscode.commands.registerCommand("metaai.setApiKey", setApiKey),
    vscode.commands.registerCommand("metaai.clearApiKey", clearApiKey),
    vscode.workspace.onDidChangeConfiguration(configurationChanged),
  );
  starting = start();
  await starting;
}

export async function deactivate(): Promise<void> {
  if (client?.needsStop()) await client.stop();
}

function setting<T>(key: string): T | undefined {
  return vscode.workspace.getConfiguration(SECTION).get<T>(key);
}

async function start(): Promise<void> {
  const server = serverCommand(setting<string>("serverPath") ?? "", setting<string>("pythonPath") ?? "");
  const { command, args } = server;
  const missing = await whyServerCannotStart(server);
  if (missing) {
    void offerInstallGuide(extensionContext, output, missing);
    return;
  }
  output.appendLine(`Starting ${command} ${args.join(" ")}`);
  // The API key goes to the server through its environment, never as a setting.
  const env = serverEnvironment(process.env, await secrets.get(API_KEY_SECRET));
  const serverOptions: ServerOptions = { command, args, options: { env } };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
    outputChannel: output,
    initializationOptions: initializationOptions((key) => setting(key)),
    middleware: {
      provideCodeLenses: async (document, token, next) => {
        const lenses = await next(document, token);
        noteAnswerLenses(document.uri.toString(), hasAnswerLens(lenses));
        return lenses;
      },
      // Code actions, code lenses and the palette all reach the server through here.
      executeCommand: (name, args, next) => {
        if (ASKING_COMMANDS.has(name)) return runAsk(name, waiting(withDocument(name, args)));
        return next(name, withDocument(name, args));
      },
      workspace: {
        // Pulled settings cleaned as the initializationOptions are (unset values out).
        configuration: async (params, token, next) => {
          const result = await next(params, token);
          if (!Array.isArray(result)) return result;
          return result.map((value, i) => (params.items[i]?.section === SECTION ? cleanSection(value) : value));
        },
        handleApplyEdit: async (params, next) => {
          const answer = answerEditOf(params);
          return (answer && (await applyAnswerEdit(answer))) ?? next(params, CancellationToken.None);
        },
      },
    },
  };
  client = new LanguageClient("metaai", "Meta AI", serverOptions, clientOptions);
  try {
    await client.start();
  } catch (error) {
    const reason = `${command} ${args.join(" ")} failed (${error instanceof Error ? error.message : String(error)})`;
    void offerInstallGuide(extensionContext, output, reason);
  }
}

/** The context key of the Keep / Discard key bindings: an answer waits in this editor. */
function noteAnswerLenses(uri: string, waiting: boolean): void {
  if (waiting) answerDocuments.add(uri);
  else answerDocuments.delete(uri);
  updateAnswerContext();
}

function updateAnswerContext(): void {
  const uri = vscode.window.activeTextEditor?.document.uri.toString();
  void vscode.commands.executeCommand("setContext", "metaai.answerWaits", uri !== undefined && answerDocuments.has(uri));
}

async function restart(): Promise<void> {
  const previous = starting;
  starting = (async () => {
    await previous;
    const old = client;
    client = undefined;
    // A client whose start failed has nothing to stop (and says so by throwing).
    if (old?.needsStop()) await old.stop().catch((error) => output.debug(`stopping the old server: ${String(error)}`));
    await start();
  })();
  await starting;
}

function configurationChanged(event: vscode.ConfigurationChangeEvent): void {
  if (event.affectsConfiguration(`${SECTION}.serverPath`) || event.affectsConfiguration(`${SECTION}.pythonPath`)) {
    void restart();
  } else if (event.affectsConfiguration(SECTION) && client?.isRunning()) {
    // The server pulls the section again (workspace/configuration).
    void client.sendNotification(DidChangeConfigurationNotification.type, { settings: null });
  }
}

/** The extension waits for the answer (its notification has Cancel; chat answers open). */
function waiting(args: unknown[]): unknown[] {
  return args.map((a) => (typeof a === "object" && a !== null ? { ...a, wait: true } : a));
}

/** Keep / Discard / Retry from the palette: the active document. */
function withDocument(name: string, args: unknown[]): unknown[] {
  const uri = vscode.window.activeTextEditor?.document.uri.toString();
  if ((DOCUMENT_COMMANDS as readonly string[]).includes(name) && args.length === 0 && uri) return [{ uri }];
  return args;
}

/**
 * An answer edit, applied to the visible editor with undo stops only before the answer's
 * first edit: one Ctrl+Z takes the whole answer back. Undefined: let the client apply it.
 */
async function applyAnswerEdit(answer: AnswerEdit): Promise<ApplyWorkspaceEditResult | undefined> {
  const editor = vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === answer.uri);
  if (!editor || !client) return undefined;
  if (answer.version !== null && editor.document.version !== answer.version) return { applied: false };
  const converter = client.protocol2CodeConverter;
  const edits = await converter.asTextEdits(answer.edits as Parameters<typeof converter.asTextEdits>[0]);
  const first = lastLabel.get(answer.uri) !== answer.label;
  lastLabel.set(answer.uri, answer.label);
  // editor.edit refuses by itself when the document changed since the version check.
  const applied = await editor.edit(
    (builder) => {
      for (const edit of edits ?? []) builder.replace(edit.range, edit.newText);
    },
    { undoStopBefore: first, undoStopAfter: false },
  );
  return { applied };
}

/** Run an asking command in a cancellable notification showing the answer's tail. */
async function runAsk(command: string, args: unknown[]): Promise<unknown> {
  const languageClient = client;
  if (!languageClient) return undefined;
  const token = `metaai-${randomUUID()}`;
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: "Meta AI", cancellable: true },
    async (progress, cancellation) => {
      let answer = "";
      const listener = languageClient.onProgress(WorkDoneProgress.type, token, (value) => {
        if (value.kind !== "report" || !value.message) return;
        answer = appendTail(answer, value.message);
        progress.report({ message: tail(answer, 60) });
        status.text = `$(loading~spin) Meta AI: ${tail(answer, 30)}`;
      });
      showStatus(+1);
      try {
        const result = await languageClient.sendRequest(
          ExecuteCommandRequest.type,
          { command, arguments: args, workDoneToken: token },
          cancellation,
        );
        // One path for chat answers: only an answer that is one is shown.
        if (command === "metaai.ask" && showsAnswer(args[0]) && isAskResult(result) && !result.error && !result.cancelled) {
          await showAnswer(result.text);
        }
        return result;
      } catch (error) {
        if (cancellation.isCancellationRequested) return { text: "", cancelled: true };
        throw error;
      } finally {
        listener.dispose();
        showStatus(-1);
      }
    },
  );
}

function showStatus(change: number): void {
  running += change;
  if (running > 0) {
    if (change > 0) status.text = "$(loading~spin) Meta AI";
    status.show();
  } else {
    status.hide();
  }
}

async function askSelection(): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor || !client) return;
  const prompt = await vscode.window.showInputBox({
    title: "Ask Meta AI about the selection",
    placeHolder: "e.g. make this faster",
    ignoreFocusOut: true,
  });
  if (!prompt) return;
  const picked = await vscode.window.showQuickPick(
    MODES.map((mode) => ({ label: mode, description: describeMode(mode) })),
    { title: "Where should the answer go?" },
  );
  if (!picked) return;
  const argument = {
    uri: editor.document.uri.toString(),
    range: client.code2ProtocolConverter.asRange(editor.selection),
    prompt,
    mode: picked.label as Mode,
  };
  await runAsk("metaai.ask", [argument]);
}

function describeMode(mode: Mode): string {
  return {
    replace: "replace the selection with the answer's code",
    insert: "add the answer as a comment below",
    chat: "show the answer beside the editor",
  }[mode];
}

async function checkSetup(): Promise<void> {
  await starting;
  if (!client) {
    void vscode.window.showErrorMessage("Meta AI: the metaai-ls server is not running (Meta AI: Show log says why).", "Show log").then(
      (choice) => choice && output.show(true),
    );
    return;
  }
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: "Meta AI: checking the setup…" },
    () => client!.sendRequest(ExecuteCommandRequest.type, { command: "metaai.doctor", arguments: [{}] }),
  );
  if (!isDoctorResult(result)) return;
  output.info(`Setup check:\n${result.report}`);
  const last = result.report.split("\n").filter((line) => line.startsWith("✓") || line.startsWith("✗")).pop() ?? "";
  const show = result.ok
    ? vscode.window.showInformationMessage("Meta AI: every check passed.", "Show report")
    : vscode.window.showErrorMessage(`Meta AI: ${last.slice(2)}`, "Show report");
  if (await show) output.show(true);
}

async function setApiKey(): Promise<void> {
  const key = await vscode.window.showInputBox({
    title: "Meta Model API key",
    prompt: "Kept in VS Code's secret storage and given to metaai-ls as MODEL_API_KEY.",
    password: true,
    ignoreFocusOut: true,
  });
  if (!key?.trim()) return;
  await secrets.store(API_KEY_SECRET, key.trim());
  if (setting<string>("backend") !== "api") {
    await vscode.workspace.getConfiguration(SECTION).update("backend", "api", vscode.ConfigurationTarget.Global);
  }
  await restart();
  void vscode.window.showInformationMessage("Meta AI: the API key is stored; asks go through the Meta Model API.");
}

async function clearApiKey(): Promise<void> {
  await secrets.delete(API_KEY_SECRET);
  await restart();
}

async function cancelAll(): Promise<void> {
  await client?.sendRequest(ExecuteCommandRequest.type, { command: "metaai.cancel", arguments: [] });
}

async function showAnswer(text: string): Promise<void> {
  const document = await vscode.workspace.openTextDocument({ language: "markdown", content: text });
  await vscode.commands.executeCommand("markdown.showPreviewToSide", document.uri);
}
