// Getting the server going: why it cannot start (with the install guide one click away),
// the walkthrough, and learning Meta's current web client from a browser capture.
import { execFile } from "node:child_process";

import * as vscode from "vscode";
import { ExecuteCommandRequest, type LanguageClient } from "vscode-languageclient/node";

import { isLearnResult, missingServer, type ServerCommand } from "./config";

export const WALKTHROUGH = "metaai-ls.metaai-ls#getStarted";
const MODULE_CHECK_MS = 10_000;

/** Why `command` cannot start the server, or undefined when it may be tried. */
export async function whyServerCannotStart(command: ServerCommand): Promise<string | undefined> {
  const missing = missingServer(command);
  if (missing || command.args[0] !== "-m") return missing;
  // python -m metaai_ls: the interpreter exists; has it the package?
  return new Promise((resolve) => {
    execFile(command.command, ["-c", "import metaai_ls"], { timeout: MODULE_CHECK_MS }, (error) =>
      resolve(error ? `${command.command} has no metaai_ls module installed` : undefined),
    );
  });
}

/** The server could not start: say why, and offer the install guide and the setting. */
export async function offerInstallGuide(
  context: vscode.ExtensionContext,
  output: vscode.LogOutputChannel,
  reason: string,
): Promise<void> {
  const message =
    `Meta AI: the metaai-ls server cannot start: ${reason}. Install it (from a clone of the repository: ` +
    "bash scripts/install.sh), or set metaai.serverPath to the metaai-ls command.";
  output.error(message);
  const choice = await vscode.window.showErrorMessage(message, "Open install guide", "Set server path", "Show log");
  if (choice === "Open install guide") {
    await vscode.commands.executeCommand("markdown.showPreview", await readme(context.extensionUri));
  } else if (choice === "Set server path") {
    await vscode.commands.executeCommand("workbench.action.openSettings", "metaai.serverPath");
  } else if (choice === "Show log") {
    output.show(true);
  }
}

/** The extension's README (vsce packages it as readme.md). */
async function readme(extension: vscode.Uri): Promise<vscode.Uri> {
  for (const name of ["readme.md", "README.md"]) {
    const candidate = vscode.Uri.joinPath(extension, name);
    try {
      await vscode.workspace.fs.stat(candidate);
      return candidate;
    } catch {
      // not under this name
    }
  }
  return vscode.Uri.joinPath(extension, "README.md");
}

export async function openWalkthrough(): Promise<void> {
  await vscode.commands.executeCommand("workbench.action.openWalkthrough", WALKTHROUGH, false);
}

/** Meta AI: Learn from a browser capture… (`metaai-ls learn FILE` through the server). */
export async function learnFromCapture(client: LanguageClient | undefined, output: vscode.LogOutputChannel): Promise<void> {
  const picked = await vscode.window.showOpenDialog({
    title: "The browser capture (HAR) of a new meta.ai chat whose first message was “metaai-ls learn”",
    openLabel: "Learn from this capture",
    canSelectMany: false,
    filters: { "HAR capture": ["har"], "All files": ["*"] },
  });
  if (!picked?.[0]) return;
  await runLearn(client, output, { file: picked[0].fsPath }, "Meta AI: learning from the capture…");
}

/** Meta AI: Forget what was learned from a capture (back to the built-in values). */
export async function forgetLearned(client: LanguageClient | undefined, output: vscode.LogOutputChannel): Promise<void> {
  await runLearn(client, output, { forget: true }, "Meta AI: forgetting the learned values…");
}

async function runLearn(
  client: LanguageClient | undefined,
  output: vscode.LogOutputChannel,
  argument: Record<string, unknown>,
  title: string,
): Promise<void> {
  const commands = client?.initializeResult?.capabilities.executeCommandProvider?.commands ?? [];
  if (!client?.isRunning() || !commands.includes("metaai.learn")) {
    void vscode.window.showErrorMessage(
      "Meta AI: this metaai-ls cannot learn from a capture: update it (bash scripts/install.sh in a fresh clone), or run `metaai-ls learn FILE` in a terminal.",
    );
    return;
  }
  let result: unknown;
  try {
    result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title }, () =>
      client.sendRequest(ExecuteCommandRequest.type, { command: "metaai.learn", arguments: [argument] }),
    );
  } catch (error) {
    void vscode.window.showErrorMessage(`Meta AI: ${error instanceof Error ? error.message : String(error)}`);
    return;
  }
  if (!isLearnResult(result)) return;
  output.info(`Learn:\n${result.report}`);
  const first = result.report.split("\n").find((line) => line.trim()) ?? "";
  const show = result.ok
    ? vscode.window.showInformationMessage(`Meta AI: ${first}`, "Show report")
    : vscode.window.showErrorMessage(`Meta AI: ${first}`, "Show report");
  if (await show) output.show(true);
}
