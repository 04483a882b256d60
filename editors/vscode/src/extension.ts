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
  MODES,
  serverCommand,
  showsAnswer,
  type Mode,
} from "./config";

const SECTION = "metaai";
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 3 * 60 * 1000;

let client: LanguageClient | undefined;
let output: vscode.LogOutputChannel;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("Meta AI", { log: true });
  context.subscriptions.push(
    output,
    vscode.commands.registerCommand("metaai.askSelection", askSelection),
    vscode.commands.registerCommand("metaai.cancelAll", cancelAll),
    vscode.commands.registerCommand("metaai.showLog", () => output.show(true)),
    vscode.commands.registerCommand("metaai.restart", restart),
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
  const serverOptions: ServerOptions = { command, args };
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

async function cancelAll(): Promise<void> {
  await client?.sendRequest(ExecuteCommandRequest.type, { command: "metaai.cancel", arguments: [] });
}

async function showAnswer(text: string): Promise<void> {
  const document = await vscode.workspace.openTextDocument({ language: "markdown", content: text });
  await vscode.commands.executeCommand("markdown.showPreviewToSide", document.uri);
}
