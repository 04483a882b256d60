import * as vscode from "vscode";
import {
  CloseAction,
  ErrorAction,
  ExecuteCommandRequest,
  LanguageClient,
  type ErrorHandler,
  type LanguageClientOptions,
  type ServerOptions,
} from "vscode-languageclient/node";

import {
  initializationOptions,
  isAskResult,
  isDoctorResult,
  MODES,
  serverCommand,
  serverEnvironment,
  showsAnswer,
  type Mode,
} from "./config";

const SECTION = "metaai";
const API_KEY_SECRET = "metaai.apiKey";
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 3 * 60 * 1000;

let client: LanguageClient | undefined;
let output: vscode.LogOutputChannel;
let secrets: vscode.SecretStorage;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("Meta AI", { log: true });
  secrets = context.secrets;
  context.subscriptions.push(
    output,
    vscode.commands.registerCommand("metaai.askSelection", askSelection),
    vscode.commands.registerCommand("metaai.cancelAll", cancelAll),
    vscode.commands.registerCommand("metaai.showLog", () => output.show(true)),
    vscode.commands.registerCommand("metaai.restart", restart),
    vscode.commands.registerCommand("metaai.checkSetup", checkSetup),
    vscode.commands.registerCommand("metaai.setApiKey", setApiKey),
    vscode.commands.registerCommand("metaai.clearApiKey", clearApiKey),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration(`${SECTION}.serverPath`) || event.affectsConfiguration(`${SECTION}.pythonPath`)) {
        void restart();
      }
    }),
  );
  await start();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}

function setting<T>(key: string): T | undefined {
  return vscode.workspace.getConfiguration(SECTION).get<T>(key);
}

async function start(): Promise<void> {
  const { command, args } = serverCommand(setting<string>("serverPath") ?? "", setting<string>("pythonPath") ?? "");
  output.appendLine(`Starting ${command} ${args.join(" ")}`);
  // The API key goes to the server through its environment, never as a setting.
  const env = serverEnvironment(process.env, await secrets.get(API_KEY_SECRET));
  const serverOptions: ServerOptions = { command, args, options: { env } };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
    outputChannel: output,
    initializationOptions: initializationOptions((key) => setting(key)),
    synchronize: { configurationSection: SECTION },
    errorHandler: restartingErrorHandler(),
    middleware: {
      // Code actions run `metaai.ask` through the client; show chat answers when they come.
      executeCommand: async (name, args, next) => {
        const result = await next(name, args);
        if (name === "metaai.ask" && showsAnswer(args[0]) && isAskResult(result)) {
          await showAnswer(result.text);
        }
        return result;
      },
    },
  };
  client = new LanguageClient("metaai", "Meta AI", serverOptions, clientOptions);
  try {
    await client.start();
  } catch (error) {
    const choice = await vscode.window.showErrorMessage(
      `Meta AI: could not start ${command} (${String(error)}). Install it with \`pip install metaai-ls\` or set metaai.serverPath.`,
      "Show log",
    );
    if (choice) output.show(true);
  }
}

async function restart(): Promise<void> {
  await client?.stop();
  client = undefined;
  await start();
}

/** Restart after a crash, with a visible message; give up after repeated crashes. */
function restartingErrorHandler(): ErrorHandler {
  const crashes: number[] = [];
  return {
    error: () => ({ action: ErrorAction.Continue }),
    closed: () => {
      const now = Date.now();
      crashes.push(now);
      while (crashes.length && now - crashes[0] > RESTART_WINDOW_MS) crashes.shift();
      if (crashes.length > MAX_RESTARTS) {
        void vscode.window
          .showErrorMessage("Meta AI: the language server keeps crashing; it was not restarted.", "Show log")
          .then((choice) => choice && output.show(true));
        return { action: CloseAction.DoNotRestart };
      }
      void vscode.window.showWarningMessage("Meta AI: the language server stopped; restarting it.");
      return { action: CloseAction.Restart };
    },
  };
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
  const result = await client.sendRequest(ExecuteCommandRequest.type, {
    command: "metaai.ask",
    arguments: [argument],
  });
  if (argument.mode === "chat" && isAskResult(result) && !result.error) await showAnswer(result.text);
}

function describeMode(mode: Mode): string {
  return {
    replace: "replace the selection with the answer's code",
    insert: "add the answer as a comment below",
    chat: "show the answer beside the editor",
  }[mode];
}

async function checkSetup(): Promise<void> {
  if (!client) return;
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
